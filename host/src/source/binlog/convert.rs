//! Binlog rows (and snapshot rows) as records of the value schema.
//!
//! The rule: a row event carries values by column *position* only, so each
//! value is named by the catalog's column at that position
//! (`information_schema.COLUMNS` by `ORDINAL_POSITION`, re-read whenever a
//! table map's column count differs) and typed by the schema field of that
//! name, never by guessing from the value. Snapshot rows go through the same
//! conversion, so a row read by the snapshot and the same row read from the
//! log give the same record.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use serde_json::{Value as Json, json};

use crate::codec::{CatalogType, ValueSchema};
use crate::error::{Error, Result};
use crate::plugin::{FieldType, SchemaFields};
use crate::record::{Field, FieldValue, Record};
use crate::source::catalog::ColumnKind;
use crate::source::values::field_value;
use crate::timestamp::Timestamp;

/// One column of the table, in ordinal order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    pub name: String,
    pub data_type: String,
    pub column_type: String,
}

/// Reads the table's columns in ordinal order.
pub async fn read_catalog(conn: &mut Conn, table: &str) -> Result<Vec<CatalogColumn>> {
    let rows: Vec<(String, String, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (table,),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(name, data_type, column_type)| CatalogColumn {
            name,
            data_type: data_type.to_ascii_lowercase(),
            column_type: column_type.to_ascii_lowercase(),
        })
        .collect())
}

/// The value schema for binlog mode: the configured schema, plus optional
/// fields for columns it lacks (typed from the catalog), plus the operation
/// (string) and sequence (long) fields. Optional with a null default, so the
/// result is a backward-compatible version and old readers ignore them.
pub fn binlog_schema(
    base: &ValueSchema,
    types: &[CatalogType],
    catalog: &[CatalogColumn],
    operation_field: &str,
    sequence_field: &str,
) -> Result<ValueSchema> {
    let sample = catalog.iter().fold(Record::default(), |record, column| {
        record.with(&column.name, FieldValue::Null)
    });
    let widened = base
        .widened_with(types, &sample)?
        .unwrap_or_else(|| base.clone());
    let mut document: Json = serde_json::from_str(&widened.text)?;
    let fields = document
        .get_mut("fields")
        .and_then(Json::as_array_mut)
        .ok_or_else(|| Error::Source("the value schema has no field list".into()))?;
    for (name, avro_type, doc) in [
        (
            operation_field,
            "string",
            "binlog mode: c insert, u update, d delete, r snapshot read",
        ),
        (
            sequence_field,
            "long",
            "binlog mode: the change's place in the binary log",
        ),
    ] {
        if !widened.field_names.iter().any(|field| field == name) {
            fields.push(
                json!({"name": name, "type": ["null", avro_type], "default": null, "doc": doc}),
            );
        }
    }
    ValueSchema::parse(&document.to_string())
}

/// How one column's values become the schema field's.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    ty: Option<FieldType>,
    /// Width in bits of an unsigned integer column (the log does not say
    /// which columns are unsigned on MariaDB: negative values are wrapped).
    unsigned_bits: Option<u32>,
    timestamp: bool,
    /// ENUM labels, 1-based in the log.
    labels: Vec<String>,
    /// The schema field's logical type when it has one plugins see as a
    /// primitive (`decimal`, `date`, `time-micros`): converted as timestamp
    /// mode converts it (`source::values`), so the encoder gets the value
    /// the schema declares (a DECIMAL's exact text, a DATE's days).
    logical: Option<ColumnKind>,
}

