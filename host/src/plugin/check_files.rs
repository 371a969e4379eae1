//! The test kit's files for `pipeline plugin check --records R --expect E`:
//! records to run a plugin on, and the outcome each must have.
//!
//! - A records file has one JSON object a line: a line of a consumer log
//!   (`{"topic": …, "record": {…}}`, its `record` is taken), or a record
//!   alone (`{"id": 7, …}`), with a value for every field of the schema.
//! - An expect file has one line per record, in the same order:
//!   `{"keep": {…}}` (the record as it must come out, every field),
//!   `{"drop": "text"}` or `{"fail": "text"}` (the reason must contain the
//!   text; `""` accepts any reason).
//!
//! The rule: **a line that is not what it must be is an error naming the
//! file, the line and the fix**, never a record silently skipped or a value
//! silently converted to another type.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value as Json};

use super::chain::ChainOutcome;
use super::schema::{FieldType, SchemaFields};
use crate::error::{Error, Result};
use crate::record::{Field, FieldValue, Record};

/// The outcome a record must have.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Keep(Map<String, Json>),
    /// The reason must contain this text.
    Drop(String),
    Fail(String),
}

impl Expected {
    /// The expect line that `outcome` matches exactly.
    pub fn of(outcome: &ChainOutcome) -> Self {
        match outcome {
            ChainOutcome::Keep(record) => Expected::Keep(record.to_json()),
            ChainOutcome::Dropped { reason, .. } => Expected::Drop(reason.clone()),
            ChainOutcome::Failed(letter) => Expected::Fail(letter.reason.clone()),
        }
    }

    /// Whether `outcome` is this one: the same record, field for field
    /// (numbers compared by value), or a reason containing the text.
    pub fn matches(&self, outcome: &ChainOutcome) -> bool {
        match (self, outcome) {
            (Expected::Keep(expected), ChainOutcome::Keep(record)) => same_json(
                &Json::Object(expected.clone()),
                &Json::Object(record.to_json()),
            ),
            (Expected::Drop(text), ChainOutcome::Dropped { reason, .. }) => reason.contains(text),
            (Expected::Fail(text), ChainOutcome::Failed(letter)) => letter.reason.contains(text),
            _ => false,
        }
    }

    /// The line as an expect file holds it.
    pub fn to_json(&self) -> Json {
        let (tag, value) = match self {
            Expected::Keep(record) => ("keep", Json::Object(record.clone())),
            Expected::Drop(reason) => ("drop", Json::String(reason.clone())),
            Expected::Fail(reason) => ("fail", Json::String(reason.clone())),
        };
        Json::Object(Map::from_iter([(tag.to_owned(), value)]))
    }

    fn parse(line: &str) -> std::result::Result<Self, String> {
        let json: Json = serde_json::from_str(line).map_err(|error| error.to_string())?;
        let refused = || {
            "an expect line is {\"keep\": {record}}, {\"drop\": \"text\"} or {\"fail\": \"text\"}"
                .to_owned()
        };
        let Json::Object(object) = json else {
            return Err(refused());
        };
        let mut entries = object.into_iter();
        match (entries.next(), entries.next()) {
            (Some((tag, Json::Object(record))), None) if tag == "keep" => {
                Ok(Expected::Keep(record))
            }
            (Some((tag, Json::String(text))), None) if tag == "drop" => Ok(Expected::Drop(text)),
            (Some((tag, Json::String(text))), None) if tag == "fail" => Ok(Expected::Fail(text)),
            _ => Err(refused()),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Keep(record) => write!(f, "keep {}", Json::Object(record.clone())),
            Expected::Drop(text) => write!(f, "drop with a reason containing {text:?}"),
            Expected::Fail(text) => write!(f, "FAIL with a reason containing {text:?}"),
        }
    }
}

/// JSON equality, with numbers equal when their values are (`2` and `2.0`).
fn same_json(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(a), Json::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_json(a, b))
        }
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(name, a)| b.get(name).is_some_and(|b| same_json(a, b)))
        }
        _ => a == b,
    }
}

/// The non-empty lines of `path`, numbered from 1.
fn lines(path: &Path) -> Result<Vec<(usize, String)>> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::io(path, error))?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| (index + 1, line.to_owned()))
        .collect())
}

