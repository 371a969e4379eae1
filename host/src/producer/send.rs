//! Handing encoded batches to librdkafka, on a task of its own, in the
//! order the reader read them.
//!
//! The rule: **one task produces, batch after batch, record after record in
//! each batch's order**, and hands each batch's delivery futures to the
//! acknowledgement task in that same order. So the records reach every
//! partition in read order (as when the reader produced them itself), and
//! the acker's strictly ordered saving of positions is unchanged. Running it
//! beside the reader lets the next batch's MySQL reads, decoding and
//! encoding overlap this batch's produce calls.

use std::time::Duration;

use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::producer::acker::AckedBatch;
use crate::producer::encode::Encoded;
use crate::source::Position;
use crate::source::late::WindowDigest;

/// Batches encoded but not yet handed to librdkafka, at most: enough to
/// keep the sender busy while the reader waits for MySQL, few enough that
/// memory stays a couple of batches (librdkafka's own queue is the buffer).
pub const BATCHES_ENCODED_AHEAD: usize = 2;

/// One read batch, encoded: its chunks in read order, and what the acker
/// saves once all of it is acknowledged.
pub struct EncodedBatch {
    pub chunks: Vec<Encoded>,
    pub end: Position,
    pub window: WindowDigest,
}

/// Produces each batch from `batches` in order and passes its delivery
/// futures on to the acker; ends when the reader closes its side, or with
/// the first produce error (the acker's channel closing ends it quietly:
/// the acker's error is the one reported).
pub async fn send_in_order(
    producer: FutureProducer,
    topic: String,
    mut batches: mpsc::Receiver<EncodedBatch>,
    to_acker: mpsc::Sender<AckedBatch>,
) -> Result<()> {
    while let Some(batch) = batches.recv().await {
        let deliveries = produce_batch(&producer, &topic, &batch.chunks).await?;
        let acked = AckedBatch {
            end: batch.end,
            deliveries,
            window: batch.window,
        };
        if to_acker.send(acked).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Hands every record of the batch to librdkafka; returns the delivery
/// futures in order. A full local queue is waited out, not treated as an
/// error.
async fn produce_batch(
    producer: &FutureProducer,
    topic: &str,
    chunks: &[Encoded],
) -> Result<Vec<DeliveryFuture>> {
    let mut deliveries = Vec::with_capacity(chunks.iter().map(Encoded::len).sum());
    for (key, payload) in chunks.iter().flat_map(Encoded::records) {
        loop {
            let record = FutureRecord::to(topic).key(key).payload(payload);
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((error, _)) => return Err(error.into()),
            }
        }
    }
    Ok(deliveries)
}

/// Ends a run of the reader, this task and the acker: closes the reader's
/// side, lets this task produce what it holds, lets the acker acknowledge
/// (and save) everything handed to it, then flushes librdkafka. The first
/// error wins, the reader's first.
pub async fn finish(
    to_sender: mpsc::Sender<EncodedBatch>,
    sender: tokio::task::JoinHandle<Result<()>>,
    acker: tokio::task::JoinHandle<Result<()>>,
    producer: &FutureProducer,
    outcome: Result<()>,
) -> Result<()> {
    use rdkafka::producer::Producer as _;
    drop(to_sender);
    let sent = sender
        .await
        .map_err(|error| Error::task_failed("produce task", error))?;
    let acked = acker
        .await
        .map_err(|error| Error::task_failed("acknowledgement task", error))?;
    producer.flush(Duration::from_secs(30))?;
    outcome.and(sent).and(acked)
}
