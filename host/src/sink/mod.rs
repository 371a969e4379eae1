//! Where processed records end up: one JSON-lines log per consumer-group
//! member, and a dead-letter destination for records that could not be
//! processed.
//!
//! The logs are the pipeline's output *and* its memory: every line carries
//! the partition and offset it came from and the record's source position,
//! so a member that takes over a partition (after a crash or a rebalance)
//! resumes after the last line any member durably wrote for it, and a record
//! the producer sent twice is recognised and written once.

mod dead_letter;
mod delivered;
mod line;
mod log_file;

pub use dead_letter::{DeadLetterRecord, DeadLetterSink};
pub use delivered::Delivered;
pub use line::{LogLine, LogLineRef, RecordJson, SourceColumns, SourcePosition};
pub use log_file::{ConsumerLog, log_path};
