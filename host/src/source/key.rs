//! The record key: which columns, how they order, how they are compared in SQL.
//!
//! The rule: **MySQL and the producer order keys the same way**, because the
//! producer walks the table by `(stamp, key)` and compares positions itself
//! (the saved position, the dirty read, the lookback). Integers order the
//! same everywhere. Text does not: a column's collation may ignore case or
//! accents, Rust compares code points. So text key columns are compared and
//! ordered in SQL as `CONVERT(c USING utf8mb4) COLLATE utf8mb4_bin` (code point
//! order, as Rust's). That expression cannot use the index for ordering, so a
//! poll sorts the rows of its stamp range; integer keys keep the index order.

use mysql_async::Value;

use crate::error::{Error, Result};
use crate::record::{FieldValue, Record};
use crate::source::catalog::{ColumnKind, TableDescription};
use crate::source::mysql::quote_identifier;
use crate::source::position::{Key, KeyPart};
use crate::source::values::field_value;

/// The key columns of one table, with their kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumns {
    columns: Vec<(String, ColumnKind)>,
}

impl KeyColumns {
    /// `names` of `table`; refuses columns whose values cannot be ordered
    /// exactly as a key (floating point, decimals, dates as text).
    pub fn new(
        table: &TableDescription,
        names: &[String],
        kinds: &[(String, ColumnKind)],
    ) -> Result<Self> {
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let (name, kind) = kinds
                .iter()
                .find(|(column, _)| column.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    Error::Source(format!(
                        "key column `{name}` is not in table `{}`",
                        table.table
                    ))
                })?;
            let usable = matches!(
                kind,
                ColumnKind::Boolean
                    | ColumnKind::Int
                    | ColumnKind::Long
                    | ColumnKind::UnsignedBigint
                    | ColumnKind::Text
                    | ColumnKind::Bytes
            );
            if !usable {
                return Err(Error::Source(format!(
                    "key column `{name}` of table `{}` is {kind:?}: a key column must be an integer, text or binary column (source.key_columns)",
                    table.table
                )));
            }
            columns.push((name.clone(), *kind));
        }
        if columns.is_empty() {
            return Err(Error::Source(format!(
                "table `{}` has no key columns",
                table.table
            )));
        }
        Ok(Self { columns })
    }

    /// Columns taken as they are (tests, and callers that checked them).
    pub fn from_kinds(columns: Vec<(String, ColumnKind)>) -> Self {
        Self { columns }
    }

    /// The column names, in key order.
    pub fn names(&self) -> Vec<String> {
        self.columns.iter().map(|(name, _)| name.clone()).collect()
    }

    /// How many columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Each column as SQL compares and orders it (see the module comment).
    fn ordered(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|(name, kind)| match kind {
                ColumnKind::Text => format!(
                    "CONVERT({} USING utf8mb4) COLLATE utf8mb4_bin",
                    quote_identifier(name)
                ),
                _ => quote_identifier(name),
            })
            .collect()
    }

    /// `k1, k2` for reading the key.
    pub fn select_list(&self) -> String {
        let quoted: Vec<String> = self
            .columns
            .iter()
            .map(|(name, _)| quote_identifier(name))
            .collect();
        quoted.join(", ")
    }

    /// `k1, k2` for `ORDER BY`.
    pub fn order_list(&self) -> String {
        self.ordered().join(", ")
    }

    /// `(k1, k2) > (?, ?)`: the rows after a key.
    pub fn after(&self) -> String {
        let placeholders = vec!["?"; self.columns.len()].join(", ");
        format!("({}) > ({placeholders})", self.order_list())
    }

    /// `k1 = ? AND k2 = ?`: the row with a key.
    pub fn equal(&self) -> String {
        let parts: Vec<String> = self
            .ordered()
            .into_iter()
            .map(|column| format!("{column} = ?"))
            .collect();
        parts.join(" AND ")
    }

    /// The key as statement parameters.
    pub fn params(key: &Key) -> Vec<Value> {
        key.iter()
            .map(|part| match part {
                KeyPart::Int(i) => Value::Int(*i),
                KeyPart::UInt(u) => Value::UInt(*u),
                KeyPart::Text(text) => Value::Bytes(text.as_bytes().to_vec()),
                KeyPart::Bytes(bytes) => Value::Bytes(bytes.clone()),
            })
            .collect()
    }

    /// The key of a converted record.
    pub fn of_record(&self, record: &Record) -> Result<Key> {
        self.columns
            .iter()
            .map(|(name, _)| {
                let value = record.get(name).ok_or_else(|| {
                    Error::Source(format!("the table has no usable key column `{name}`"))
                })?;
                part(name, value)
            })
            .collect()
    }

    /// The key of raw values read by [`Self::select_list`].
    pub fn of_values(&self, values: Vec<Value>) -> Result<Key> {
        self.columns
            .iter()
            .zip(values)
            .map(|((name, kind), value)| {
                let value = field_value(*kind, value)
                    .map_err(|why| Error::Source(format!("key column `{name}`: {why}")))?;
                part(name, &value)
            })
            .collect()
    }
}

/// One key part; integers that fit `i64` are always `Int`, so a part orders
/// the same whether it was read from the table or from the position file.
fn part(name: &str, value: &FieldValue) -> Result<KeyPart> {
    Ok(match value {
        FieldValue::Int(i) => KeyPart::Int(i64::from(*i)),
        FieldValue::Long(l) => KeyPart::Int(*l),
        FieldValue::Boolean(b) => KeyPart::Int(i64::from(*b)),
        FieldValue::Decimal(text) => match text.parse::<i64>() {
            Ok(i) => KeyPart::Int(i),
            Err(_) => KeyPart::UInt(text.parse().map_err(|_| {
                Error::Source(format!("key column `{name}` holds {text}, not an integer"))
            })?),
        },
        FieldValue::Text(text) => KeyPart::Text(text.clone()),
        FieldValue::Bytes(bytes) => KeyPart::Bytes(bytes.clone()),
        other => {
            return Err(Error::Source(format!(
                "key column `{name}` holds {other:?}; a key can never be null"
            )));
        }
    })
}

/// The key as the Kafka message key: JSON text (`7`, `"sku-1"`,
/// `["sku-1",3]`). A one-integer key is its digits, as it always was.
pub fn message_key(key: &Key) -> String {
    let mut bytes = Vec::new();
    write_message_key(key, &mut bytes);
    String::from_utf8(bytes).unwrap_or_default()
}

/// Appends [`message_key`]'s text to `bytes` (a buffer the caller reuses).
pub fn write_message_key(key: &Key, bytes: &mut Vec<u8>) {
    use std::io::Write as _;
    let start = bytes.len();
    let written = match key.as_slice() {
        // The common key, without serde's machinery.
        [KeyPart::Int(value)] => write!(bytes, "{value}").is_ok(),
        [single] => serde_json::to_writer(&mut *bytes, single).is_ok(),
        parts => serde_json::to_writer(&mut *bytes, parts).is_ok(),
    };
    if !written {
        bytes.truncate(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_are_json() {
        assert_eq!(message_key(&vec![KeyPart::Int(7)]), "7");
        assert_eq!(message_key(&vec![KeyPart::Int(-70)]), "-70");
        assert_eq!(
            message_key(&vec![KeyPart::UInt(u64::MAX)]),
            "18446744073709551615"
        );
        assert_eq!(message_key(&vec![KeyPart::Text("a".into())]), "\"a\"");
        assert_eq!(
            message_key(&vec![KeyPart::Text("a".into()), KeyPart::UInt(u64::MAX)]),
            "[\"a\",18446744073709551615]"
        );
    }
}
