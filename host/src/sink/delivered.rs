//! What has already been written, across all members' logs: per topic and
//! partition the next offset to write, per topic and source key the newest
//! change stamp. Never mixed between topics: each table has its own topic,
//! and the same key in two tables is two rows.
//!
//! Rebuilt by reading the logs whenever a member takes partitions over,
//! because the logs, not the committed offsets, are the truth: a member
//! killed after writing a line but before committing its offset would
//! otherwise have that record written again by whoever takes the partition
//! over.
//!
//! The rule that keeps "written" exact: **a line counts only once its
//! newline is in the file.** The writer puts each batch's lines and their
//! newlines in the file with one write, and cuts an unterminated tail when it
//! reopens the log; the scan ignores that same tail. And every log the scan
//! relies on is made durable (`fdatasync`) before the member writes or
//! commits anything on top of it, so a machine crash cannot take away a line
//! that a later line or a committed offset already counts on.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};
use crate::sink::line::{LinePosition, SourceColumns, SourcePosition};

/// Offsets and source positions already in the logs, per topic.
#[derive(Debug, Default, Clone)]
pub struct Delivered {
    next_offset: HashMap<String, HashMap<i32, i64>>,
    /// By topic, then the key's JSON text.
    newest_stamp: HashMap<String, HashMap<String, i64>>,
}

impl Delivered {
    /// Reads every `consumer_*/consumer_log.json` under `log_dir`, then makes
    /// each durable. Lines that do not parse, and a last line without its
    /// newline (torn by a crash, or being written right now by its member),
    /// are not records. Lines without a `topic` (written before lines
    /// carried it) are of `first_topic`; `columns` (that topic's) finds the
    /// position of lines written before lines carried their source position.
    pub fn scan(log_dir: &Path, first_topic: &str, columns: &SourceColumns) -> Result<Self> {
        let mut delivered = Self::default();
        let entries = match fs::read_dir(log_dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(delivered),
            Err(error) => return Err(Error::io(log_dir, error)),
        };
        for entry in entries {
            let entry = entry.map_err(|error| Error::io(log_dir, error))?;
            let path = entry.path().join("consumer_log.json");
            if path.is_file() {
                delivered.read_log(&path, first_topic, columns)?;
            }
        }
        Ok(delivered)
    }

