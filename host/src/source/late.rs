//! Late-change recovery: changes that commit with a stamp behind the position.
//!
//! The rule: every key `(stamp, id)` that is committed within `lookback`
//! behind the position is produced, once per run, whether or not the tail
//! read it in order. The producer remembers the keys it sent with stamps in
//! that window (pruned as the window moves) and every `lookback_interval`
//! reads the window's keys (an index-only range scan of the `(stamp, id)`
//! index); a key it did not send is a late change: its row is read and
//! produced, with a warning and the `late_changes` counter.
//!
//! How a change lands behind the position:
//! * An INSERT that waits for a lock. The BEFORE INSERT trigger stamps the
//!   row, then InnoDB waits for the insert-intention (gap) lock before the row
//!   exists in any index, so even the tail's dirty read cannot see it; other
//!   changes commit meanwhile and the position moves past its stamp. The wait
//!   is bounded by `innodb_lock_wait_timeout` (50 s by default), which is why
//!   the default lookback is 60 s and a shorter one is warned about at start.
//!   (An UPDATE locks its row before its trigger runs, so it is stamped after
//!   the wait.)
//! * A step back of the server's clock: changes after it are stamped behind
//!   the position by up to the step. [`ClockWatch`] reports the step.
//!
//! Most scans cover only the window's most recent eighth, where late
//! changes of short lock waits land; every eighth scan covers all of it.
//!
//! Beyond the window, a late change is still detected for one more lookback:
//! the keys leaving the window are counted per second of stamp, and each
//! scan compares those counts with the table's (`COUNT(*) … GROUP BY`
//! second, index-only). A second that holds more rows than were sent has
//! late changes; its rows are re-sent and an error is logged. (Rows of that
//! second updated away since mask as many late ones; further back, only the
//! clock step that causes them is reported.)
//!
//! Per-key order holds: a row's next change cannot be stamped before a
//! lock-waiting insert of that row commits, and the scan only ever sees a
//! row's current key, so a late change is never sent after a newer change of
//! the same row. After a restart the remembered keys are gone and the first
//! scan re-sends the window; consumers skip changes they have logged (by
//! `(id, stamp)`), so this costs bandwidth, not correctness.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::error::Result;
use crate::source::key::KeyColumns;
use crate::source::mysql::quote_identifier;
use crate::source::position::Position;
use crate::source::tail::{SourceRow, Tailer};
use crate::timestamp::Timestamp;

/// The keys sent within the lookback window, and the queries that check it.
#[derive(Debug)]
pub struct LateChanges {
    lookback_micros: i64,
    sent: BTreeSet<Position>,
    /// Keys that left the window, per second of stamp (seconds since the epoch).
    left_window: BTreeMap<i64, u64>,
    /// Every key from here on was sent or scanned in this run.
    covered_from: Option<Timestamp>,
    select_keys: String,
    select_row: String,
    count_per_second: String,
    select_range: String,
}

/// Changes found more than the lookback behind the position.
#[derive(Debug, Default)]
pub struct BeyondWindow {
    /// How many more rows the table holds than were sent, in those seconds.
    pub late: u64,
    /// The seconds (stamp ranges `[s, s + 1 s)`) they were found in.
    pub seconds: Vec<Timestamp>,
    /// Every row of those seconds, re-sent (consumers skip what they logged).
    pub rows: Vec<SourceRow>,
}

const MICROS_PER_SECOND: i64 = 1_000_000;

/// Scans between two scans of the whole window; the others cover only its
/// most recent `1 / PARTIAL_SCANS_PER_FULL`. A change that commits `d` behind
/// the position is found within `lookback_interval × max(1, 8 d / lookback)`,
/// at about a quarter of the cost of scanning the whole window every time.
pub const PARTIAL_SCANS_PER_FULL: i64 = 8;

