//! Which binary-log history a saved position belongs to.
//!
//! The rule: **a saved file and offset (and the `__seq` numbers made of
//! them) are resumed only on the binary-log history they were read from.**
//! After a failover to another server, or `RESET MASTER`, `binlog.000003`
//! offset 7811 names another transaction (or none), and sequence numbers
//! restart: resuming there would skip or repeat changes, and the consumers'
//! duplicate rule would drop new changes whose numbers are lower. So the
//! position is saved with the server's identity and checked at start; a
//! mismatch stops the producer (exit 2) naming the position file and the
//! fix: delete it to take a new snapshot.
//!
//! What identifies the history:
//! - MySQL: `@@server_uuid` (unique per server, kept across restarts).
//! - MariaDB has no server UUID: `@@server_id` and the binary logs' base
//!   name tell another server apart, and the GTID position the server
//!   itself reports at the saved file and offset (`BINLOG_GTID_POS`) must be
//!   the one saved there. `RESET MASTER` keeps the server id and names but
//!   empties the logs and restarts GTID sequence numbers, so the same file
//!   and offset then hold another GTID position or none (NULL); when the
//!   saved file is gone, every saved `domain-server-seq` must still be
//!   within the server's `gtid_binlog_state`.
//!
//! A file saved before identities were recorded is accepted, and the next
//! save records this server's. Removing `"server"` from the file accepts a
//! server knowingly (e.g. one whose `server_id` was changed by hand).

use std::path::Path;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::source::binlog::gtid::{self, GtidState};
use crate::source::binlog::position::SavedPosition;

/// A server's binary-log history, as saved with a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerIdentity {
    pub server_id: u32,
    /// MySQL's `@@server_uuid`; MariaDB has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_uuid: Option<String>,
    /// The binary logs' file-name stem (`binlog` for `binlog.000003`): the
    /// last part of `@@log_bin_basename`, so moving the data directory is
    /// not a new history.
    pub binlog_basename: String,
}

impl std::fmt::Display for ServerIdentity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "server_id {}", self.server_id)?;
        if let Some(uuid) = &self.server_uuid {
            write!(formatter, ", server_uuid {uuid}")?;
        }
        write!(formatter, ", binary logs `{}`", self.binlog_basename)
    }
}

/// Reads the connected server's identity.
pub async fn read(conn: &mut Conn, mariadb: bool) -> Result<ServerIdentity> {
    let (server_id, basename): (u32, Option<String>) = conn
        .query_first("SELECT @@server_id, @@log_bin_basename")
        .await?
        .ok_or_else(|| Error::Binlog("@@server_id returned no row".into()))?;
    let server_uuid = if mariadb {
        None
    } else {
        conn.query_first::<String, _>("SELECT @@server_uuid")
            .await?
    };
    let basename = basename.unwrap_or_default();
    let stem = Path::new(&basename)
        .file_name()
        .map_or(basename.clone(), |name| name.to_string_lossy().into_owned());
    Ok(ServerIdentity {
        server_id,
        server_uuid,
        binlog_basename: stem,
    })
}

/// Refuses a saved position from another binary-log history than the
/// server's (see the module's rule). `logs` are the server's binary logs.
pub async fn check(
    conn: &mut Conn,
    saved: &SavedPosition,
    server: &ServerIdentity,
    mariadb: bool,
    logs: &[String],
    path: &Path,
) -> Result<()> {
    let Some(recorded) = &saved.server else {
        tracing::info!(file = %path.display(), %server, "the saved binlog position has no server identity (saved by an earlier version): accepting it and recording this server's");
        return Ok(());
    };
    let position = &saved.position;
    let mismatch = |found: String| Error::PositionFromAnotherLog {
        path: path.to_owned(),
        message: format!(
            "the saved position {} offset {} was read from the binary log of {recorded}, \
             but {found}: a failover to another server or RESET MASTER; the file, offset and \
             sequence numbers (__seq) name other changes there. Fix: delete {} to take a new \
             snapshot of every table; the consumers' duplicate rule compares __seq per key and \
             the new log's numbers restart lower, so send the new snapshot to new topics and \
             consumer logs (topic.name / topic.name_pattern, consumer.log_dir), or clear them. \
             If this is the same history (e.g. only server_id was changed), remove \"server\" \
             from {} to accept it",
            position.file,
            position.offset,
            path.display(),
            path.display()
        ),
    };
    if recorded != server {
        return Err(mismatch(format!("this server is {server}")));
    }
    if !mariadb {
        return Ok(());
    }
    let saved_gtid = GtidState::parse(position.gtid.as_deref().unwrap_or_default())?;
    if logs.contains(&position.file) {
        let here = gtid::position_at(conn, &position.file, position.offset).await?;
        return match here {
            Some(here) if here == saved_gtid => Ok(()),
            Some(here) => Err(mismatch(format!(
                "the server's log holds GTID position `{here}` at that point, not the saved `{saved_gtid}`"
            ))),
            None => Err(mismatch(
                "the server's log has no transaction boundary at that point".into(),
            )),
        };
    }
    // The saved file was purged (resumed by GTID): the server must still
    // have logged every transaction the position covers.
    let (state,): (String,) = conn
        .query_first("SELECT @@GLOBAL.gtid_binlog_state")
        .await?
        .unwrap_or_default();
    if let Some(missing) = beyond_state(&saved_gtid, &state)? {
        return Err(mismatch(format!(
            "the server's binary log never reached GTID {missing} (its gtid_binlog_state is `{state}`)"
        )));
    }
    Ok(())
}

/// The first saved `domain-server-seq` beyond `state` (MariaDB's
/// `gtid_binlog_state`: the last sequence number per domain and server).
fn beyond_state(saved: &GtidState, state: &str) -> Result<Option<String>> {
    let mut reached = std::collections::BTreeMap::new();
    for part in state.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let numbers: Vec<u64> = part.split('-').filter_map(|n| n.parse().ok()).collect();
        if let [domain, server, seq] = numbers.as_slice() {
            reached.insert((*domain, *server), *seq);
        }
    }
    for part in saved.to_string().split(',').filter(|p| !p.is_empty()) {
        let numbers: Vec<u64> = part.split('-').filter_map(|n| n.parse().ok()).collect();
        if let [domain, server, seq] = numbers.as_slice()
            && reached
                .get(&(*domain, *server))
                .is_none_or(|last| last < seq)
        {
            return Ok(Some(part.to_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_gtid_beyond_the_servers_state_is_named() {
        let saved = GtidState::parse("0-1-10,2-1-5").unwrap();
        assert_eq!(beyond_state(&saved, "0-1-12,2-1-5,0-2-3").unwrap(), None);
        assert_eq!(
            beyond_state(&saved, "0-1-12").unwrap(),
            Some("2-1-5".into())
        );
        // After RESET MASTER the state is empty.
        assert_eq!(beyond_state(&saved, "").unwrap(), Some("0-1-10".into()));
    }
}
