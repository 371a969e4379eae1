//! [`Record`] ↔ WIT `row`, by moving: field names and text are handed over,
//! never copied, so crossing into the chain costs one vector per record.

use super::bindings::{Field as WitField, Row, Value};
use crate::record::{Field, FieldValue, Record};

/// The record as a WIT row.
pub fn to_row(record: Record) -> Row {
    Row {
        fields: record
            .fields
            .into_iter()
            .map(|field| WitField {
                name: field.name,
                value: to_value(field.value),
            })
            .collect(),
    }
}

/// The WIT row as a record.
pub fn to_record(row: Row) -> Record {
    Record {
        fields: row
            .fields
            .into_iter()
            .map(|field| Field {
                name: field.name,
                value: from_value(field.value),
            })
            .collect(),
    }
}

pub fn to_value(value: FieldValue) -> Value {
    match value {
        FieldValue::Null => Value::Null,
        FieldValue::Boolean(b) => Value::Boolean(b),
        FieldValue::Int(i) => Value::Int(i),
        FieldValue::Long(l) => Value::Long(l),
        FieldValue::Float(f) => Value::Float(f),
        FieldValue::Double(d) => Value::Double(d),
        FieldValue::Text(s) => Value::Text(s),
        FieldValue::Bytes(b) => Value::Bytes(b),
        // The WIT `value` has no decimal: its exact text (`-12.3400`), which
        // a plugin can parse at the precision it needs; what it hands back
        // is logged as given.
        FieldValue::Decimal(text) => Value::Text(text),
    }
}

pub fn from_value(value: Value) -> FieldValue {
    match value {
        Value::Null => FieldValue::Null,
        Value::Boolean(b) => FieldValue::Boolean(b),
        Value::Int(i) => FieldValue::Int(i),
        Value::Long(l) => FieldValue::Long(l),
        Value::Float(f) => FieldValue::Float(f),
        Value::Double(d) => FieldValue::Double(d),
        Value::Text(s) => FieldValue::Text(s),
        Value::Bytes(b) => FieldValue::Bytes(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_value() {
        let record = Record::default()
            .with("a", FieldValue::Null)
            .with("b", FieldValue::Boolean(true))
            .with("c", FieldValue::Int(-3))
            .with("d", FieldValue::Long(1 << 40))
            .with("e", FieldValue::Float(1.5))
            .with("f", FieldValue::Double(2.25))
            .with("g", FieldValue::Text("x".into()))
            .with("h", FieldValue::Bytes(vec![1, 2]));
        assert_eq!(to_record(to_row(record.clone())), record);
    }
}
