//! Records the broker can never take: larger than its maximum message size.
//!
//! The rule: **such a record is never retried** (the same bytes are refused
//! again, and a restart would re-send its transaction's earlier rows every
//! time). By default (`source.oversized_records = "dead_letter"`) its key,
//! size and the reason go to the dead-letter destination, durably, before
//! the stream goes on, so the saved position passes the record only once it
//! is set aside; with `"stop"` the producer stops with exit code 2 naming
//! the record. Either way nothing is skipped silently.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::Mutex;

use crate::config::{Config, OversizedRecords};
use crate::error::{Error, Result};
use crate::sink::{DeadLetterRecord, DeadLetterSink};

/// The stage a producer's dead letter names.
pub const STAGE: &str = "produce";

/// Where the producer sets oversized records aside.
pub struct Oversized {
    config: Config,
    /// Opened on the first oversized record (most runs have none).
    sink: Mutex<Option<DeadLetterSink>>,
}

/// Whether the client or the broker refused a message as too large.
pub fn is_too_large(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize)
    )
}

impl Oversized {
    pub fn new(config: &Config) -> Self {
        Self {
            config: config.clone(),
            sink: Mutex::new(None),
        }
    }

    /// Sets a record of `topic` with `key` (`bytes` long, refused with
    /// `error`) aside, or stops, as configured.
    pub async fn set_aside(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        bytes: usize,
        error: &KafkaError,
    ) -> Result<()> {
        let key_text = String::from_utf8_lossy(key.unwrap_or_default()).into_owned();
        if self.config.source.oversized_records == OversizedRecords::Stop {
            return Err(Error::RecordTooLarge {
                topic: topic.to_owned(),
                key: key_text,
                bytes,
                message: error.to_string(),
            });
        }
        let reason = format!(
            "the record is {bytes} bytes, over the broker's maximum message size ({error}): it was not produced \
             to {topic} and is not in the consumer logs. Fix: raise the topic's max.message.bytes and the \
             producer's kafka.message.max.bytes, or make the row smaller; then re-read the row"
        );
        let letter = DeadLetterRecord {
            topic: topic.to_owned(),
            partition: -1,
            offset: -1,
            key: key.map(<[u8]>::to_vec),
            value: None,
            stage: STAGE.to_owned(),
            version: String::new(),
            record_key: key.and_then(|key| serde_json::from_slice(key).ok()),
            reason,
            member: 0,
        };
        let mut sink = self.sink.lock().await;
        if sink.is_none() {
            *sink = Some(DeadLetterSink::open_for_producer(&self.config).await?);
        }
        if let Some(sink) = sink.as_mut() {
            sink.write(std::slice::from_ref(&letter)).await?;
            tracing::warn!(
                topic,
                key = %key_text,
                bytes,
                dead_letters = sink.describe(),
                "a record over the broker's maximum message size: its key and the reason are in the dead letters"
            );
        }
        Ok(())
    }
}
