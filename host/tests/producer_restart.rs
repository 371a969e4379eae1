//! A producer restart sends again only what was not acknowledged: with
//! nothing new in MySQL, a restarted producer (stopped, or killed) adds no
//! record to the topic, although its first lookback scan covers the window
//! it had sent before (it compares the window with the digest saved with the
//! position instead of sending it all again).

mod common;

use std::time::Duration;

use common::Harness;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// The sum of the topic's end offsets: how many records it ever took.
fn records_in(topic: &str) -> i64 {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::broker())
        .set("group.id", "producer_restart_probe")
        .create()
        .unwrap();
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return 0;
    };
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |topic| topic.partitions().len());
    (0..partitions as i32)
        .map(|partition| {
            consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(10))
                .map_or(0, |(_, high)| high)
        })
        .sum()
}

fn starts_logged(harness: &Harness, name: &str) -> bool {
    std::fs::read_to_string(harness.path(&format!("logs/{name}.log")))
        .is_ok_and(|log| log.contains("producer starting"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_nothing_new_produces_nothing_again() {
    let mut harness = Harness::new("restart_resend", "");
    let _pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.spawn("producer", &["produce"]);
    harness.run(&["update", "--count", "0"]);
    common::wait_until(Duration::from_secs(60), "the 50 seed records", || {
        records_in(&harness.topic) >= 50
    });
    let position = harness.path("time_track/last_read_timestamp.json");
    // Acknowledged and saved, and a few lookback scans (every 1 s) later.
    common::wait_until(Duration::from_secs(30), "the position saved", || {
        std::fs::read_to_string(&position).is_ok_and(|text| text.contains("last_read_id"))
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(records_in(&harness.topic), 50);

    let mut running = "producer".to_owned();
    for (round, signal) in [libc::SIGTERM, libc::SIGKILL].into_iter().enumerate() {
        harness.stop(&running, signal);
        running = format!("producer_{round}");
        harness.spawn(&running, &["produce"]);
        common::wait_until(Duration::from_secs(60), "the producer to start", || {
            starts_logged(&harness, &running)
        });
        // The first scan runs at start; two more full-window chances.
        std::thread::sleep(Duration::from_secs(4));
        assert_eq!(
            records_in(&harness.topic),
            50,
            "records produced again after a restart (signal {signal})"
        );
    }
}
