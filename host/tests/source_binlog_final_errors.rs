//! Binlog mode and errors that can never succeed: they are not retried.
//!
//! - A row over the broker's maximum message size (a 2.5 MB MEDIUMTEXT
//!   against Kafka's default of about 1 MB), refused by the client or by
//!   the broker: its key and the reason go to the producer's dead letters
//!   and the stream goes on; with `source.oversized_records = "stop"` the
//!   producer stops with exit code 2. Before, it restarted from the
//!   transaction's start every 5 s, forever.
//! - MySQL's access denied stops the producer with exit code 2.
//! - A stop asked for while the producer waits for an unreachable registry
//!   is not waited out.
//!
//! Against the private MariaDB on 127.0.0.1:3307 and the broker.

mod common;

use std::time::Duration;

use common::Harness;
use common::binlog::output_within;
use common::zones::{NON_UTC_SERVER, require_non_utc_server};
use mysql_async::prelude::Queryable;
use serde_json::Value;

const BINLOG: &str = "[source]\nmode = \"binlog\"\n";

/// 2.5 MB of text that lz4 cannot shrink below the broker's limit.
fn incompressible_text(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = seed | 1;
    (0..2_500_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % 64) as usize] as char
        })
        .collect()
}

fn producer_dead_letters(harness: &Harness) -> Vec<Value> {
    std::fs::read_to_string(harness.path("dead_letters/producer/dead_letters.json"))
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn logged_ids(harness: &Harness) -> Vec<i64> {
    let mut ids: Vec<i64> = harness
        .raw_log_lines()
        .iter()
        .map(|line| line["record"]["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

async fn insert(conn: &mut mysql_async::Conn, id: i64, notes: &str) {
    conn.exec_drop(
        "INSERT INTO product (id, name, category, price, notes) VALUES (?, 'n', 'cat_1', 1, ?)",
        (id, notes),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_over_the_brokers_message_size_is_a_dead_letter_not_an_endless_restart() {
    require_non_utc_server();
    let mut harness = Harness::on_server("binlog_oversized", NON_UTC_SERVER, BINLOG);
    let pool = common::binlog::create_plain_table(&harness).await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("ALTER TABLE product ADD COLUMN notes MEDIUMTEXT NULL")
        .await
        .unwrap();
    common::binlog::start_pipeline(&mut harness);

    // Refused by the client (librdkafka's message.max.bytes, 1,000,000).
    insert(&mut conn, 1, "small").await;
    insert(&mut conn, 2, &incompressible_text(2)).await;
    insert(&mut conn, 3, "small").await;
    common::wait_until(Duration::from_secs(60), "rows 1 and 3 logged", || {
        logged_ids(&harness) == [1, 3]
    });
    let letters = producer_dead_letters(&harness);
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["key"], "32", "the key `2`, hex: {letters:?}");
    assert_eq!(letters[0]["stage"], "produce");
    assert_eq!(letters[0]["topic"], harness.topic.as_str());
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("maximum message size"),
        "{letters:?}"
    );

    // Refused by the broker (the client's limit raised above the broker's).
    harness.stop("producer", libc::SIGTERM);
    harness.reconfigure(|config| {
        config
            .kafka
            .insert("message.max.bytes".into(), "8000000".into());
    });
    harness.spawn("producer_big_client", &["produce"]);
    insert(&mut conn, 4, &incompressible_text(4)).await;
    insert(&mut conn, 5, "small").await;
    common::wait_until(Duration::from_secs(60), "row 5 logged", || {
        logged_ids(&harness) == [1, 3, 5]
    });
    let letters = producer_dead_letters(&harness);
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[1]["key"], "34", "the key `4`, hex: {letters:?}");
    harness.stop("producer_big_client", libc::SIGTERM);

    // Configured to stop instead: exit code 2, naming the record and the fix.
    harness.reconfigure(|config| {
        config.source.oversized_records = pipeline::config::OversizedRecords::Stop;
    });
    insert(&mut conn, 6, &incompressible_text(6)).await;
    let (code, output) = output_within(&harness, &["produce"], Duration::from_secs(60));
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("key 6") && output.contains("max.message.bytes"),
        "{output}"
    );
    assert_eq!(producer_dead_letters(&harness).len(), 2);
    drop(conn);
    pool.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_stops_with_exit_code_2() {
    require_non_utc_server();
    let mut harness = Harness::on_server("binlog_denied", NON_UTC_SERVER, BINLOG);
    let pool = common::binlog::create_plain_table(&harness).await;
    let mut conn = pool.get_conn().await.unwrap();
    // May read the binary log, but not the database.
    let user = format!("denied_{}", std::process::id());
    conn.query_drop(format!("CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1'"))
        .await
        .unwrap();
    conn.query_drop(format!(
        "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'127.0.0.1'"
    ))
    .await
    .unwrap();
    let url = format!("mysql://{user}@127.0.0.1:3307/{}", harness.database);
    harness.reconfigure(|config| config.mysql.url = url.clone());
    let (code, output) = output_within(&harness, &["produce"], Duration::from_secs(60));
    conn.query_drop(format!("DROP USER '{user}'@'127.0.0.1'"))
        .await
        .unwrap();
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("Access denied"), "{output}");
    drop(conn);
    pool.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_while_waiting_for_the_registry_is_not_waited_out() {
    require_non_utc_server();
    // No registry is started: the producer waits for it.
    let mut harness = Harness::on_server("binlog_wait_stop", NON_UTC_SERVER, BINLOG);
    let pool = common::binlog::create_plain_table(&harness).await;
    harness.spawn("producer", &["produce"]);
    let log = harness.path("logs/producer.log");
    common::wait_until(
        Duration::from_secs(60),
        "the producer waiting for the registry",
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("waiting for the schema registry")
        },
    );
    assert!(
        harness.stop_within("producer", libc::SIGTERM, Duration::from_secs(3)),
        "SIGTERM while waiting for the registry must stop the producer at once"
    );
    pool.disconnect().await.unwrap();
}