/// The logical kind of `name`'s field in `schema`, if it is one the plugin
/// field types flatten (see [`Target::logical`]).
fn logical_kind(schema: &apache_avro::Schema, name: &str) -> Option<ColumnKind> {
    use apache_avro::Schema;
    let apache_avro::Schema::Record(record) = schema else {
        return None;
    };
    let field = record.fields.iter().find(|field| field.name == name)?;
    let mut field_schema = &field.schema;
    if let Schema::Union(union) = field_schema {
        field_schema = union
            .variants()
            .iter()
            .find(|variant| !matches!(variant, Schema::Null))?;
    }
    match field_schema {
        Schema::Decimal(decimal) => Some(ColumnKind::Decimal {
            precision: u32::try_from(decimal.precision).ok()?,
            scale: u32::try_from(decimal.scale).ok()?,
        }),
        Schema::Date => Some(ColumnKind::Date),
        Schema::TimeMicros => Some(ColumnKind::TimeMicros),
        _ => None,
    }
}

/// Turns positional rows into records.
#[derive(Debug, Clone)]
pub struct RowConverter {
    targets: Vec<Target>,
}

impl RowConverter {
    /// A converter for `catalog`'s columns into `schema`'s fields; columns
    /// the schema lacks are left out.
    pub fn new(catalog: &[CatalogColumn], schema: &ValueSchema) -> Result<Self> {
        let fields = SchemaFields::from_avro(&schema.schema)?;
        let targets = catalog
            .iter()
            .map(|column| Target {
                name: column.name.clone(),
                ty: fields.get(&column.name).map(|field| field.ty),
                unsigned_bits: column.column_type.contains("unsigned").then_some(
                    match column.data_type.as_str() {
                        "tinyint" => 8,
                        "smallint" => 16,
                        "mediumint" => 24,
                        "int" | "integer" => 32,
                        _ => 64,
                    },
                ),
                timestamp: column.data_type == "timestamp",
                labels: enum_labels(&column.column_type),
                logical: logical_kind(&schema.schema, &column.name),
            })
            .collect();
        Ok(Self { targets })
    }

    /// How many columns the table has.
    pub fn columns(&self) -> usize {
        self.targets.len()
    }

    /// A row's values, in column order, as a record.
    pub fn record(&self, values: Vec<Value>) -> Result<Record> {
        if values.len() != self.targets.len() {
            return Err(Error::Binlog(format!(
                "a row carries {} columns, the table has {}: binlog_row_image must be FULL",
                values.len(),
                self.targets.len()
            )));
        }
        let mut record = Record {
            fields: Vec::with_capacity(values.len() + 2),
        };
        for (target, value) in self.targets.iter().zip(values) {
            let Some(ty) = target.ty else { continue };
            let value = match target.logical {
                Some(kind) => field_value(kind, unwrap_unsigned(target, value))
                    .map_err(|error| Error::Source(format!("column `{}`: {error}", target.name)))?,
                None => convert(target, ty, value)?,
            };
            record.fields.push(Field {
                name: target.name.clone(),
                value,
            });
        }
        Ok(record)
    }
}

/// An unsigned column's value as the unsigned number it is (MariaDB's log
/// does not say which columns are unsigned: a negative value is wrapped).
fn unwrap_unsigned(target: &Target, value: Value) -> Value {
    match (target.unsigned_bits, value) {
        (Some(bits), Value::Int(i)) if i < 0 => {
            Value::UInt((i128::from(i) + (1i128 << bits)) as u64)
        }
        (_, value) => value,
    }
}

