//! Issue 17's consumer faults, with real processes against the real
//! services: a member the group drops while it is blocked (a zombie), a
//! re-sent change read in the same batch as its original, logs pointed at
//! another topic or a recreated one, and stopping within a bound.
//!
//! Run with `just test-faults` (`#[ignore]`d in the plain `cargo test` run).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Harness;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A deployment whose group drops a member that has not polled for 6 s (or
/// not heartbeated for 6 s), so a zombie appears within a test's time.
/// Under Kafka 4's consumer group protocol the session timeout is the
/// broker's (10 s on the local broker, `scripts/kafka.sh`): only the poll
/// interval is the member's.
fn with_short_group_timeouts(harness: &mut Harness) {
    let classic = common::group_protocol().is_none_or(|protocol| protocol == "classic");
    harness.reconfigure(|config| {
        if classic {
            config
                .kafka
                .insert("session.timeout.ms".into(), "6000".into());
        }
        config
            .kafka
            .insert("max.poll.interval.ms".into(), "6000".into());
    });
}

async fn started(harness: &mut Harness, members: u32) -> mysql_async::Pool {
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(members);
    harness.wait_for_stable_group(members, 10 / members as usize);
    harness.spawn("producer", &["produce"]);
    harness.load_seed_and_wait();
    pool
}

/// Issue 17 item 6. A member restarted while the registry is down has an
/// empty schema cache: it polls records, then blocks decoding them for
/// longer than `max.poll.interval.ms`, so the group gives its partitions to
/// members whose cache still works. When the registry is back it wakes up
/// with its batch in hand: that batch must not be written on top of what the
/// new owners wrote (nor lost).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn a_member_dropped_while_blocked_writes_nothing_twice() {
    let mut harness = Harness::new("zombie", "");
    with_short_group_timeouts(&mut harness);
    let pool = started(&mut harness, 5).await;
    harness.spawn_round_robin("updater", 750, 50, 11);
    std::thread::sleep(Duration::from_secs(2));
    harness.stop("registry", libc::SIGKILL);
    harness.stop("consumer_3", libc::SIGKILL);
    harness.spawn("consumer_3", &["consume", "--member", "3"]);
    common::wait_until(
        Duration::from_secs(60),
        "the restarted member to wait for the registry",
        || {
            std::fs::read_to_string(harness.path("logs/consumer_3.log"))
                .is_ok_and(|log| log.contains("waiting for the schema registry"))
        },
    );
    // Far past max.poll.interval.ms: the group has moved its partitions on.
    std::thread::sleep(Duration::from_secs(15));
    harness.start_registry();
    harness.wait_for_child_exit("updater", Duration::from_secs(90));
    harness
        .check_exactly_once(&pool, 800, Duration::from_secs(120))
        .await;
}

