//! Avro's binary encoding of a [`Record`], written and read directly,
//! without building `apache_avro::types::Value`s in between (that tree, its
//! cloned field names and strings, and a datum writer built per record were
//! most of the codec's cost per record).
//!
//! The rule that keeps it exact: **the bytes are those `apache_avro` writes
//! for `record_to_avro`'s value, and a datum reads back as `record_from_avro`
//! of `apache_avro`'s reading**; the tests below compare both ways. A schema
//! with a type this reader does not know ([`ReadPlan::new`] is `None`) is
//! read through `apache_avro`, as before.

use apache_avro::Schema;
use apache_avro::schema::{RecordField, UnionSchema};

use crate::error::{Error, Result};
use crate::record::{Field, FieldValue, Record};

/// Appends the Avro datum of `record` under the record schema `schema`; a
/// field the record lacks is written as null when the schema allows it.
pub fn write_record(out: &mut Vec<u8>, record: &Record, schema: &Schema) -> Result<()> {
    let Schema::Record(record_schema) = schema else {
        return Err(Error::Source(
            "the value schema must be an Avro record".into(),
        ));
    };
    for field in &record_schema.fields {
        let value = record.get(&field.name).unwrap_or(&FieldValue::Null);
        write_field(out, field, &field.schema, value)?;
    }
    Ok(())
}

fn write_field(
    out: &mut Vec<u8>,
    field: &RecordField,
    schema: &Schema,
    value: &FieldValue,
) -> Result<()> {
    match (schema, value) {
        (Schema::Union(union), value) => return write_union(out, field, union, value),
        (Schema::Null, FieldValue::Null) => {}
        (Schema::Boolean, FieldValue::Boolean(b)) => out.push(u8::from(*b)),
        (Schema::Int, FieldValue::Int(i)) => write_long(out, i64::from(*i)),
        (Schema::Long, FieldValue::Long(l))
        | (Schema::TimestampMicros, FieldValue::Long(l))
        | (Schema::TimestampMillis, FieldValue::Long(l)) => write_long(out, *l),
        (Schema::Long, FieldValue::Int(i)) => write_long(out, i64::from(*i)),
        (Schema::Float, FieldValue::Float(f)) => out.extend_from_slice(&f.to_le_bytes()),
        (Schema::Double, FieldValue::Double(d)) => out.extend_from_slice(&d.to_le_bytes()),
        (Schema::Double, FieldValue::Float(f)) => {
            out.extend_from_slice(&f64::from(*f).to_le_bytes());
        }
        (Schema::String, FieldValue::Text(s)) => write_bytes(out, s.as_bytes()),
        (Schema::Bytes, FieldValue::Bytes(b)) => write_bytes(out, b),
        _ => {
            return Err(Error::Source(format!(
                "field `{}`: a {} value does not fit the schema type {schema:?}",
                field.name,
                value.type_name()
            )));
        }
    }
    Ok(())
}

/// Whether `write_field` takes `value` under the non-union `schema`.
fn fits(schema: &Schema, value: &FieldValue) -> bool {
    matches!(
        (schema, value),
        (Schema::Null, FieldValue::Null)
            | (Schema::Boolean, FieldValue::Boolean(_))
            | (Schema::Int, FieldValue::Int(_))
            | (Schema::Long, FieldValue::Long(_) | FieldValue::Int(_))
            | (
                Schema::TimestampMicros | Schema::TimestampMillis,
                FieldValue::Long(_)
            )
            | (Schema::Float, FieldValue::Float(_))
            | (Schema::Double, FieldValue::Double(_) | FieldValue::Float(_))
            | (Schema::String, FieldValue::Text(_))
            | (Schema::Bytes, FieldValue::Bytes(_))
    )
}

fn write_union(
    out: &mut Vec<u8>,
    field: &RecordField,
    union: &UnionSchema,
    value: &FieldValue,
) -> Result<()> {
    for (index, variant) in union.variants().iter().enumerate() {
        if fits(variant, value) {
            write_long(out, index as i64);
            return write_field(out, field, variant, value);
        }
    }
    Err(Error::Source(format!(
        "field `{}`: a {} value fits no branch of the union",
        field.name,
        value.type_name()
    )))
}

fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// How to read one field's value.
#[derive(Debug, Clone)]
enum Kind {
    Null,
    Boolean,
    /// `int` and the logical types on it (date, time-millis).
    Int,
    /// `long` and the logical types on it (timestamps, time-micros).
    Long,
    Float,
    Double,
    String,
    Bytes,
    Union(Vec<Kind>),
}

