//! One exclusive lock per partition, shared by every member through the log
//! directory: `<log_dir>/.partitions/<topic>-<partition>.lock`.
//!
//! The rule that fences a zombie (a member the group dropped because it was
//! blocked past `max.poll.interval.ms` or `session.timeout.ms`, and that
//! then wakes up with a batch in hand): **a member writes lines for a
//! partition only while it holds that partition's lock, and reads the logs
//! to resume a partition only after taking it.** The lock is released when
//! the group takes the partition away (in `poll`, between batches) or by the
//! kernel when the process dies. So either the zombie still holds the lock,
//! nobody else has written the partition, and the next owner reads the
//! zombie's lines before it resumes; or it has lost the lock and writes
//! nothing for it.
//!
//! `flock(2)` locks belong to an open file, so a process that dies, however
//! it dies, releases them; they work on a local disk and on a volume shared
//! by containers on one host (as in `compose.yaml`).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held partition lock; dropping it releases the lock.
#[derive(Debug)]
pub struct PartitionLock {
    _file: File,
}

impl PartitionLock {
    /// Takes the lock of `topic`'s `partition` under `log_dir` without
    /// waiting: `None` while another process holds it.
    pub fn try_take(log_dir: &Path, topic: &str, partition: i32) -> Result<Option<Self>> {
        let path = lock_path(log_dir, topic, partition);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|error| Error::io(dir, error))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| Error::io(&path, error))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(error)) => Err(Error::io(&path, error)),
        }
    }
}

/// `<log_dir>/.partitions/<topic>-<partition>.lock`.
pub fn lock_path(log_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    log_dir
        .join(".partitions")
        .join(format!("{topic}-{partition}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = PartitionLock::try_take(dir.path(), "t", 3).unwrap();
        assert!(first.is_some());
        // A second open file (another member) is refused while it is held.
        assert!(
            PartitionLock::try_take(dir.path(), "t", 3)
                .unwrap()
                .is_none()
        );
        assert!(
            PartitionLock::try_take(dir.path(), "t", 4)
                .unwrap()
                .is_some()
        );
        drop(first);
        assert!(
            PartitionLock::try_take(dir.path(), "t", 3)
                .unwrap()
                .is_some()
        );
    }
}
