//! One line of a consumer log.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// A processed record as written to `consumer_log.json`, one per line:
///
/// ```json
/// {"partition":3,"offset":17,"member":2,"plugins":"uppercase-category@0.1.0#1a2b…",
///  "logged_at_us":1764064800123456,"source":{"key":7,"stamp":1764064800012345},
///  "record":{"id":7,"name":"…","category":"CAT_5",…}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
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

/// A change's position in the source table: the row's key
/// (`source.id_column`) and its change stamp (`source.timestamp_column`, µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    pub key: i64,
    pub stamp: i64,
}

/// Just what resuming needs from a line; parsing only this is several times
/// cheaper than the whole line (the record is skipped, not built).
#[derive(Debug, Deserialize)]
pub(crate) struct LinePosition {
    pub partition: i32,
    pub offset: i64,
    #[serde(default)]
    pub source: Option<SourcePosition>,
}

/// The configured columns that make a change's source position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumns {
    /// `source.id_column`.
    pub key: String,
    /// `source.timestamp_column`.
    pub stamp: String,
}

impl SourceColumns {
    pub fn new(key: &str, stamp: &str) -> Self {
        Self {
            key: key.to_owned(),
            stamp: stamp.to_owned(),
        }
    }

    /// The position of a decoded record: its integer key and its stamp
    /// (µs). `None` when either field is missing or of another type.
    pub fn position_of(&self, record: &crate::record::Record) -> Option<SourcePosition> {
        use crate::record::FieldValue;
        let key = match record.get(&self.key)? {
            FieldValue::Int(key) => i64::from(*key),
            FieldValue::Long(key) => *key,
            _ => return None,
        };
        match record.get(&self.stamp)? {
            FieldValue::Long(stamp) => Some(SourcePosition { key, stamp: *stamp }),
            _ => None,
        }
    }

    /// The position recorded in a logged record, for lines written before
    /// lines carried `source` (their record is the plugin output, the best
    /// there is for them).
    pub fn position_in_logged(&self, record: &Map<String, Json>) -> Option<SourcePosition> {
        Some(SourcePosition {
            key: record.get(&self.key)?.as_i64()?,
            stamp: record.get(&self.stamp)?.as_i64()?,
        })
    }
}
