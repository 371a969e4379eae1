//! A table as the catalog describes it: its columns, their types and its
//! key, and the Avro value schema derived from them.
//!
//! The rule: **every type decision is made here, from the column's declared
//! type (`information_schema.COLUMNS`), never from a value read** (the first
//! value may be NULL, or small enough to fit a narrower type than the next).
//! The tailer converts values by the [`ColumnKind`] this gives, the codec
//! writes them under the schema this gives, so the two cannot disagree. The
//! mapping follows Debezium's MySQL connector (see the README's table).

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::{Value as Json, json};

use crate::codec::{CatalogType, ValueSchema};
use crate::config::{Config, DecimalHandling, SourceConfig};
use crate::error::{Error, Result};

/// How a column's values are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `BIT(1)` (and `BOOL`, which is `TINYINT(1)`, stays an int as in Debezium).
    Boolean,
    /// TINYINT, SMALLINT, MEDIUMINT, INT, YEAR (and their UNSIGNED forms that fit).
    Int,
    /// BIGINT, INT UNSIGNED, BIT(n > 1).
    Long,
    Float,
    Double,
    /// DECIMAL(p, s): Avro `bytes` with logical type `decimal`.
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// DECIMAL read as a double (`decimal_handling = "double"`).
    DecimalAsDouble,
    /// DECIMAL read as its text (`decimal_handling = "string"`).
    DecimalAsText,
    /// BIGINT UNSIGNED: `decimal(20, 0)`, so values above 2^63 do not overflow.
    UnsignedBigint,
    /// DATETIME, TIMESTAMP: `long` `timestamp-micros` (UTC).
    TimestampMicros,
    /// DATE: `int` `date` (days since 1970-01-01).
    Date,
    /// TIME: `long` `time-micros`.
    TimeMicros,
    /// CHAR, VARCHAR, TEXT, ENUM, SET, JSON and anything else textual.
    Text,
    /// BLOB, BINARY, VARBINARY.
    Bytes,
}

impl ColumnKind {
    /// The kind of a column from its catalog entry.
    pub fn of(column: &ColumnDescription, decimals: DecimalHandling) -> Self {
        let unsigned = column.column_type.contains("unsigned");
        match column.data_type.as_str() {
            "bit" if column.numeric_precision == Some(1) => ColumnKind::Boolean,
            "bit" => ColumnKind::Long,
            "tinyint" | "smallint" | "mediumint" | "year" => ColumnKind::Int,
            "int" | "integer" if !unsigned => ColumnKind::Int,
            "int" | "integer" => ColumnKind::Long,
            "bigint" if unsigned => ColumnKind::UnsignedBigint,
            "bigint" => ColumnKind::Long,
            "float" => ColumnKind::Float,
            "double" | "real" => ColumnKind::Double,
            "decimal" | "numeric" => match decimals {
                DecimalHandling::Precise => ColumnKind::Decimal {
                    precision: column.numeric_precision.unwrap_or(10) as u32,
                    scale: column.numeric_scale.unwrap_or(0) as u32,
                },
                DecimalHandling::Double => ColumnKind::DecimalAsDouble,
                DecimalHandling::String => ColumnKind::DecimalAsText,
            },
            "datetime" | "timestamp" => ColumnKind::TimestampMicros,
            "date" => ColumnKind::Date,
            "time" => ColumnKind::TimeMicros,
            "tinyblob" | "blob" | "mediumblob" | "longblob" | "binary" | "varbinary" => {
                ColumnKind::Bytes
            }
            _ => ColumnKind::Text,
        }
    }

    /// The Avro type (without the null union) as schema JSON.
    pub fn avro_type(self) -> Json {
        match self {
            ColumnKind::Boolean => json!("boolean"),
            ColumnKind::Int => json!("int"),
            ColumnKind::Long => json!("long"),
            ColumnKind::Float => json!("float"),
            ColumnKind::Double | ColumnKind::DecimalAsDouble => json!("double"),
            ColumnKind::Decimal { precision, scale } => {
                json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
            }
            ColumnKind::UnsignedBigint => {
                json!({"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0})
            }
            ColumnKind::TimestampMicros => {
                json!({"type": "long", "logicalType": "timestamp-micros"})
            }
            ColumnKind::Date => json!({"type": "int", "logicalType": "date"}),
            ColumnKind::TimeMicros => json!({"type": "long", "logicalType": "time-micros"}),
            ColumnKind::Text | ColumnKind::DecimalAsText => json!("string"),
            ColumnKind::Bytes => json!("bytes"),
        }
    }
}

/// One column, as `information_schema.COLUMNS` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDescription {
    pub name: String,
    /// `DATA_TYPE`, lower case (`decimal`, `varchar`, …).
    pub data_type: String,
    /// `COLUMN_TYPE`, lower case (`decimal(12,4)`, `int(10) unsigned`, …).
    pub column_type: String,
    pub nullable: bool,
    pub numeric_precision: Option<u64>,
    pub numeric_scale: Option<u64>,
}

/// A table: its columns in order and its primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDescription {
    pub table: String,
    pub columns: Vec<ColumnDescription>,
    /// The PRIMARY KEY's columns in key order (empty when it has none).
    pub primary_key: Vec<String>,
}

