//! Reading the table's changes in position order.
//!
//! A poll reads the rows with `(last_updated, id)` strictly after the last
//! position and `last_updated` at or before `NOW(6)` less the grace period,
//! and hands on only those before the first change that is written but not
//! yet committed (see [`super::uncommitted`]). The triggers stamp each row
//! when it is written (`SYSDATE(6)`, not the statement's start), so the grace
//! period only has to cover the microseconds between the stamp and the write;
//! a transaction that stays open for minutes is seen by the dirty read and
//! waited for, not skipped. A fixed delay alone cannot promise that. What
//! still lands behind the position (an INSERT stamped before it waited for a
//! lock, a clock step back) is found by [`super::late`].

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::error::{Error, Result};
use crate::record::{FieldValue, Record};
use crate::source::mysql::quote_identifier;
use crate::source::position::Position;
use crate::source::uncommitted::before_uncommitted;
use crate::timestamp::Timestamp;

/// One changed row, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    pub position: Position,
    pub record: Record,
}

/// One poll's rows and the server's clock (`NOW(6)`, UTC) when it ran.
#[derive(Debug, Clone)]
pub struct Polled {
    pub rows: Vec<SourceRow>,
    pub server_now: Timestamp,
}

/// Reads the changes of one table.
#[derive(Debug, Clone)]
pub struct Tailer {
    select: String,
    select_keys: String,
    id_column: String,
    timestamp_column: String,
    grace_micros: i64,
}

