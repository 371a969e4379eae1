//! The first start in binlog mode: every row of every configured table as
//! it is, then the binary log from the exact point the snapshot saw.
//!
//! The rule: the rows of every table and the position come from one
//! consistent read view (one transaction reads all the tables).
//! `START TRANSACTION WITH CONSISTENT SNAPSHOT` opens it; on MariaDB the
//! session's `binlog_snapshot_file`/`binlog_snapshot_position` give the
//! binlog position of that same view, without a lock. Elsewhere (MySQL) a
//! brief `FLUSH TABLES WITH READ LOCK` holds commits while the view is
//! opened and `SHOW MASTER STATUS` read. A change committed before the
//! position is in the rows; one after is in the log from the position: none
//! is lost or doubled at the seam.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool, Row, Value};
use tokio::sync::mpsc;

use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::producer::ProducerCounters;
use crate::source::binlog::position::BinlogPosition;
use crate::source::binlog::produce::{Chunk, Fields, Operation};
use crate::source::binlog::tables::TableRoute;
use crate::source::mysql::quote_identifier;

/// Produces every row of every table as op "r" from one consistent read
/// view, then a chunk carrying the view's binlog position (saved once all
/// of them are acknowledged). Returns that position, where the log is
/// followed from. Each table's rows are encoded with the schema version
/// registered at start.
pub async fn take(
    pool: &Pool,
    source: &SourceConfig,
    routes: &[TableRoute],
    fields: &Fields<'_>,
    to_acker: &mpsc::Sender<Chunk>,
    counters: &ProducerCounters,
) -> Result<BinlogPosition> {
    let mut conn = pool.get_conn().await?;
    let position = open_view(&mut conn).await?;
    let sequence = position.sequence()?;
    let tables: Vec<&str> = routes.iter().map(TableRoute::table).collect();
    tracing::info!(file = %position.file, offset = position.offset, gtid = position.gtid.as_deref().unwrap_or_default(), tables = ?tables, "snapshot of the tables at this binlog position");
    for route in routes {
        let sender = fields.sender(route);
        let names: Vec<String> = route
            .catalog
            .iter()
            .map(|column| column.name.clone())
            .collect();
        let key_names = route.key.names();
        let key_indexes = key_names
            .iter()
            .map(|column| {
                names.iter().position(|name| name == column).ok_or_else(|| {
                    Error::Binlog(format!("no key column `{column}` in `{}`", route.table()))
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        let mut after: Option<Vec<Value>> = None;
        let mut total = 0;
        loop {
            let page = read_page(
                &mut conn,
                route.table(),
                &names,
                &key_names,
                after.as_deref(),
                source.batch_size,
            )
            .await?;
            let Some(last) = page.last() else { break };
            after = Some(
                key_indexes
                    .iter()
                    .map(|index| last[*index].clone())
                    .collect(),
            );
            let rows = page.len();
            let mut deliveries = Vec::with_capacity(rows);
            for values in page {
                let record = route.version.converter.record(values)?;
                sender
                    .send(record, Operation::Read, sequence, &mut deliveries)
                    .await?;
            }
            total += rows;
            counters.add_read(rows);
            send(
                to_acker,
                Chunk {
                    end: None,
                    deliveries,
                    rows,
                },
            )
            .await?;
        }
        tracing::info!(table = %route.table(), rows = total, "table snapshot produced");
    }
    conn.query_drop("COMMIT").await?;
    tracing::info!("snapshot produced; following the log from its position");
    send(
        to_acker,
        Chunk {
            end: Some(position.clone()),
            deliveries: Vec::new(),
            rows: 0,
        },
    )
    .await?;
    Ok(position)
}

async fn send(to_acker: &mpsc::Sender<Chunk>, chunk: Chunk) -> Result<()> {
    to_acker
        .send(chunk)
        .await
        .map_err(|_| crate::source::binlog::stream::acker_stopped())
}

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
        // Only MariaDB has these variables; its GTID position at the same
        // point lets the log be followed (and resumed) by GTID.
        let gtid = super::gtid::position_at(conn, &file, offset)
            .await?
            .filter(|state| !state.is_empty())
            .map(|state| state.to_string());
        return Ok(BinlogPosition { file, offset, gtid });
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
        (Some(file), Some(offset)) => Ok(BinlogPosition {
            file,
            offset,
            gtid: None,
        }),
        _ => Err(Error::Binlog(format!(
            "SHOW MASTER STATUS returned {row:?}"
        ))),
    }
}

/// One page of the table in the open view, in key order: up to `limit`
/// rows with a key after `after` (keyset pagination, so each page is an
/// index range read and no result stream is held across produces).
///
/// The key columns are compared and ordered in their own collations: both
/// sides of the comparison are SQL's, and the unique index over the key
/// (`checks::check_unique_key`) makes that order strict, so no row is read
/// twice or skipped, and the index serves the order.
pub async fn read_page(
    conn: &mut Conn,
    table: &str,
    columns: &[String],
    key: &[String],
    after: Option<&[Value]>,
    limit: usize,
) -> Result<Vec<Vec<Value>>> {
    let table = quote_identifier(table);
    let list = columns
        .iter()
        .map(|name| quote_identifier(name))
        .collect::<Vec<_>>()
        .join(", ");
    let key: Vec<String> = key.iter().map(|name| quote_identifier(name)).collect();
    let order = key.join(", ");
    let (filter, mut params) = match after {
        None => (String::new(), Vec::new()),
        Some(after) => {
            let (filter, params) = after_key(&key, after);
            (format!("WHERE {filter} "), params)
        }
    };
    params.push(Value::from(limit as u64));
    // The binary protocol, as the log's values are typed (DATETIME as a
    // date, not text).
    let rows: Vec<Row> = conn
        .exec(
            format!("SELECT {list} FROM {table} {filter}ORDER BY {order} LIMIT ?"),
            params,
        )
        .await?;
    Ok(rows.into_iter().map(Row::unwrap).collect())
}

/// `(k1, k2) > (v1, v2)` spelled out as `k1 > ? OR (k1 = ? AND k2 > ?)`,
/// a form the range optimizer reads as index ranges (a row comparison is
/// not always), with its parameters.
fn after_key(key: &[String], after: &[Value]) -> (String, Vec<Value>) {
    let mut terms = Vec::with_capacity(key.len());
    let mut params = Vec::new();
    for last in 0..key.len().min(after.len()) {
        let mut parts = Vec::with_capacity(last + 1);
        for (column, value) in key.iter().zip(after).take(last) {
            parts.push(format!("{column} = ?"));
            params.push(value.clone());
        }
        parts.push(format!("{} > ?", key[last]));
        params.push(after[last].clone());
        terms.push(format!("({})", parts.join(" AND ")));
    }
    (format!("({})", terms.join(" OR ")), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rows_after_a_composite_key() {
        let key = ["`a`".to_owned(), "`b`".to_owned()];
        let (filter, params) = after_key(&key, &[Value::Int(1), Value::from("x")]);
        assert_eq!(filter, "((`a` > ?) OR (`a` = ? AND `b` > ?))");
        assert_eq!(params, [Value::Int(1), Value::Int(1), Value::from("x")]);
        let (filter, _) = after_key(&key[..1], &[Value::Int(1)]);
        assert_eq!(filter, "((`a` > ?))");
    }
}
