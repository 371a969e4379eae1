//! Encoding on several threads keeps the read order: with four encoder
//! threads and big batches (each cut into four chunks), every partition of
//! the topic holds its records in the order the producer read them from
//! MySQL (`(stamp, key)`, strictly increasing), and one key changed again
//! and again reaches the topic in commit order. A chunk handed on out of
//! order would put a later row before an earlier one in some partition.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Harness;
use mysql_async::prelude::Queryable;
use pipeline::codec::{ValueSchema, WireDecoder};
use pipeline::record::FieldValue;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

const ROWS: i32 = 20_000;
/// Changes of the one key updated while the producer catches up.
const ONE_KEY_CHANGES: usize = 200;
const ONE_KEY: i32 = 7;

/// Every record of `topic`: partition, `(last_updated, id)` in offset order;
/// at least `expected`, then whatever more arrives until the topic is quiet
/// for two seconds (the one key's last changes come after the bulk).
fn read_topic(topic: &str, partitions: i32, expected: usize) -> HashMap<i32, Vec<(i64, i32)>> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", common::broker())
        .set("group.id", format!("{topic}_order_probe"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let schema =
        ValueSchema::load(&common::workspace_root().join("schemas/product_value_avro_schema.json"))
            .unwrap();
    let mut decoders: HashMap<u32, WireDecoder> = HashMap::new();
    let mut records: HashMap<i32, Vec<(i64, i32)>> = HashMap::new();
    let (mut read, deadline) = (0, Instant::now() + Duration::from_secs(120));
    let mut last_message = Instant::now();
    while Instant::now() < deadline
        && (read < expected || last_message.elapsed() < Duration::from_secs(2))
    {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        last_message = Instant::now();
        let payload = message.payload().expect("a value");
        let id = u32::from_be_bytes(payload[1..5].try_into().unwrap());
        let decoder = decoders
            .entry(id)
            .or_insert_with(|| WireDecoder::knowing(&schema, id).unwrap());
        let record = decoder.decode_known(Some(payload)).unwrap().unwrap();
        let (Some(FieldValue::Long(stamp)), Some(FieldValue::Int(key))) =
            (record.get("last_updated"), record.get("id"))
        else {
            panic!("unexpected record {record:?}");
        };
        records
            .entry(message.partition())
            .or_default()
            .push((*stamp, *key));
        read += 1;
    }
    records
}

#[tokio::test(flavor = "multi_thread")]
async fn records_reach_each_partition_in_read_order_with_four_encoder_threads() {
    let mut harness = Harness::new(
        "producer_order",
        "[source]\nencoder_threads = 4\nbatch_size = 5000\n",
    );
    let pool = harness.pool().await;
    pipeline::updater::bulk_upsert(&pool, "product", 1, ROWS)
        .await
        .unwrap();
    harness.start_registry();
    harness.spawn("producer", &["produce"]);
    // One key changed again and again while the producer reads: once its
    // first batch is acknowledged (a position saved), so the changes are not
    // all made before a slow start (a loaded machine) and coalesced into one.
    let position = harness.position_file();
    common::wait_until(
        Duration::from_secs(120),
        "the producer's first position",
        || position.exists(),
    );
    let mut conn = pool.get_conn().await.unwrap();
    for change in 0..ONE_KEY_CHANGES {
        conn.query_drop(format!(
            "UPDATE product SET price = {change} WHERE id = {ONE_KEY}"
        ))
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(conn);
    // Each change of the one key made a record unless two fell in one
    // poll (polling sends a row's latest state): at least the rows.
    let records = tokio::task::spawn_blocking({
        let topic = harness.topic.clone();
        move || read_topic(&topic, 10, ROWS as usize)
    })
    .await
    .unwrap();
    let total: usize = records.values().map(Vec::len).sum();
    assert!(
        total >= ROWS as usize,
        "only {total} records reached the topic"
    );
    let mut one_key: Vec<(i64, i32)> = Vec::new();
    for (partition, records) in &records {
        for pair in records.windows(2) {
            assert!(
                pair[0] < pair[1],
                "partition {partition}: {:?} before {:?}, not the read order",
                pair[0],
                pair[1]
            );
        }
        one_key.extend(records.iter().filter(|(_, key)| *key == ONE_KEY));
    }
    assert!(one_key.len() > 1, "the one key's changes: {one_key:?}");
    pool.disconnect().await.unwrap();
}
