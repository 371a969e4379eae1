//! The record as it travels through every stage: a list of named, typed fields.
//!
//! One neutral type keeps the stages independent: the source fills it from
//! MySQL, the codec maps it to and from Avro, plugins receive it as a WIT
//! `row`, and the sink renders it as JSON. Field order is the value schema's,
//! so output is stable and diffable.

use serde_json::{Map, Number, Value as Json};

/// A field value: Avro's primitive types plus null (for optional fields),
/// and exact decimals. Logical types travel as their primitive: a date as
/// `Int` days, a timestamp or time of day as `Long` microseconds; the schema
/// says which (see `source::catalog`).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Null,
    Boolean(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// An exact decimal as its text (`-12.3400`: scale digits after the
    /// point), Avro `decimal`. Plugins get it as text (the WIT `value` has no
    /// decimal), the JSON log line as a string, so no digit is lost.
    Decimal(String),
}

/// One named field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: FieldValue,
}

/// A record: fields in schema order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    pub fields: Vec<Field>,
}

impl Record {
    /// The value of the field called `name`, if the record has one.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|field| field.name == name)
            .map(|field| &field.value)
    }

    /// Sets `name` to `value`, appending the field if the record lacks it.
    pub fn set(&mut self, name: &str, value: FieldValue) {
        match self.fields.iter_mut().find(|field| field.name == name) {
            Some(field) => field.value = value,
            None => self.fields.push(Field {
                name: name.to_owned(),
                value,
            }),
        }
    }

    /// Appends a field (builder style, for sources and tests).
    pub fn with(mut self, name: &str, value: FieldValue) -> Self {
        self.set(name, value);
        self
    }

    /// The record as a JSON object, fields in order. Bytes become an array of
    /// numbers; non-finite floats (which JSON cannot hold) become null.
    pub fn to_json(&self) -> Map<String, Json> {
        self.fields
            .iter()
            .map(|field| (field.name.clone(), field.value.to_json()))
            .collect()
    }
}

impl FieldValue {
    /// The value as JSON.
    pub fn to_json(&self) -> Json {
        match self {
            FieldValue::Null => Json::Null,
            FieldValue::Boolean(b) => Json::Bool(*b),
            FieldValue::Int(i) => Json::from(*i),
            FieldValue::Long(l) => Json::from(*l),
            FieldValue::Float(f) => {
                Number::from_f64(f64::from(*f)).map_or(Json::Null, Json::Number)
            }
            FieldValue::Double(d) => Number::from_f64(*d).map_or(Json::Null, Json::Number),
            FieldValue::Text(s) => Json::String(s.clone()),
            FieldValue::Bytes(b) => Json::Array(b.iter().map(|byte| Json::from(*byte)).collect()),
            FieldValue::Decimal(text) => Json::String(text.clone()),
        }
    }

    /// The value's type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Null => "null",
            FieldValue::Boolean(_) => "boolean",
            FieldValue::Int(_) => "int",
            FieldValue::Long(_) => "long",
            FieldValue::Float(_) => "float",
            FieldValue::Double(_) => "double",
            FieldValue::Text(_) => "string",
            FieldValue::Bytes(_) => "bytes",
            FieldValue::Decimal(_) => "decimal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_overwrites_or_appends_in_order() {
        let mut record = Record::default()
            .with("id", FieldValue::Int(1))
            .with("price", FieldValue::Double(2.5));
        record.set("id", FieldValue::Int(2));
        record.set("discount_price", FieldValue::Null);
        let names: Vec<_> = record.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "price", "discount_price"]);
        assert_eq!(record.get("id"), Some(&FieldValue::Int(2)));
    }

    #[test]
    fn json_keeps_field_order_and_maps_non_finite_to_null() {
        let record = Record::default()
            .with("b", FieldValue::Double(f64::NAN))
            .with("a", FieldValue::Text("x".into()));
        let json = serde_json::to_string(&record.to_json()).unwrap();
        assert_eq!(json, r#"{"b":null,"a":"x"}"#);
    }
}