impl Kind {
    fn of(schema: &Schema) -> Option<Self> {
        Some(match schema {
            Schema::Null => Kind::Null,
            Schema::Boolean => Kind::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Kind::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Kind::Long,
            Schema::Float => Kind::Float,
            Schema::Double => Kind::Double,
            Schema::String => Kind::String,
            Schema::Bytes => Kind::Bytes,
            Schema::Union(union) => Kind::Union(
                union
                    .variants()
                    .iter()
                    .map(Kind::of)
                    .collect::<Option<_>>()?,
            ),
            // Enums, fixed, UUIDs, decimals and nested types: `apache_avro`.
            _ => return None,
        })
    }
}

/// Spare capacity in each decoded record's field list, for fields plugins add.
const ADDED_FIELDS_ROOM: usize = 4;

/// How to read a datum of one record schema field by field.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    fields: Vec<(String, Kind)>,
}

impl ReadPlan {
    /// The plan for `schema`, or `None` if a field has a type it does not
    /// read (then read with `apache_avro`).
    pub fn new(schema: &Schema) -> Option<Self> {
        let Schema::Record(record) = schema else {
            return None;
        };
        let fields = record
            .fields
            .iter()
            .map(|field| Some((field.name.clone(), Kind::of(&field.schema)?)))
            .collect::<Option<_>>()?;
        Some(Self { fields })
    }

    /// Reads one record from the front of `datum`, leaving the rest there.
    pub fn read(&self, datum: &mut &[u8]) -> std::result::Result<Record, String> {
        // Room for the fields plugins add (the seed chain adds one): growing
        // the list afterwards moved every field of every record, about 700
        // instructions per record (callgrind, `bench --example member_path`).
        let mut fields = Vec::with_capacity(self.fields.len() + ADDED_FIELDS_ROOM);
        for (name, kind) in &self.fields {
            let value =
                read_value(kind, datum).map_err(|kind| format!("field `{name}`: {kind}"))?;
            fields.push(Field {
                name: name.clone(),
                value,
            });
        }
        Ok(Record { fields })
    }
}

fn read_value(kind: &Kind, datum: &mut &[u8]) -> std::result::Result<FieldValue, String> {
    Ok(match kind {
        Kind::Null => FieldValue::Null,
        Kind::Boolean => match take(datum, 1)?[0] {
            0 => FieldValue::Boolean(false),
            1 => FieldValue::Boolean(true),
            other => return Err(format!("{other} is not a boolean")),
        },
        Kind::Int => {
            let value = read_long(datum)?;
            FieldValue::Int(i32::try_from(value).map_err(|_| format!("{value} is not an int"))?)
        }
        Kind::Long => FieldValue::Long(read_long(datum)?),
        Kind::Float => {
            let bytes = take(datum, 4)?;
            FieldValue::Float(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        }
        Kind::Double => {
            let bytes: [u8; 8] = take(datum, 8)?
                .try_into()
                .map_err(|_| "a short double".to_owned())?;
            FieldValue::Double(f64::from_le_bytes(bytes))
        }
        Kind::String => {
            let bytes = read_bytes(datum)?;
            FieldValue::Text(
                std::str::from_utf8(bytes)
                    .map_err(|error| format!("not UTF-8: {error}"))?
                    .to_owned(),
            )
        }
        Kind::Bytes => FieldValue::Bytes(read_bytes(datum)?.to_vec()),
        Kind::Union(variants) => {
            let index = read_long(datum)?;
            let variant = usize::try_from(index)
                .ok()
                .and_then(|index| variants.get(index))
                .ok_or_else(|| format!("union branch {index} does not exist"))?;
            read_value(variant, datum)?
        }
    })
}

fn take<'a>(datum: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
    if datum.len() < n {
        return Err(format!(
            "the datum ends early ({} byte(s) left, {n} needed)",
            datum.len()
        ));
    }
    let (head, rest) = datum.split_at(n);
    *datum = rest;
    Ok(head)
}

fn read_long(datum: &mut &[u8]) -> std::result::Result<i64, String> {
    let mut n: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = take(datum, 1)?[0];
        if shift == 63 && byte > 1 {
            return Err("a varint longer than 64 bits".into());
        }
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
        }
    }
    Err("a varint longer than 64 bits".into())
}

