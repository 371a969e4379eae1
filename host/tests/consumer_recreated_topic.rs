//! Issue 17: a topic deleted, recreated and refilled past the old logs'
//! offsets before any member resumes. The offsets alone look fine (the
//! partitions are longer than the logs); the record each partition's logs
//! were anchored on is not at its offset any more, so a member refuses to
//! resume (exit code 2) and names the reset, instead of skipping the new
//! topic's records below the old offsets as already written.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Harness;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

fn admin() -> AdminClient<DefaultClientContext> {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::broker())
        .create()
        .unwrap()
}

/// Runs `pipeline <args>` until it exits (killed after `bound`): its exit
/// code (`None` if it had to be killed) and its output.
fn run_bounded(harness: &Harness, args: &[&str], bound: Duration) -> (Option<i32>, String) {
    let output = harness.path(&format!("logs/bounded-{}.log", args.join("-")));
    let log = std::fs::File::create(&output).unwrap();
    let mut child = harness
        .command(args)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + bound;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (code, std::fs::read_to_string(&output).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_recreated_and_refilled_past_the_logs_is_refused() {
    let mut harness = Harness::new("refilled_topic", "");
    let _pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(1);
    harness.wait_for_stable_group(1, 10);
    harness.spawn("producer", &["produce"]);
    harness.load_seed_and_wait();
    harness.stop("producer", libc::SIGTERM);
    harness.stop("consumer_1", libc::SIGTERM);

    // Deleted, recreated with the same partitions, and refilled with more
    // records per partition than the logs hold (about 5 each).
    let admin = admin();
    for result in admin
        .delete_topics(&[&harness.topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));
    let topic = NewTopic::new(&harness.topic, 10, TopicReplication::Fixed(1));
    // The broker may have recreated it already (auto-creation): fine too,
    // as long as it has the partitions to refill.
    let _ = admin.create_topics([&topic], &AdminOptions::new()).await;
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::broker())
        .create()
        .unwrap();
    for partition in 0..10 {
        for n in 0..20 {
            producer
                .send(
                    FutureRecord::to(&harness.topic)
                        .partition(partition)
                        .key(&format!("{n}"))
                        .payload(&format!("refill {partition}/{n}")),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
    }

    let (code, output) = run_bounded(
        &harness,
        &["consume", "--member", "1"],
        Duration::from_secs(45),
    );
    assert_eq!(code, Some(2), "refused at start: {output}");
    assert!(output.contains("recreated"), "{output}");
    assert!(output.contains("aside"), "names the reset: {output}");
    assert_eq!(
        harness.log_lines().len(),
        50,
        "the old logs are left as they were"
    );
}
