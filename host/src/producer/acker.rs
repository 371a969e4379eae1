//! Waiting for the broker's acknowledgements, batch by batch in order, and
//! saving the position after each fully acknowledged batch.

use std::sync::Arc;

use futures::future::join_all;
use rdkafka::producer::DeliveryFuture;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::latency_trace::AckTrace;
use crate::producer::counters::ProducerCounters;
use crate::source::late::WindowDigest;
use crate::source::{Position, PositionFile};

/// A produced batch: its delivery futures and the position of its last row.
pub struct AckedBatch {
    pub end: Position,
    pub deliveries: Vec<DeliveryFuture>,
    /// The digest of the keys sent in the lookback window up to this batch.
    pub window: WindowDigest,
}

/// Acknowledges batches in the order they were produced. Stops at the first
/// record the broker did not take (librdkafka has already retried it up to
/// `message.timeout.ms`): the position stays before it, so the next run
/// produces it again.
pub async fn acknowledge_in_order(
    mut batches: mpsc::Receiver<AckedBatch>,
    position_file: PositionFile,
    counters: Arc<ProducerCounters>,
    mut trace: Option<AckTrace>,
) -> Result<()> {
    while let Some(batch) = batches.recv().await {
        let count = batch.deliveries.len();
        for delivery in join_all(batch.deliveries).await {
            match delivery {
                Ok(Ok(delivered)) => {
                    if let Some(trace) = &mut trace {
                        trace.ack(delivered.partition, delivered.offset);
                    }
                }
                Ok(Err((error, _))) => return Err(Error::Kafka(error)),
                Err(_canceled) => {
                    return Err(Error::Kafka(rdkafka::error::KafkaError::Canceled));
                }
            }
        }
        if let Some(trace) = &mut trace {
            trace.flush();
        }
        position_file.save_with_window(Some(&batch.end), &batch.window)?;
        counters.add_acked(count, batch.end);
    }
    Ok(())
}

/// Ends a producer run: closes the channel to the acknowledgement task,
/// waits for it to acknowledge (and save) everything already handed over,
/// then flushes librdkafka. The run's own outcome wins over the acker's.
/// Shared by the timestamp and binlog producers.
pub async fn finish_run<T>(
    to_acker: mpsc::Sender<T>,
    acker: tokio::task::JoinHandle<Result<()>>,
    producer: &rdkafka::producer::FutureProducer,
    outcome: Result<()>,
) -> Result<()> {
    use rdkafka::producer::Producer as _;
    drop(to_acker);
    let acked = acker
        .await
        .map_err(|error| Error::task_failed("acknowledgement task", error))?;
    producer.flush(std::time::Duration::from_secs(30))?;
    outcome.and(acked)
}