impl LateChanges {
    pub fn new(table: &str, key: &KeyColumns, timestamp_column: &str, lookback: Duration) -> Self {
        let (table_q, ts_q) = (quote_identifier(table), quote_identifier(timestamp_column));
        let (key_list, key_order) = (key.select_list(), key.order_list());
        Self {
            lookback_micros: i64::try_from(lookback.as_micros()).unwrap_or(i64::MAX),
            sent: BTreeSet::new(),
            left_window: BTreeMap::new(),
            covered_from: None,
            select_keys: format!(
                "SELECT {ts_q}, {key_list} FROM {table_q} WHERE {ts_q} >= ? AND {ts_q} <= ? ORDER BY {ts_q}, {key_order}"
            ),
            select_row: format!(
                "SELECT * FROM {table_q} WHERE {ts_q} = ? AND {}",
                key.equal()
            ),
            count_per_second: format!(
                "SELECT TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', {ts_q}) AS second, COUNT(*)
                 FROM {table_q} WHERE {ts_q} >= ? AND {ts_q} < ? GROUP BY second"
            ),
            select_range: format!(
                "SELECT * FROM {table_q} WHERE {ts_q} >= ? AND {ts_q} < ? ORDER BY {ts_q}, {key_order}"
            ),
        }
    }

    /// The window's lower bound for `position`.
    fn window_start(&self, position: &Position) -> Timestamp {
        Timestamp(
            position
                .timestamp
                .micros()
                .saturating_sub(self.lookback_micros),
        )
    }

    /// Remembers `rows` as sent.
    pub fn note_sent(&mut self, rows: &[SourceRow]) {
        self.sent
            .extend(rows.iter().map(|row| row.position.clone()));
    }

    /// Forgets the keys that fell out of the window behind `position`,
    /// counting them per second for [`Self::find_beyond`].
    pub fn prune(&mut self, position: &Position) {
        let window_start = self.window_start(position);
        let start = Position::start_of(window_start);
        let kept = self.sent.split_off(&start);
        for key in std::mem::replace(&mut self.sent, kept) {
            *self
                .left_window
                .entry(key.timestamp.micros().div_euclid(MICROS_PER_SECOND))
                .or_default() += 1;
        }
        // Counts are kept for one more lookback below the window.
        let oldest = window_start
            .micros()
            .saturating_sub(self.lookback_micros)
            .div_euclid(MICROS_PER_SECOND);
        self.left_window = self.left_window.split_off(&oldest);
    }

    /// How many keys are remembered (for tests and metrics).
    pub fn remembered(&self) -> usize {
        self.sent.len()
    }

    /// The committed rows at or before `position` that were not sent, in
    /// the whole window (`full`) or in its most recent eighth: read them,
    /// remember them and return them in key order.
    pub async fn find(
        &mut self,
        conn: &mut Conn,
        tailer: &Tailer,
        position: &Position,
        full: bool,
    ) -> Result<Vec<SourceRow>> {
        self.prune(position);
        let window_start = self.window_start(position);
        self.covered_from.get_or_insert(window_start);
        let from = if full {
            window_start
        } else {
            Timestamp(
                position
                    .timestamp
                    .micros()
                    .saturating_sub(self.lookback_micros / PARTIAL_SCANS_PER_FULL),
            )
        };
        let keys: Vec<Row> = conn
            .exec(
                self.select_keys.as_str(),
                (from.to_mysql(), position.timestamp.to_mysql()),
            )
            .await?;
        let mut missing = Vec::new();
        for row in keys {
            let key = tailer.key_position(row.unwrap())?;
            if key <= *position && !self.sent.contains(&key) {
                missing.push(key);
            }
        }
        let mut late = Vec::with_capacity(missing.len());
        for key in missing {
            // The row may have changed again since the scan: then its newer
            // key is after the position and the tail reads it.
            let mut params = vec![key.timestamp.to_mysql()];
            params.extend(KeyColumns::params(&key.key));
            let row: Option<Row> = conn.exec_first(self.select_row.as_str(), params).await?;
            if let Some(row) = row {
                let row = tailer.convert(row)?;
                if row.position == key {
                    late.push(row);
                }
            }
        }
        self.note_sent(&late);
        Ok(late)
    }
}

