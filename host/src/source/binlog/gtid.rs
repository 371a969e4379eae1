//! MariaDB GTID positions: which transactions a saved position covers, and
//! connecting the replica stream by it.
//!
//! The rule: the state moves only at a transaction's GTID event and is saved
//! only with the position of that same transaction's commit (see `stream`),
//! so a saved GTID position and its file and offset always name the same
//! transaction boundary. A restart by GTID (`@slave_connect_state`) makes the
//! server send exactly the transactions after it, whichever file they are in
//! now; one the server can no longer send is a start error, never a skip.
//!
//! mysql_common does not parse MariaDB's own events (types 160 to 164): they
//! arrive as unknown events, and the GTID event's few fixed bytes are read
//! here. Its `BinlogStreamRequest::with_gtid` is MySQL's `COM_BINLOG_DUMP_GTID`,
//! which MariaDB does not have; MariaDB's replicas send a plain
//! `COM_BINLOG_DUMP` after setting the user variables [`connect_by_gtid`] sets.

use std::collections::BTreeMap;
use std::fmt;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::error::{Error, Result};

/// MariaDB's `GTID_EVENT`: the first event of every transaction.
pub const MARIADB_GTID_EVENT: u8 = 162;

/// `MARIA_SLAVE_CAPABILITY_GTID`: the server sends its GTID events as they
/// are (older replicas get them rewritten as `BEGIN`) and accepts
/// `@slave_connect_state`.
const SLAVE_CAPABILITY_GTID: u8 = 4;

/// A MariaDB GTID position: per replication domain, the last transaction
/// (server id and sequence number) it covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidState {
    domains: BTreeMap<u32, (u32, u64)>,
}

impl GtidState {
    /// Reads `gtid_binlog_pos`'s form: `domain-server-seq`, comma separated;
    /// empty is the empty position.
    pub fn parse(text: &str) -> Result<Self> {
        let mut state = Self::default();
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let numbers: Vec<&str> = part.split('-').collect();
            let parsed = match numbers.as_slice() {
                [domain, server, seq] => domain
                    .parse()
                    .ok()
                    .zip(server.parse().ok())
                    .zip(seq.parse().ok()),
                _ => None,
            };
            let ((domain, server), seq) = parsed.ok_or_else(|| {
                Error::Binlog(format!(
                    "`{text}` is not a MariaDB GTID position (domain-server-sequence, comma separated)"
                ))
            })?;
            state.domains.insert(domain, (server, seq));
        }
        Ok(state)
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Moves the position past the transaction of a GTID event (its body
    /// and the header's server id); `false` for a body too short to be one.
    pub fn advance(&mut self, body: &[u8], server_id: u32) -> bool {
        // The body opens with the sequence number (8 bytes) and the domain
        // id (4 bytes), little-endian; flags and commit ids follow.
        let (Some(seq), Some(domain)) = (
            body.get(..8).and_then(|bytes| bytes.try_into().ok()),
            body.get(8..12).and_then(|bytes| bytes.try_into().ok()),
        ) else {
            return false;
        };
        self.domains.insert(
            u32::from_le_bytes(domain),
            (server_id, u64::from_le_bytes(seq)),
        );
        true
    }
}

/// Whether a GTID event opens a transaction of one event with no commit
/// event after it (its `FL_STANDALONE` flag: DDL such as `CREATE
/// DATABASE`): that event's end is the transaction's boundary.
pub fn is_standalone(body: &[u8]) -> bool {
    body.get(12).is_some_and(|flags| flags & 1 != 0)
}

impl fmt::Display for GtidState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (domain, (server, seq)) in &self.domains {
            if !first {
                formatter.write_str(",")?;
            }
            first = false;
            write!(formatter, "{domain}-{server}-{seq}")?;
        }
        Ok(())
    }
}

/// Whether the server is MariaDB (its GTIDs are the ones this module reads).
pub async fn is_mariadb(conn: &mut Conn) -> Result<bool> {
    let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
    Ok(version.is_some_and(|version| version.contains("MariaDB")))
}

/// The GTID position at a point of the log (MariaDB's `BINLOG_GTID_POS`);
/// `None` when the server cannot say (its file was purged).
pub async fn position_at(conn: &mut Conn, file: &str, offset: u64) -> Result<Option<GtidState>> {
    let text: Option<Option<String>> = conn
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file, offset))
        .await?;
    text.flatten()
        .map(|text| GtidState::parse(&text))
        .transpose()
}

/// Sets up `conn` so the server sends its GTID events; with `start`, it
/// also sends the log from that GTID position instead of the dump
/// command's file and offset.
pub async fn prepare_replica(conn: &mut Conn, start: Option<&GtidState>) -> Result<()> {
    conn.query_drop(format!(
        "SET @mariadb_slave_capability = {SLAVE_CAPABILITY_GTID}"
    ))
    .await?;
    if let Some(start) = start {
        connect_by_gtid(conn, start).await?;
    }
    Ok(())
}

/// The user variables a MariaDB replica sets to connect by GTID. Strict
/// mode stays off (the server's default for replicas): it would also stop
/// the stream on a log whose domains were written out of order by
/// multi-source setups; a start position the server lacks is refused in
/// both modes.
async fn connect_by_gtid(conn: &mut Conn, start: &GtidState) -> Result<()> {
    conn.exec_drop("SET @slave_connect_state = ?", (start.to_string(),))
        .await?;
    conn.query_drop("SET @slave_gtid_strict_mode = 0").await?;
    conn.query_drop("SET @slave_gtid_ignore_duplicates = 0")
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_advance_per_domain() {
        let mut state = GtidState::parse("0-1-12, 3-2-7").unwrap();
        assert_eq!(state.to_string(), "0-1-12,3-2-7");
        let mut body = 13u64.to_le_bytes().to_vec();
        body.extend(0u32.to_le_bytes());
        body.push(0);
        assert!(state.advance(&body, 5));
        assert_eq!(state.to_string(), "0-5-13,3-2-7");
        assert!(!state.advance(&body[..9], 5));
        assert!(GtidState::parse("").unwrap().is_empty());
        assert!(GtidState::parse("0-1").is_err());
        assert!(GtidState::parse("a-b-c").is_err());
    }
}