    fn read_log(&mut self, path: &Path, first_topic: &str, columns: &SourceColumns) -> Result<()> {
        let io = |error| Error::io(path, error);
        let file = fs::File::open(path).map_err(io)?;
        let mut reader = BufReader::with_capacity(256 * 1024, &file);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                break; // unterminated: not written (yet)
            }
            let Ok(position) = serde_json::from_slice::<LinePosition>(&line) else {
                continue;
            };
            let topic = position.topic.as_deref().unwrap_or(first_topic);
            self.note_offset(topic, position.partition, position.offset);
            let source = position.source.or_else(|| {
                let old: serde_json::Value = serde_json::from_slice(&line).ok()?;
                columns.position_in_logged(old.get("record")?.as_object()?)
            });
            if let Some(source) = source {
                self.note_position(topic, &source);
            }
        }
        // What this member is about to build on must survive a power loss
        // as long as what it builds (see the module comment).
        file.sync_data().map_err(io)
    }

    /// The first offset of `topic`'s `partition` not yet in any log.
    pub fn next_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.next_offset.get(topic)?.get(&partition).copied()
    }

    /// Whether the record at `offset` of `topic`'s `partition` is already in a log.
    pub fn has_offset(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.next_offset(topic, partition)
            .is_some_and(|next| offset < next)
    }

    /// Whether the change at `position` of `topic` is already in a log, or
    /// superseded by a newer change of the same key (the producer re-sent it).
    pub fn has_position(&self, topic: &str, position: &SourcePosition) -> bool {
        self.has_keyed(topic, &position.key.to_string(), position.stamp)
    }

    /// `has_position` with the key already as its JSON text (`key_text`):
    /// a member turns each record's key into text once, not per lookup.
    pub fn has_keyed(&self, topic: &str, key_text: &str, stamp: i64) -> bool {
        self.newest_stamp
            .get(topic)
            .and_then(|keys| keys.get(key_text))
            .is_some_and(|&newest| stamp <= newest)
    }

    /// Records that `offset` of `topic`'s `partition` has been handled
    /// (written, filtered or dead-lettered).
    pub fn note_offset(&mut self, topic: &str, partition: i32, offset: i64) {
        let next = match self.next_offset.get_mut(topic) {
            Some(partitions) => partitions.entry(partition).or_insert(0),
            None => self
                .next_offset
                .entry(topic.to_owned())
                .or_default()
                .entry(partition)
                .or_insert(0),
        };
        *next = (*next).max(offset + 1);
    }

    /// Records that the change at `position` of `topic` was written (or
    /// accepted for writing in the batch being built).
    pub fn note_position(&mut self, topic: &str, position: &SourcePosition) {
        self.note_keyed(topic, &position.key.to_string(), position.stamp);
    }

    /// `note_position` with the key already as its JSON text.
    pub fn note_keyed(&mut self, topic: &str, key_text: &str, stamp: i64) {
        let keys = match self.newest_stamp.get_mut(topic) {
            Some(keys) => keys,
            None => self.newest_stamp.entry(topic.to_owned()).or_default(),
        };
        match keys.get_mut(key_text) {
            Some(newest) => *newest = (*newest).max(stamp),
            None => {
                keys.insert(key_text.to_owned(), stamp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> SourceColumns {
        SourceColumns::new(&["sku".to_owned()], "changed_at")
    }

    fn write_logs(dir: &Path, logs: &[(u32, &str)]) {
        for (member, text) in logs {
            let path = crate::sink::log_path(dir, *member);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }

    fn position(key: i64, stamp: i64) -> SourcePosition {
        SourcePosition {
            key: key.into(),
            stamp,
        }
    }

    #[test]
    fn scan_reads_every_member_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        write_logs(
            dir.path(),
            &[
                (
                    1,
                    "{\"partition\":0,\"offset\":4,\"source\":{\"key\":7,\"stamp\":100},\"record\":{}}\n",
                ),
                (
                    2,
                    "{\"partition\":0,\"offset\":9,\"source\":{\"key\":8,\"stamp\":50},\"record\":{}}\n{\"partition\":1,\"off",
                ),
            ],
        );
        let delivered = Delivered::scan(dir.path(), "t", &columns()).unwrap();
        assert_eq!(delivered.next_offset("t", 0), Some(10));
        assert_eq!(delivered.next_offset("t", 1), None);
        assert!(
            delivered.has_position("t", &position(7, 100))
                && delivered.has_position("t", &position(7, 99))
        );
        assert!(!delivered.has_position("t", &position(7, 101)));
        assert!(delivered.has_offset("t", 0, 9) && !delivered.has_offset("t", 0, 10));
    }

    /// Issue 17 item 7: a complete line whose newline never reached the file
    /// is cut off when its writer reopens the log, so it must not count as
    /// written either (its record would be lost).
    #[test]
    fn a_complete_last_line_without_its_newline_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        write_logs(
            dir.path(),
            &[(
                1,
                "{\"partition\":0,\"offset\":4,\"source\":{\"key\":7,\"stamp\":100},\"record\":{}}\n\
                 {\"partition\":0,\"offset\":5,\"source\":{\"key\":7,\"stamp\":200},\"record\":{}}",
            )],
        );
        let delivered = Delivered::scan(dir.path(), "t", &columns()).unwrap();
        assert_eq!(delivered.next_offset("t", 0), Some(5));
        assert!(!delivered.has_position("t", &position(7, 200)));
    }

    /// Issue 17 item 11: the position is the decoded record's, carried in
    /// `source`; what a plugin left in the record does not count.
    #[test]
    fn the_source_position_wins_over_the_transformed_record() {
        let dir = tempfile::tempdir().unwrap();
        write_logs(
            dir.path(),
            &[(
                1,
                "{\"partition\":0,\"offset\":4,\"source\":{\"key\":7,\"stamp\":100},\"record\":{\"sku\":7,\"changed_at\":9999}}\n",
            )],
        );
        let delivered = Delivered::scan(dir.path(), "t", &columns()).unwrap();
        assert!(delivered.has_position("t", &position(7, 100)));
        assert!(!delivered.has_position("t", &position(7, 101)));
    }

    /// Lines written before `source` existed still count, by the
    /// configured columns of their record.
    #[test]
    fn old_lines_are_read_by_the_configured_columns() {
        let dir = tempfile::tempdir().unwrap();
        write_logs(
            dir.path(),
            &[(
                1,
                "{\"partition\":2,\"offset\":4,\"record\":{\"sku\":7,\"changed_at\":100}}\n",
            )],
        );
        let delivered = Delivered::scan(dir.path(), "t", &columns()).unwrap();
        assert_eq!(delivered.next_offset("t", 2), Some(5));
        assert!(delivered.has_position("t", &position(7, 100)));
        assert!(!delivered.has_position("t", &position(7, 101)));
    }

    /// Several tables: offsets and keys of one topic say nothing about
    /// another's; lines without a topic are the first topic's.
    #[test]
    fn topics_are_never_mixed() {
        let dir = tempfile::tempdir().unwrap();
        write_logs(
            dir.path(),
            &[(
                1,
                "{\"partition\":0,\"offset\":4,\"source\":{\"key\":7,\"stamp\":100},\"record\":{}}\n\
                 {\"topic\":\"u\",\"partition\":0,\"offset\":9,\"source\":{\"key\":8,\"stamp\":50},\"record\":{}}\n",
            )],
        );
        let delivered = Delivered::scan(dir.path(), "t", &columns()).unwrap();
        assert_eq!(delivered.next_offset("t", 0), Some(5));
        assert_eq!(delivered.next_offset("u", 0), Some(10));
        assert!(delivered.has_position("t", &position(7, 100)));
        assert!(!delivered.has_position("u", &position(7, 100)));
        assert!(delivered.has_position("u", &position(8, 50)));
        assert!(!delivered.has_position("t", &position(8, 50)));
    }

    #[test]
    fn missing_log_dir_is_empty() {
        let delivered = Delivered::scan(Path::new("/nonexistent/logs"), "t", &columns()).unwrap();
        assert_eq!(delivered.next_offset("t", 0), None);
    }
}
