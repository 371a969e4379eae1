//! The producer's saved position: `time_track/last_read_timestamp.json`.
//!
//! ```json
//! {"last_read_timestamp": "2026-11-25 10:00:00.123456", "last_read_id": 42}
//! {"last_read_timestamp": "2026-11-25 10:00:00.123456", "last_read_key": ["sku-1", 3]}
//! ```
//!
//! A key of one integer column is saved as `last_read_id` (the format every
//! earlier version reads); any other key as `last_read_key`, its columns in
//! key order.
//!
//! `lookback_window` (optional) is the digest of the keys sent within the
//! lookback window (see `source::late`): `[[second, keys, sum of key
//! hashes]]`, so a restart does not send them again.
//!
//! `null` (or a missing file) means "from the beginning". The file is written
//! only after the broker acknowledged every record up to the position, and
//! atomically (temp file, fsync, rename, fsync of the directory), so after a
//! crash it holds either the old or the new position, never half of one.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::write_atomically;
use crate::source::late::WindowDigest;
use crate::timestamp::Timestamp;

/// A point in the table's change order: rows are read strictly after it.
/// Ordered by stamp, then key; the empty key is before every key of its
/// instant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub timestamp: Timestamp,
    pub key: Key,
}

/// A row's key: one part per key column, in key order.
pub type Key = Vec<KeyPart>;

/// One key column's value. Text orders by code point, which is how the
/// tailer makes MySQL order it too (`utf8mb4_bin`, see `source::key`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyPart {
    Int(i64),
    UInt(u64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Position {
    /// Before every row stamped `timestamp`.
    pub fn start_of(timestamp: Timestamp) -> Self {
        Self {
            timestamp,
            key: Vec::new(),
        }
    }
}

impl std::fmt::Display for Position {
    /// `2026-11-25 10:00:00.123456 #42` (the key as JSON).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = match self.key.as_slice() {
            [single] => serde_json::to_string(single),
            parts => serde_json::to_string(parts),
        }
        .unwrap_or_default();
        write!(f, "{} #{key}", self.timestamp)
    }
}

/// The file's shape; `last_read_id` is optional so the seed's format
/// (`{"last_read_timestamp": null}`) loads unchanged.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionDocument {
    last_read_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_read_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_read_key: Option<Key>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    lookback_window: Vec<(i64, u64, u64)>,
}

/// Reads and writes the position file.
#[derive(Debug, Clone)]
pub struct PositionFile {
    path: PathBuf,
}

impl PositionFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved position; `None` to start from the beginning.
    pub fn load(&self) -> Result<Option<Position>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(Error::io(&self.path, error)),
        };
        self.parse(&text)
    }

    /// The lookback window's digest saved with the position (empty when
    /// there is none: the first scan then sends the window again).
    pub fn load_window(&self) -> Result<WindowDigest> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(WindowDigest::new());
            }
            Err(error) => return Err(Error::io(&self.path, error)),
        };
        let document: PositionDocument = serde_json::from_str(&text).unwrap_or_default();
        Ok(document
            .lookback_window
            .into_iter()
            .map(|(second, keys, sum)| (second, (keys, sum)))
            .collect())
    }

    fn parse(&self, text: &str) -> Result<Option<Position>> {
        let fix = "fix it, or set it to {\"last_read_timestamp\": null} to re-read the table from the beginning (consumers drop what they already logged)";
        let document: PositionDocument =
            serde_json::from_str(text).map_err(|error| Error::Position {
                path: self.path.clone(),
                message: format!("not a position document ({error}); {fix}"),
            })?;
        let Some(timestamp) = document.last_read_timestamp else {
            return Ok(None);
        };
        let timestamp = timestamp
            .parse::<Timestamp>()
            .map_err(|error| Error::Position {
                path: self.path.clone(),
                message: format!("last_read_timestamp: {error}; {fix}"),
            })?;
        // Without a key (the seed's format) every row of that instant counts
        // as unread: re-sending some is safe (consumers drop them), skipping
        // is not.
        let key = match (document.last_read_key, document.last_read_id) {
            (Some(key), _) => key,
            (None, Some(id)) => vec![KeyPart::Int(id)],
            (None, None) => Vec::new(),
        };
        Ok(Some(Position { timestamp, key }))
    }

    /// Saves `position` atomically and durably.
    pub fn save(&self, position: Option<&Position>) -> Result<()> {
        self.save_with_window(position, &WindowDigest::new())
    }

    /// Saves `position` and the digest of the lookback window's keys, all
    /// acknowledged, atomically and durably.
    pub fn save_with_window(
        &self,
        position: Option<&Position>,
        window: &WindowDigest,
    ) -> Result<()> {
        let (last_read_id, last_read_key) = match position.map(|p| p.key.as_slice()) {
            Some([KeyPart::Int(id)]) => (Some(*id), None),
            Some(key) => (None, Some(key.to_vec())),
            None => (None, None),
        };
        let document = PositionDocument {
            last_read_timestamp: position.map(|p| p.timestamp.to_string()),
            last_read_id,
            last_read_key,
            lookback_window: window
                .iter()
                .map(|(&second, &(keys, sum))| (second, keys, sum))
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&document)?;
        text.push('\n');
        write_atomically(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_in(dir: &tempfile::TempDir) -> PositionFile {
        PositionFile::new(dir.path().join("last_read_timestamp.json"))
    }

    #[test]
    fn missing_file_and_null_mean_from_the_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(&dir);
        assert_eq!(file.load().unwrap(), None);
        fs::write(file.path(), r#"{"last_read_timestamp": null}"#).unwrap();
        assert_eq!(file.load().unwrap(), None);
    }

    #[test]
    fn position_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(&dir);
        let position = Position {
            timestamp: "2026-11-25 10:00:00.000001".parse().unwrap(),
            key: vec![KeyPart::Int(42)],
        };
        file.save(Some(&position)).unwrap();
        assert_eq!(file.load().unwrap(), Some(position.clone()));
        let text = fs::read_to_string(file.path()).unwrap();
        assert!(text.contains("\"last_read_id\": 42"), "{text}");
        let composite = Position {
            key: vec![KeyPart::Text("sku-1".into()), KeyPart::UInt(u64::MAX)],
            ..position
        };
        file.save(Some(&composite)).unwrap();
        assert_eq!(file.load().unwrap(), Some(composite));
        assert!(!file.path().with_extension("json.tmp").exists());
    }

    #[test]
    fn the_window_digest_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(&dir);
        let position = Position {
            timestamp: "2026-11-25 10:00:00.000001".parse().unwrap(),
            key: vec![KeyPart::Int(42)],
        };
        let window = WindowDigest::from([(1_795_992_070, (12, u64::MAX - 3))]);
        file.save_with_window(Some(&position), &window).unwrap();
        assert_eq!(file.load().unwrap(), Some(position));
        assert_eq!(file.load_window().unwrap(), window);
    }

    #[test]
    fn seed_format_without_id_rereads_that_instant() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(&dir);
        fs::write(
            file.path(),
            r#"{"last_read_timestamp": "2026-11-25 10:00:00"}"#,
        )
        .unwrap();
        assert!(file.load().unwrap().unwrap().key.is_empty());
    }

    #[test]
    fn corrupt_file_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(&dir);
        for bad in [
            "{not json",
            r#"{"last_read_timestamp": "yesterday"}"#,
            r#"{"ts": 1}"#,
        ] {
            fs::write(file.path(), bad).unwrap();
            let message = file.load().unwrap_err().to_string();
            assert!(message.contains("last_read_timestamp.json"), "{message}");
            assert!(message.contains("null"), "says how to reset: {message}");
        }
    }
}