fn convert(target: &Target, ty: FieldType, value: Value) -> Result<FieldValue> {
    let wrong = |value: &Value| {
        Error::Source(format!(
            "column `{}`: cannot read {value:?} as {}",
            target.name,
            ty.name()
        ))
    };
    let integer = |i: i128| -> Result<FieldValue> {
        Ok(match ty {
            FieldType::Int => FieldValue::Int(i32::try_from(i).map_err(|_| wrong(&value))?),
            FieldType::Long => FieldValue::Long(i64::try_from(i).map_err(|_| wrong(&value))?),
            FieldType::Double => FieldValue::Double(i as f64),
            FieldType::Float => FieldValue::Float(i as f32),
            FieldType::Boolean => FieldValue::Boolean(i != 0),
            FieldType::Text => match target.labels.get((i as usize).wrapping_sub(1)) {
                Some(label) => FieldValue::Text(label.clone()),
                None => FieldValue::Text(i.to_string()),
            },
            FieldType::Bytes => FieldValue::Bytes(i.to_string().into_bytes()),
        })
    };
    match &value {
        Value::NULL => Ok(FieldValue::Null),
        Value::Int(i) => {
            let mut i = i128::from(*i);
            if let (Some(bits), true) = (target.unsigned_bits, i < 0) {
                i += 1i128 << bits;
            }
            integer(i)
        }
        Value::UInt(u) => integer(i128::from(*u)),
        Value::Float(f) => float(ty, f64::from(*f)).ok_or_else(|| wrong(&value)),
        Value::Double(d) => float(ty, *d).ok_or_else(|| wrong(&value)),
        Value::Bytes(bytes) => {
            let text = || std::str::from_utf8(bytes).map_err(|_| wrong(&value));
            match ty {
                FieldType::Bytes => Ok(FieldValue::Bytes(bytes.clone())),
                FieldType::Text => Ok(FieldValue::Text(text()?.to_owned())),
                FieldType::Long if target.timestamp => {
                    // TIMESTAMP in the log: "seconds[.micros]" since the epoch.
                    let text = text()?;
                    let (seconds, micros) = text.split_once('.').unwrap_or((text, "0"));
                    let seconds: i64 = seconds.parse().map_err(|_| wrong(&value))?;
                    let micros: i64 = format!("{micros:0<6}")[..6]
                        .parse()
                        .map_err(|_| wrong(&value))?;
                    Ok(FieldValue::Long(seconds * 1_000_000 + micros))
                }
                FieldType::Int | FieldType::Long | FieldType::Boolean => {
                    integer(text()?.parse().map_err(|_| wrong(&value))?)
                }
                FieldType::Double | FieldType::Float => {
                    let number: f64 = text()?.parse().map_err(|_| wrong(&value))?;
                    float(ty, number).ok_or_else(|| wrong(&value))
                }
            }
        }
        Value::Date(..) => {
            let micros = Timestamp::from_mysql(&value)
                .ok_or_else(|| wrong(&value))?
                .micros();
            match ty {
                FieldType::Long => Ok(FieldValue::Long(micros)),
                FieldType::Text => Ok(FieldValue::Text(
                    value.as_sql(true).trim_matches('\'').to_owned(),
                )),
                _ => Err(wrong(&value)),
            }
        }
        Value::Time(..) => Ok(FieldValue::Text(
            value.as_sql(true).trim_matches('\'').to_owned(),
        )),
    }
}

fn float(ty: FieldType, number: f64) -> Option<FieldValue> {
    match ty {
        FieldType::Double => Some(FieldValue::Double(number)),
        FieldType::Float => Some(FieldValue::Float(number as f32)),
        FieldType::Text => Some(FieldValue::Text(number.to_string())),
        _ => None,
    }
}

