//! Reading the table's changes in position order.
//!
//! A poll reads the rows with `(stamp, key)` strictly after the last
//! position and the stamp at or before `NOW(6)` less the grace period,
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
use crate::source::catalog::ColumnKind;
use crate::source::key::KeyColumns;
use crate::source::mysql::quote_identifier;
use crate::source::position::Position;
use crate::source::uncommitted::before_uncommitted;
use crate::source::values::field_value;
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
    select_after: String,
    select_from: String,
    keys_after: String,
    keys_from: String,
    key: KeyColumns,
    kinds: Vec<(String, ColumnKind)>,
    timestamp_column: String,
    grace_micros: i64,
}

impl Tailer {
    /// A tailer for `table`, ordered by `timestamp_column` then `key`,
    /// converting each column by its kind in `kinds` (from the catalog).
    pub fn new(
        table: &str,
        key: KeyColumns,
        kinds: Vec<(String, ColumnKind)>,
        timestamp_column: &str,
        grace: std::time::Duration,
    ) -> Self {
        let (table_q, ts_q) = (quote_identifier(table), quote_identifier(timestamp_column));
        let order = format!("ORDER BY {ts_q}, {} LIMIT ?", key.order_list());
        // The OR form (rather than a row comparison on the stamp too) lets
        // MariaDB range-scan the (stamp, key) index.
        let after = format!(
            "FROM {table_q} WHERE {ts_q} >= ? AND ({ts_q} > ? OR {}) AND {ts_q} <= ? {order}",
            key.after()
        );
        let from = format!("FROM {table_q} WHERE {ts_q} >= ? AND {ts_q} <= ? {order}");
        let keys = format!("SELECT {ts_q}, {}", key.select_list());
        Self {
            select_after: format!("SELECT * {after}"),
            select_from: format!("SELECT * {from}"),
            keys_after: format!("{keys} {after}"),
            keys_from: format!("{keys} {from}"),
            key,
            kinds,
            timestamp_column: timestamp_column.to_owned(),
            grace_micros: i64::try_from(grace.as_micros()).unwrap_or(i64::MAX),
        }
    }

    /// A tailer for `table` as the catalog describes it now, keyed by
    /// `configured_key` (empty: the primary key).
    pub async fn from_catalog(
        conn: &mut Conn,
        table: &str,
        configured_key: &[String],
        timestamp_column: &str,
        decimals: crate::config::DecimalHandling,
        grace: std::time::Duration,
    ) -> Result<Self> {
        let description = crate::source::catalog::TableDescription::read(conn, table).await?;
        let kinds = description.kinds(decimals);
        let key = KeyColumns::new(
            &description,
            &description.key_columns(configured_key)?,
            &kinds,
        )?;
        Ok(Self::new(table, key, kinds, timestamp_column, grace))
    }

    /// The key columns.
    pub fn key(&self) -> &KeyColumns {
        &self.key
    }

    /// Converts columns by these kinds from now on (the table changed).
    pub fn set_kinds(&mut self, kinds: Vec<(String, ColumnKind)>) {
        self.kinds = kinds;
    }

    /// Up to `limit` committed rows after `after`, in position order, that
    /// no change still in flight can precede.
    pub async fn read_committed(
        &self,
        conn: &mut Conn,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Vec<SourceRow>> {
        Ok(self.poll(conn, after, limit).await?.rows)
    }

    /// [`Self::read_committed`], with the server's clock at the poll.
    pub async fn poll(
        &self,
        conn: &mut Conn,
        after: Option<&Position>,
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
        after: Option<&Position>,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<SourceRow>> {
        let bound = Timestamp(now.micros().saturating_sub(self.grace_micros));
        if after.is_some_and(|position| position.timestamp >= bound) {
            return Ok(Vec::new());
        }
        let start = Position::start_of(Timestamp(0));
        let after = after.unwrap_or(&start);
        let (select, select_keys, params) = if after.key.is_empty() {
            let params = vec![
                after.timestamp.to_mysql(),
                bound.to_mysql(),
                Value::from(limit as u64),
            ];
            (&self.select_from, &self.keys_from, params)
        } else {
            let mut params = vec![after.timestamp.to_mysql(), after.timestamp.to_mysql()];
            params.extend(KeyColumns::params(&after.key));
            params.push(bound.to_mysql());
            params.push(Value::from(limit as u64));
            (&self.select_after, &self.keys_after, params)
        };
        // The dirty read first: a change it misses and the committed read
        // then finds has committed, which is fine; the other order could miss
        // one in flight. The isolation level applies to the next transaction
        // only, the autocommit SELECT right after it (MySQL and MariaDB alike).
        conn.query_drop("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
            .await?;
        let dirty: Vec<Row> = conn.exec(select_keys.as_str(), params.clone()).await?;
        let dirty_complete = dirty.len() < limit;
        let dirty = dirty
            .into_iter()
            .map(|row| self.key_position(row.unwrap()))
            .collect::<Result<Vec<_>>>()?;
        let rows: Vec<Row> = conn.exec(select.as_str(), params).await?;
        let committed = rows
            .into_iter()
            .map(|row| self.convert(row))
            .collect::<Result<Vec<_>>>()?;
        Ok(before_uncommitted(committed, &dirty, dirty_complete))
    }

    /// The position of a `SELECT stamp, key…` row.
    pub fn key_position(&self, mut values: Vec<Value>) -> Result<Position> {
        if values.is_empty() {
            return Err(Error::Source("a key read returned no columns".into()));
        }
        let key = self.key.of_values(values.split_off(1))?;
        let timestamp = Timestamp::from_mysql(&values[0]).ok_or_else(|| {
            Error::Source(format!(
                "column `{}` holds {:?}, not a DATETIME",
                self.timestamp_column, values[0]
            ))
        })?;
        Ok(Position { timestamp, key })
    }

    /// A row of the table as a [`SourceRow`] (its position from the key and
    /// stamp columns).
    pub fn convert(&self, row: Row) -> Result<SourceRow> {
        let columns = row.columns();
        let values = row.unwrap();
        let mut record = Record::default();
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
                match self.kinds.iter().find(|(known, _)| *known == name) {
                    Some((_, kind)) => field_value(*kind, value)
                        .map_err(|why| Error::Source(format!("column `{name}`: {why}")))?,
                    // A column the table gained since the catalog was read.
                    None => column_value(column, value)?,
                }
            };
            record.fields.push(crate::record::Field {
                name: name.into_owned(),
                value: field,
            });
        }
        let key = self.key.of_record(&record)?;
        Ok(SourceRow {
            position: Position {
                timestamp: timestamp.ok_or_else(|| {
                    Error::Source(format!(
                        "the table has no usable `{}` column",
                        self.timestamp_column
                    ))
                })?,
                key,
            },
            record,
        })
    }
}

/// Maps a MySQL value of a column the catalog did not describe (added since
/// it was read) by the wire type: integers that fit in 32 bits as `int`,
/// DECIMAL and floating point as `double`, text as `string`. The producer
/// then reads the catalog again and converts by kind.
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
