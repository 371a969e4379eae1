//! The crate's one error type.
//!
//! Every variant names the input it is about (a file, a config key, a topic, a
//! plugin) so the message a user sees says what to fix, not only what failed.

use std::path::PathBuf;

/// Everything that can go wrong in the pipeline library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration: a file that does not parse, an unknown key, a bad value.
    #[error("configuration error in {origin}: {message}")]
    Config { origin: String, message: String },

    /// A file or directory that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The producer's saved position is unreadable (corrupt or hand-edited).
    #[error("position file {path}: {message}")]
    Position { path: PathBuf, message: String },

    /// MySQL refused or dropped a query.
    #[error("MySQL: {0}")]
    Mysql(#[from] mysql_async::Error),

    /// The Kafka client reported an error.
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),

    /// Avro encoding, decoding or schema parsing failed.
    #[error("Avro: {0}")]
    Avro(#[from] Box<apache_avro::Error>),

    /// A Schema Registry call failed (ours or a remote one).
    #[error("schema registry: {0}")]
    Registry(String),

    /// A record on the topic is not in the Confluent wire format or does not decode.
    #[error("undecodable record: {0}")]
    Decode(String),

    /// A plugin could not be loaded, validated or run.
    #[error("plugin {plugin}: {message}")]
    Plugin { plugin: String, message: String },

    /// A dead letter the Kafka producer or broker refuses as too large: not
    /// transient, retrying the same message can never succeed.
    #[error("dead letter to topic {topic} refused as too large: {message}")]
    DeadLetterTooLarge { topic: String, message: String },

    /// The source table does not have the shape the pipeline needs.
    #[error("source table: {0}")]
    Source(String),

    /// The consumer logs were written against another topic or cluster, or
    /// the topic was recreated since: resuming over them would skip records.
    #[error("consumer logs {path}: {message}")]
    ForeignLogs { path: PathBuf, message: String },

    /// A JSON document (log line, state file) could not be (de)serialised.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<apache_avro::Error> for Error {
    fn from(error: apache_avro::Error) -> Self {
        Error::Avro(Box::new(error))
    }
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A configuration error found in `origin` (a file, an environment variable, a flag).
    pub fn config(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            origin: origin.into(),
            message: message.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
