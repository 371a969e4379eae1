//! Checking at start that the source table can be tailed exactly.
//!
//! The rule: the producer runs only on a table where every change gets a
//! distinct, totally ordered, indexed key `(stamp, key)`. Otherwise it would
//! run wrong, silently: a NULL stamp is never read, a stamp without
//! microseconds makes same-second changes share a key (some are lost at a
//! page boundary), a non-unique key makes two rows share a position, and
//! without the `(stamp, key)` index every poll scans the table. So the table is read
//! from `information_schema` and refused, with the `ALTER TABLE` that fixes
//! it, before anything is produced. The checks cost a few catalog reads and
//! take no lock on the table.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::error::{Error, Result};
use crate::source::mysql::{SourceTable, quote_identifier};

/// How the stamp column holds its instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampType {
    /// `DATETIME(6)`: a wall-clock value; the triggers store UTC.
    Datetime,
    /// `TIMESTAMP(6)`: an instant, shown in the session's zone.
    Timestamp,
}

/// A column as the catalog describes it.
#[derive(Debug, Clone)]
pub struct CatalogColumn {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
    pub fraction_digits: Option<u64>,
}

/// An index: its name, whether it is unique, its columns in order.
#[derive(Debug, Clone)]
pub struct CatalogIndex {
    pub name: String,
    pub unique: bool,
    pub columns: Vec<String>,
}

/// Reads the table's columns and indexes and refuses it unless it can be
/// tailed; returns how its stamp column holds instants.
pub async fn check_table(conn: &mut Conn, source: SourceTable<'_>) -> Result<StampType> {
    let columns: Vec<(String, String, String, Option<u64>)> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, DATETIME_PRECISION
             FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (source.table,),
        )
        .await?;
    let columns: Vec<CatalogColumn> = columns
        .into_iter()
        .map(
            |(name, data_type, nullable, fraction_digits)| CatalogColumn {
                name,
                data_type: data_type.to_ascii_lowercase(),
                nullable: nullable == "YES",
                fraction_digits,
            },
        )
        .collect();
    let rows: Vec<(String, i64, String)> = conn
        .exec(
            "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (source.table,),
        )
        .await?;
    let mut indexes: Vec<CatalogIndex> = Vec::new();
    for (name, non_unique, column) in rows {
        match indexes.last_mut() {
            Some(index) if index.name == name => index.columns.push(column),
            _ => indexes.push(CatalogIndex {
                name,
                unique: non_unique == 0,
                columns: vec![column],
            }),
        }
    }
    check_shape(source, &columns, &indexes).map_err(Error::Source)
}

