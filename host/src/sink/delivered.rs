//! What has already been written, across all members' logs: per partition
//! the next offset to write, per product the newest source position.
//!
//! Rebuilt by reading the logs whenever partitions are assigned, because the
//! logs, not the committed offsets, are the truth: a member killed after
//! writing a line but before committing its offset would otherwise have that
//! record written again by whoever takes the partition over.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};
use crate::sink::line::LinePosition;

/// Offsets and source positions already in the logs.
#[derive(Debug, Default, Clone)]
pub struct Delivered {
    next_offset: HashMap<i32, i64>,
    newest_position: HashMap<i64, i64>,
}

impl Delivered {
    /// Reads every `consumer_*/consumer_log.json` under `log_dir`. Lines that
    /// do not parse (a torn tail another member is about to repair) are
    /// skipped: they are not records.
    pub fn scan(log_dir: &Path) -> Result<Self> {
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
                delivered.read_log(&path)?;
            }
        }
        Ok(delivered)
    }

    fn read_log(&mut self, path: &Path) -> Result<()> {
        let file = fs::File::open(path).map_err(|error| Error::io(path, error))?;
        for line in BufReader::with_capacity(256 * 1024, file).split(b'\n') {
            let line = line.map_err(|error| Error::io(path, error))?;
            if let Ok(position) = serde_json::from_slice::<LinePosition>(&line) {
                self.note_offset(position.partition, position.offset);
                if let (Some(id), Some(stamp)) = (position.record.id, position.record.last_updated)
                {
                    self.note_position(id, stamp);
                }
            }
        }
        Ok(())
    }

    /// The first offset of `partition` not yet in any log.
    pub fn next_offset(&self, partition: i32) -> Option<i64> {
        self.next_offset.get(&partition).copied()
    }

    /// Whether the record at `offset` of `partition` is already in a log.
    pub fn has_offset(&self, partition: i32, offset: i64) -> bool {
        self.next_offset(partition)
            .is_some_and(|next| offset < next)
    }

    /// Whether a change of product `id` stamped `last_updated` is already in
    /// a log, or superseded by a newer one (the producer re-sent it).
    pub fn has_position(&self, id: i64, last_updated: i64) -> bool {
        self.newest_position
            .get(&id)
            .is_some_and(|&newest| last_updated <= newest)
    }

    /// Records that `offset` of `partition` has been handled (written,
    /// filtered or dead-lettered).
    pub fn note_offset(&mut self, partition: i32, offset: i64) {
        let next = self.next_offset.entry(partition).or_insert(0);
        *next = (*next).max(offset + 1);
    }

    /// Records that product `id`'s change stamped `last_updated` was written.
    pub fn note_position(&mut self, id: i64, last_updated: i64) {
        let newest = self.newest_position.entry(id).or_insert(i64::MIN);
        *newest = (*newest).max(last_updated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_reads_every_member_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        for (member, lines) in [
            (
                1,
                "{\"partition\":0,\"offset\":4,\"record\":{\"id\":7,\"last_updated\":100}}\n",
            ),
            (
                2,
                "{\"partition\":0,\"offset\":9,\"record\":{\"id\":8,\"last_updated\":50}}\n{\"partition\":1,\"off",
            ),
        ] {
            let path = crate::sink::log_path(dir.path(), member);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, lines).unwrap();
        }
        let delivered = Delivered::scan(dir.path()).unwrap();
        assert_eq!(delivered.next_offset(0), Some(10));
        assert_eq!(delivered.next_offset(1), None);
        assert!(delivered.has_position(7, 100) && delivered.has_position(7, 99));
        assert!(!delivered.has_position(7, 101));
        assert!(delivered.has_offset(0, 9) && !delivered.has_offset(0, 10));
    }

    #[test]
    fn missing_log_dir_is_empty() {
        let delivered = Delivered::scan(Path::new("/nonexistent/logs")).unwrap();
        assert_eq!(delivered.next_offset(0), None);
    }
}
