//! The dead-letter destination: records that could not be decoded or that a
//! plugin failed on, with the reason, so nothing is dropped silently.
//!
//! On Kafka (the default, `product_updates.dlq`) the original key and value
//! bytes are kept unchanged, so a fixed plugin can replay them, and the
//! reason travels in headers, as Kafka Connect does. In a file, each dead
//! letter is one JSON line with the bytes hex-encoded.

use std::path::Path;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;

use crate::config::{Config, DeadLetterConfig};
use crate::error::{Error, Result};
use crate::kafka::{ClientRole, client_config, ensure_topic};
use crate::sink::log_file::ConsumerLog;

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
                    .map(serde_json::to_string)
                    .collect::<Result<Vec<_>, _>>()?;
                log.append(&lines)
            }
            Self::Kafka { producer, topic } => {
                let sends = letters.iter().map(|letter| {
                    let partition = letter.partition.to_string();
                    let offset = letter.offset.to_string();
                    let member = letter.member.to_string();
                    let headers = OwnedHeaders::new()
                        .insert(Header {
                            key: "dlq.reason",
                            value: Some(letter.reason.as_str()),
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
                    result.map_err(|(error, _)| Error::Kafka(error))?;
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

/// `<dir>/consumer_<member>/dead_letters.json`.
fn file_path(dir: &Path, member: u32) -> std::path::PathBuf {
    dir.join(format!("consumer_{member}"))
        .join("dead_letters.json")
}
