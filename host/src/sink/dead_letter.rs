//! The dead-letter destination: records that could not be decoded or that a
//! plugin failed on, with the reason, so nothing is dropped silently.
//!
//! On Kafka (the default, `product_updates.dlq`) the original key and value
//! bytes are kept unchanged, so a fixed plugin can replay them, and the
//! reason travels in headers, as Kafka Connect does. In a file, each dead
//! letter is one JSON line with the bytes hex-encoded.
//!
//! The rule that keeps a dead letter deliverable: **the reason is cut, never
//! the record, so that the message fits the producer's `message.max.bytes`.**
//! A reason is at most [`MAX_REASON_BYTES`], and less when the record's own
//! bytes leave less room. A dead letter the broker still refuses as too
//! large is a permanent error, not one to retry forever.

use std::path::Path;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;

use crate::config::{Config, DeadLetterConfig};
use crate::error::{Error, Result};
use crate::kafka::{ClientRole, client_config, ensure_topic};
use crate::sink::log_file::ConsumerLog;

/// Longest reason a dead letter carries, in bytes.
pub const MAX_REASON_BYTES: usize = 16 * 1024;

/// The producer's `message.max.bytes` (librdkafka's default, which the
/// client does not change), less room for the per-message framing.
const MAX_MESSAGE_BYTES: usize = 1_000_000 - 1_024;

/// A record that could not be processed, and why.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(serialize_with = "hex")]
    pub key: Option<Vec<u8>>,
    #[serde(serialize_with = "hex")]
    pub value: Option<Vec<u8>>,
    /// `decode` or the plugin's name.
    pub stage: String,
    /// The plugin's version (name@version#hash); empty for decoding.
    pub version: String,
    /// The record's key as the log lines carry it (`7`, `["eu",3]`), read
    /// from the decoded record; absent when it did not decode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_key: Option<serde_json::Value>,
    pub reason: String,
    pub member: u32,
}

fn hex<S: serde::Serializer>(bytes: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
    match bytes {
        None => serializer.serialize_none(),
        Some(bytes) => {
            serializer.collect_str(&bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
        }
    }
}

/// Where dead letters go.
pub enum DeadLetterSink {
    Kafka {
        producer: FutureProducer,
        topic: String,
    },
    File(ConsumerLog),
}

impl DeadLetterSink {
    /// Opens the configured destination for `member` (creating the topic).
    pub async fn open(config: &Config, member: u32) -> Result<Self> {
        match &config.dead_letter {
            DeadLetterConfig::Kafka { topic } => {
                ensure_topic(config, topic, config.topic.partitions).await?;
                let producer = client_config(config, ClientRole::Producer).create()?;
                Ok(Self::Kafka {
                    producer,
                    topic: topic.clone(),
                })
            }
            DeadLetterConfig::File { dir } => Ok(Self::File(ConsumerLog::open(
                &file_path(dir, member),
                true,
            )?)),
        }
    }

    /// Opens the configured destination for the producer's dead letters
    /// (records it could not produce): the same topic, or
    /// `<dir>/producer/dead_letters.json`.
    pub async fn open_for_producer(config: &Config) -> Result<Self> {
        match &config.dead_letter {
            DeadLetterConfig::Kafka { .. } => Self::open(config, 0).await,
            DeadLetterConfig::File { dir } => Ok(Self::File(ConsumerLog::open(
                &dir.join("producer").join("dead_letters.json"),
                true,
            )?)),
        }
    }

    /// Writes the dead letters and waits until they are durable (acknowledged
    /// or flushed): only then may the consumer commit past them.
    pub async fn write(&mut self, letters: &[DeadLetterRecord]) -> Result<()> {
        if letters.is_empty() {
            return Ok(());
        }
        match self {
            Self::File(log) => {
                let lines = letters
                    .iter()
                    .map(|letter| {
                        let mut letter = letter.clone();
                        letter.reason = cut(&letter.reason, MAX_REASON_BYTES).into_owned();
                        serde_json::to_string(&letter)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                log.append(&lines)
            }
            Self::Kafka { producer, topic } => {
                let sends = letters.iter().map(|letter| {
                    let partition = letter.partition.to_string();
                    let offset = letter.offset.to_string();
                    let member = letter.member.to_string();
                    let record_key = letter
                        .record_key
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    let reason =
                        fitted_reason(letter, &[&partition, &offset, &member, &record_key]);
                    let headers = OwnedHeaders::new()
                        .insert(Header {
                            key: "dlq.reason",
                            value: Some(reason.as_ref()),
                        })
                        .insert(Header {
                            key: "dlq.stage",
                            value: Some(letter.stage.as_str()),
                        })
                        .insert(Header {
                            key: "dlq.version",
                            value: Some(letter.version.as_str()),
                        })
                        .insert(Header {
                            key: "dlq.source.topic",
                            value: Some(letter.topic.as_str()),
                        })
                        .insert(Header {
                            key: "dlq.source.partition",
                            value: Some(partition.as_str()),
                        })
                        .insert(Header {
                            key: "dlq.source.offset",
                            value: Some(offset.as_str()),
                        })
                        .insert(Header {
                            key: "dlq.member",
                            value: Some(member.as_str()),
                        })
                        .insert(Header {
                            key: "dlq.record.key",
                            value: letter.record_key.as_ref().map(|_| record_key.as_str()),
                        });
                    let mut record =
                        FutureRecord::<[u8], [u8]>::to(topic.as_str()).headers(headers);
                    if let Some(key) = &letter.key {
                        record = record.key(key.as_slice());
                    }
                    if let Some(value) = &letter.value {
                        record = record.payload(value.as_slice());
                    }
                    producer.send(record, Duration::from_secs(60))
                });
                for result in futures::future::join_all(sends).await {
                    result.map_err(|(error, _)| too_large(error, topic))?;
                }
                Ok(())
            }
        }
    }

    /// Where dead letters go, for log lines.
    pub fn describe(&self) -> String {
        match self {
            Self::Kafka { topic, .. } => format!("topic {topic}"),
            Self::File(log) => format!("file {}", log.path().display()),
        }
    }
}

/// The letter's reason, cut so the whole message (key, value and headers)
/// fits [`MAX_MESSAGE_BYTES`]; `numbers` are the other headers' values.
fn fitted_reason<'a>(letter: &'a DeadLetterRecord, numbers: &[&str]) -> std::borrow::Cow<'a, str> {
    const HEADER_NAMES: usize = 160; // the eight `dlq.*` names, with room
    let used = letter.key.as_ref().map_or(0, Vec::len)
        + letter.value.as_ref().map_or(0, Vec::len)
        + letter.stage.len()
        + letter.version.len()
        + letter.topic.len()
        + numbers.iter().map(|number| number.len()).sum::<usize>()
        + HEADER_NAMES;
    cut(
        &letter.reason,
        MAX_MESSAGE_BYTES.saturating_sub(used).min(MAX_REASON_BYTES),
    )
}

/// `text` cut to at most `max` bytes at a character boundary, ending with a
/// note of how much was cut when there is room for it.
fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let note = format!("… ({} bytes cut)", text.len());
    let keep = max.saturating_sub(note.len());
    let mut end = keep.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if keep == 0 {
        return String::new().into();
    }
    format!("{}{note}", &text[..end]).into()
}

