//! Binlog mode with least privilege: the producer runs as a user with
//! exactly the grants the README lists (`REPLICATION SLAVE, BINLOG MONITOR`
//! on `*.*`, `SELECT` on the database), and the members with no database
//! login at all (a MySQL URL nothing answers on): what they need of the
//! table comes with the records and from the configured schema.
//!
//! Before, the producer ran `CREATE DATABASE IF NOT EXISTS` at every start,
//! which MariaDB refuses without `CREATE` even for an existing database,
//! and every member opened a MySQL connection for the key columns.
//!
//! Against the private MariaDB on 127.0.0.1:3307.

mod common;

use std::time::Duration;

use common::Harness;
use common::zones::{NON_UTC_SERVER, require_non_utc_server};
use mysql_async::prelude::Queryable;

const BINLOG: &str = "[source]\nmode = \"binlog\"\n";

/// A MySQL URL nothing listens on: a member that tried to log in would fail.
const NO_DATABASE: &str = "mysql.url=mysql://nobody@127.0.0.1:9/none";

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_grants_are_enough_and_the_members_need_no_login() {
    require_non_utc_server();
    let mut harness = Harness::on_server("binlog_least_privilege", NON_UTC_SERVER, BINLOG);
    let pool = common::binlog::create_plain_table(&harness).await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("INSERT INTO product (id, name, category, price) VALUES (1, 'n', 'cat_1', 1)")
        .await
        .unwrap();
    let user = format!("cdc_{}", std::process::id());
    conn.query_drop(format!(
        "CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY 'secret'"
    ))
    .await
    .unwrap();
    for grant in [
        "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.*".to_owned(),
        format!("GRANT SELECT ON `{}`.*", harness.database),
    ] {
        conn.query_drop(format!("{grant} TO '{user}'@'127.0.0.1'"))
            .await
            .unwrap();
    }
    let url = format!("mysql://{user}:secret@127.0.0.1:3307/{}", harness.database);
    harness.reconfigure(|config| config.mysql.url = url.clone());

    harness.start_registry();
    for member in 1..=2 {
        harness.spawn(
            &format!("consumer_{member}"),
            &[
                "--set",
                NO_DATABASE,
                "consume",
                "--member",
                &member.to_string(),
            ],
        );
    }
    harness.wait_for_stable_group(2, 5);
    harness.spawn("producer", &["produce"]);
    harness.wait_for_binlog_snapshot();
    conn.query_drop("UPDATE product SET price = 2 WHERE id = 1")
        .await
        .unwrap();
    conn.query_drop("DELETE FROM product WHERE id = 1")
        .await
        .unwrap();
    let lines = harness.wait_for_raw_log_lines(3, Duration::from_secs(60));
    let ops: Vec<&str> = lines
        .iter()
        .map(|line| line["record"]["__op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["r", "u", "d"], "{lines:?}");
    for member in 1..=2 {
        let log =
            std::fs::read_to_string(harness.path(&format!("logs/consumer_{member}.log"))).unwrap();
        assert!(
            !log.contains("could not be read") && !log.contains("MySQL"),
            "member {member} tried the database:\n{log}"
        );
    }
    drop(harness);
    conn.query_drop(format!("DROP USER '{user}'@'127.0.0.1'"))
        .await
        .unwrap();
    drop(conn);
    pool.disconnect().await.unwrap();
}
