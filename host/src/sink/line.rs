//! One line of a consumer log.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// A processed record as written to `consumer_log.json`, one per line:
///
/// ```json
/// {"partition":3,"offset":17,"member":2,"plugins":"uppercase-category@0.1.0#1a2b…",
///  "logged_at_us":1764064800123456,"record":{"id":7,"name":"…","category":"CAT_5",…}}
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
    /// The transformed record.
    pub record: Map<String, Json>,
}

/// Just what resuming needs from a line; parsing only this is several times
/// cheaper than the whole line.
#[derive(Debug, Deserialize)]
pub(crate) struct LinePosition {
    pub partition: i32,
    pub offset: i64,
    pub record: RecordPosition,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RecordPosition {
    pub id: Option<i64>,
    pub last_updated: Option<i64>,
}