impl LateChanges {
    /// Compares, per second, the rows the table holds within one lookback
    /// below the window with the keys sent there; re-reads the seconds that
    /// hold more. Call right after a full [`Self::find`] with the same position.
    pub async fn find_beyond(
        &mut self,
        conn: &mut Conn,
        tailer: &Tailer,
        position: &Position,
    ) -> Result<BeyondWindow> {
        let window_start = self.window_start(position);
        let Some(covered_from) = self.covered_from else {
            return Ok(BeyondWindow::default());
        };
        let from = Timestamp(
            window_start
                .micros()
                .saturating_sub(self.lookback_micros)
                .max(covered_from.micros()),
        );
        if from >= window_start {
            return Ok(BeyondWindow::default());
        }
        let counts: Vec<(i64, u64)> = conn
            .exec(
                self.count_per_second.as_str(),
                (from.to_mysql(), window_start.to_mysql()),
            )
            .await?;
        let mut beyond = BeyondWindow::default();
        for (second, count) in counts {
            let sent = self.left_window.get(&second).copied().unwrap_or(0);
            if count <= sent {
                continue;
            }
            beyond.late += count - sent;
            self.left_window.insert(second, count);
            let second_start = Timestamp(second * MICROS_PER_SECOND);
            beyond.seconds.push(second_start);
            let rows: Vec<Row> = conn
                .exec(
                    self.select_range.as_str(),
                    (
                        second_start.max(from).to_mysql(),
                        Timestamp(second_start.micros() + MICROS_PER_SECOND)
                            .min(window_start)
                            .to_mysql(),
                    ),
                )
                .await?;
            for row in rows {
                beyond.rows.push(tailer.convert(row)?);
            }
        }
        Ok(beyond)
    }
}

/// Watches the server's clock between polls for steps back.
#[derive(Debug, Default)]
pub struct ClockWatch {
    previous: Option<Timestamp>,
}

impl ClockWatch {
    /// Records the server's `now`; returns how far it stepped back since the
    /// previous reading, if it did (once per step).
    pub fn observe(&mut self, now: Timestamp) -> Option<Duration> {
        let step = self
            .previous
            .filter(|previous| now < *previous)
            .map(|previous| Duration::from_micros((previous.micros() - now.micros()) as u64));
        self.previous = Some(now);
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    fn key(timestamp: i64, id: i64) -> Position {
        Position {
            timestamp: Timestamp(timestamp),
            key: vec![crate::source::position::KeyPart::Int(id)],
        }
    }

    #[test]
    fn the_window_forgets_keys_behind_it() {
        let key_columns =
            KeyColumns::from_kinds(vec![("k".into(), crate::source::catalog::ColumnKind::Int)]);
        let mut late = LateChanges::new("t", &key_columns, "ts", Duration::from_micros(100));
        let rows: Vec<SourceRow> = [(10, 1), (150, 2), (200, 3)]
            .iter()
            .map(|&(t, id)| SourceRow {
                position: key(t, id),
                record: Record::default(),
            })
            .collect();
        late.note_sent(&rows);
        late.prune(&key(200, 3));
        assert_eq!(late.remembered(), 2, "(10, 1) is more than 100 µs behind");
    }

    #[test]
    fn a_clock_step_back_is_measured_once() {
        let mut clock = ClockWatch::default();
        assert_eq!(clock.observe(Timestamp(1_000_000)), None);
        assert_eq!(clock.observe(Timestamp(2_000_000)), None);
        assert_eq!(
            clock.observe(Timestamp(500_000)),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(clock.observe(Timestamp(600_000)), None);
    }
}
