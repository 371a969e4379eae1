//! Mapping between [`Record`] and Avro values, directed by the schema.
//!
//! Encoding walks the schema's fields (not the record's), so field order,
//! optional fields (`["null", T]` unions) and logical types (a `long`
//! `timestamp-micros`) come out right whatever order the source produced.
//! Decoding flattens unions and logical types back to the primitive a plugin
//! sees; a plugin never has to know about Avro.

use apache_avro::Schema;
use apache_avro::schema::{RecordField, UnionSchema};
use apache_avro::types::Value;

use crate::codec::decimal::{text_of, unscaled_bytes};
use crate::error::{Error, Result};
use crate::record::{Field, FieldValue, Record};

/// The Avro value of `record` under the record schema `schema`. A field the
/// record lacks is written as null when the schema allows it.
pub fn record_to_avro(record: &Record, schema: &Schema) -> Result<Value> {
    let Schema::Record(record_schema) = schema else {
        return Err(Error::Source(
            "the value schema must be an Avro record".into(),
        ));
    };
    let fields = record_schema
        .fields
        .iter()
        .map(|field| {
            let value = record.get(&field.name).unwrap_or(&FieldValue::Null);
            Ok((
                field.name.clone(),
                field_to_avro(field, &field.schema, value)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::Record(fields))
}

fn field_to_avro(field: &RecordField, schema: &Schema, value: &FieldValue) -> Result<Value> {
    let mismatch = || {
        Error::Source(format!(
            "field `{}`: a {} value does not fit the schema type {schema:?}",
            field.name,
            value.type_name()
        ))
    };
    Ok(match (schema, value) {
        (Schema::Union(union), value) => union_to_avro(field, union, value)?,
        (Schema::Null, FieldValue::Null) => Value::Null,
        (Schema::Boolean, FieldValue::Boolean(b)) => Value::Boolean(*b),
        (Schema::Int, FieldValue::Int(i)) => Value::Int(*i),
        (Schema::Long, FieldValue::Long(l)) => Value::Long(*l),
        (Schema::Long, FieldValue::Int(i)) => Value::Long(i64::from(*i)),
        (Schema::TimestampMicros, FieldValue::Long(l)) => Value::TimestampMicros(*l),
        (Schema::TimestampMillis, FieldValue::Long(l)) => Value::TimestampMillis(*l),
        (Schema::Float, FieldValue::Float(f)) => Value::Float(*f),
        (Schema::Double, FieldValue::Double(d)) => Value::Double(*d),
        (Schema::Double, FieldValue::Float(f)) => Value::Double(f64::from(*f)),
        (Schema::String, FieldValue::Text(s)) => Value::String(s.clone()),
        (Schema::Bytes, FieldValue::Bytes(b)) => Value::Bytes(b.clone()),
        (Schema::Date, FieldValue::Int(days)) => Value::Date(*days),
        (Schema::TimeMicros, FieldValue::Long(micros)) => Value::TimeMicros(*micros),
        (Schema::String, FieldValue::Decimal(text)) => Value::String(text.clone()),
        (Schema::Double, FieldValue::Decimal(text)) => {
            Value::Double(text.parse().map_err(|_| mismatch())?)
        }
        (Schema::Decimal(decimal), FieldValue::Decimal(text)) => {
            let bytes = unscaled_bytes(text, decimal.precision, decimal.scale).map_err(|why| {
                Error::Source(format!(
                    "field `{}`: {why} (decimal({}, {}))",
                    field.name, decimal.precision, decimal.scale
                ))
            })?;
            Value::Decimal(apache_avro::Decimal::from(bytes))
        }
        _ => return Err(mismatch()),
    })
}

fn union_to_avro(field: &RecordField, union: &UnionSchema, value: &FieldValue) -> Result<Value> {
    for (index, variant) in union.variants().iter().enumerate() {
        let fits = match (variant, value) {
            (Schema::Null, FieldValue::Null) => true,
            (Schema::Null, _) | (_, FieldValue::Null) => false,
            _ => field_to_avro(field, variant, value).is_ok(),
        };
        if fits {
            let inner = field_to_avro(field, variant, value)?;
            return Ok(Value::Union(index as u32, Box::new(inner)));
        }
    }
    Err(Error::Source(format!(
        "field `{}`: a {} value fits no branch of the union",
        field.name,
        value.type_name()
    )))
}

/// The record held by a decoded Avro value, read under `schema` (the
/// writer's: a decimal's scale is in the schema, not the value).
pub fn record_from_avro(value: Value, schema: &Schema) -> std::result::Result<Record, String> {
    let Value::Record(fields) = value else {
        return Err(format!("expected an Avro record, found {value:?}"));
    };
    let scales: Vec<Option<usize>> = match schema {
        Schema::Record(record) => record
            .fields
            .iter()
            .map(|f| decimal_scale(&f.schema))
            .collect(),
        _ => Vec::new(),
    };
    let fields = fields
        .into_iter()
        .enumerate()
        .map(|(index, (name, value))| {
            let scale = scales.get(index).copied().flatten();
            let value =
                field_from_avro(value, scale).map_err(|kind| format!("field `{name}`: {kind}"))?;
            Ok(Field { name, value })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    Ok(Record { fields })
}

/// The scale of a `decimal` field (also inside a `["null", decimal]` union).
fn decimal_scale(schema: &Schema) -> Option<usize> {
    match schema {
        Schema::Decimal(decimal) => Some(decimal.scale),
        Schema::Union(union) => union.variants().iter().find_map(decimal_scale),
        _ => None,
    }
}

fn field_from_avro(value: Value, scale: Option<usize>) -> std::result::Result<FieldValue, String> {
    Ok(match value {
        Value::Decimal(decimal) => {
            let bytes = <Vec<u8>>::try_from(&decimal).map_err(|error| error.to_string())?;
            FieldValue::Decimal(text_of(&bytes, scale.unwrap_or(0)))
        }
        Value::Null => FieldValue::Null,
        Value::Boolean(b) => FieldValue::Boolean(b),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => FieldValue::Int(i),
        Value::Long(l)
        | Value::TimeMicros(l)
        | Value::TimestampMillis(l)
        | Value::TimestampMicros(l)
        | Value::TimestampNanos(l)
        | Value::LocalTimestampMillis(l)
        | Value::LocalTimestampMicros(l)
        | Value::LocalTimestampNanos(l) => FieldValue::Long(l),
        Value::Float(f) => FieldValue::Float(f),
        Value::Double(d) => FieldValue::Double(d),
        Value::String(s) | Value::Enum(_, s) => FieldValue::Text(s),
        Value::Uuid(u) => FieldValue::Text(u.to_string()),
        Value::Bytes(b) | Value::Fixed(_, b) => FieldValue::Bytes(b),
        Value::Union(_, inner) => field_from_avro(*inner, scale)?,
        other => {
            return Err(format!(
                "{other:?} is not a primitive type a plugin can take"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type":"record","name":"P","fields":[
        {"name":"id","type":"int"},
        {"name":"price","type":"double"},
        {"name":"last_updated","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"colour","type":["null","string"],"default":null}]}"#;

    #[test]
    fn round_trip_through_avro_bytes() {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let record = Record::default()
            .with("last_updated", FieldValue::Long(1_700_000_000_000_001))
            .with("id", FieldValue::Int(7))
            .with("price", FieldValue::Double(9.5))
            .with("colour", FieldValue::Text("red".into()));
        let value = record_to_avro(&record, &schema).unwrap();
        let bytes = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .unwrap()
            .write_value_to_vec(value)
            .unwrap();
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&schema)
            .build()
            .unwrap()
            .read_value(&mut bytes.as_slice())
            .unwrap();
        let decoded = record_from_avro(value, &schema).unwrap();
        assert_eq!(decoded.get("id"), Some(&FieldValue::Int(7)));
        assert_eq!(decoded.get("colour"), Some(&FieldValue::Text("red".into())));
        let names: Vec<_> = decoded.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "price", "last_updated", "colour"]);
    }

    #[test]
    fn missing_optional_field_is_null_and_wrong_type_is_named() {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let record = Record::default()
            .with("id", FieldValue::Int(7))
            .with("price", FieldValue::Double(1.0))
            .with("last_updated", FieldValue::Long(1));
        assert!(record_to_avro(&record, &schema).is_ok());
        let bad = record.with("price", FieldValue::Text("cheap".into()));
        let message = record_to_avro(&bad, &schema).unwrap_err().to_string();
        assert!(message.contains("price"), "{message}");
    }
}
