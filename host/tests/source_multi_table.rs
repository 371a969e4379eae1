//! Issue 12, "any table": several tables in one pipeline. Two tables of
//! different shapes (one keyed by an integer, one by a composite text key)
//! flow at once through one `pipeline produce` and one consumer group, each
//! on its own topic, each through its own plugin chain (a plugin filtered
//! to one table); a producer killed mid-flow and restarted loses and
//! doubles nothing in either table; configuration mistakes stop the
//! pipeline at start naming the key and the fix.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{Harness, workspace_root};
use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use pipeline::config::{Config, PluginConfig};
use pipeline::timestamp::Timestamp;
use serde_json::{Value, json};

const ITEMS: &str = "CREATE TABLE mt_items (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    category VARCHAR(32) NOT NULL,
    price DECIMAL(10,2) NOT NULL,
    stamp DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY position (stamp, id)
) ENGINE=InnoDB";

const EVENTS: &str = "CREATE TABLE mt_events (
    region VARCHAR(8) NOT NULL,
    code VARCHAR(16) NOT NULL,
    category VARCHAR(32) NOT NULL,
    qty INT NULL,
    happened DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (region, code),
    KEY position (happened, region, code)
) ENGINE=InnoDB";

/// `mt_items` first (`[source] table`), `mt_events` by its primary key
/// (region, code) on the topic the pattern gives.
const TWO_TABLES: &str = r#"
[source]
table = "mt_items"
timestamp_column = "stamp"
decimal_handling = "double"

[[source.tables]]
name = "mt_events"
timestamp_column = "happened"
"#;