/// The checks themselves; `Err` holds every problem with its fix.
pub fn check_shape(
    source: SourceTable<'_>,
    columns: &[CatalogColumn],
    indexes: &[CatalogIndex],
) -> std::result::Result<StampType, String> {
    let table = quote_identifier(source.table);
    let stamp_name = source.timestamp_column;
    let stamp_q = quote_identifier(stamp_name);
    let find = |name: &str| columns.iter().find(|c| c.name.eq_ignore_ascii_case(name));
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let mut problems = Vec::new();
    if columns.is_empty() {
        return Err(format!(
            "table {table} not found in the configured database (source.table)"
        ));
    }

    let stamp_type = match find(stamp_name) {
        None => {
            problems.push(format!(
                "it has no column {stamp_q} (source.timestamp_column); fix: ALTER TABLE {table} ADD COLUMN {stamp_q} DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
            ));
            StampType::Datetime
        }
        Some(column) => {
            let stamp_type = match column.data_type.as_str() {
                "timestamp" => StampType::Timestamp,
                _ => StampType::Datetime,
            };
            let right_type = matches!(column.data_type.as_str(), "datetime" | "timestamp")
                && column.fraction_digits == Some(6);
            if !right_type || column.nullable {
                let why = if right_type {
                    "is nullable: a row whose stamp is NULL is never read".to_owned()
                } else {
                    format!(
                        "is {}({}), not DATETIME(6) or TIMESTAMP(6): changes within one second (or one millisecond) would share a stamp and some would be lost",
                        column.data_type.to_uppercase(),
                        column.fraction_digits.unwrap_or(0)
                    )
                };
                let null_fix = if column.nullable {
                    format!(
                        "UPDATE {table} SET {stamp_q} = UTC_TIMESTAMP(6) WHERE {stamp_q} IS NULL; "
                    )
                } else {
                    String::new()
                };
                problems.push(format!(
                    "column {stamp_q} (source.timestamp_column) {why}; fix: {null_fix}ALTER TABLE {table} MODIFY {stamp_q} DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
                ));
            }
            stamp_type
        }
    };

    let key_list = source
        .key_columns
        .iter()
        .map(|name| quote_identifier(name))
        .collect::<Vec<_>>()
        .join(", ");
    for key in source.key_columns {
        let key_q = quote_identifier(key);
        match find(key) {
            None => problems.push(format!(
                "it has no column {key_q} (source.key_columns); name the table's unique key there"
            )),
            Some(column) if column.nullable => problems.push(format!(
                "key column {key_q} (source.key_columns) is nullable; fix: ALTER TABLE {table} MODIFY {key_q} {} NOT NULL",
                column.data_type.to_uppercase()
            )),
            Some(_) => {}
        }
    }
    let is_key = |columns: &[String]| {
        columns.len() == source.key_columns.len()
            && source
                .key_columns
                .iter()
                .all(|key| columns.iter().any(|column| same(column, key)))
    };
    let unique = indexes
        .iter()
        .any(|index| index.unique && is_key(&index.columns));
    if !unique {
        problems.push(format!(
            "the key ({key_list}) (source.key_columns) is not unique: two rows could share a position; fix: ALTER TABLE {table} ADD UNIQUE KEY ({key_list})"
        ));
    }

    let primary_is_key = indexes
        .iter()
        .any(|index| index.name == "PRIMARY" && is_key(&index.columns));
    let ordered = indexes.iter().any(|index| {
        let Some((first, rest)) = index.columns.split_first() else {
            return false;
        };
        if !same(first, stamp_name) {
            return false;
        }
        // InnoDB appends the primary key to every secondary index.
        (rest.len() >= source.key_columns.len()
            && source
                .key_columns
                .iter()
                .zip(rest)
                .all(|(key, column)| same(key, column)))
            || (rest.is_empty() && primary_is_key && index.name != "PRIMARY")
    });
    if !ordered {
        problems.push(format!(
            "no index starts with ({stamp_q}, {key_list}): every poll would scan the table; fix: ALTER TABLE {table} ADD INDEX position ({stamp_q}, {key_list})"
        ));
    }

    if problems.is_empty() {
        Ok(stamp_type)
    } else {
        Err(format!(
            "table {table} cannot be tailed exactly: {}. Nothing was produced; start again after the fix",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(key: &[String]) -> SourceTable<'_> {
        SourceTable {
            table: "t",
            key_columns: key,
            timestamp_column: "ts",
        }
    }

    fn column(name: &str, data_type: &str, nullable: bool, digits: Option<u64>) -> CatalogColumn {
        CatalogColumn {
            name: name.into(),
            data_type: data_type.into(),
            nullable,
            fraction_digits: digits,
        }
    }

    fn index(name: &str, unique: bool, columns: &[&str]) -> CatalogIndex {
        CatalogIndex {
            name: name.into(),
            unique,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn k() -> Vec<String> {
        vec!["k".to_owned()]
    }

    fn good_columns() -> Vec<CatalogColumn> {
        vec![
            column("k", "int", false, None),
            column("ts", "datetime", false, Some(6)),
        ]
    }

    fn good_indexes() -> Vec<CatalogIndex> {
        vec![
            index("PRIMARY", true, &["k"]),
            index("position", false, &["ts", "k"]),
        ]
    }

    #[test]
    fn the_seed_shape_passes() {
        assert_eq!(
            check_shape(source(&k()), &good_columns(), &good_indexes()),
            Ok(StampType::Datetime)
        );
        // An index on the stamp alone carries the primary key after it.
        let short = [
            index("PRIMARY", true, &["k"]),
            index("by_ts", false, &["ts"]),
        ];
        assert!(check_shape(source(&k()), &good_columns(), &short).is_ok());
    }

    #[test]
    fn each_wrong_shape_names_its_fix() {
        let cases: Vec<(Vec<CatalogColumn>, Vec<CatalogIndex>, &str)> = vec![
            (
                vec![
                    column("k", "int", false, None),
                    column("ts", "datetime", true, Some(6)),
                ],
                good_indexes(),
                "MODIFY `ts` DATETIME(6) NOT NULL",
            ),
            (
                vec![
                    column("k", "int", false, None),
                    column("ts", "datetime", false, Some(0)),
                ],
                good_indexes(),
                "MODIFY `ts` DATETIME(6) NOT NULL",
            ),
            (
                vec![column("k", "int", false, None)],
                good_indexes(),
                "ADD COLUMN `ts` DATETIME(6)",
            ),
            (
                good_columns(),
                vec![index("PRIMARY", true, &["k"])],
                "ADD INDEX position (`ts`, `k`)",
            ),
            (
                good_columns(),
                vec![index("position", false, &["ts", "k"])],
                "ADD UNIQUE KEY (`k`)",
            ),
        ];
        for (columns, indexes, fix) in cases {
            let message = check_shape(source(&k()), &columns, &indexes).unwrap_err();
            assert!(message.contains(fix), "{fix} not in: {message}");
        }
    }

    #[test]
    fn a_composite_key_needs_its_unique_index_and_the_stamp_index() {
        let key = vec!["region".to_owned(), "k".to_owned()];
        let columns = vec![
            column("region", "varchar", false, None),
            column("k", "int", false, None),
            column("ts", "datetime", false, Some(6)),
        ];
        let indexes = vec![
            index("PRIMARY", true, &["region", "k"]),
            index("position", false, &["ts"]),
        ];
        assert!(check_shape(source(&key), &columns, &indexes).is_ok());
        let message = check_shape(source(&key), &columns, &indexes[1..]).unwrap_err();
        assert!(
            message.contains("ADD UNIQUE KEY (`region`, `k`)"),
            "{message}"
        );
        assert!(
            message.contains("ADD INDEX position (`ts`, `region`, `k`)"),
            "{message}"
        );
    }
}
