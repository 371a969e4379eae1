//! The binlog producer's saved position: a binary-log file and the offset
//! just after a transaction's commit event, and (MariaDB) the GTID position
//! at that same point: every transaction up to it, one `domain-server-seq`
//! per replication domain, as `gtid_binlog_pos` writes it.
//!
//! The rule: the file names only a point *between* transactions (the end of
//! an XID or `COMMIT` event, or a snapshot's position), written atomically
//! (`fs::write_atomically`) and only after the broker acknowledged every
//! record before it. So a restart resumes at a transaction's start: none of
//! its rows is lost, and the ones re-sent carry the same sequence number,
//! which the consumers' duplicate rule drops.
//!
//! ```json
//! {"binlog_file": "binlog.000003", "binlog_offset": 7811, "gtid": "0-3307-1234"}
//! ```
//!
//! The file and offset always name the point (they number the records, see
//! [`BinlogPosition::sequence`]); the GTID, when present, is what a restart
//! connects by (`source.binlog_position`), so the point survives the purge
//! of its file and a server that renumbered its files.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs::write_atomically;

/// A point in the server's binary log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinlogPosition {
    #[serde(rename = "binlog_file")]
    pub file: String,
    #[serde(rename = "binlog_offset")]
    pub offset: u64,
    /// The GTID position at this point (MariaDB: `0-1-1234,1-1-77`); absent
    /// when the server logs no GTIDs or the position was saved before they
    /// were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
}

/// Offsets below this bit, file numbers above it, in a sequence number.
const FILE_SHIFT: u32 = 40;

impl BinlogPosition {
    /// The sequence number of this point: file number × 2^40 + offset.
    /// Strictly increasing along the log, across rotations (the file number
    /// grows, offsets restart). Rows get `sequence(event start) + row index`,
    /// unique because an event holds fewer rows than it has bytes.
    pub fn sequence(&self) -> Result<i64> {
        sequence_at(&self.file, self.offset)
    }
}

/// The sequence number of `offset` in binlog file `file` (see
/// [`BinlogPosition::sequence`]).
pub fn sequence_at(file: &str, offset: u64) -> Result<i64> {
    let number: i64 = file
        .rsplit('.')
        .next()
        .and_then(|suffix| suffix.parse().ok())
        .filter(|number| *number < (1 << (62 - FILE_SHIFT)))
        .ok_or_else(|| {
            Error::Binlog(format!(
                "binlog file name `{file}` does not end in a file number (like binlog.000001)"
            ))
        })?;
    let offset = i64::try_from(offset)
        .ok()
        .filter(|offset| *offset < (1 << FILE_SHIFT))
        .ok_or_else(|| Error::Binlog(format!("binlog offset {offset} is past 2^40")))?;
    Ok((number << FILE_SHIFT) + offset)
}

/// Reads and writes the binlog position file.
#[derive(Debug, Clone)]
pub struct BinlogPositionFile {
    path: PathBuf,
}

impl BinlogPositionFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved position; `None` when there is none (then: snapshot first).
    pub fn load(&self) -> Result<Option<BinlogPosition>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(Error::io(&self.path, error)),
        };
        if text.trim() == "null" {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| Error::Position {
                path: self.path.clone(),
                message: format!(
                    "not a binlog position ({error}); fix it, or delete the file to take a new snapshot of the table (consumers drop what they already logged only when the snapshot's position is unchanged)"
                ),
            })
    }

    /// Saves `position` atomically and durably.
    pub fn save(&self, position: &BinlogPosition) -> Result<()> {
        let mut text = serde_json::to_string_pretty(position)?;
        text.push('\n');
        write_atomically(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_grow_along_the_log_and_across_rotations() {
        let a = sequence_at("binlog.000001", 4).unwrap();
        let b = sequence_at("binlog.000001", 1 << 30).unwrap();
        let c = sequence_at("binlog.000002", 4).unwrap();
        assert!(a < b && b < c);
        assert!(sequence_at("binlog", 4).is_err());
    }

    #[test]
    fn position_round_trips_and_corruption_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let file = BinlogPositionFile::new(dir.path().join("binlog_position.json"));
        assert_eq!(file.load().unwrap(), None);
        let position = BinlogPosition {
            file: "binlog.000003".into(),
            offset: 7811,
            gtid: Some("0-1-12,1-2-3".into()),
        };
        file.save(&position).unwrap();
        assert_eq!(file.load().unwrap(), Some(position));
        // A position saved before GTIDs were recorded still loads.
        fs::write(
            file.path(),
            r#"{"binlog_file": "binlog.000003", "binlog_offset": 7811}"#,
        )
        .unwrap();
        assert_eq!(file.load().unwrap().unwrap().gtid, None);
        fs::write(file.path(), "{oops").unwrap();
        let message = file.load().unwrap_err().to_string();
        assert!(message.contains("binlog_position.json") && message.contains("delete the file"));
    }
}