/// Each row's current stamp (µs), by the key as the logs carry it.
async fn stamps(pool: &Pool) -> (HashMap<Value, i64>, HashMap<Value, i64>) {
    let mut conn = pool.get_conn().await.unwrap();
    let items: Vec<(i32, mysql_async::Value)> =
        conn.query("SELECT id, stamp FROM mt_items").await.unwrap();
    let events: Vec<(String, String, mysql_async::Value)> = conn
        .query("SELECT region, code, happened FROM mt_events")
        .await
        .unwrap();
    let micros = |value: &mysql_async::Value| Timestamp::from_mysql(value).unwrap().micros();
    (
        items
            .iter()
            .map(|(id, stamp)| (json!(id), micros(stamp)))
            .collect(),
        events
            .iter()
            .map(|(region, code, stamp)| (json!([region, code]), micros(stamp)))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tables_flow_at_once_each_through_its_chain_and_survive_a_producer_kill() {
    let mut harness = Harness::new("mt_two", TWO_TABLES);
    let wasm = workspace_root().join("plugins/wasm");
    harness.reconfigure(|config| {
        config.source.value_schema_file = None;
        // Upper-casing applies to every table; the discount reads `price`,
        // which only mt_items has: filtered to it (unfiltered, loading the
        // chain for mt_events would refuse it).
        config.plugins = vec![
            PluginConfig::at(wasm.join("uppercase_category.wasm")),
            PluginConfig {
                tables: vec!["mt_items".into()],
                ..PluginConfig::at(wasm.join("cat5_discount.wasm"))
            },
        ];
    });
    let config = Config::load(Some(&harness.config_path), &[]).unwrap();
    let topics = config.topics();
    assert_eq!(topics[0], harness.topic);
    assert!(topics[1].starts_with("mt_events_updates_"), "{topics:?}");

    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(ITEMS).await.unwrap();
    conn.query_drop(EVENTS).await.unwrap();
    harness.start_registry();
    harness.start_consumers(2);
    // 2 topics × 10 partitions over 2 members.
    harness.wait_for_stable_group(2, 10);
    harness.spawn("producer", &["produce"]);

    // Phase 1: 30 rows in each table.
    for id in 1..=30 {
        let category = if id % 3 == 0 { "cat_5" } else { "cat_1" };
        conn.exec_drop(
            "INSERT INTO mt_items (id, name, category, price) VALUES (?, ?, ?, ?)",
            (id, format!("item {id}"), category, f64::from(id) + 0.5),
        )
        .await
        .unwrap();
        let region = if id % 2 == 0 { "eu" } else { "us" };
        conn.exec_drop(
            "INSERT INTO mt_events (region, code, category, qty) VALUES (?, ?, ?, ?)",
            (region, format!("c-{id}"), "cat_5", id),
        )
        .await
        .unwrap();
    }
    harness.wait_for_raw_log_lines(60, Duration::from_secs(90));

    // Phase 2: new rows keep coming in both tables while the producer is
    // killed (-9) and restarted; then rows logged in phase 1 change once.
    let writer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut conn = pool.get_conn().await.unwrap();
            for n in 100..140 {
                conn.exec_drop(
                    "INSERT INTO mt_items (id, name, category, price) VALUES (?, ?, 'cat_5', 10.25)",
                    (n, format!("item {n}")),
                )
                .await
                .unwrap();
                conn.exec_drop(
                    "INSERT INTO mt_events (region, code, category, qty) VALUES ('ap', ?, 'x', NULL)",
                    (format!("n-{n}"),),
                )
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1200)).await;
    harness.stop("producer", libc::SIGKILL);
    writer.await.unwrap();
    conn.query_drop("UPDATE mt_items SET name = CONCAT(name, ' v2') WHERE id <= 10")
        .await
        .unwrap();
    conn.query_drop("UPDATE mt_events SET qty = qty + 1000 WHERE region = 'eu' AND code IN ('c-2', 'c-4', 'c-6', 'c-8', 'c-10')")
        .await
        .unwrap();
    harness.spawn("producer_again", &["produce"]);
    let (items_expected, events_expected) = (30 + 40 + 10, 30 + 40 + 5);
    harness.wait_for_raw_log_lines(items_expected + events_expected, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(3));
    let lines = harness.raw_log_lines();

    // Per table: its topic, every change once, nothing else.
    let mut by_topic: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for line in &lines {
        let topic = line["topic"].as_str().expect("lines say their topic");
        by_topic.entry(topic.to_owned()).or_default().push(line);
    }
    assert_eq!(
        by_topic.keys().cloned().collect::<Vec<_>>(),
        {
            let mut sorted = topics.clone();
            sorted.sort();
            sorted
        },
        "one topic per table"
    );
    let items = &by_topic[&topics[0]];
    let events = &by_topic[&topics[1]];
    let (item_stamps, event_stamps) = stamps(&pool).await;
    for (table, table_lines, expected, current) in [
        ("mt_items", items, items_expected, &item_stamps),
        ("mt_events", events, events_expected, &event_stamps),
    ] {
        let mut seen: HashMap<(String, i64), usize> = HashMap::new();
        for line in table_lines.iter() {
            *seen
                .entry((
                    line["source"]["key"].to_string(),
                    line["source"]["stamp"].as_i64().unwrap(),
                ))
                .or_default() += 1;
        }
        let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(doubled.is_empty(), "{table}: written twice: {doubled:?}");
        assert_eq!(table_lines.len(), expected, "{table}: every change once");
        for (key, stamp) in current {
            assert!(
                seen.contains_key(&(key.to_string(), *stamp)),
                "{table}: the last change of {key} is missing"
            );
        }
    }

    // Each table through its own chain.
    for line in items.iter() {
        let record = &line["record"];
        let category = record["category"].as_str().unwrap();
        assert_eq!(category, category.to_uppercase(), "{line}");
        let expected = if category == "CAT_5" {
            json!(((record["price"].as_f64().unwrap() * 0.8) * 100.0).round() / 100.0)
        } else {
            Value::Null
        };
        assert_eq!(record["discount_price"], expected, "{line}");
        assert!(line["source"]["key"].is_i64(), "{line}");
    }
    for line in events.iter() {
        let record = &line["record"];
        let category = record["category"].as_str().unwrap();
        assert_eq!(category, category.to_uppercase(), "{line}");
        assert!(
            record.get("discount_price").is_none(),
            "the discount is filtered to mt_items: {line}"
        );
        assert_eq!(
            line["source"]["key"],
            json!([record["region"], record["code"]]),
            "the composite text key: {line}"
        );
        assert!(line["plugins"].as_str().unwrap().contains("uppercase"));
        assert!(!line["plugins"].as_str().unwrap().contains("cat5"));
    }
    // Each table has its own saved position; the first keeps the usual path.
    for file in [
        "time_track/last_read_timestamp.json",
        "time_track/last_read_timestamp.mt_events.json",
    ] {
        let text = std::fs::read_to_string(harness.path(file)).unwrap();
        assert!(text.contains("last_read_timestamp\": \""), "{file}: {text}");
    }
    drop(conn);
    pool.disconnect().await.unwrap();
}

/// Mistakes in the tables' configuration stop every command at start,
/// naming the key and the fix; a configured table missing from the database
/// stops the producer naming it.
#[tokio::test(flavor = "multi_thread")]
async fn table_mistakes_stop_the_pipeline_at_start_naming_the_fix() {
    let harness = Harness::new("mt_bad", TWO_TABLES);
    let cases = [
        (
            "source.tables=[{name = \"mt_items\"}]",
            "list each table once",
        ),
        (
            "source.tables=[{name = \"mt_events\", topic = \"shared\"}, {name = \"mt_more\", topic = \"shared\"}]",
            "its own topic",
        ),
        (
            "plugins=[{path = \"x.wasm\", tables = [\"mt_nope\"]}]",
            "mt_nope",
        ),
    ];
    for (set, fix) in cases {
        let output = harness
            .command(&["--set", set, "produce"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{set}: {stderr}");
        assert!(stderr.contains(fix), "{set}: {stderr}");
    }

    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(ITEMS).await.unwrap();
    drop(conn);
    let output = harness.command(&["produce"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mt_events") && stderr.contains("source.tables[0]"),
        "names the missing table and its entry: {stderr}"
    );
    pool.disconnect().await.unwrap();
}
