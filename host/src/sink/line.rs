//! One line of a consumer log.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value as Json};

/// A processed record as written to `consumer_log.json`, one per line:
///
/// ```json
/// {"topic":"product_updates","partition":3,"offset":17,"member":2,"plugins":"uppercase-category@0.1.0#1a2b…",
///  "logged_at_us":1764064800123456,"source":{"key":7,"stamp":1764064800012345},
///  "record":{"id":7,"name":"…","category":"CAT_5",…}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// The topic the record was read from (one per table). Absent in lines
    /// written before the field existed: those are of the first table's
    /// topic, the only one there was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub partition: i32,
    pub offset: i64,
    /// The member that wrote the line (so the logs show who handled which
    /// partition when).
    pub member: u32,
    /// The plugin versions that produced the record (name@version#hash, in order).
    pub plugins: String,
    /// When the line was written, in microseconds since the epoch (UTC).
    pub logged_at_us: i64,
    /// Where the record came from in the source table, read from the
    /// *decoded* record before any plugin ran: the duplicate rule keys on
    /// this, so a plugin that rewrites the key or timestamp field cannot
    /// change what counts as already written. Absent in lines written before
    /// the field existed (and for records without a position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePosition>,
    /// The transformed record.
    pub record: Map<String, Json>,
}

/// A [`LogLine`] to write, borrowing its parts: serialized straight from
/// the record, with no JSON tree built in between. The same bytes as the
/// `LogLine` with `record: record.to_json()` (a test below holds them to it).
#[derive(Debug, Serialize)]
pub struct LogLineRef<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub member: u32,
    pub plugins: &'a str,
    pub logged_at_us: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'a SourcePosition>,
    pub record: RecordJson<'a>,
}

/// A record as the JSON object `Record::to_json` makes (fields in order,
/// bytes as arrays of numbers, non-finite floats as null). Field names are
/// unique in every record that reaches a log (the schema's, and a plugin
/// output naming one twice is refused), as in the map `to_json` builds.
#[derive(Debug)]
pub struct RecordJson<'a>(pub &'a crate::record::Record);

impl Serialize for RecordJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.fields.len()))?;
        for field in &self.0.fields {
            map.serialize_entry(&field.name, &ValueJson(&field.value))?;
        }
        map.end()
    }
}

struct ValueJson<'a>(&'a crate::record::FieldValue);

impl Serialize for ValueJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use crate::record::FieldValue;
        match self.0 {
            FieldValue::Null => serializer.serialize_unit(),
            FieldValue::Boolean(b) => serializer.serialize_bool(*b),
            FieldValue::Int(i) => serializer.serialize_i32(*i),
            FieldValue::Long(l) => serializer.serialize_i64(*l),
            FieldValue::Float(f) if f.is_finite() => serializer.serialize_f64(f64::from(*f)),
            FieldValue::Double(d) if d.is_finite() => serializer.serialize_f64(*d),
            FieldValue::Float(_) | FieldValue::Double(_) => serializer.serialize_unit(),
            FieldValue::Text(s) | FieldValue::Decimal(s) => serializer.serialize_str(s),
            FieldValue::Bytes(bytes) => {
                let mut seq = serializer.serialize_seq(Some(bytes.len()))?;
                for byte in bytes {
                    seq.serialize_element(byte)?;
                }
                seq.end()
            }
        }
    }
}

/// A change's position in the source table: the row's key and its change
/// stamp (`source.timestamp_column`, µs). The key is the Kafka message key
/// the producer wrote, as JSON: `7` for a one-integer key (as lines always
/// had it), `"sku-1"` for a text key, `["sku-1",3]` for a composite key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    pub key: Json,
    pub stamp: i64,
}

/// Just what resuming needs from a line; parsing only this is several times
/// cheaper than the whole line (the record is skipped, not built).
#[derive(Debug, Deserialize)]
pub(crate) struct LinePosition {
    #[serde(default)]
    pub topic: Option<String>,
    pub partition: i32,
    pub offset: i64,
    #[serde(default)]
    pub source: Option<SourcePosition>,
}

/// The configured columns that make a change's source position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumns {
    /// `source.key_columns` (or `source.id_column`); empty when the key is
    /// the table's primary key, which the message key carries.
    pub key: Vec<String>,
    /// `source.timestamp_column`.
    pub stamp: String,
}

impl SourceColumns {
    pub fn new(key: &[String], stamp: &str) -> Self {
        Self {
            key: key.to_vec(),
            stamp: stamp.to_owned(),
        }
    }