impl Tailer {
    /// A tailer for `table`, ordered by `timestamp_column` then `id_column`.
    pub fn new(
        table: &str,
        id_column: &str,
        timestamp_column: &str,
        grace: std::time::Duration,
    ) -> Self {
        let (table_q, id_q, ts_q) = (
            quote_identifier(table),
            quote_identifier(id_column),
            quote_identifier(timestamp_column),
        );
        // The OR form (rather than a row comparison) lets MariaDB range-scan
        // the (last_updated, id) index.
        let range = format!(
            "FROM {table_q}
             WHERE {ts_q} >= ? AND ({ts_q} > ? OR {id_q} > ?) AND {ts_q} <= ?
             ORDER BY {ts_q}, {id_q} LIMIT ?"
        );
        Self {
            select: format!("SELECT * {range}"),
            select_keys: format!("SELECT {ts_q}, {id_q} {range}"),
            id_column: id_column.to_owned(),
            timestamp_column: timestamp_column.to_owned(),
            grace_micros: i64::try_from(grace.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// Up to `limit` committed rows after `after`, in position order, that
    /// no change still in flight can precede.
    pub async fn read_committed(
        &self,
        conn: &mut Conn,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Vec<SourceRow>> {
        Ok(self.poll(conn, after, limit).await?.rows)
    }

    /// [`Self::read_committed`], with the server's clock at the poll.
    pub async fn poll(
        &self,
        conn: &mut Conn,
        after: Option<Position>,
        limit: usize,
    ) -> Result<Polled> {
        let now: Value = conn
            .query_first("SELECT NOW(6)")
            .await?
            .ok_or_else(|| Error::Source("NOW(6) returned no row".into()))?;
        let now = Timestamp::from_mysql(&now)
            .ok_or_else(|| Error::Source(format!("NOW(6) returned {now:?}, not a timestamp")))?;
        let rows = self.read_before(conn, after, limit, now).await?;
        Ok(Polled {
            rows,
            server_now: now,
        })
    }

    async fn read_before(
        &self,
        conn: &mut Conn,
        after: Option<Position>,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<SourceRow>> {
        let bound = Timestamp(now.micros().saturating_sub(self.grace_micros));
        if after.is_some_and(|position| position.timestamp >= bound) {
            return Ok(Vec::new());
        }
        let after = after.unwrap_or(Position {
            timestamp: Timestamp(0),
            id: i64::MIN,
        });
        let params = (
            after.timestamp.to_mysql(),
            after.timestamp.to_mysql(),
            after.id,
            bound.to_mysql(),
            limit as u64,
        );
        // The dirty read first: a change it misses and the committed read
        // then finds has committed, which is fine; the other order could miss
        // one in flight. The isolation level applies to the next transaction
        // only, the autocommit SELECT right after it (MySQL and MariaDB alike).
        conn.query_drop("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
            .await?;
        let dirty: Vec<(Value, i64)> = conn.exec(self.select_keys.as_str(), params.clone()).await?;
        let dirty_complete = dirty.len() < limit;
        let dirty = dirty
            .into_iter()
            .map(|(timestamp, id)| {
                Timestamp::from_mysql(&timestamp)
                    .map(|timestamp| Position { timestamp, id })
                    .ok_or_else(|| {
                        Error::Source(format!(
                            "column `{}` holds {timestamp:?}, not a DATETIME",
                            self.timestamp_column
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let rows: Vec<Row> = conn.exec(self.select.as_str(), params).await?;
        let committed = rows
            .into_iter()
            .map(|row| self.convert(row))
            .collect::<Result<Vec<_>>>()?;
        Ok(before_uncommitted(committed, &dirty, dirty_complete))
    }

    /// A row of the table as a [`SourceRow`] (its position from the id and
    /// stamp columns).
    pub fn convert(&self, row: Row) -> Result<SourceRow> {
        let columns = row.columns();
        let values = row.unwrap();
        let mut record = Record::default();
        let mut id = None;
        let mut timestamp = None;
        for (column, value) in columns.iter().zip(values) {
            let name = column.name_str();
            let field = if name == self.timestamp_column {
                let ts = Timestamp::from_mysql(&value).ok_or_else(|| {
                    Error::Source(format!("column `{name}` holds {value:?}, not a DATETIME"))
                })?;
                timestamp = Some(ts);
                FieldValue::Long(ts.micros())
            } else {
                column_value(column, value)?
            };
            if name == self.id_column {
                id = match field {
                    FieldValue::Int(i) => Some(i64::from(i)),
                    FieldValue::Long(l) => Some(l),
                    _ => None,
                };
            }
            record.fields.push(crate::record::Field {
                name: name.into_owned(),
                value: field,
            });
        }
        let missing =
            |column: &str| Error::Source(format!("the table has no usable `{column}` column"));
        Ok(SourceRow {
            position: Position {
                timestamp: timestamp.ok_or_else(|| missing(&self.timestamp_column))?,
                id: id.ok_or_else(|| missing(&self.id_column))?,
            },
            record,
        })
    }
}

/// Maps a MySQL value to a field by the column's type: integers that fit in
/// 32 bits as `int`, DECIMAL and floating point as `double`, text as `string`.
fn column_value(column: &mysql_async::Column, value: Value) -> Result<FieldValue> {
    use mysql_async::consts::ColumnType::*;
    let name = column.name_str();
    let wrong = |value: &Value| Error::Source(format!("column `{name}`: cannot read {value:?}"));
    Ok(match value {
        Value::NULL => FieldValue::Null,
        Value::Int(i) => match column.column_type() {
            MYSQL_TYPE_LONGLONG => FieldValue::Long(i),
            // INT UNSIGNED above 2^31 (typed `long` from the catalog).
            _ => i32::try_from(i).map_or(FieldValue::Long(i), FieldValue::Int),
        },
        Value::UInt(u) => FieldValue::Long(i64::try_from(u).map_err(|_| wrong(&Value::UInt(u)))?),
        Value::Float(f) => FieldValue::Double(f64::from(f)),
        Value::Double(d) => FieldValue::Double(d),
        Value::Bytes(bytes) => match column.column_type() {
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => {
                let text = String::from_utf8_lossy(&bytes);
                FieldValue::Double(
                    text.parse()
                        .map_err(|_| wrong(&Value::Bytes(bytes.clone())))?,
                )
            }
            MYSQL_TYPE_LONGLONG => {
                let text = String::from_utf8_lossy(&bytes);
                FieldValue::Long(
                    text.parse()
                        .map_err(|_| wrong(&Value::Bytes(bytes.clone())))?,
                )
            }
            MYSQL_TYPE_LONG | MYSQL_TYPE_INT24 | MYSQL_TYPE_SHORT | MYSQL_TYPE_TINY => {
                let text = String::from_utf8_lossy(&bytes);
                FieldValue::Int(
                    text.parse()
                        .map_err(|_| wrong(&Value::Bytes(bytes.clone())))?,
                )
            }
            MYSQL_TYPE_BLOB
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
                if column.character_set() == 63 =>
            {
                FieldValue::Bytes(bytes)
            }
            _ => FieldValue::Text(
                String::from_utf8(bytes).map_err(|e| wrong(&Value::Bytes(e.into_bytes())))?,
            ),
        },
        date @ Value::Date(..) => FieldValue::Long(
            Timestamp::from_mysql(&date)
                .ok_or_else(|| wrong(&date))?
                .micros(),
        ),
        other @ Value::Time(..) => {
            FieldValue::Text(other.as_sql(true).trim_matches('\'').to_owned())
        }
    })
}
