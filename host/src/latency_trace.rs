//! An opt-in per-record timing trace, for the bench's latency breakdown.
//!
//! With `PIPELINE_LATENCY_TRACE_DIR` set, the producer writes when each
//! record's acknowledgement reached it, and each member when it polled each
//! record and when its line was written, one CSV line per record, to
//! `<dir>/<process>.csv`. The bench joins them with the log lines and the
//! messages' CreateTime (`produce()`) by partition and offset, which splits
//! `produce()` → log line into its legs (`bench/src/breakdown.rs`). Unset
//! (the default), nothing is recorded and nothing costs more than a branch.
//!
//! Lines are `kind,topic,partition,offset,t1_us[,t2_us]`:
//! - `ack,…,acked_us`: the producer's acknowledgement task saw the delivery
//!   report (so at most as early as the broker's answer);
//! - `poll,…,polled_us,written_us`: the member's `poll` returned the
//!   record, and its batch's lines were appended to the log.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// The environment variable naming the trace directory.
pub const TRACE_DIR_ENV: &str = "PIPELINE_LATENCY_TRACE_DIR";

/// One process's trace file (buffered; flushed by [`LatencyTrace::flush`]
/// and on drop).
pub struct LatencyTrace {
    out: BufWriter<File>,
}

impl LatencyTrace {
    /// The trace of process `name`, when `PIPELINE_LATENCY_TRACE_DIR` is set
    /// and the file can be opened (a trace that cannot be written is only
    /// warned about: it must never stop the pipeline).
    pub fn from_env(name: &str) -> Option<Self> {
        let dir = PathBuf::from(std::env::var_os(TRACE_DIR_ENV)?);
        let path = dir.join(format!("{name}.csv"));
        let opened = std::fs::create_dir_all(&dir)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&path));
        match opened {
            Ok(file) => Some(Self {
                out: BufWriter::new(file),
            }),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "latency trace not written");
                None
            }
        }
    }

    /// The producer saw record `topic`/`partition`/`offset` acknowledged.
    pub fn ack(&mut self, topic: &str, partition: i32, offset: i64, acked_us: i64) {
        let _ = writeln!(self.out, "ack,{topic},{partition},{offset},{acked_us}");
    }

    /// A member polled the record at `polled_us`; its line was written at
    /// `written_us`.
    pub fn poll(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        polled_us: i64,
        written_us: i64,
    ) {
        let _ = writeln!(
            self.out,
            "poll,{topic},{partition},{offset},{polled_us},{written_us}"
        );
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// The producer's side of the trace for one topic (one acknowledgement
/// task each): `<dir>/producer_<topic>.csv`.
pub struct AckTrace {
    trace: LatencyTrace,
    topic: String,
}

impl AckTrace {
    pub fn from_env(topic: &str) -> Option<Self> {
        Some(Self {
            trace: LatencyTrace::from_env(&format!("producer_{topic}"))?,
            topic: topic.to_owned(),
        })
    }

    /// A delivery report for `partition`/`offset` reached the acknowledgement
    /// task now.
    pub fn ack(&mut self, partition: i32, offset: i64) {
        let now = crate::timestamp::Timestamp::now().micros();
        self.trace.ack(&self.topic, partition, offset, now);
    }

    pub fn flush(&mut self) {
        self.trace.flush();
    }
}

/// One line of a trace, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub kind: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub times_us: Vec<i64>,
}

impl TraceLine {
    /// Parses one line written by [`LatencyTrace`]; `None` for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split(',');
        let kind = fields.next()?.to_owned();
        let topic = fields.next()?.to_owned();
        let partition = fields.next()?.parse().ok()?;
        let offset = fields.next()?.parse().ok()?;
        let times_us = fields
            .map(str::parse)
            .collect::<Result<Vec<i64>, _>>()
            .ok()?;
        (!times_us.is_empty()).then_some(Self {
            kind,
            topic,
            partition,
            offset,
            times_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_written_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.csv");
        let mut trace = LatencyTrace {
            out: BufWriter::new(File::create(&file).unwrap()),
        };
        trace.ack("t", 3, 42, 1_000);
        trace.poll("t", 3, 42, 2_000, 2_500);
        trace.flush();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<_> = text.lines().filter_map(TraceLine::parse).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].kind, "ack");
        assert_eq!((lines[0].partition, lines[0].offset), (3, 42));
        assert_eq!(lines[1].times_us, vec![2_000, 2_500]);
        assert_eq!(TraceLine::parse("garbage"), None);
    }
}
