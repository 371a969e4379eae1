//! Binlog mode with several tables (issue 12): one replica stream serves
//! every configured table. Two tables of different shapes (an int key with
//! a DECIMAL, a composite text key) are snapshotted at one point and then
//! followed through inserts, updates, deletes and transactions that change
//! both; the producer is killed (-9) in the middle of a transaction that
//! writes both tables. Every change of MySQL's history arrives exactly once
//! on its own table's topic, in order per key, each delete followed by a
//! tombstone, each table through its own plugin chain. One position file
//! serves the stream; it names the tables it covers, and a table added
//! later, or a per-table position file, is refused at start with the fix.
//!
//! Against the private MariaDB on 127.0.0.1:3307 (row-based binary log).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::binlog::Tombstones;
use common::zones::{NON_UTC_SERVER, require_non_utc_server};
use common::{Harness, workspace_root};
use mysql_async::prelude::Queryable;
use pipeline::config::{Config, PluginConfig, TableEntry};
use rdkafka::Message;
use serde_json::{Value, json};

const ITEMS: &str = "CREATE TABLE bt_items (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    category VARCHAR(32) NOT NULL,
    price DECIMAL(10,2) NOT NULL
) ENGINE=InnoDB";

const EVENTS: &str = "CREATE TABLE bt_events (
    region VARCHAR(8) NOT NULL,
    code VARCHAR(16) NOT NULL,
    category VARCHAR(32) NOT NULL,
    qty INT NULL,
    PRIMARY KEY (region, code)
) ENGINE=InnoDB";

const TWO_TABLES: &str = r#"
[source]
mode = "binlog"
table = "bt_items"
decimal_handling = "double"

[[source.tables]]
name = "bt_events"
"#;

/// Per key (the log's JSON key), its (op, value) changes in order: the
/// price for items, the quantity for events.
type Changes = BTreeMap<String, Vec<(String, Value)>>;

fn push(changes: &mut Changes, key: Value, op: &str, value: Value) {
    changes
        .entry(key.to_string())
        .or_default()
        .push((op.into(), value));
}

