//! Where a change's latency goes: commit → `produce()` → log line.
//!
//! Each log line carries its partition and offset, the change's stamp (the
//! record's timestamp column: the trigger's `SYSDATE(6)` at the write, the
//! commit for these one-row updates) and when the line was written. The message at that offset
//! carries the time librdkafka gave it at `produce()` (its CreateTime, in
//! ms). So after the latency run the bench reads the topic's timestamps and
//! splits each line's latency in two. The processes' latency trace
//! (`pipeline::latency_trace`, under the run's `trace/`) splits the second
//! leg again: `produce()` → acknowledgement → member's `poll` → line written.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use pipeline::config::Config;
use pipeline::kafka::{ClientRole, client_config};
use pipeline::latency_trace::TraceLine;
use pipeline::sink::LogLine;

use crate::deployment::{is_live_change, percentile};

/// p50 and p99 of both legs, ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breakdown {
    pub commit_to_produce_p50_ms: f64,
    pub commit_to_produce_p99_ms: f64,
    pub produce_to_log_p50_ms: f64,
    pub produce_to_log_p99_ms: f64,
    pub produce_to_ack_p50_ms: f64,
    pub produce_to_ack_p99_ms: f64,
    pub ack_to_poll_p50_ms: f64,
    pub ack_to_poll_p99_ms: f64,
    pub poll_to_log_p50_ms: f64,
    pub poll_to_log_p99_ms: f64,
}

/// The trace's times by partition and offset: acknowledged, and polled and
/// written (µs).
#[derive(Debug, Default)]
struct Trace {
    acked: HashMap<(i32, i64), i64>,
    polled: HashMap<(i32, i64), (i64, i64)>,
}

/// Reads every trace file under `dir` for `topic` (none: an empty trace).
fn read_trace(dir: &Path, topic: &str) -> Trace {
    let mut trace = Trace::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return trace;
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines().filter_map(TraceLine::parse) {
            if line.topic != topic {
                continue;
            }
            let at = (line.partition, line.offset);
            match (line.kind.as_str(), line.times_us.as_slice()) {
                ("ack", [acked, ..]) => {
                    trace.acked.insert(at, *acked);
                }
                ("poll", [polled, written, ..]) => {
                    trace.polled.insert(at, (*polled, *written));
                }
                _ => {}
            }
        }
    }
    trace
}

/// The CreateTime (ms) of every message of `topic`, by partition and offset.
fn produce_times(
    config: &Config,
    topic: &str,
    partitions: i32,
) -> Result<HashMap<(i32, i64), i64>> {
    let mut client = client_config(config, ClientRole::Consumer);
    client.set("group.id", format!("{topic}_breakdown"));
    let consumer: BaseConsumer = client.create()?;
    let mut assignment = TopicPartitionList::new();
    let mut remaining = 0i64;
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        remaining += high - low;
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut times = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while remaining > 0 && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            if let Some(ms) = message.timestamp().to_millis() {
                times.insert((message.partition(), message.offset()), ms);
            }
            remaining -= 1;
        }
    }
    Ok(times)
}

/// The breakdown of the lines under `log_dir` stamped at or after
/// `since_us`, read from `topic` and the trace under `trace_dir`. The stamp
/// is the record's timestamp column (in binlog mode the line's source
/// position carries the binlog sequence instead).
pub fn measure(
    config: &Config,
    topic: &str,
    partitions: i32,
    log_dir: &Path,
    trace_dir: &Path,
    since_us: i64,
) -> Result<Breakdown> {
    let times = produce_times(config, topic, partitions)?;
    let trace = read_trace(trace_dir, topic);
    let (mut to_produce, mut to_log) = (Vec::new(), Vec::new());
    let (mut to_ack, mut to_poll, mut poll_to_log) = (Vec::new(), Vec::new(), Vec::new());
    for entry in std::fs::read_dir(log_dir)?.flatten() {
        let text =
            std::fs::read_to_string(entry.path().join("consumer_log.json")).unwrap_or_default();
        for line in text.lines() {
            let Ok(line) = serde_json::from_str::<LogLine>(line) else {
                continue;
            };
            if !is_live_change(&line, &config.source.operation_field) {
                continue;
            }
            let stamp = line
                .record
                .get(&config.source.timestamp_column)
                .and_then(serde_json::Value::as_i64);
            if let (Some(stamp), Some(&produced_ms)) =
                (stamp, times.get(&(line.partition, line.offset)))
                && stamp >= since_us
            {
                let produced_us = produced_ms * 1000;
                to_produce.push((produced_us - stamp) as f64 / 1000.0);
                to_log.push((line.logged_at_us - produced_us) as f64 / 1000.0);
                let at = (line.partition, line.offset);
                if let (Some(&acked), Some(&(polled, written))) =
                    (trace.acked.get(&at), trace.polled.get(&at))
                {
                    to_ack.push((acked - produced_us) as f64 / 1000.0);
                    to_poll.push((polled - acked) as f64 / 1000.0);
                    poll_to_log.push((written - polled) as f64 / 1000.0);
                }
            }
        }
    }
    Ok(Breakdown {
        commit_to_produce_p50_ms: percentile(&mut to_produce, 50.0),
        commit_to_produce_p99_ms: percentile(&mut to_produce, 99.0),
        produce_to_log_p50_ms: percentile(&mut to_log, 50.0),
        produce_to_log_p99_ms: percentile(&mut to_log, 99.0),
        produce_to_ack_p50_ms: percentile(&mut to_ack, 50.0),
        produce_to_ack_p99_ms: percentile(&mut to_ack, 99.0),
        ack_to_poll_p50_ms: percentile(&mut to_poll, 50.0),
        ack_to_poll_p99_ms: percentile(&mut to_poll, 99.0),
        poll_to_log_p50_ms: percentile(&mut poll_to_log, 50.0),
        poll_to_log_p99_ms: percentile(&mut poll_to_log, 99.0),
    })
}