/// A send error; one for a message too large to ever be accepted is
/// permanent, so the batch is not retried forever.
fn too_large(error: rdkafka::error::KafkaError, topic: &str) -> Error {
    use rdkafka::types::RDKafkaErrorCode;
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            Error::DeadLetterTooLarge {
                topic: topic.to_owned(),
                message: error.to_string(),
            }
        }
        _ => Error::Kafka(error),
    }
}

/// `<dir>/consumer_<member>/dead_letters.json`.
fn file_path(dir: &Path, member: u32) -> std::path::PathBuf {
    dir.join(format!("consumer_{member}"))
        .join("dead_letters.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(value_bytes: usize, reason_bytes: usize) -> DeadLetterRecord {
        DeadLetterRecord {
            topic: "t".into(),
            partition: 0,
            offset: 1,
            key: Some(vec![0; 8]),
            value: Some(vec![0; value_bytes]),
            stage: "plugin".into(),
            record_key: None,
            version: "plugin@1#00000000".into(),
            reason: "é".repeat(reason_bytes / 2),
            member: 1,
        }
    }

    #[test]
    fn a_long_reason_is_cut_and_the_record_kept() {
        let letter = letter(100, 2_000_000);
        let reason = fitted_reason(&letter, &["0", "1", "1"]);
        assert!(reason.len() <= MAX_REASON_BYTES, "{}", reason.len());
        assert!(reason.ends_with("(2000000 bytes cut)"), "{reason}");
    }

    #[test]
    fn a_large_record_leaves_less_room_for_the_reason() {
        let letter = letter(MAX_MESSAGE_BYTES - 4_000, 100_000);
        let reason = fitted_reason(&letter, &["0", "1", "1"]);
        // The record's 4,000 bytes short of the limit, less its key and the
        // other headers, are all the reason may take.
        assert!(reason.len() <= 4_000 - 8 - 128, "{}", reason.len());
        assert!(reason.len() > 3_000, "{}", reason.len());
        assert!(reason.ends_with("(100000 bytes cut)"), "{reason}");
    }

    #[test]
    fn a_short_reason_is_unchanged() {
        assert_eq!(fitted_reason(&letter(10, 20), &[]), "é".repeat(10));
    }
}
