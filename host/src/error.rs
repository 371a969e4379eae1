//! The crate's one error type.
//!
//! Every variant names the input it is about (a file, a config key, a topic, a
//! plugin) so the message a user sees says what to fix, not only what failed.
//!
//! What a process does about an error is decided in one place,
//! [`Error::disposition`], by the variant and, for MySQL, Kafka and the
//! registry, by the error code the other side gave: retry (the other side
//! is away or busy: wait and try again in-process), restart (this process
//! crashed: exit 1, `pipeline up` starts it again) or stop (it can never
//! succeed as things are: exit 2, which `pipeline up` does not restart, with
//! a message naming the fix). [`Error::is_transient`] and
//! [`Error::is_bad_input`] are its two questions.

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

    /// A record the broker refuses as larger than its maximum message size
    /// (`source.oversized_records = "stop"`; by default it goes to the
    /// producer's dead letters instead).
    #[error(
        "a record of topic {topic} with key {key} is {bytes} bytes, over the broker's maximum message size ({message}); \
         it was not produced. Fix: raise the topic's max.message.bytes and the producer's kafka.message.max.bytes, \
         make the row smaller, or set source.oversized_records = \"dead_letter\" to set such records aside"
    )]
    RecordTooLarge {
        topic: String,
        key: String,
        bytes: usize,
        message: String,
    },

    /// Shutdown was asked for while waiting for `what` to come back: not a
    /// failure (the process stops as asked).
    #[error("stopped while waiting for {what}")]
    ShutDown { what: String },
}

/// What to do about an error (see the module's note).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The other side is away or busy: wait, and try again in-process.
    Retry,
    /// This process crashed (a task panicked): exit 1; `pipeline up`
    /// restarts it.
    Restart,
    /// It can never succeed as things are: exit 2, naming the fix.
    Stop,
}

/// MySQL's error codes that no retry can fix: access denied (1044 to a
/// database, 1045 for the user, 1142 to a table, 1143 to a column, 1227 a
/// privilege, 1370 a routine, 1698 without a password), an unknown
/// database (1049), table (1146) or column (1054), a syntax error (1064)
/// and an unknown system variable (1193).
const MYSQL_FINAL_CODES: [u16; 12] = [
    1044, 1045, 1049, 1054, 1064, 1142, 1143, 1146, 1193, 1227, 1370, 1698,
];

/// Kafka's error codes that no retry can fix: a message over the broker's
/// maximum size, an invalid record, authorisation and authentication
/// refused, an invalid configuration.
fn kafka_code_is_final(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        code,
        Code::MessageSizeTooLarge
            | Code::InvalidMessageSize
            | Code::InvalidRecord
            | Code::TopicAuthorizationFailed
            | Code::GroupAuthorizationFailed
            | Code::ClusterAuthorizationFailed
            | Code::TransactionalIdAuthorizationFailed
            | Code::SaslAuthenticationFailed
            | Code::Authentication
            | Code::InvalidConfig
            | Code::InvalidReplicationFactor
            | Code::PolicyViolation
    )
}

/// The HTTP status in a registry error's message (the client's
/// "failed with status 422 Unprocessable Entity"), if it has one.
fn registry_status(message: &str) -> Option<u16> {
    let (_, after) = message.split_once("status ")?;
    after.get(..3)?.parse().ok()
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

    /// What to do about this error: the one place that decides.
    pub fn disposition(&self) -> Disposition {
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
            | Error::RecordTooLarge { .. }
            | Error::Json(_) => Disposition::Stop,
            Error::TaskFailed { .. } | Error::ShutDown { .. } => Disposition::Restart,
            Error::Mysql(error) => match error {
                mysql_async::Error::Server(server) if MYSQL_FINAL_CODES.contains(&server.code) => {
                    Disposition::Stop
                }
                mysql_async::Error::Url(_) => Disposition::Stop,
                _ => Disposition::Retry,
            },
            Error::Kafka(error) => match error {
                rdkafka::error::KafkaError::ClientConfig(..) => Disposition::Stop,
                error if error.rdkafka_error_code().is_some_and(kafka_code_is_final) => {
                    Disposition::Stop
                }
                _ => Disposition::Retry,
            },
            // A 4xx but a timeout or a rate limit is the registry's answer
            // to this request, not its absence: asking again gets the same.
            Error::Registry(message) => match registry_status(message) {
                Some(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                    Disposition::Stop
                }
                _ => Disposition::Retry,
            },
        }
    }

    /// Whether the input is at fault (configuration, a file, the table's or a
    /// record's or a plugin's shape, a privilege, a record too large): a
    /// restart would fail the same way, so the process exits with code 2
    /// and `pipeline up` leaves it stopped.
    pub fn is_bad_input(&self) -> bool {
        self.disposition() == Disposition::Stop
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

    fn mysql(code: u16) -> Error {
        Error::Mysql(mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: "refused".into(),
            state: "HY000".into(),
        }))
    }

    #[test]
    fn errors_that_can_never_succeed_stop_by_their_code() {
        for code in [1044, 1045, 1142, 1146, 1054] {
            assert_eq!(mysql(code).disposition(), Disposition::Stop, "{code}");
        }
        for code in [1205, 1213, 1040, 1053, 2013] {
            assert_eq!(mysql(code).disposition(), Disposition::Retry, "{code}");
        }
        let too_large = Error::Kafka(rdkafka::error::KafkaError::MessageProduction(
            rdkafka::types::RDKafkaErrorCode::MessageSizeTooLarge,
        ));
        assert_eq!(too_large.disposition(), Disposition::Stop);
        let timed_out = Error::Kafka(rdkafka::error::KafkaError::MessageProduction(
            rdkafka::types::RDKafkaErrorCode::MessageTimedOut,
        ));
        assert_eq!(timed_out.disposition(), Disposition::Retry);
        let refused = Error::Registry(
            "registering the value schema under subject `t-value` failed: Error: HTTP request to schema \
             registry failed with status 422 Unprocessable Entity had no other cause"
                .into(),
        );
        assert_eq!(refused.disposition(), Disposition::Stop);
        let away = Error::Registry(
            "HTTP request to schema registry failed with status 503 Service Unavailable".into(),
        );
        assert_eq!(away.disposition(), Disposition::Retry);
        let busy = Error::Registry("failed with status 429 Too Many Requests".into());
        assert_eq!(busy.disposition(), Disposition::Retry);
    }

    #[test]
    fn bad_input_is_final_and_a_missing_service_is_not() {
        assert!(Error::config("pipeline.toml", "bad").is_bad_input());
        assert!(Error::Source("no `id` column".into()).is_bad_input());
        assert!(!Error::Registry("connection refused".into()).is_bad_input());
    }
}