fn bad_line(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::CheckFile {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

/// The records of the records file at `path`, typed by `schema`.
pub fn read_records(path: &Path, schema: &SchemaFields) -> Result<Vec<Record>> {
    lines(path)?
        .into_iter()
        .map(|(number, line)| {
            record_of(&line, schema).map_err(|message| bad_line(path, number, message))
        })
        .collect()
}

/// The expected outcomes of the expect file at `path`.
pub fn read_expected(path: &Path) -> Result<Vec<Expected>> {
    lines(path)?
        .into_iter()
        .map(|(number, line)| {
            Expected::parse(&line).map_err(|message| bad_line(path, number, message))
        })
        .collect()
}

/// Writes `outcomes` as the expect file at `path`.
pub fn write_expected(path: &Path, outcomes: &[Expected]) -> Result<()> {
    let mut text = String::new();
    for outcome in outcomes {
        text.push_str(&outcome.to_json().to_string());
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|error| Error::io(path, error))
}

/// Writes `records` as a records file at `path` (one record alone a line).
pub fn write_records(path: &Path, records: &[Record]) -> Result<()> {
    let mut text = String::new();
    for record in records {
        text.push_str(&Json::Object(record.to_json()).to_string());
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|error| Error::io(path, error))
}

/// One records line as a record with `schema`'s fields, in its order.
fn record_of(line: &str, schema: &SchemaFields) -> std::result::Result<Record, String> {
    let json: Json = serde_json::from_str(line).map_err(|error| error.to_string())?;
    let Json::Object(mut object) = json else {
        return Err("a records line is a JSON object: a consumer log line or a record".into());
    };
    if let Some(Json::Object(record)) = object.get("record")
        && schema.get("record").is_none()
    {
        object = record.clone();
    }
    if let Some(unknown) = object.keys().find(|name| schema.get(name).is_none()) {
        return Err(format!(
            "field `{unknown}` is not in the schema (its fields: {})",
            field_names(schema)
        ));
    }
    let mut record = Record::default();
    for spec in schema.fields() {
        let value = match object.get(&spec.name) {
            None => {
                return Err(format!(
                    "no field `{}`: a record has every field of the schema ({})",
                    spec.name,
                    field_names(schema)
                ));
            }
            Some(Json::Null) if spec.optional => FieldValue::Null,
            Some(Json::Null) => return Err(format!("field `{}` may not be null", spec.name)),
            Some(json) => value_of(json, spec.ty).ok_or_else(|| {
                format!(
                    "field `{}` is {json}, not a {}{}",
                    spec.name,
                    spec.ty.name(),
                    match spec.ty {
                        FieldType::Bytes => " (an array of numbers 0 to 255)",
                        _ => "",
                    }
                )
            })?,
        };
        record.fields.push(Field {
            name: spec.name.clone(),
            value,
        });
    }
    Ok(record)
}

fn value_of(json: &Json, ty: FieldType) -> Option<FieldValue> {
    Some(match ty {
        FieldType::Boolean => FieldValue::Boolean(json.as_bool()?),
        FieldType::Int => FieldValue::Int(i32::try_from(json.as_i64()?).ok()?),
        FieldType::Long => FieldValue::Long(json.as_i64()?),
        FieldType::Float => FieldValue::Float(json.as_f64()? as f32),
        FieldType::Double => FieldValue::Double(json.as_f64()?),
        FieldType::Text => FieldValue::Text(json.as_str()?.to_owned()),
        FieldType::Bytes => FieldValue::Bytes(
            json.as_array()?
                .iter()
                .map(|byte| u8::try_from(byte.as_u64()?).ok())
                .collect::<Option<_>>()?,
        ),
    })
}

fn field_names(schema: &SchemaFields) -> String {
    schema
        .fields()
        .iter()
        .map(|field| format!("`{}`", field.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaFields {
        SchemaFields::new([
            ("id", FieldType::Int, false),
            ("label", FieldType::Text, true),
            ("blob", FieldType::Bytes, false),
        ])
    }

    #[test]
    fn a_log_line_and_a_bare_record_give_the_same_record() {
        let bare = r#"{"id":7,"label":null,"blob":[1,2]}"#;
        let logged = format!(r#"{{"topic":"t","partition":1,"offset":2,"record":{bare}}}"#);
        let record = record_of(bare, &schema()).unwrap();
        assert_eq!(record_of(&logged, &schema()).unwrap(), record);
        assert_eq!(record.get("blob"), Some(&FieldValue::Bytes(vec![1, 2])));
    }

    #[test]
    fn a_bad_records_line_names_the_field_and_the_fix() {
        let cases = [
            (r#"{"id":7,"label":"a"}"#, "no field `blob`"),
            (
                r#"{"id":"7","label":"a","blob":[]}"#,
                "field `id` is \"7\", not a int",
            ),
            (
                r#"{"id":7,"blob":[],"label":"a","x":1}"#,
                "field `x` is not in the schema",
            ),
            (
                r#"{"id":null,"label":"a","blob":[]}"#,
                "field `id` may not be null",
            ),
            (
                r#"{"id":1,"label":"a","blob":[256]}"#,
                "array of numbers 0 to 255",
            ),
        ];
        for (line, expected) in cases {
            let error = record_of(line, &schema()).unwrap_err();
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn expected_lines_parse_and_match() {
        let keep = Expected::parse(r#"{"keep":{"id":2.0}}"#).unwrap();
        let record = Record::default().with("id", FieldValue::Int(2));
        assert!(keep.matches(&ChainOutcome::Keep(record.clone())));
        let other = Record::default().with("id", FieldValue::Int(3));
        assert!(!keep.matches(&ChainOutcome::Keep(other)));
        let drop = Expected::parse(r#"{"drop":"too"}"#).unwrap();
        let dropped = ChainOutcome::Dropped {
            plugin: "p".into(),
            reason: "far too cheap".into(),
        };
        assert!(drop.matches(&dropped));
        assert!(!keep.matches(&dropped));
        assert_eq!(
            Expected::parse(&Expected::of(&dropped).to_json().to_string()).unwrap(),
            Expected::Drop("far too cheap".into())
        );
        assert!(Expected::parse(r#"{"keep":{},"drop":""}"#).is_err());
        assert!(Expected::parse(r#"{"pass":{}}"#).is_err());
    }
}
