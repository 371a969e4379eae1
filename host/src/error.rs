//! The crate's one error type.
//!
//! Every variant names the input it is about (a file, a config key, a topic, a
//! plugin) so the message a user sees says what to fix, not only what failed.
//!
//! What a process does about an error is decided per variant, never by a
//! catch-all: [`Error::is_transient`] (in `retry`) says whether waiting and
//! trying again in-process can help, and [`Error::is_bad_input`] whether the
//! process should exit with code 2, which `pipeline up` does not restart.

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

    /// A task or thread of this process ended without its result (it
    /// panicked or was cancelled): a crash, not bad input, so the process
    /// exits with code 1 and `pipeline up` restarts it.
    #[error("{task} failed: {message}")]
    TaskFailed { task: String, message: String },

    /// Binlog mode cannot run against this server as configured (binary log
    /// off, not ROW, not FULL image, missing privileges, purged position).
    #[error("binlog source: {0}")]
    Binlog(String),

    /// The saved binlog position was taken on another binary-log history
    /// than the server's (a failover to another server, `RESET MASTER`):
    /// its file, offset and sequence numbers mean something else there.
    #[error("position file {path}: {message}")]
    PositionFromAnotherLog { path: PathBuf, message: String },

    /// A line of a `pipeline plugin check` records or expect file is not
    /// what it must be.
    #[error("{path} line {line}: {message}")]
    CheckFile {
        path: PathBuf,
        line: usize,
        message: String,
    },

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

    /// `task` (a thread or tokio task, named for people) ended without its
    /// result: `error` is its join error.
    pub fn task_failed(task: &str, error: impl std::fmt::Display) -> Self {
        Error::TaskFailed {
            task: task.to_owned(),
            message: error.to_string(),
        }
    }

    /// Whether the input is at fault (configuration, a file, the table's or a
    /// record's or a plugin's shape): a restart would fail the same way, so
    /// the process exits with code 2 and `pipeline up` leaves it stopped.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Config { .. }
            | Error::Io { .. }
            | Error::Position { .. }
            | Error::PositionFromAnotherLog { .. }
            | Error::Avro(_)
            | Error::Decode(_)
            | Error::Plugin { .. }
            | Error::Source(_)
            | Error::Binlog(_)
            | Error::ForeignLogs { .. }
            | Error::DeadLetterTooLarge { .. }
            | Error::CheckFile { .. }
            | Error::Json(_) => true,
            // The other side is away or busy, or this process crashed: a
            // restart can help.
            Error::Mysql(_) | Error::Kafka(_) | Error::Registry(_) | Error::TaskFailed { .. } => {
                false
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashed_task_is_restarted_but_not_retried_in_process() {
        let crashed = Error::task_failed("consumer thread", "task 7 panicked");
        assert_eq!(
            crashed.to_string(),
            "consumer thread failed: task 7 panicked"
        );
        assert!(!crashed.is_bad_input(), "exit 1: `up` restarts it");
        assert!(!crashed.is_transient(), "waiting in-process cannot help");
    }

    #[test]
    fn bad_input_is_final_and_a_missing_service_is_not() {
        assert!(Error::config("pipeline.toml", "bad").is_bad_input());
        assert!(Error::Source("no `id` column".into()).is_bad_input());
        assert!(!Error::Registry("connection refused".into()).is_bad_input());
    }
}
