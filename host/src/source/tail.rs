//! Reading the table's changes in position order.
//!
//! A poll reads rows with `(last_updated, id)` strictly after the last
//! position and `last_updated` at or before a *safe bound*: the newest instant
//! for which every change has already committed. The bound is the earlier of
//!
//! * `NOW(6)` less the grace period (statements that are running right now
//!   stamp `NOW(6)` at their start, and may commit a moment later), and
//! * the start of the oldest open read-write transaction, from
//!   `information_schema.innodb_trx`: a transaction stamps its rows no earlier
//!   than it started, so nothing it commits later can land behind the bound,
//!   however long it stays open. A fixed delay cannot promise that.
//!
//! The bound stays put while such a transaction is open; the tailer then
//! waits instead of skipping its rows.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::error::{Error, Result};
use crate::record::{FieldValue, Record};
use crate::source::mysql::quote_identifier;
use crate::source::position::Position;
use crate::timestamp::Timestamp;

/// One changed row, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    pub position: Position,
    pub record: Record,
}

/// Reads the changes of one table.
#[derive(Debug, Clone)]
pub struct Tailer {
    select: String,
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
        let select = format!(
            "SELECT * FROM {table_q}
             WHERE {ts_q} >= ? AND ({ts_q} > ? OR {id_q} > ?) AND {ts_q} <= ?
             ORDER BY {ts_q}, {id_q} LIMIT ?"
        );
        Self {
            select,
            id_column: id_column.to_owned(),
            timestamp_column: timestamp_column.to_owned(),
            grace_micros: i64::try_from(grace.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// The newest instant up to which every change has committed.
    pub async fn safe_bound(&self, conn: &mut Conn) -> Result<Timestamp> {
        let row: Option<(Value, Value)> = conn
            .query_first(
                "SELECT NOW(6),
                        (SELECT MIN(trx_started) FROM information_schema.innodb_trx
                          WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_is_read_only = 0)",
            )
            .await?;
        let (now, oldest_open) =
            row.ok_or_else(|| Error::Source("NOW(6) returned no row".into()))?;
        let now = Timestamp::from_mysql(&now)
            .ok_or_else(|| Error::Source(format!("NOW(6) returned {now:?}, not a timestamp")))?;
        let by_clock = Timestamp(now.micros().saturating_sub(self.grace_micros));
        // trx_started has whole seconds (truncated, so never after the real
        // start). A statement stamps NOW(6) when it starts, which can be a
        // little before InnoDB registers its transaction; the grace period
        // covers that gap too. Cost: while writes stream, the bound trails
        // NOW(6) by up to a second plus the grace period.
        let by_transactions = Timestamp::from_mysql(&oldest_open)
            .map(|t| Timestamp(t.micros().saturating_sub(self.grace_micros.max(1))));
        Ok(by_transactions.map_or(by_clock, |t| t.min(by_clock)))
    }

    /// Up to `limit` rows after `after` and at or before `bound`, in order.
    pub async fn read(
        &self,
        conn: &mut Conn,
        after: Option<Position>,
        bound: Timestamp,
        limit: usize,
    ) -> Result<Vec<SourceRow>> {
        let after = after.unwrap_or(Position {
            timestamp: Timestamp(0),
            id: i64::MIN,
        });
        let rows: Vec<Row> = conn
            .exec(
                self.select.as_str(),
                (
                    after.timestamp.to_mysql(),
                    after.timestamp.to_mysql(),
                    after.id,
                    bound.to_mysql(),
                    limit as u64,
                ),
            )
            .await?;
        rows.into_iter().map(|row| self.convert(row)).collect()
    }

    fn convert(&self, row: Row) -> Result<SourceRow> {
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
            _ => FieldValue::Int(i32::try_from(i).map_err(|_| wrong(&Value::Int(i)))?),
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