    /// The position of a decoded record: the message key (JSON, see
    /// `source::key::message_key`) and the record's stamp (a long, or an
    /// int, widened); the key columns of the record when the message key
    /// is not JSON. `Ok(None)` when either is missing or the stamp is null.
    /// A stamp of another type is an error naming the field: the duplicate
    /// rule cannot place the record, and writing it without the rule would
    /// silently let its re-sent copies through (the member sends it to the
    /// dead letters instead).
    pub fn position_of(
        &self,
        record: &crate::record::Record,
        message_key: Option<&[u8]>,
    ) -> Result<Option<SourcePosition>, String> {
        use crate::record::FieldValue;
        let stamp = match record.get(&self.stamp) {
            None | Some(FieldValue::Null) => return Ok(None),
            Some(FieldValue::Long(stamp)) => *stamp,
            Some(FieldValue::Int(stamp)) => i64::from(*stamp),
            Some(other) => {
                return Err(format!(
                    "the stamp field `{}` is {other:?}, not a long: the duplicate rule keys on it, so the record \
                     cannot be placed (a re-sent copy would be logged twice). Fix: source.timestamp_column must \
                     name a DATETIME/TIMESTAMP (or integer) column, and no plugin-free schema may type it otherwise",
                    self.stamp
                ));
            }
        };
        Ok(self
            .key_of(record, message_key)
            .map(|key| SourcePosition { key, stamp }))
    }

    /// The key of a decoded record (see [`SourceColumns::position_of`]).
    fn key_of(&self, record: &crate::record::Record, message_key: Option<&[u8]>) -> Option<Json> {
        message_key
            .and_then(|key| serde_json::from_slice::<Json>(key).ok())
            .or_else(|| {
                let parts: Option<Vec<Json>> = self
                    .key
                    .iter()
                    .map(|column| record.get(column).map(crate::record::FieldValue::to_json))
                    .collect();
                one_or_array(parts?)
            })
    }

    /// The position recorded in a logged record, for lines written before
    /// lines carried `source` (their record is the plugin output, the best
    /// there is for them).
    pub fn position_in_logged(&self, record: &Map<String, Json>) -> Option<SourcePosition> {
        let parts: Option<Vec<Json>> = self
            .key
            .iter()
            .map(|column| record.get(column).cloned())
            .collect();
        Some(SourcePosition {
            key: one_or_array(parts?)?,
            stamp: record.get(&self.stamp)?.as_i64()?,
        })
    }
}

/// One key column's value as itself, several as an array.
fn one_or_array(mut parts: Vec<Json>) -> Option<Json> {
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Json::Array(parts)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FieldValue, Record};

    #[test]
    fn a_stamp_that_is_not_a_long_is_an_error_not_a_record_without_a_position() {
        let columns = SourceColumns::new(&["id".into()], "stamp");
        let with = |stamp: FieldValue| {
            Record::default()
                .with("id", FieldValue::Int(7))
                .with("stamp", stamp)
        };
        let at = |stamp| columns.position_of(&with(stamp), Some(b"7"));
        assert_eq!(
            at(FieldValue::Long(9)).unwrap(),
            Some(SourcePosition {
                key: serde_json::json!(7),
                stamp: 9
            })
        );
        assert_eq!(at(FieldValue::Int(9)).unwrap().unwrap().stamp, 9);
        assert_eq!(at(FieldValue::Null).unwrap(), None);
        let error = at(FieldValue::Text("2026-01-01".into())).unwrap_err();
        assert!(
            error.contains("`stamp`") && error.contains("not a long"),
            "{error}"
        );
        assert!(at(FieldValue::Double(1.5)).is_err());
    }

    #[test]
    fn the_borrowed_line_writes_the_same_bytes_as_the_owned_one() {
        let record = Record::default()
            .with("id", FieldValue::Int(-7))
            .with("big", FieldValue::Long(i64::MIN))
            .with("name", FieldValue::Text("\"Lämp\"\n".into()))
            .with("price", FieldValue::Double(12.5))
            .with("tiny", FieldValue::Double(1e-300))
            .with("ratio", FieldValue::Float(0.1))
            .with("nan", FieldValue::Double(f64::NAN))
            .with("inf", FieldValue::Float(f32::INFINITY))
            .with("none", FieldValue::Null)
            .with("yes", FieldValue::Boolean(true))
            .with("blob", FieldValue::Bytes(vec![0, 255]))
            .with("amount", FieldValue::Decimal("-12.3400".into()));
        for source in [
            None,
            Some(SourcePosition {
                key: serde_json::json!(7),
                stamp: 99,
            }),
        ] {
            let owned = LogLine {
                topic: Some("t".into()),
                partition: 3,
                offset: 17,
                member: 2,
                plugins: "a@1#x,b@2#y".into(),
                logged_at_us: 1_764_064_800_123_456,
                source: source.clone(),
                record: record.to_json(),
            };
            let borrowed = LogLineRef {
                topic: "t",
                partition: 3,
                offset: 17,
                member: 2,
                plugins: "a@1#x,b@2#y",
                logged_at_us: 1_764_064_800_123_456,
                source: source.as_ref(),
                record: RecordJson(&record),
            };
            assert_eq!(
                serde_json::to_string(&borrowed).unwrap(),
                serde_json::to_string(&owned).unwrap()
            );
        }
    }
}
