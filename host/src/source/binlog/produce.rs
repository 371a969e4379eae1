//! Handing binlog changes to the broker, and saving the position after the
//! acknowledgements.
//!
//! The rule: chunks are acknowledged strictly in the order they were
//! produced, and only a chunk that ends at a transaction boundary carries a
//! position; it is saved once every record of it *and of every chunk before
//! it* is acknowledged. So the saved position never passes an unacknowledged
//! record and never falls inside a transaction. A record the broker can
//! never take is set aside first (see `oversized`), never retried.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::mpsc;

use crate::codec::{ValueSchema, WireEncoder};
use crate::error::{Error, Result};
use crate::latency_trace::AckTrace;
use crate::producer::ProducerCounters;
use crate::record::{FieldValue, Record};
use crate::source::binlog::oversized::{Oversized, is_too_large};
use crate::source::binlog::position::{BinlogPosition, BinlogPositionFile};
use crate::source::binlog::tables::TableRoute;
use crate::source::key::{KeyColumns, message_key};

/// What a change was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Insert,
    Update,
    Delete,
    /// Read by the snapshot.
    Read,
    /// Every row of the table removed (`TRUNCATE`).
    Truncate,
}

impl Operation {
    /// Debezium's letters.
    pub fn letter(self) -> &'static str {
        match self {
            Operation::Insert => "c",
            Operation::Update => "u",
            Operation::Delete => "d",
            Operation::Read => "r",
            Operation::Truncate => "t",
        }
    }
}

/// Produced records waiting for acknowledgement; `end` is set only at a
/// transaction boundary.
pub struct Chunk {
    pub end: Option<BinlogPosition>,
    pub deliveries: Vec<DeliveryFuture>,
    pub rows: usize,
}

/// What every table's records share: the librdkafka producer and the
/// operation and sequence field names.
#[derive(Clone, Copy)]
pub struct Fields<'a> {
    pub producer: &'a FutureProducer,
    pub operation_field: &'a str,
    pub sequence_field: &'a str,
    /// Where a record the broker can never take goes.
    pub oversized: &'a Oversized,
}

impl Fields<'_> {
    /// The sender of `route`'s table: its topic, key and current encoder.
    pub fn sender<'b>(&'b self, route: &'b TableRoute) -> Sender<'b> {
        Sender {
            producer: self.producer,
            topic: route.topic(),
            encoder: &route.version.encoder,
            key: &route.key,
            operation_field: self.operation_field,
            sequence_field: self.sequence_field,
            oversized: self.oversized,
        }
    }
}

/// Produces records keyed by the key columns (the message key is
/// `source::key::message_key`'s JSON, as in timestamp mode), tombstones
/// after deletes.
pub struct Sender<'a> {
    pub producer: &'a FutureProducer,
    pub topic: &'a str,
    pub encoder: &'a WireEncoder,
    pub key: &'a KeyColumns,
    pub operation_field: &'a str,
    pub sequence_field: &'a str,
    pub oversized: &'a Oversized,
}

