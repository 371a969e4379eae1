//! Which records a partition's logs were written from: one record's
//! fingerprint per partition, `<log_dir>/.partitions/<topic>-<partition>.anchor`.
//!
//! The high-watermark check (`ownership::check_not_recreated`) catches a
//! recreated topic only while it is shorter than the logs; refilled past the
//! old offsets, it looks the same by offsets alone. The rule: **a partition's
//! logs are resumed only while the broker still holds, at the anchored
//! offset, the record they anchored** (the first record a member took for
//! the partition, fingerprinted by its key and value before any line of the
//! partition is written). A recreated topic holds other records there, so a
//! member refuses to resume (exit code 2) and names the reset. An anchor
//! that retention has deleted cannot be checked; logs written before anchors
//! existed get one at their next record.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::consumer::TopicPartition;
use crate::error::{Error, Result};

/// How long reading the anchored record back may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// One record of a partition: its offset and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub offset: i64,
    /// The first 16 hex digits of SHA-256 over key, a zero byte, value.
    pub fingerprint: String,
}

impl Anchor {
    pub fn of(offset: i64, key: Option<&[u8]>, payload: Option<&[u8]>) -> Self {
        let mut hash = Sha256::new();
        hash.update(key.unwrap_or_default());
        hash.update([0u8]);
        hash.update(payload.unwrap_or_default());
        let fingerprint = hash
            .finalize()
            .iter()
            .take(8)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self {
            offset,
            fingerprint,
        }
    }
}

fn anchor_path(log_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    log_dir
        .join(".partitions")
        .join(format!("{topic}-{partition}.anchor"))
}

/// The partition's anchor, if one was recorded.
pub fn load(log_dir: &Path, topic: &str, partition: i32) -> Result<Option<Anchor>> {
    let path = anchor_path(log_dir, topic, partition);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| Error::ForeignLogs {
                path: path.clone(),
                message: format!(
                    "not an anchor document ({error}); delete it (the next record is anchored)"
                ),
            }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::io(&path, error)),
    }
}

/// Records anchors, once per topic-partition per process.
#[derive(Debug, Default)]
pub struct Anchors {
    checked: BTreeSet<TopicPartition>,
}

impl Anchors {
    /// Records `anchor` for `topic`'s `partition` (`at` in the member's
    /// topic numbering) unless one is recorded already (call before the
    /// partition's lines are written).
    pub fn ensure(
        &mut self,
        log_dir: &Path,
        at: TopicPartition,
        topic: &str,
        anchor: impl FnOnce() -> Anchor,
    ) -> Result<()> {
        if self.checked.contains(&at) {
            return Ok(());
        }
        let partition = at.1;
        if load(log_dir, topic, partition)?.is_none() {
            let path = anchor_path(log_dir, topic, partition);
            let text = serde_json::to_vec(&anchor())?;
            crate::fs::write_atomically(&path, &text)?;
        }
        self.checked.insert(at);
        Ok(())
    }
}

/// Whether the broker holds the anchored record at its offset: `Ok(())`
/// when it does or cannot tell (retention deleted it), the reason when the
/// partition holds another record there.
pub fn check(
    probe: &ClientConfig,
    topic: &str,
    partition: i32,
    anchor: &Anchor,
    low_watermark: i64,
) -> Result<Option<String>> {
    if anchor.offset < low_watermark {
        return Ok(None);
    }
    let consumer: BaseConsumer = probe.create()?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(anchor.offset))?;
    consumer.assign(&list)?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) if message.offset() == anchor.offset => {
                let now = Anchor::of(message.offset(), message.key(), message.payload());
                return Ok((now != *anchor).then(|| {
                    format!(
                        "partition {partition} holds another record at offset {} than the one its logs were written from",
                        anchor.offset
                    )
                }));
            }
            // Skipped ahead (the offset is gone): nothing to compare.
            Some(Ok(_)) => return Ok(None),
            Some(Err(error)) => return Err(error.into()),
            None => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anchor_is_recorded_once_and_fingerprints_key_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let mut anchors = Anchors::default();
        let first = Anchor::of(3, Some(b"7"), Some(b"value"));
        anchors
            .ensure(dir.path(), (0, 1), "t", || first.clone())
            .unwrap();
        let mut later = Anchors::default();
        later
            .ensure(dir.path(), (0, 1), "t", || Anchor::of(9, None, None))
            .unwrap();
        assert_eq!(load(dir.path(), "t", 1).unwrap(), Some(first.clone()));
        assert_ne!(first, Anchor::of(3, Some(b"7"), Some(b"other")));
        assert_eq!(first, Anchor::of(3, Some(b"7"), Some(b"value")));
    }
}
