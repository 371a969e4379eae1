//! Set-up and checks shared by the binlog-mode tests (`source_binlog`,
//! `source_binlog_gtid`, `source_binlog_tables`).

use std::time::Duration;

use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use super::Harness;

/// The seed's table without the timestamp mode's position index or
/// triggers: binlog mode needs neither.
pub async fn create_plain_table(harness: &Harness) -> Pool {
    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(
        "CREATE TABLE product (
            id INT NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            category VARCHAR(64) NOT NULL,
            price DECIMAL(12,2) NOT NULL,
            last_updated DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) ENGINE=InnoDB",
    )
    .await
    .unwrap();
    drop(conn);
    pool
}

/// Starts the registry, five members and the producer, and waits until the
/// producer has saved its first position (its snapshot is done: what is
/// written from now on comes from the log).
pub fn start_pipeline(harness: &mut Harness) {
    harness.start_registry();
    harness.start_consumers(5);
    harness.wait_for_stable_group(5, 2);
    harness.spawn("producer", &["produce"]);
    let position = harness.path("time_track/binlog_position.json");
    super::wait_until(Duration::from_secs(60), "the snapshot's position", || {
        position.exists()
    });
}

/// Reads the message right after a delete's record, to check it is the
/// tombstone that lets a compacted topic drop the key.
pub struct Tombstones {
    consumer: BaseConsumer,
}

impl Tombstones {
    pub fn new(harness: &Harness) -> Self {
        let consumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", super::broker())
            .set("group.id", format!("{}_check", harness.topic))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        Self { consumer }
    }

    /// The message after `offset` in `topic`/`partition`, asserted to be a
    /// tombstone (no payload); the caller checks its key.
    pub fn after(&self, topic: &str, partition: i32, offset: i64) -> OwnedMessage {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(offset + 1))
            .unwrap();
        self.consumer.assign(&assignment).unwrap();
        let message = match self.consumer.poll(Duration::from_secs(10)) {
            Some(Ok(message)) => message.detach(),
            other => {
                panic!("no message after the delete at {topic}:{partition}:{offset}: {other:?}")
            }
        };
        assert_eq!(
            message.payload(),
            None,
            "a tombstone follows the delete at {topic}:{partition}:{offset}"
        );
        message
    }
}

/// Runs `pipeline ARGS` until it exits or `within` passes (then it is
/// killed and the code is `None`): its exit code and everything it printed.
/// For a producer that must stop by itself at a refused event: the old
/// behaviour was to go on, so the test must not wait forever.
pub fn output_within(harness: &Harness, args: &[&str], within: Duration) -> (Option<i32>, String) {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = harness
        .command(args)
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + within;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        code,
        std::fs::read_to_string(out.path()).unwrap_or_default(),
    )
}