/// Issue 17 item 12. The producer re-sends records after a restart; a
/// member that reads an original and its copy in one batch writes it once.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn a_copy_in_the_same_batch_as_its_original_is_written_once() {
    let mut harness = Harness::new("same_batch", "");
    let _pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.spawn("producer", &["produce"]);
    harness.run(&["update", "--count", "0"]);
    // Every seed record as the producer wrote it, then each sent again to
    // its partition, as a restarted producer re-sends them.
    let originals = read_topic(&harness.topic, 50);
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::broker())
        .create()
        .unwrap();
    for (partition, key, payload) in &originals {
        producer
            .send(
                FutureRecord::to(&harness.topic)
                    .partition(*partition)
                    .key(key)
                    .payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    // One member reads all 100 from the start: what it fetches at once is
    // one batch (batch_size 500).
    harness.start_consumers(1);
    harness.wait_for_lines(50, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    let lines = harness.log_lines();
    let mut seen: HashMap<(i64, i64), usize> = HashMap::new();
    for line in &lines {
        *seen.entry((line.id(), line.last_updated())).or_default() += 1;
    }
    assert_eq!(seen.len(), 50, "every seed record");
    assert_eq!(lines.len(), 50, "each written once: {} lines", lines.len());
}

/// Every message of `topic` (its first `count`), as (partition, key, value).
fn read_topic(topic: &str, count: usize) -> Vec<(i32, Vec<u8>, Vec<u8>)> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::broker())
        .set("group.id", format!("reader_{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while messages.len() < count && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            messages.push((
                message.partition(),
                message.key().unwrap_or_default().to_vec(),
                message.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    assert_eq!(messages.len(), count, "messages on {topic}");
    messages
}

/// Issue 17 item 9. Logs written from topic T, then a member pointed at
/// another topic over the same logs, or at T deleted and recreated: it
/// refuses to start (exit 2) naming the reset, instead of skipping the new
/// records below the old offsets as already written.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn logs_of_another_topic_or_a_recreated_one_are_refused() {
    let mut harness = Harness::new("foreign_logs", "");
    let _pool = started(&mut harness, 1).await;
    harness.stop("producer", libc::SIGTERM);
    harness.stop("consumer_1", libc::SIGTERM);

    // Another topic over the same logs.
    let other_topic = format!("{}_other", harness.topic);
    harness.reconfigure(|config| config.topic.name = other_topic.clone());
    let (code, output) =
        harness.run_bounded(&["consume", "--member", "1"], Duration::from_secs(60));
    assert_eq!(code, Some(2), "refused at start: {output}");
    assert!(
        output.contains(&harness.topic) && output.contains(&other_topic),
        "names both topics: {output}"
    );
    assert!(output.contains("aside"), "names the reset: {output}");
    let topic = harness.topic.clone();
    harness.reconfigure(|config| config.topic.name = topic);

    // The same topic, deleted and recreated (empty).
    delete_topic(&harness.topic).await;
    let (code, output) =
        harness.run_bounded(&["consume", "--member", "1"], Duration::from_secs(90));
    assert_eq!(code, Some(2), "refused: {output}");
    assert!(output.contains("recreated"), "{output}");
    assert!(output.contains("aside"), "names the reset: {output}");
    let lines = harness.log_lines();
    assert_eq!(lines.len(), 50, "the old logs are left as they were");
}

async fn delete_topic(topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::broker())
        .create()
        .unwrap();
    let results = admin
        .delete_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap();
    for result in results {
        result.unwrap();
    }
    // The broker may recreate it at once on a metadata request (topic
    // auto-creation): either way it starts empty, as a recreated topic does.
    std::thread::sleep(Duration::from_secs(2));
}

/// Issue 17 item 15. SIGTERM under load, several rounds: each member stops
/// within the stated bound (`consumer::STOP_BOUND`, 8 s, plus start-up
/// slack), and nothing is lost or doubled by the stops.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "fault test: run with `just test-faults`"]
async fn members_stop_within_the_bound_under_load() {
    let mut harness = Harness::new("stop_bound", "");
    let pool = started(&mut harness, 5).await;
    harness.spawn_round_robin("updater", 600, 50, 12);
    let bound = Duration::from_secs(10);
    let mut late = Vec::new();
    for round in 0..6u32 {
        std::thread::sleep(Duration::from_millis(1500));
        let member = 1 + round % 5;
        let name = format!("consumer_{member}");
        let signal = if round % 2 == 0 {
            libc::SIGTERM
        } else {
            libc::SIGINT
        };
        if !harness.stop_within(&name, signal, bound) {
            late.push(name.clone());
        }
        harness.spawn(&name, &["consume", "--member", &member.to_string()]);
    }
    harness.wait_for_child_exit("updater", Duration::from_secs(60));
    assert!(
        late.is_empty(),
        "members still running {bound:?} after the signal: {late:?}"
    );
    harness
        .check_exactly_once(&pool, 650, Duration::from_secs(120))
        .await;
}
