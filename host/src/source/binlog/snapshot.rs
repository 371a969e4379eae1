//! The first start in binlog mode: every row of the table as it is, then the
//! binary log from the exact point the snapshot saw.
//!
//! The rule: the rows and the position come from one consistent read view.
//! `START TRANSACTION WITH CONSISTENT SNAPSHOT` opens it; on MariaDB the
//! session's `binlog_snapshot_file`/`binlog_snapshot_position` give the
//! binlog position of that same view, without a lock. Elsewhere (MySQL) a
//! brief `FLUSH TABLES WITH READ LOCK` holds commits while the view is
//! opened and `SHOW MASTER STATUS` read. A change committed before the
//! position is in the rows; one after is in the log from the position: none
//! is lost or doubled at the seam.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::error::{Error, Result};
use crate::source::binlog::position::BinlogPosition;
use crate::source::mysql::quote_identifier;

/// Opens the consistent read view on `conn` and returns the binlog position
/// it corresponds to. The caller reads the rows on `conn`, then commits.
pub async fn open_view(conn: &mut Conn) -> Result<BinlogPosition> {
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await?;
    let status: Vec<(String, String)> = conn
        .query("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")
        .await?;
    let value = |name: &str| {
        status
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    if let (Some(file), Some(offset)) = (
        value("binlog_snapshot_file"),
        value("binlog_snapshot_position"),
    ) && !file.is_empty()
    {
        let offset = offset
            .parse()
            .map_err(|_| Error::Binlog(format!("binlog_snapshot_position is `{offset}`")))?;
        return Ok(BinlogPosition { file, offset });
    }
    // MySQL has no snapshot status variables: hold commits for the moment it
    // takes to open a fresh view and read the position.
    conn.query_drop("ROLLBACK").await?;
    conn.query_drop("FLUSH TABLES WITH READ LOCK").await?;
    let opened = async {
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await?;
        master_status(conn).await
    }
    .await;
    conn.query_drop("UNLOCK TABLES").await?;
    opened
}

/// The server's current binlog file and offset.
pub async fn master_status(conn: &mut Conn) -> Result<BinlogPosition> {
    let row: Option<Row> = conn.query_first("SHOW MASTER STATUS").await?;
    let row = row.ok_or_else(|| {
        Error::Binlog("SHOW MASTER STATUS returned nothing: the binary log is off".into())
    })?;
    let file: Option<String> = row.get(0);
    let offset: Option<u64> = row.get(1);
    match (file, offset) {
        (Some(file), Some(offset)) => Ok(BinlogPosition { file, offset }),
        _ => Err(Error::Binlog(format!(
            "SHOW MASTER STATUS returned {row:?}"
        ))),
    }
}

/// One page of the table in the open view, in key order: up to `limit`
/// rows with a key after `after` (keyset pagination, so each page is an
/// index range read and no result stream is held across produces).
pub async fn read_page(
    conn: &mut Conn,
    table: &str,
    columns: &[String],
    key_column: &str,
    after: Option<&Value>,
    limit: usize,
) -> Result<Vec<Vec<Value>>> {
    let (table, key) = (quote_identifier(table), quote_identifier(key_column));
    let list = columns
        .iter()
        .map(|name| quote_identifier(name))
        .collect::<Vec<_>>()
        .join(", ");
    // The binary protocol, as the log's values are typed (DATETIME as a
    // date, not text).
    let rows: Vec<Row> = match after {
        None => {
            conn.exec(
                format!("SELECT {list} FROM {table} ORDER BY {key} LIMIT ?"),
                (limit as u64,),
            )
            .await?
        }
        Some(after) => {
            conn.exec(
                format!("SELECT {list} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?"),
                (after.clone(), limit as u64),
            )
            .await?
        }
    };
    Ok(rows.into_iter().map(Row::unwrap).collect())
}
