//! Handing binlog changes to the broker, and saving the position after the
//! acknowledgements.
//!
//! The rule: chunks are acknowledged strictly in the order they were
//! produced, and only a chunk that ends at a transaction boundary carries a
//! position; it is saved once every record of it *and of every chunk before
//! it* is acknowledged. So the saved position never passes an unacknowledged
//! record and never falls inside a transaction.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::mpsc;

use crate::codec::WireEncoder;
use crate::error::{Error, Result};
use crate::latency_trace::AckTrace;
use crate::producer::ProducerCounters;
use crate::record::{FieldValue, Record};
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
}

impl Operation {
    /// Debezium's letters.
    pub fn letter(self) -> &'static str {
        match self {
            Operation::Insert => "c",
            Operation::Update => "u",
            Operation::Delete => "d",
            Operation::Read => "r",
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
        deliveries.push(self.produce(&key, Some(&payload)).await?);
        if operation == Operation::Delete {
            deliveries.push(self.produce(&key, None).await?);
        }
        Ok(())
    }

    /// Hands one message to librdkafka, waiting while its queue is full.
    async fn produce(&self, key: &str, payload: Option<&[u8]>) -> Result<DeliveryFuture> {
        loop {
            let mut record = FutureRecord::<str, [u8]>::to(self.topic).key(key);
            if let Some(payload) = payload {
                record = record.payload(payload);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => tokio::time::sleep(Duration::from_millis(2)).await,
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
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