/// `enum('a','b')` → `["a", "b"]`; empty for other types.
fn enum_labels(column_type: &str) -> Vec<String> {
    let Some(inner) = column_type
        .strip_prefix("enum(")
        .and_then(|rest| rest.strip_suffix(')'))
    else {
        return Vec::new();
    };
    inner
        .split("','")
        .map(|label| label.trim_matches('\'').replace("''", "'"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, data_type: &str, column_type: &str) -> CatalogColumn {
        CatalogColumn {
            name: name.into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
        }
    }

    fn seed() -> ValueSchema {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../schemas/product_value_avro_schema.json");
        ValueSchema::load(&path).unwrap()
    }

    #[test]
    fn log_values_become_the_schema_fields() {
        let catalog = [
            column("id", "int", "int(11)"),
            column("name", "varchar", "varchar(255)"),
            column("category", "varchar", "varchar(64)"),
            column("price", "decimal", "decimal(12,2)"),
            column("last_updated", "datetime", "datetime(6)"),
        ];
        let types: Vec<CatalogType> = catalog
            .iter()
            .map(|column| CatalogType {
                name: column.name.clone(),
                avro_type: serde_json::json!(if column.name == "id" { "int" } else { "string" }),
            })
            .collect();
        let schema = binlog_schema(&seed(), &types, &catalog, "__op", "__seq").unwrap();
        assert_eq!(schema.field_names[5..], ["__op", "__seq"]);
        let converter = RowConverter::new(&catalog, &schema).unwrap();
        let record = converter
            .record(vec![
                Value::Int(7),
                Value::Bytes(b"Lamp".to_vec()),
                Value::Bytes(b"cat_5".to_vec()),
                Value::Bytes(b"12.50".to_vec()),
                Value::Date(2026, 11, 25, 10, 0, 0, 1),
            ])
            .unwrap();
        assert_eq!(record.get("id"), Some(&FieldValue::Int(7)));
        assert_eq!(record.get("price"), Some(&FieldValue::Double(12.5)));
        assert!(matches!(
            record.get("last_updated"),
            Some(FieldValue::Long(_))
        ));
        assert!(converter.record(vec![Value::Int(7)]).is_err());
    }

    /// The default `decimal_handling = "precise"` gives DECIMAL an Avro
    /// `decimal` field: the log's text must reach the encoder as a
    /// `FieldValue::Decimal`, a DATE as its days (both once failed every row).
    #[test]
    fn decimals_dates_and_unsigned_bigints_follow_their_logical_types() {
        let catalog = [
            column("id", "bigint", "bigint(20) unsigned"),
            column("amount", "decimal", "decimal(12,2)"),
            column("day", "date", "date"),
        ];
        let schema = ValueSchema::parse(
            &json!({"type": "record", "name": "t", "fields": [
                {"name": "id", "type": {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0}},
                {"name": "amount", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}]},
                {"name": "day", "type": {"type": "int", "logicalType": "date"}}
            ]})
            .to_string(),
        )
        .unwrap();
        let converter = RowConverter::new(&catalog, &schema).unwrap();
        let record = converter
            .record(vec![
                Value::Int(-1),
                Value::Bytes(b"12.50".to_vec()),
                Value::Date(1970, 1, 3, 0, 0, 0, 0),
            ])
            .unwrap();
        assert_eq!(
            record.get("id"),
            Some(&FieldValue::Decimal("18446744073709551615".into()))
        );
        assert_eq!(
            record.get("amount"),
            Some(&FieldValue::Decimal("12.50".into()))
        );
        assert_eq!(record.get("day"), Some(&FieldValue::Int(2)));
        let null = converter
            .record(vec![
                Value::Int(1),
                Value::NULL,
                Value::Date(1970, 1, 1, 0, 0, 0, 0),
            ])
            .unwrap();
        assert_eq!(null.get("amount"), Some(&FieldValue::Null));
        let encoded = crate::codec::WireEncoder::with_id(&schema, 1).encode(&record);
        assert!(encoded.is_ok(), "{encoded:?}");
    }

    #[test]
    fn unsigned_timestamps_and_enums_are_read_by_the_catalog() {
        assert_eq!(enum_labels("enum('a','it''s')"), ["a", "it's"]);
        let target = Target {
            name: "n".into(),
            ty: Some(FieldType::Long),
            unsigned_bits: Some(32),
            timestamp: false,
            labels: vec![],
            logical: None,
        };
        assert_eq!(
            convert(&target, FieldType::Long, Value::Int(-1)).unwrap(),
            FieldValue::Long(u32::MAX.into())
        );
        let stamp = Target {
            timestamp: true,
            unsigned_bits: None,
            ..target
        };
        assert_eq!(
            convert(&stamp, FieldType::Long, Value::Bytes(b"10.5".to_vec())).unwrap(),
            FieldValue::Long(10_500_000)
        );
    }
}
