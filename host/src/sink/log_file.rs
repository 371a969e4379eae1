//! The append-only JSON-lines file of one member.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `<log_dir>/consumer_<member>/consumer_log.json`.
pub fn log_path(log_dir: &Path, member: u32) -> PathBuf {
    log_dir
        .join(format!("consumer_{member}"))
        .join("consumer_log.json")
}

/// An open consumer log.
pub struct ConsumerLog {
    path: PathBuf,
    writer: BufWriter<File>,
    sync: bool,
}

impl ConsumerLog {
    /// Opens (or creates) the log, first cutting off a torn last line: a
    /// crash in the middle of a write leaves a line without its newline,
    /// which is not a record and must not be mistaken for one. `sync` makes
    /// every append reach the disk (`fsync`), not only the OS.
    pub fn open(path: &Path, sync: bool) -> Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|error| Error::io(parent, error))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|error| Error::io(path, error))?;
        repair_torn_tail(&mut file, path)?;
        Ok(Self {
            path: path.to_owned(),
            writer: BufWriter::with_capacity(256 * 1024, file),
            sync,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends complete lines (each without its newline) and flushes them to
    /// the OS, so they survive the process being killed.
    pub fn append<S: AsRef<str>>(&mut self, lines: &[S]) -> Result<()> {
        let io = |error| Error::io(&self.path, error);
        for line in lines {
            self.writer
                .write_all(line.as_ref().as_bytes())
                .map_err(io)?;
            self.writer.write_all(b"\n").map_err(io)?;
        }
        self.writer.flush().map_err(io)?;
        if self.sync {
            self.writer.get_ref().sync_data().map_err(io)?;
        }
        Ok(())
    }
}

/// Truncates `file` after its last newline. Returns the bytes removed.
fn repair_torn_tail(file: &mut File, path: &Path) -> Result<u64> {
    let io = |error| Error::io(path, error);
    let length = file.metadata().map_err(io)?.len();
    if length == 0 {
        return Ok(0);
    }
    // Read backwards in chunks until a newline is found.
    let mut end = length;
    let mut chunk = vec![0u8; 64 * 1024];
    let keep = loop {
        let start = end.saturating_sub(chunk.len() as u64);
        let size = (end - start) as usize;
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        file.read_exact(&mut chunk[..size]).map_err(io)?;
        if let Some(newline) = chunk[..size].iter().rposition(|&byte| byte == b'\n') {
            break start + newline as u64 + 1;
        }
        if start == 0 {
            break 0;
        }
        end = start;
    };
    let removed = length - keep;
    if removed > 0 {
        file.set_len(keep).map_err(io)?;
        tracing::warn!(file = %path.display(), bytes = removed, "cut off a torn last line left by a crash");
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path(), 1);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        let mut log = ConsumerLog::open(&path, false).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        log.append(&["{\"a\":3}"]).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"
        );
    }

    #[test]
    fn a_file_that_is_all_torn_becomes_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consumer_log.json");
        fs::write(&path, "x".repeat(100_000)).unwrap();
        ConsumerLog::open(&path, true).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    }
}