impl TableDescription {
    /// Reads `table` (in the connection's database) from the catalog.
    pub async fn read(conn: &mut Conn, table: &str) -> Result<Self> {
        type Row = (String, String, String, String, Option<u64>, Option<u64>);
        let rows: Vec<Row> = conn
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, NUMERIC_PRECISION, NUMERIC_SCALE
                 FROM information_schema.COLUMNS
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (table,),
            )
            .await?;
        if rows.is_empty() {
            return Err(Error::Source(format!(
                "table `{table}` not found in the configured database (source.table, mysql.url)"
            )));
        }
        let primary_key: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY'
                 ORDER BY SEQ_IN_INDEX",
                (table,),
            )
            .await?;
        let columns = rows
            .into_iter()
            .map(
                |(name, data_type, column_type, nullable, precision, scale)| ColumnDescription {
                    name,
                    data_type: data_type.to_ascii_lowercase(),
                    column_type: column_type.to_ascii_lowercase(),
                    nullable: nullable == "YES",
                    numeric_precision: precision,
                    numeric_scale: scale,
                },
            )
            .collect();
        Ok(Self {
            table: table.to_owned(),
            columns,
            primary_key,
        })
    }

    /// The column called `name` (MySQL column names are case-insensitive).
    pub fn column(&self, name: &str) -> Option<&ColumnDescription> {
        self.columns
            .iter()
            .find(|column| column.name.eq_ignore_ascii_case(name))
    }

    /// The record key's columns: `configured` when given, else the primary
    /// key. Refuses a table without either, and configured columns it lacks.
    pub fn key_columns(&self, configured: &[String]) -> Result<Vec<String>> {
        if configured.is_empty() {
            if self.primary_key.is_empty() {
                return Err(Error::Source(format!(
                    "table `{}` has no PRIMARY KEY; name its unique key columns in source.key_columns",
                    self.table
                )));
            }
            return Ok(self.primary_key.clone());
        }
        configured
            .iter()
            .map(|name| {
                self.column(name).map(|c| c.name.clone()).ok_or_else(|| {
                    Error::Source(format!(
                        "source.key_columns names `{name}`, which table `{}` lacks",
                        self.table
                    ))
                })
            })
            .collect()
    }

    /// Each column's name and kind, in table order.
    pub fn kinds(&self, decimals: DecimalHandling) -> Vec<(String, ColumnKind)> {
        self.columns
            .iter()
            .map(|column| (column.name.clone(), ColumnKind::of(column, decimals)))
            .collect()
    }

    /// The Avro value schema (JSON text): a record named `<Table>Update` in
    /// namespace `pipeline.<table>`, one field per column in table order,
    /// nullable columns as `["null", T]` with default null.
    pub fn value_schema_json(&self, decimals: DecimalHandling) -> Json {
        let fields: Vec<Json> = self
            .columns
            .iter()
            .map(|column| {
                let avro = ColumnKind::of(column, decimals).avro_type();
                if column.nullable {
                    json!({"name": column.name, "type": ["null", avro], "default": null})
                } else {
                    json!({"name": column.name, "type": avro})
                }
            })
            .collect();
        json!({
            "type": "record",
            "name": format!("{}Update", record_name(&self.table)),
            "namespace": format!("pipeline.{}", namespace_part(&self.table)),
            "doc": format!("The state of one row of the `{}` table after a change (derived from the catalog).", self.table),
            "fields": fields,
        })
    }
}

impl TableDescription {
    /// The value schema the producer registers: `source.value_schema_file`
    /// when set, else [`Self::value_schema_json`].
    pub fn value_schema(&self, source: &SourceConfig) -> Result<ValueSchema> {
        match &source.value_schema_file {
            Some(path) => ValueSchema::load(path),
            None => {
                ValueSchema::parse(&self.value_schema_json(source.decimal_handling).to_string())
            }
        }
    }

    /// Every column's Avro type, for widening a configured schema file.
    pub fn catalog_types(&self, decimals: DecimalHandling) -> Vec<CatalogType> {
        self.columns
            .iter()
            .map(|column| CatalogType {
                name: column.name.clone(),
                avro_type: ColumnKind::of(column, decimals).avro_type(),
            })
            .collect()
    }
}

