//! Binlog mode's saved position names the binary-log history it was read
//! from (issue 12): the server's identity is saved with the file, offset
//! and GTID; a position from another server (a failover) or from before
//! `RESET MASTER` stops the producer at start with exit code 2, naming the
//! position file and the fix; a position file saved before identities were
//! recorded is accepted and upgraded.
//!
//! Against a MariaDB of this test's own on 127.0.0.1:3320 (data in
//! `run/mariadb-3320`): it runs `RESET MASTER`, which no shared server may.

mod common;

use std::time::Duration;

use common::Harness;
use common::private_server::PrivateServer;
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

const OWN_PORT: u16 = 3320;

fn saved(harness: &Harness) -> Value {
    let text = std::fs::read_to_string(harness.path("time_track/binlog_position.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn write_saved(harness: &Harness, value: &Value) {
    std::fs::write(
        harness.path("time_track/binlog_position.json"),
        serde_json::to_string_pretty(value).unwrap(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_position_from_another_binlog_history_is_refused_and_an_old_one_upgraded() {
    let Some(server) = PrivateServer::start(OWN_PORT) else {
        return;
    };
    let mut harness = Harness::binlog_on_server("binlog_identity", &server.url(), "");
    let pool = common::binlog::create_plain_table(&harness).await;
    let mut conn = pool.get_conn().await.unwrap();
    // A log of this run only.
    conn.query_drop("RESET MASTER").await.unwrap();
    for id in 1..=3 {
        conn.exec_drop(
            "INSERT INTO product (id, name, category, price) VALUES (?, 'n', 'cat_1', ?)",
            (id, id),
        )
        .await
        .unwrap();
    }
    common::binlog::start_pipeline(&mut harness);
    harness.wait_for_lines(3, Duration::from_secs(60));
    conn.query_drop("UPDATE product SET price = 9 WHERE id = 1")
        .await
        .unwrap();
    harness.wait_for_lines(4, Duration::from_secs(60));
    harness.stop("producer", libc::SIGTERM);

    // Saved with the server's identity and the tables it covers.
    let position = saved(&harness);
    assert_eq!(
        position["server"],
        json!({"server_id": OWN_PORT, "binlog_basename": "binlog"}),
        "{position}"
    );
    assert_eq!(position["tables"], json!(["product"]), "{position}");

    // Another server (a failover): refused, naming the file and the fix.
    let mut elsewhere = position.clone();
    elsewhere["server"]["server_id"] = json!(4242);
    write_saved(&harness, &elsewhere);
    let (code, output) = harness.output(&["produce"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("binlog_position.json")
            && output.contains("server_id 4242")
            && output.contains("delete")
            && output.contains("new snapshot"),
        "{output}"
    );

    // A file saved before identities were recorded: accepted and upgraded,
    // and the stream goes on from it.
    let mut old = position.clone();
    old.as_object_mut().unwrap().remove("server");
    old.as_object_mut().unwrap().remove("tables");
    write_saved(&harness, &old);
    harness.spawn("producer_old_file", &["produce"]);
    conn.query_drop("UPDATE product SET price = 10 WHERE id = 2")
        .await
        .unwrap();
    harness.wait_for_lines(5, Duration::from_secs(60));
    common::wait_until(Duration::from_secs(30), "the upgraded position", || {
        saved(&harness)["server"]["server_id"] == json!(OWN_PORT)
    });
    harness.stop("producer_old_file", libc::SIGTERM);
    let before_reset = saved(&harness);
    assert_eq!(before_reset["tables"], json!(["product"]));

    // RESET MASTER: the same file names and offsets now hold other
    // transactions (written here past the saved offset).
    conn.query_drop("RESET MASTER").await.unwrap();
    conn.query_drop("START TRANSACTION").await.unwrap();
    for id in 100..140 {
        conn.exec_drop(
            "INSERT INTO product (id, name, category, price) VALUES (?, REPEAT('x', 200), 'cat_2', 1)",
            (id,),
        )
        .await
        .unwrap();
    }
    conn.query_drop("COMMIT").await.unwrap();
    let (code, output) = harness.output(&["produce"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("binlog_position.json")
            && output.contains("RESET MASTER")
            && output.contains("delete")
            && output.contains("new snapshot"),
        "{output}"
    );
    // Nothing was produced from the other history.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(harness.log_lines().len(), 5);

    drop(conn);
    pool.disconnect().await.unwrap();
    drop(harness);
    drop(server);
}