impl Sender<'_> {
    /// Produces one change: the record with its operation and sequence, and
    /// for a delete a tombstone (null value) for its key right after, so a
    /// compacted topic drops the key. Returns the deliveries to wait for.
    pub async fn send(
        &self,
        mut record: Record,
        operation: Operation,
        sequence: i64,
        deliveries: &mut Vec<DeliveryFuture>,
    ) -> Result<()> {
        record.set(
            self.operation_field,
            FieldValue::Text(operation.letter().to_owned()),
        );
        record.set(self.sequence_field, FieldValue::Long(sequence));
        let key = message_key(&self.key.of_record(&record)?);
        let payload = self.encoder.encode(&record)?;
        deliveries.extend(self.produce(&key, Some(&payload), None).await?);
        if operation == Operation::Delete {
            deliveries.extend(self.produce(&key, None, None).await?);
        }
        Ok(())
    }

    /// Produces a truncate of `table` (Debezium's op `t`): one record on
    /// every partition of the topic, each keyed `{"truncate":<partition>}`
    /// (no row's key is a JSON object), so every member owning a partition
    /// logs, in that partition's order, that the rows before it are gone;
    /// the one sequence number and the per-partition key make a re-sent
    /// truncate a duplicate, as any record.
    pub async fn truncate(
        &self,
        encoder: &WireEncoder,
        table: &str,
        partitions: i32,
        sequence: i64,
        deliveries: &mut Vec<DeliveryFuture>,
    ) -> Result<()> {
        let record = truncate_record(self.operation_field, self.sequence_field, table, sequence);
        let payload = encoder.encode(&record)?;
        for partition in 0..partitions {
            let key = serde_json::json!({ "truncate": partition }).to_string();
            deliveries.extend(self.produce(&key, Some(&payload), Some(partition)).await?);
        }
        Ok(())
    }

    /// Hands one message to librdkafka, waiting while its queue is full;
    /// `None` when the client refuses it as too large (set aside, see
    /// `oversized`).
    async fn produce(
        &self,
        key: &str,
        payload: Option<&[u8]>,
        partition: Option<i32>,
    ) -> Result<Option<DeliveryFuture>> {
        loop {
            let mut record = FutureRecord::<str, [u8]>::to(self.topic).key(key);
            if let Some(payload) = payload {
                record = record.payload(payload);
            }
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(Some(delivery)),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err((error, _)) if is_too_large(&error) => {
                    let bytes = payload.map_or(0, <[u8]>::len);
                    self.oversized
                        .set_aside(self.topic, Some(key.as_bytes()), bytes, &error)
                        .await?;
                    return Ok(None);
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
}

/// The field naming the truncated table in a truncate record.
pub const TRUNCATED_TABLE_FIELD: &str = "table";

/// The value schema of truncate records (registered under
/// `<topic>-truncate`: it is no version of the table's row schema).
pub fn truncate_schema(operation_field: &str, sequence_field: &str) -> Result<ValueSchema> {
    ValueSchema::parse(
        &serde_json::json!({
            "type": "record",
            "name": "Truncate",
            "namespace": "pipeline.binlog",
            "doc": "binlog mode: every row of the table was removed (TRUNCATE TABLE) at this point of the partition",
            "fields": [
                {"name": operation_field, "type": "string", "doc": "t"},
                {"name": sequence_field, "type": "long", "doc": "the TRUNCATE's place in the binary log"},
                {"name": TRUNCATED_TABLE_FIELD, "type": "string"},
            ],
        })
        .to_string(),
    )
}

/// A truncate record of `table` at `sequence`.
pub fn truncate_record(
    operation_field: &str,
    sequence_field: &str,
    table: &str,
    sequence: i64,
) -> Record {
    Record::default()
        .with(
            operation_field,
            FieldValue::Text(Operation::Truncate.letter().to_owned()),
        )
        .with(sequence_field, FieldValue::Long(sequence))
        .with(TRUNCATED_TABLE_FIELD, FieldValue::Text(table.to_owned()))
}

/// A boundary is saved at most this often: one transaction per chunk at
/// thousands of transactions a second would otherwise cost an fsync each.
/// A later save only means a longer re-send after a crash, never a loss.
const SAVE_INTERVAL: Duration = Duration::from_millis(100);

/// Acknowledges chunks in order and saves the latest boundary whose chunk
/// (and every chunk before it) is acknowledged, at most every
/// [`SAVE_INTERVAL`], and at the end. Stops at the first record the broker
/// did not take: the position stays before it.
pub async fn acknowledge_in_order(
    mut chunks: mpsc::Receiver<Chunk>,
    position_file: BinlogPositionFile,
    counters: Arc<ProducerCounters>,
    oversized: Arc<Oversized>,
    mut trace: Option<AckTrace>,
) -> Result<()> {
    let mut boundary: Option<BinlogPosition> = None;
    let mut last_save = tokio::time::Instant::now();
    loop {
        let next = match &boundary {
            Some(_) => {
                let due = last_save + SAVE_INTERVAL;
                match tokio::time::timeout_at(due, chunks.recv()).await {
                    Ok(next) => next,
                    Err(_elapsed) => {
                        save(&position_file, &mut boundary, &mut last_save)?;
                        continue;
                    }
                }
            }
            None => chunks.recv().await,
        };
        let Some(chunk) = next else { break };
        for delivery in join_all(chunk.deliveries).await {
            match delivery {
                Ok(Ok(delivered)) => {
                    if let Some(trace) = &mut trace {
                        trace.ack(delivered.partition, delivered.offset);
                    }
                }
                // The broker refused it as too large (the client's own
                // limit is higher): set aside before the position passes it.
                Ok(Err((error, message))) if is_too_large(&error) => {
                    use rdkafka::Message;
                    let bytes = message.payload().map_or(0, <[u8]>::len);
                    oversized
                        .set_aside(message.topic(), message.key(), bytes, &error)
                        .await?;
                }
                Ok(Err((error, _))) => return Err(Error::Kafka(error)),
                Err(_canceled) => return Err(Error::Kafka(rdkafka::error::KafkaError::Canceled)),
            }
        }
        if let Some(trace) = &mut trace {
            trace.flush();
        }
        if chunk.end.is_some() {
            boundary = chunk.end;
        }
        counters.add_acked_rows(chunk.rows);
        if last_save.elapsed() >= SAVE_INTERVAL {
            save(&position_file, &mut boundary, &mut last_save)?;
        }
    }
    save(&position_file, &mut boundary, &mut last_save)
}

fn save(
    position_file: &BinlogPositionFile,
    boundary: &mut Option<BinlogPosition>,
    last_save: &mut tokio::time::Instant,
) -> Result<()> {
    if let Some(end) = boundary.take() {
        position_file.save(&end)?;
        *last_save = tokio::time::Instant::now();
    }
    Ok(())
}