/// The value schema and key columns a consumer checks its plugins against.
/// Reads the catalog only for what the configuration leaves to it (no
/// `source.value_schema_file`, or, in timestamp mode, no key columns);
/// without a reachable table the key is then unknown and only the schema's
/// fields are checked.
pub async fn plugin_view(config: &Config) -> Result<(ValueSchema, Vec<String>)> {
    let source = &config.source;
    let configured_key = source.configured_key();
    if let Some(path) = &source.value_schema_file
        && !configured_key.is_empty()
    {
        return Ok((ValueSchema::load(path)?, configured_key));
    }
    // Binlog mode: what the members need of the table comes with the
    // records (the key in the message key, the operation and sequence in
    // the value) and from the configured schema: no database login, so a
    // member needs no MySQL account at all. The key is then checked only
    // when `source.key_columns` names it.
    if source.mode == crate::config::SourceMode::Binlog
        && let Some(path) = &source.value_schema_file
    {
        return Ok((ValueSchema::load(path)?, configured_key));
    }
    let described = async {
        let pool = crate::source::mysql::connect(&config.mysql.url).await?;
        let mut conn = pool.get_conn().await?;
        let description = TableDescription::read(&mut conn, &source.table).await;
        drop(conn);
        pool.disconnect().await?;
        description
    }
    .await;
    match (described, &source.value_schema_file) {
        (Ok(description), _) => {
            let key = description.key_columns(&configured_key)?;
            Ok((description.value_schema(source)?, key))
        }
        (Err(error), Some(path)) => {
            tracing::warn!(%error, "the source table could not be read: plugins are checked without knowing its key");
            Ok((ValueSchema::load(path)?, configured_key))
        }
        (Err(error), None) => Err(error),
    }
}

/// `order_line` → `OrderLine`: an Avro name (letters, digits, `_`).
fn record_name(table: &str) -> String {
    let mut name = String::new();
    for part in table.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'T');
    }
    name
}

/// A namespace component: non-name characters become `_`.
fn namespace_part(table: &str) -> String {
    let mut part: String = table
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if part.is_empty() || part.starts_with(|c: char| c.is_ascii_digit()) {
        part.insert(0, 't');
    }
    part
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, data_type: &str, column_type: &str, nullable: bool) -> ColumnDescription {
        let (precision, scale) = match column_type.split_once('(') {
            Some((_, rest)) if data_type == "decimal" || data_type == "bit" => {
                let digits = rest.trim_end_matches(')');
                let mut parts = digits.split(',');
                (
                    parts.next().and_then(|p| p.parse().ok()),
                    parts.next().and_then(|s| s.parse().ok()),
                )
            }
            _ => (None, None),
        };
        ColumnDescription {
            name: name.into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            nullable,
            numeric_precision: precision,
            numeric_scale: scale,
        }
    }

    #[test]
    fn types_map_as_debezium_maps_them() {
        let kind = |data_type: &str, column_type: &str| {
            ColumnKind::of(
                &column("c", data_type, column_type, false),
                DecimalHandling::Precise,
            )
        };
        assert_eq!(
            kind("decimal", "decimal(12,4)"),
            ColumnKind::Decimal {
                precision: 12,
                scale: 4
            }
        );
        assert_eq!(kind("int", "int(11)"), ColumnKind::Int);
        assert_eq!(kind("int", "int(10) unsigned"), ColumnKind::Long);
        assert_eq!(
            kind("bigint", "bigint(20) unsigned"),
            ColumnKind::UnsignedBigint
        );
        assert_eq!(kind("bit", "bit(1)"), ColumnKind::Boolean);
        assert_eq!(kind("datetime", "datetime(6)"), ColumnKind::TimestampMicros);
        assert_eq!(kind("date", "date"), ColumnKind::Date);
        assert_eq!(kind("time", "time(3)"), ColumnKind::TimeMicros);
        assert_eq!(kind("enum", "enum('a','b')"), ColumnKind::Text);
        assert_eq!(kind("json", "json"), ColumnKind::Text);
        assert_eq!(kind("varbinary", "varbinary(8)"), ColumnKind::Bytes);
        assert_eq!(kind("longblob", "longblob"), ColumnKind::Bytes);
        assert_eq!(
            ColumnKind::of(
                &column("c", "decimal", "decimal(12,2)", false),
                DecimalHandling::Double
            ),
            ColumnKind::DecimalAsDouble
        );
    }

    #[test]
    fn the_schema_is_named_for_the_table_and_nullable_columns_default_to_null() {
        let table = TableDescription {
            table: "order_line".into(),
            columns: vec![
                column("sku", "varchar", "varchar(16)", false),
                column("amount", "decimal", "decimal(12,4)", true),
            ],
            primary_key: vec!["sku".into()],
        };
        let schema = table.value_schema_json(DecimalHandling::Precise);
        assert_eq!(schema["name"], "OrderLineUpdate");
        assert_eq!(schema["namespace"], "pipeline.order_line");
        assert_eq!(schema["fields"][1]["type"][1]["logicalType"], "decimal");
        assert_eq!(schema["fields"][1]["default"], Json::Null);
        apache_avro::Schema::parse(&schema).unwrap();
        assert_eq!(table.key_columns(&[]).unwrap(), ["sku"]);
        assert!(table.key_columns(&["nope".into()]).is_err());
    }
}
