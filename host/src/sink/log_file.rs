//! The append-only JSON-lines file of one member.
//!
//! The rule that keeps "written" exact: a line exists once its newline is in
//! the file. Each append puts all its lines, newlines included, in the file
//! with one write (never a line without its newline first, as a buffered
//! writer does with a line longer than its buffer), and reopening cuts an
//! unterminated tail, which the scan (`Delivered::scan`) ignores too.
//! Durability against a machine crash is `sync`: the member calls it before
//! it commits offsets past the lines.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
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
    file: File,
    /// Sync after every append (the dead-letter file), not only on `sync`.
    sync_each_append: bool,
    /// Appended since the last sync.
    unsynced: bool,
    /// Reused for each append's bytes.
    buffer: Vec<u8>,
}

impl ConsumerLog {
    /// Opens (or creates) the log, first cutting off a torn last line: a
    /// crash in the middle of a write leaves a line without its newline,
    /// which is not a record and must not be mistaken for one.
    /// `sync_each_append` makes every append reach the disk (`fdatasync`),
    /// not only the OS.
    pub fn open(path: &Path, sync_each_append: bool) -> Result<Self> {
        let parent = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|error| Error::io(parent, error))?;
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|error| Error::io(path, error))?;
        if repair_torn_tail(&mut file, path)? > 0 {
            file.sync_data().map_err(|error| Error::io(path, error))?;
        }
        if !existed {
            // A synced file is no use if its directory entry is lost.
            sync_dir(parent)?;
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            sync_each_append,
            unsynced: false,
            buffer: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends complete lines (each without its newline), all in one write
    /// to the OS, so they survive the process being killed.
    pub fn append<S: AsRef<str>>(&mut self, lines: &[S]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.buffer.clear();
        for line in lines {
            self.buffer.extend_from_slice(line.as_ref().as_bytes());
            self.buffer.push(b'\n');
        }
        self.file
            .write_all(&self.buffer)
            .map_err(|error| Error::io(&self.path, error))?;
        self.unsynced = true;
        if self.sync_each_append {
            self.sync()?;
        }
        Ok(())
    }

    /// Appends `bytes`, complete lines each ending in its newline (what a
    /// caller serialized into its own reused buffer), in one write.
    pub fn append_lines(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if bytes.last() != Some(&b'\n') {
            return Err(Error::io(
                &self.path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "an append must end with a complete line",
                ),
            ));
        }
        self.file
            .write_all(bytes)
            .map_err(|error| Error::io(&self.path, error))?;
        self.unsynced = true;
        if self.sync_each_append {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes every appended line durable (`fdatasync`): after this, a crash
    /// of the machine, not only of the process, keeps them.
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|error| Error::io(&self.path, error))?;
            self.unsynced = false;
        }
        Ok(())
    }
}

/// Makes `dir`'s entries (a newly created log) durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| Error::io(dir, error))
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

    /// Issue 17 item 7: a line longer than any buffer reaches the file with
    /// its newline, in one write, so the file never holds the whole line
    /// without it (which the scan would not count and the reopen would cut).
    #[test]
    fn a_long_line_is_written_with_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = log_path(dir.path(), 1);
        let mut log = ConsumerLog::open(&path, false).unwrap();
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(300 * 1024));
        let writes = count_writes(|| log.append(&[long.as_str(), "{\"b\":1}"]).unwrap());
        assert_eq!(writes, 1, "one write for the whole append");
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{long}\n{{\"b\":1}}\n"));
        log.sync().unwrap();
    }

    /// Counts the `write` system calls `action` makes on this thread (by the
    /// kernel's per-thread I/O accounting, syscw).
    fn count_writes(action: impl FnOnce()) -> u64 {
        let syscw = || {
            let io = fs::read_to_string("/proc/thread-self/io").unwrap();
            io.lines()
                .find_map(|line| line.strip_prefix("syscw: "))
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        let before = syscw();
        action();
        syscw() - before
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
