//! Binlog mode and the events that are not plain row events: every one that
//! can change a configured table's rows is handled or refused, never
//! skipped.
//!
//! - `TRUNCATE TABLE` becomes a truncate record (op `t`) on every partition,
//!   which every member logs in its partition's place; a re-read after a
//!   restart does not log it twice.
//! - A row-changing statement logged as a statement (a session with
//!   `binlog_format = STATEMENT`), an XA transaction (`XA PREPARE` then
//!   `XA ROLLBACK`: its rows are in the log although it never happened) and
//!   MariaDB's compressed events (`log_bin_compress = ON`) stop the producer
//!   with exit code 2, naming the event, the table and the fix, before
//!   anything of them is produced.
//!
//! - With `lower_case_table_names = 1` the log names a table configured as
//!   `Product` `product`: its rows are still followed, not skipped.
//!
//! The truncate test runs against the private MariaDB on 127.0.0.1:3307;
//! the refusals against a MariaDB of their own on 127.0.0.1:3321 (data in
//! `run/mariadb-3321`): they set `log_bin_compress` globally; the name
//! test against one on 127.0.0.1:3322 started with
//! `--lower-case-table-names=1`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Harness;
use common::binlog::output_within;
use common::private_server::PrivateServer;
use common::zones::{NON_UTC_SERVER, require_non_utc_server};
use mysql_async::prelude::Queryable;
use serde_json::Value;

const BINLOG: &str = "[source]\nmode = \"binlog\"\n";
const OWN_PORT: u16 = 3321;
const FOLDING_PORT: u16 = 3322;
const PARTITIONS: usize = 10;

/// How long a producer may take to reach a refused event and stop.
const STOPS_WITHIN: Duration = Duration::from_secs(60);