fn read_bytes<'a>(datum: &mut &'a [u8]) -> std::result::Result<&'a [u8], String> {
    let length = read_long(datum)?;
    let length = usize::try_from(length).map_err(|_| format!("a negative length {length}"))?;
    take(datum, length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::avro::{record_from_avro, record_to_avro};

    const SCHEMA: &str = r#"{"type":"record","name":"P","fields":[
        {"name":"id","type":"int"},
        {"name":"big","type":"long"},
        {"name":"flag","type":"boolean"},
        {"name":"ratio","type":"float"},
        {"name":"price","type":"double"},
        {"name":"name","type":"string"},
        {"name":"blob","type":"bytes"},
        {"name":"last_updated","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"colour","type":["null","string"],"default":null},
        {"name":"stock","type":["null","long"],"default":null}]}"#;

    fn reference_bytes(record: &Record, schema: &Schema) -> Result<Vec<u8>> {
        let value = record_to_avro(record, schema)?;
        Ok(
            apache_avro::writer::datum::GenericDatumWriter::builder(schema)
                .build()?
                .write_value_to_vec(value)?,
        )
    }

    fn sample(id: i32, big: i64, colour: FieldValue, stock: FieldValue) -> Record {
        Record::default()
            .with("last_updated", FieldValue::Long(1_764_064_800_123_456))
            .with("id", FieldValue::Int(id))
            .with("big", FieldValue::Long(big))
            .with("flag", FieldValue::Boolean(id % 2 == 0))
            .with("ratio", FieldValue::Float(-0.25))
            .with("price", FieldValue::Double(123.45))
            .with("name", FieldValue::Text(format!("Prodüct {id}")))
            .with("blob", FieldValue::Bytes(vec![0, 255, 7]))
            .with("colour", colour)
            .with("stock", stock)
    }

    #[test]
    fn bytes_and_records_match_apache_avro_both_ways() {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let plan = ReadPlan::new(&schema).expect("every type here is read directly");
        let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema)
            .build()
            .unwrap();
        let records = [
            sample(0, 0, FieldValue::Null, FieldValue::Null),
            sample(
                -1,
                i64::MIN,
                FieldValue::Text("red".into()),
                FieldValue::Int(5),
            ),
            sample(
                i32::MAX,
                i64::MAX,
                FieldValue::Text(String::new()),
                FieldValue::Long(-64),
            ),
            sample(i32::MIN, 1 << 40, FieldValue::Null, FieldValue::Long(63)),
        ];
        for record in records {
            let mut ours = Vec::new();
            write_record(&mut ours, &record, &schema).unwrap();
            assert_eq!(
                ours,
                reference_bytes(&record, &schema).unwrap(),
                "{record:?}"
            );
            let theirs =
                record_from_avro(reader.read_value(&mut ours.as_slice()).unwrap(), &schema);
            let mut datum = ours.as_slice();
            assert_eq!(plan.read(&mut datum), theirs);
            assert!(datum.is_empty());
        }
    }

    #[test]
    fn a_value_that_does_not_fit_is_refused_as_before() {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let record = sample(1, 1, FieldValue::Int(3), FieldValue::Null);
        let ours = write_record(&mut Vec::new(), &record, &schema).unwrap_err();
        let theirs = reference_bytes(&record, &schema).unwrap_err();
        assert_eq!(ours.to_string(), theirs.to_string());
        let record = sample(1, 1, FieldValue::Null, FieldValue::Null)
            .with("price", FieldValue::Text("cheap".into()));
        let message = write_record(&mut Vec::new(), &record, &schema)
            .unwrap_err()
            .to_string();
        assert!(message.contains("price"), "{message}");
    }

    #[test]
    fn truncated_or_bad_datums_are_errors_not_panics() {
        let schema = Schema::parse_str(SCHEMA).unwrap();
        let plan = ReadPlan::new(&schema).unwrap();
        let mut bytes = Vec::new();
        let record = sample(7, 7, FieldValue::Text("x".into()), FieldValue::Null);
        write_record(&mut bytes, &record, &schema).unwrap();
        for end in 0..bytes.len() {
            assert!(plan.read(&mut &bytes[..end]).is_err(), "cut at {end}");
        }
        assert!(plan.read(&mut &[0xffu8; 16][..]).is_err());
    }

    #[test]
    fn logical_types_read_as_their_primitive() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"D","fields":[
                {"name":"day","type":{"type":"int","logicalType":"date"}},
                {"name":"at","type":["null",{"type":"long","logicalType":"local-timestamp-micros"}]}]}"#,
        )
        .unwrap();
        use apache_avro::types::Value;
        let value = Value::Record(vec![
            ("day".into(), Value::Date(20_000)),
            (
                "at".into(),
                Value::Union(1, Box::new(Value::LocalTimestampMicros(-5))),
            ),
        ]);
        let bytes = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .unwrap()
            .write_value_to_vec(value.clone())
            .unwrap();
        let plan = ReadPlan::new(&schema).unwrap();
        assert_eq!(
            plan.read(&mut bytes.as_slice()),
            record_from_avro(value, &schema)
        );
    }

    #[test]
    fn types_it_does_not_read_are_left_to_apache_avro() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"E","fields":[
                {"name":"suit","type":{"type":"enum","name":"S","symbols":["A","B"]}}]}"#,
        )
        .unwrap();
        assert!(ReadPlan::new(&schema).is_none());
    }
}
