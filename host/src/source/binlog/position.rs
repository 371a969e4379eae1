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
//! {"binlog_file": "binlog.000003", "binlog_offset": 7811, "gtid": "0-3307-1234",
//!  "server": {"server_id": 3307, "binlog_basename": "binlog"},
//!  "tables": ["product", "orders"]}
//! ```
//!
//! One file serves every configured table: one replica stream reads them
//! all, and a transaction touching two tables has one boundary. `server`
//! is the binary-log history the point belongs to (see [`super::identity`]);
//! `tables` the tables whose changes up to the point were delivered (a table
//! configured later was never snapshotted: refused at start). Both are
//! absent from files saved before they were recorded; such a file is
//! accepted and upgraded.
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
use crate::source::binlog::identity::ServerIdentity;

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

/// The position file's content: the point, and what it is a point of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPosition {
    pub position: BinlogPosition,
    /// The binary-log history the point is in; `None` in a file saved
    /// before it was recorded.
    pub server: Option<ServerIdentity>,
    /// The tables the point covers; `None` in a file saved before they were
    /// recorded (then it covered `[source] table` alone).
    pub tables: Option<Vec<String>>,
}

/// The file's JSON form.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    binlog_file: String,
    binlog_offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gtid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server: Option<ServerIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tables: Option<Vec<String>>,
}

/// Reads and writes the binlog position file. Positions are saved with the
/// server identity and tables set by [`Self::describing`].
#[derive(Debug, Clone)]
pub struct BinlogPositionFile {
    path: PathBuf,
    server: Option<ServerIdentity>,
    tables: Option<Vec<String>>,
}

impl BinlogPositionFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            server: None,
            tables: None,
        }
    }

    /// This file, saving every position as a point of `server`'s log that
    /// covers `tables`.
    pub fn describing(mut self, server: ServerIdentity, tables: Vec<String>) -> Self {
        self.server = Some(server);
        self.tables = Some(tables);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved position; `None` when there is none (then: snapshot first).
    pub fn load(&self) -> Result<Option<BinlogPosition>> {
        Ok(self.load_saved()?.map(|saved| saved.position))
    }

    /// The saved position with its server identity and tables.
    pub fn load_saved(&self) -> Result<Option<SavedPosition>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(Error::io(&self.path, error)),
        };
        if text.trim() == "null" {
            return Ok(None);
        }
        serde_json::from_str::<OnDisk>(&text)
            .map(|saved| {
                Some(SavedPosition {
                    position: BinlogPosition {
                        file: saved.binlog_file,
                        offset: saved.binlog_offset,
                        gtid: saved.gtid,
                    },
                    server: saved.server,
                    tables: saved.tables,
                })
            })
            .map_err(|error| Error::Position {
                path: self.path.clone(),
                message: format!(
                    "not a binlog position ({error}); fix it, or delete the file to take a new snapshot of the table (consumers drop what they already logged only when the snapshot's position is unchanged)"
                ),
            })
    }

    /// Saves `position` atomically and durably.
    pub fn save(&self, position: &BinlogPosition) -> Result<()> {
        let on_disk = OnDisk {
            binlog_file: position.file.clone(),
            binlog_offset: position.offset,
            gtid: position.gtid.clone(),
            server: self.server.clone(),
            tables: self.tables.clone(),
        };
        let mut text = serde_json::to_string_pretty(&on_disk)?;
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
        assert_eq!(file.load().unwrap(), Some(position.clone()));
        // A position saved before GTIDs were recorded still loads.
        fs::write(
            file.path(),
            r#"{"binlog_file": "binlog.000003", "binlog_offset": 7811}"#,
        )
        .unwrap();
        assert_eq!(file.load().unwrap().unwrap().gtid, None);
        // Saved with the server's identity and the tables it covers.
        let identity = ServerIdentity {
            server_id: 7,
            server_uuid: None,
            binlog_basename: "binlog".into(),
        };
        let described = file
            .clone()
            .describing(identity.clone(), vec!["a".into(), "b".into()]);
        described.save(&position).unwrap();
        let saved = file.load_saved().unwrap().unwrap();
        assert_eq!(saved.position, position);
        assert_eq!(saved.server, Some(identity));
        assert_eq!(saved.tables, Some(vec!["a".to_owned(), "b".to_owned()]));
        fs::write(file.path(), "{oops").unwrap();
        let message = file.load().unwrap_err().to_string();
        assert!(message.contains("binlog_position.json") && message.contains("delete the file"));
    }
}