fn op(line: &Value) -> &str {
    line["record"]["__op"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn truncate_is_a_truncate_record_on_every_partition_logged_once() {
    require_non_utc_server();
    let mut harness = Harness::on_server("binlog_truncate", NON_UTC_SERVER, BINLOG);
    let pool = common::binlog::create_plain_table(&harness).await;
    let mut conn = pool.get_conn().await.unwrap();
    for id in 1..=3 {
        conn.exec_drop(
            "INSERT INTO product (id, name, category, price) VALUES (?, 'n', 'cat_1', 1)",
            (id,),
        )
        .await
        .unwrap();
    }
    common::binlog::start_pipeline(&mut harness);
    harness.wait_for_raw_log_lines(3, Duration::from_secs(60));
    let snapshot_position = std::fs::read(harness.position_file()).unwrap();

    conn.query_drop("TRUNCATE TABLE product").await.unwrap();
    conn.query_drop(
        "INSERT INTO product (id, name, category, price) VALUES (1, 'again', 'cat_2', 2)",
    )
    .await
    .unwrap();
    let expected = 3 + PARTITIONS + 1;
    let lines = harness.wait_for_raw_log_lines(expected, Duration::from_secs(60));

    let truncates: Vec<&Value> = lines.iter().filter(|line| op(line) == "t").collect();
    let partitions: BTreeMap<i64, i64> = truncates
        .iter()
        .map(|line| {
            assert_eq!(line["record"]["table"], "product", "{line}");
            assert_eq!(
                line["source"]["key"],
                serde_json::json!({"truncate": line["partition"]}),
                "{line}"
            );
            (
                line["partition"].as_i64().unwrap(),
                line["record"]["__seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        partitions.len(),
        PARTITIONS,
        "a truncate line per partition: {truncates:?}"
    );
    let sequence = *partitions.values().next().unwrap();
    assert!(
        partitions.values().all(|seq| *seq == sequence),
        "{partitions:?}"
    );
    // The row written after the TRUNCATE comes after it in the log.
    let again = lines
        .iter()
        .find(|line| op(line) == "c")
        .unwrap_or_else(|| panic!("the insert after the truncate: {lines:?}"));
    assert!(again["record"]["__seq"].as_i64().unwrap() > sequence);
    let snapshot_seq = lines
        .iter()
        .filter(|line| op(line) == "r")
        .map(|line| line["record"]["__seq"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!(snapshot_seq < sequence);

    // A restart from before the TRUNCATE re-sends it: logged once all the same.
    harness.stop("producer", libc::SIGTERM);
    std::fs::write(harness.position_file(), snapshot_position).unwrap();
    harness.spawn("producer_again", &["produce"]);
    conn.query_drop(
        "INSERT INTO product (id, name, category, price) VALUES (2, 'later', 'cat_3', 3)",
    )
    .await
    .unwrap();
    let lines = harness.wait_for_raw_log_lines(expected + 1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let lines_now = harness.raw_log_lines();
    assert_eq!(
        lines_now.len(),
        expected + 1,
        "the re-sent truncate and insert are duplicates: {lines_now:?}"
    );
    assert_eq!(
        lines.iter().filter(|line| op(line) == "t").count(),
        PARTITIONS
    );

    drop(conn);
    pool.disconnect().await.unwrap();
}

/// Runs the producer once to its own snapshot and stops it: the saved
/// position is then after everything written so far.
fn snapshot_here(harness: &mut Harness, name: &str) {
    let _ = std::fs::remove_file(harness.position_file());
    harness.spawn(name, &["produce"]);
    harness.wait_for_binlog_snapshot();
    harness.stop(name, libc::SIGTERM);
}

fn assert_refused(harness: &Harness, must_name: &[&str]) {
    let (code, output) = output_within(harness, &["produce"], STOPS_WITHIN);
    assert_eq!(
        code,
        Some(2),
        "refused with exit code 2 (None: it went on):\n{output}"
    );
    for text in must_name {
        assert!(
            output.contains(text),
            "the refusal names {text:?}:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_xa_and_compressed_events_of_a_table_stop_the_producer_with_the_fix() {
    let Some(server) = PrivateServer::start(OWN_PORT) else {
        return;
    };
    let mut harness = Harness::binlog_on_server("binlog_refusals", &server.url(), "");
    let pool = common::binlog::create_plain_table(&harness).await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("SET GLOBAL log_bin_compress = OFF")
        .await
        .unwrap();
    conn.query_drop("CREATE TABLE other (id INT PRIMARY KEY, v TEXT)")
        .await
        .unwrap();
    harness.start_registry();
    snapshot_here(&mut harness, "producer_1");

    // A session writing statements: the rows are not in the log. A
    // statement on another table is no reason to stop.
    conn.query_drop("SET SESSION binlog_format = 'STATEMENT'")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO other VALUES (1, 'product')")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO product (id, name, category, price) VALUES (1, 'n', 'cat_1', 1)")
        .await
        .unwrap();
    conn.query_drop("SET SESSION binlog_format = 'ROW'")
        .await
        .unwrap();
    assert_refused(
        &harness,
        &["INSERT", "`product`", "STATEMENT", "binlog_position.json"],
    );

    // XA PREPARE logs the rows; XA ROLLBACK says they never happened.
    snapshot_here(&mut harness, "producer_2");
    for statement in [
        "XA START 'x1'",
        "INSERT INTO product (id, name, category, price) VALUES (2, 'never', 'cat_1', 1)",
        "XA END 'x1'",
        "XA PREPARE 'x1'",
        "XA ROLLBACK 'x1'",
    ] {
        conn.query_drop(statement).await.unwrap();
    }
    assert_refused(&harness, &["XA", "`product`", "ONE PHASE"]);

    // Compressed events: refused at start while the setting is on, and
    // when met once it is off again.
    snapshot_here(&mut harness, "producer_3");
    conn.query_drop("SET GLOBAL log_bin_compress = ON")
        .await
        .unwrap();
    let mut other = pool.get_conn().await.unwrap();
    other
        .exec_drop(
            "INSERT INTO product (id, name, category, price) VALUES (3, ?, 'cat_1', 1), (4, ?, 'cat_1', 1)",
            ("x".repeat(250), "y".repeat(250)),
        )
        .await
        .unwrap();
    drop(other);
    assert_refused(
        &harness,
        &["log_bin_compress", "SET GLOBAL log_bin_compress = OFF"],
    );
    conn.query_drop("SET GLOBAL log_bin_compress = OFF")
        .await
        .unwrap();
    assert_refused(
        &harness,
        &[
            "compressed rows event",
            "`product`",
            "log_bin_compress = OFF",
        ],
    );

    drop(conn);
    pool.disconnect().await.unwrap();
    drop(harness);
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn table_names_compare_as_the_servers_lower_case_table_names_has_them() {
    let Some(server) = PrivateServer::start_with(FOLDING_PORT, &["--lower-case-table-names=1"])
    else {
        return;
    };
    let mut harness = Harness::binlog_on_server(
        "binlog_folded_names",
        &server.url(),
        "[source]\ntable = \"Product\"\n",
    );
    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "CREATE TABLE Product (
            id INT NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            category VARCHAR(64) NOT NULL,
            price DECIMAL(12,2) NOT NULL,
            last_updated DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        )",
    )
    .await
    .unwrap();
    conn.query_drop("INSERT INTO Product (id, name, category, price) VALUES (1, 'n', 'cat_1', 1)")
        .await
        .unwrap();
    common::binlog::start_pipeline(&mut harness);
    harness.wait_for_raw_log_lines(1, Duration::from_secs(60));
    conn.query_drop("UPDATE Product SET price = 2 WHERE id = 1")
        .await
        .unwrap();
    conn.query_drop("TRUNCATE TABLE PRODUCT").await.unwrap();
    let lines = harness.wait_for_raw_log_lines(2 + PARTITIONS, Duration::from_secs(60));
    let ops: Vec<&str> = lines.iter().map(op).collect();
    assert!(
        ops.contains(&"u"),
        "the update of `product` as logged: {ops:?}"
    );
    assert_eq!(
        ops.iter().filter(|op| **op == "t").count(),
        PARTITIONS,
        "{ops:?}"
    );
    drop(conn);
    pool.disconnect().await.unwrap();
    drop(harness);
    drop(server);
}