/// Asserts each delete line is followed in its partition by a tombstone for
/// its key; returns how many were checked.
fn assert_tombstones_follow_deletes(harness: &Harness, lines: &[Value]) -> usize {
    let tombstones = Tombstones::new(harness);
    let mut checked = 0;
    for line in lines.iter().filter(|line| line["record"]["__op"] == "d") {
        let message = tombstones.after(
            line["topic"].as_str().unwrap(),
            line["partition"].as_i64().unwrap() as i32,
            line["offset"].as_i64().unwrap(),
        );
        let key: Value = serde_json::from_slice(message.key().unwrap()).unwrap();
        assert_eq!(key, line["source"]["key"]);
        checked += 1;
    }
    checked
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tables_on_one_stream_every_change_once_through_a_kill_mid_transaction() {
    require_non_utc_server();
    let mut harness = Harness::on_server("binlog_tables", NON_UTC_SERVER, TWO_TABLES);
    let wasm = workspace_root().join("plugins/wasm");
    harness.reconfigure(|config| {
        config.source.value_schema_file = None;
        config.plugins = vec![
            PluginConfig::at(wasm.join("uppercase_category.wasm")),
            PluginConfig {
                tables: vec!["bt_items".into()],
                ..PluginConfig::at(wasm.join("cat5_discount.wasm"))
            },
        ];
    });
    let config = Config::load(Some(&harness.config_path), &[]).unwrap();
    let topics = config.topics();
    let (items_topic, events_topic) = (topics[0].clone(), topics[1].clone());

    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(ITEMS).await.unwrap();
    conn.query_drop(EVENTS).await.unwrap();
    let (mut items, mut events) = (Changes::new(), Changes::new());
    // Before the first start: read by the snapshot, both tables at one point.
    for id in 1..=6 {
        let category = if id % 2 == 0 { "cat_5" } else { "cat_1" };
        conn.exec_drop(
            "INSERT INTO bt_items (id, name, category, price) VALUES (?, ?, ?, ?)",
            (id, format!("item {id}"), category, f64::from(id) + 0.25),
        )
        .await
        .unwrap();
        push(&mut items, json!(id), "r", json!(f64::from(id) + 0.25));
    }
    for (region, code, qty) in [("eu", "a", 1), ("eu", "b", 2), ("us", "a", 3)] {
        conn.exec_drop(
            "INSERT INTO bt_events (region, code, category, qty) VALUES (?, ?, 'cat_2', ?)",
            (region, code, qty),
        )
        .await
        .unwrap();
        push(&mut events, json!([region, code]), "r", json!(qty));
    }
    harness.start_registry();
    harness.start_consumers(2);
    // 2 topics × 10 partitions over 2 members.
    harness.wait_for_stable_group(2, 10);
    harness.spawn("producer", &["produce"]);
    harness.wait_for_raw_log_lines(9, Duration::from_secs(90));

    // One transaction changing both tables: inserts, an update, deletes.
    conn.query_drop(
        "START TRANSACTION;
         INSERT INTO bt_items (id, name, category, price) VALUES (10, 'ten', 'cat_5', 10.50);
         UPDATE bt_events SET qty = 20 WHERE region = 'eu' AND code = 'b';
         DELETE FROM bt_items WHERE id = 1;
         INSERT INTO bt_events (region, code, category, qty) VALUES ('ap', 'z', 'cat_3', NULL);
         DELETE FROM bt_events WHERE region = 'us' AND code = 'a';
         COMMIT",
    )
    .await
    .unwrap();
    push(&mut items, json!(10), "c", json!(10.5));
    push(&mut events, json!(["eu", "b"]), "u", json!(20));
    push(&mut items, json!(1), "d", json!(1.25));
    push(&mut events, json!(["ap", "z"]), "c", Value::Null);
    push(&mut events, json!(["us", "a"]), "d", json!(3));
    // Back to back, one table after the other: every intermediate state.
    for round in 1..=3 {
        let price = 100.0 + f64::from(round);
        conn.exec_drop("UPDATE bt_items SET price = ? WHERE id = 2", (price,))
            .await
            .unwrap();
        push(&mut items, json!(2), "u", json!(price));
        conn.exec_drop(
            "UPDATE bt_events SET qty = ? WHERE region = 'eu' AND code = 'a'",
            (10 + round,),
        )
        .await
        .unwrap();
        push(&mut events, json!(["eu", "a"]), "u", json!(10 + round));
    }
    // A key change in the composite key: delete of the old, insert of the new.
    conn.query_drop("UPDATE bt_events SET code = 'y' WHERE region = 'ap' AND code = 'z'")
        .await
        .unwrap();
    push(&mut events, json!(["ap", "z"]), "d", Value::Null);
    push(&mut events, json!(["ap", "y"]), "c", Value::Null);
    let so_far = |items: &Changes, events: &Changes| -> usize {
        items.values().chain(events.values()).map(Vec::len).sum()
    };
    harness.wait_for_raw_log_lines(so_far(&items, &events), Duration::from_secs(90));

    // A transaction writing 4,000 rows to each table; the producer killed
    // (-9) while its records are being produced and logged.
    const BIG: i64 = 4000;
    let before = harness.raw_log_lines().len();
    let writer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut conn = pool.get_conn().await.unwrap();
            conn.query_drop(format!(
                "START TRANSACTION;
                 INSERT INTO bt_items (id, name, category, price)
                   SELECT 1000 + seq, CONCAT('bulk ', seq), 'cat_1', seq FROM seq_1_to_{BIG};
                 INSERT INTO bt_events (region, code, category, qty)
                   SELECT 'bk', CONCAT('k', seq), 'cat_1', seq FROM seq_1_to_{BIG};
                 COMMIT"
            ))
            .await
            .unwrap();
        })
    };
    for n in 1..=BIG {
        push(&mut items, json!(1000 + n), "c", json!(n as f64));
        push(&mut events, json!(["bk", format!("k{n}")]), "c", json!(n));
    }
    writer.await.unwrap();
    common::wait_until(
        Duration::from_secs(120),
        "part of the big transaction to be logged",
        || harness.raw_log_lines().len() > before + 200,
    );
    harness.stop("producer", libc::SIGKILL);
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(harness.path("time_track/binlog_position.json")).unwrap(),
    )
    .unwrap();
    // While the producer was down: more of both tables, a delete of a bulk row.
    conn.query_drop(
        "START TRANSACTION;
         UPDATE bt_items SET price = 7.75 WHERE id = 1001;
         DELETE FROM bt_events WHERE region = 'bk' AND code = 'k1';
         COMMIT",
    )
    .await
    .unwrap();
    push(&mut items, json!(1001), "u", json!(7.75));
    push(&mut events, json!(["bk", "k1"]), "d", json!(1));
    harness.spawn("producer_again", &["produce"]);
    let expected = so_far(&items, &events);
    harness.wait_for_raw_log_lines(expected, Duration::from_secs(180));
    std::thread::sleep(Duration::from_secs(3));

    let lines = harness.raw_log_lines();
    let (mut items_seen, mut events_seen) = (Changes::new(), Changes::new());
    for line in &lines {
        let record = &line["record"];
        let op = record["__op"].as_str().unwrap();
        let category = record["category"].as_str().unwrap();
        assert_eq!(category, category.to_uppercase(), "{line}");
        if line["topic"] == items_topic.as_str() {
            assert_eq!(line["source"]["key"], record["id"], "{line}");
            let discount = if category == "CAT_5" {
                json!(((record["price"].as_f64().unwrap() * 0.8) * 100.0).round() / 100.0)
            } else {
                Value::Null
            };
            assert_eq!(record["discount_price"], discount, "{line}");
            push(
                &mut items_seen,
                line["source"]["key"].clone(),
                op,
                record["price"].clone(),
            );
        } else {
            assert_eq!(line["topic"], events_topic.as_str(), "{line}");
            assert_eq!(
                line["source"]["key"],
                json!([record["region"], record["code"]]),
                "{line}"
            );
            assert!(
                record.get("discount_price").is_none(),
                "the discount plugin is filtered to bt_items: {line}"
            );
            push(
                &mut events_seen,
                line["source"]["key"].clone(),
                op,
                record["qty"].clone(),
            );
        }
    }
    assert_eq!(lines.len(), expected, "every change once");
    assert!(items_seen == items, "bt_items: changes per key differ");
    assert!(events_seen == events, "bt_events: changes per key differ");
    assert_eq!(assert_tombstones_follow_deletes(&harness, &lines), 4);

    // One position for the stream, naming the tables it covers, saved
    // between transactions: never inside the big one.
    let text = std::fs::read_to_string(harness.path("time_track/binlog_position.json")).unwrap();
    let position: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        position["tables"],
        json!(["bt_items", "bt_events"]),
        "{text}"
    );
    assert!(saved["binlog_offset"].is_u64(), "{saved}");
    assert!(
        !harness
            .path("time_track/binlog_position.bt_events.json")
            .exists()
    );

    // A table added after the position was saved: refused, naming it and
    // the fix (its rows before the position were never read).
    harness.stop("producer_again", libc::SIGTERM);
    conn.query_drop("CREATE TABLE bt_more (id INT PRIMARY KEY)")
        .await
        .unwrap();
    harness.reconfigure(|config| {
        config.source.tables.push(TableEntry {
            name: "bt_more".into(),
            key_columns: Vec::new(),
            timestamp_column: None,
            value_schema_file: None,
            topic: None,
            position_file: None,
        })
    });
    let (code, output) = harness.output(&["produce"]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("bt_more")
            && output.contains("binlog_position.json")
            && output.contains("delete"),
        "{output}"
    );
    drop(conn);
    pool.disconnect().await.unwrap();
}

/// A per-table position file means nothing in binlog mode (one stream, one
/// position): refused at start, naming the entry and the fix.
#[test]
fn a_per_table_position_file_in_binlog_mode_is_refused_with_the_fix() {
    let harness = Harness::on_server("binlog_tables_bad", NON_UTC_SERVER, TWO_TABLES);
    let (code, output) = harness.output(&[
        "--set",
        "source.tables=[{name = \"bt_events\", position_file = \"x.json\"}]",
        "produce",
    ]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("source.tables[0].position_file")
            && output.contains("source.binlog_position_file"),
        "{output}"
    );
}
