//! Issue 17, item 1: a server whose clock is not UTC, and writers whose
//! sessions are in yet other zones. Every change arrives exactly once and
//! `last_updated` in the logs is the true UTC instant of the write.
//!
//! Needs the private MariaDB at -05:00 on 127.0.0.1:3307 (`scripts/services.sh`).

mod common;

use std::time::Duration;

use common::Harness;
use common::logs::assert_exactly_once;
use common::zones::{
    NON_UTC_SERVER, record_utc_of_writes, require_non_utc_server, utc_of_writes, writer_in_zone,
};
use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread")]
async fn writers_in_other_zones_on_a_non_utc_server_arrive_at_their_utc_instant() {
    require_non_utc_server();
    let mut harness = Harness::on_server("zones", NON_UTC_SERVER, "");
    let pool = harness.create_table_with_history().await;
    record_utc_of_writes(&pool).await;
    harness.start_registry();
    harness.start_consumers(5);
    harness.wait_for_stable_group(5, 2);
    harness.spawn("producer", &["produce"]);

    let mut east = writer_in_zone(&harness, "+03:00").await;
    let mut west = writer_in_zone(&harness, "-08:00").await;
    let insert = "INSERT INTO product (id, name, category, price) VALUES (?, ?, 'cat_1', 1.00)";
    for id in 1..=10 {
        east.exec_drop(insert, (id, format!("east_{id}")))
            .await
            .unwrap();
        west.exec_drop(insert, (id + 10, format!("west_{id}")))
            .await
            .unwrap();
    }
    // Each row's insert is logged before its update, so none coalesce.
    harness.wait_for_lines(20, Duration::from_secs(60));
    let update = "UPDATE product SET price = price + 1 WHERE id = ?";
    for id in 1..=10 {
        west.exec_drop(update, (id,)).await.unwrap();
        east.exec_drop(update, (id + 10,)).await.unwrap();
    }
    harness.wait_for_lines(40, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(1)); // anything extra would show now
    let history = harness.history(&pool).await;
    assert_eq!(history.len(), 40);
    let lines = harness.log_lines();
    assert_exactly_once(&history, &lines);

    // The stamp is the UTC instant of the write: at or after the statement's
    // start (UTC_TIMESTAMP is the statement's start), within seconds of it.
    let written = utc_of_writes(&pool).await;
    for line in &lines {
        let stamp = line.last_updated();
        let utc = written[&(line.id(), stamp)];
        assert!(
            (0..5_000_000).contains(&(stamp - utc)),
            "product {} logged at {} but written at {} UTC",
            line.id(),
            pipeline::timestamp::Timestamp(stamp),
            pipeline::timestamp::Timestamp(utc),
        );
    }
    east.disconnect().await.unwrap();
    west.disconnect().await.unwrap();
    pool.disconnect().await.unwrap();
}

/// A position saved while stamps followed a zone east of UTC is hours ahead
/// of the server's UTC clock: trusting it would hold every change back for
/// hours and then skip some. The producer refuses it at start with the fix.
#[tokio::test(flavor = "multi_thread")]
async fn a_position_ahead_of_the_utc_clock_is_refused_with_the_fix() {
    let harness = Harness::new("ahead", "");
    let pool = harness.create_table_with_history().await;
    let ahead = pipeline::timestamp::Timestamp(
        pipeline::timestamp::Timestamp::now().micros() + 3 * 3_600_000_000,
    );
    let position = harness.path("time_track/last_read_timestamp.json");
    std::fs::create_dir_all(position.parent().unwrap()).unwrap();
    std::fs::write(
        &position,
        format!(r#"{{"last_read_timestamp": "{ahead}", "last_read_id": 1}}"#),
    )
    .unwrap();
    let mut child = harness
        .command(&["produce"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the producer ran on a position 3 h ahead of the clock");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ahead of the server's clock") && stderr.contains("last_read_timestamp"),
        "{stderr}"
    );
    pool.disconnect().await.unwrap();
}
