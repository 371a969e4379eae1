//! A member's lag comes from what librdkafka already holds (the high
//! watermark of its last fetch response), never from a broker request made
//! on the member's thread: on a broker that serves a connection's requests
//! in order (nisshi), such a request waited behind the member's outstanding
//! fetch and stalled every record fetched meanwhile (issue 16 part 4).
//! Against the tests' broker (`common::broker`), on a topic of its own.

mod common;

use std::time::{Duration, Instant};

use pipeline::config::Config;
use pipeline::kafka::{ClientRole, cached_high_watermark, client_config, ensure_topic};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

#[tokio::test]
async fn the_high_watermark_is_read_from_the_last_fetch_not_asked_for() {
    let unique = format!(
        "consumer_lag_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 1_000_000_000
    );
    let mut config = Config::default();
    config
        .kafka
        .insert("bootstrap.servers".into(), common::broker());
    config.consumer.group_id = format!("{unique}_group");
    ensure_topic(&config, &unique, 1).await.unwrap();

    let producer: FutureProducer = client_config(&config, ClientRole::Producer)
        .create()
        .unwrap();
    for index in 0..3 {
        let key = index.to_string();
        producer
            .send(
                FutureRecord::to(&unique).key(&key).payload("x"),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }

    let consumer: BaseConsumer = client_config(&config, ClientRole::Consumer)
        .create()
        .unwrap();
    assert_eq!(
        cached_high_watermark(consumer.client(), &unique, 0),
        None,
        "nothing fetched yet, so nothing known (and nothing asked)"
    );
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&unique, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received < 3 && Instant::now() < deadline {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            received += 1;
        }
    }
    assert_eq!(received, 3);
    assert_eq!(
        cached_high_watermark(consumer.client(), &unique, 0),
        Some(3)
    );
}
