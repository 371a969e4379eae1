//! Files that are replaced whole: the producer's position, the progress
//! snapshots and the registry's storage.
//!
//! The rule that makes a replacement crash-safe: the new content goes to a
//! temporary file in the same directory, is fsynced, renamed over the old
//! file, and the directory is fsynced, so a crash leaves the old content or
//! the new, never a torn mix, and the rename itself survives a power loss.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` so that a crash leaves the old or the new
/// content; creates the directory if missing.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&directory).map_err(|error| Error::io(&directory, error))?;
    let temporary = temporary_path(path);
    let mut file = File::create(&temporary).map_err(|error| Error::io(&temporary, error))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|error| Error::io(&temporary, error))?;
    fs::rename(&temporary, path).map_err(|error| Error::io(path, error))?;
    File::open(&directory)
        .and_then(|dir| dir.sync_all())
        .map_err(|error| Error::io(&directory, error))
}

/// `<path>.tmp`, beside it (a rename is only atomic within one filesystem).
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!temporary_path(&path).exists());
        assert_eq!(temporary_path(&path).file_name().unwrap(), "state.json.tmp");
    }
}
