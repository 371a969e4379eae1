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
//! Beyond the window, a late change is still found for one more lookback:
//! the keys leaving the window are kept as their 64-bit [`key_hash`]es, per
//! second of stamp, and every full scan reads that region's keys (the same
//! index-only range scan) and re-reads the rows whose hash was not sent: they
//! are produced and reported at error level. Exact (up to a 2^-64 hash
//! collision), whatever else changed in those seconds; costs 8 bytes (plus
//! the set's overhead) per key of one lookback. Further back, only the clock
//! step that causes them is reported.
//!
//! Per-key order holds: a row's next change cannot be stamped before a
//! lock-waiting insert of that row commits, and the scan only ever sees a
//! row's current key, so a late change is never sent after a newer change of
//! the same row.
//!
//! Across a restart: the keys themselves are not saved (up to 120,000), but
//! a [`WindowDigest`] of them is, with the position: per second of stamp,
//! how many keys were sent and the wrapping sum of their hashes, taken when
//! their batch was produced and saved only once it is acknowledged. The
//! first scan after a restart compares each second of the window with it: a
//! second whose keys in the table add up to the saved digest was sent whole
//! and is not sent again; the keys of any other second (a late change, or a
//! row changed again since) are sent again, and consumers skip the changes
//! they have logged (by `(id, stamp)`). So a restart with nothing late
//! re-sends nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::error::Result;
use crate::source::key::KeyColumns;
use crate::source::mysql::quote_identifier;
use crate::source::position::{KeyPart, Position};
use crate::source::tail::{SourceRow, Tailer};
use crate::timestamp::Timestamp;

/// Per second of stamp (seconds since the epoch): how many keys were sent
/// and the wrapping sum of their [`key_hash`]es. Saved with the position.
pub type WindowDigest = BTreeMap<i64, (u64, u64)>;

/// A key's hash for [`WindowDigest`] (SplitMix64 finalisers over both parts:
/// sums over two different sets of keys are equal with a 2^-64 chance).
pub fn key_hash(key: &Position) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    // Each key part folded in with its kind, so `1` and `"1"` differ; a
    // stable function of the values (saved across restarts and versions).
    let mut hash = mix(key.timestamp.micros() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    // Folded word by word, with no allocation: this runs for every row sent.
    for part in &key.key {
        match part {
            KeyPart::Int(value) => hash = mix(mix(hash ^ 1) ^ *value as u64),
            KeyPart::UInt(value) => hash = mix(mix(hash ^ 2) ^ *value),
            KeyPart::Text(text) => hash = fold_bytes(mix(hash ^ 3), text.as_bytes(), mix),
            KeyPart::Bytes(bytes) => hash = fold_bytes(mix(hash ^ 4), bytes, mix),
        }
    }
    hash
}

/// Folds bytes in as little-endian words, the length last (so "a" and
/// "a\0" differ).
fn fold_bytes(mut hash: u64, bytes: &[u8], mix: fn(u64) -> u64) -> u64 {
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = mix(hash ^ u64::from_le_bytes(word));
    }
    mix(hash ^ bytes.len() as u64)
}

fn second_of(timestamp: Timestamp) -> i64 {
    timestamp.micros().div_euclid(MICROS_PER_SECOND)
}

/// The keys sent within the lookback window, and the queries that check it.
#[derive(Debug)]
pub struct LateChanges {
    lookback_micros: i64,
    sent: BTreeSet<Position>,
    /// The digest of `sent`, by whole seconds from the window's first.
    digest: WindowDigest,
    /// The digest saved by the previous run, until the first scan uses it.
    restored: Option<WindowDigest>,
    /// The hashes of the keys that left the window, per second of stamp
    /// (seconds since the epoch), kept one more lookback.
    left_window: BTreeMap<i64, HashSet<u64>>,
    /// Every key from here on was sent or scanned in this run.
    covered_from: Option<Timestamp>,
    select_keys: String,
    select_row: String,
}

/// Changes found more than the lookback behind the position.
#[derive(Debug, Default)]
pub struct BeyondWindow {
    /// How many committed keys there were that had not been sent.
    pub late: u64,
    /// The seconds (stamp ranges `[s, s + 1 s)`) they were found in.
    pub seconds: Vec<Timestamp>,
    /// Their rows, as they are now (a row changed again since is read by
    /// the tail at its newer key).
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
            digest: WindowDigest::new(),
            restored: None,
            left_window: BTreeMap::new(),
            covered_from: None,
            select_keys: format!(
                "SELECT {ts_q}, {key_list} FROM {table_q} WHERE {ts_q} >= ? AND {ts_q} <= ? ORDER BY {ts_q}, {key_order}"
            ),
            select_row: format!(
                "SELECT * FROM {table_q} WHERE {ts_q} = ? AND {}",
                key.equal()
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
        for row in rows {
            self.remember(row.position.clone());
        }
    }

    fn remember(&mut self, key: Position) {
        let hash = key_hash(&key);
        let second = second_of(key.timestamp);
        if self.sent.insert(key) {
            let entry = self.digest.entry(second).or_default();
            entry.0 += 1;
            entry.1 = entry.1.wrapping_add(hash);
        }
    }

    /// The digest of the keys sent in the window so far (an entry per
    /// second of the window at most): saved with the position once they
    /// are acknowledged.
    pub fn digest(&self) -> WindowDigest {
        self.digest.clone()
    }

    /// The digest the previous run saved with the position this run starts
    /// from: the first scan does not send again the seconds it matches.
    pub fn restore(&mut self, digest: WindowDigest) {
        self.restored = Some(digest).filter(|digest| !digest.is_empty());
    }

    /// Forgets the keys that fell out of the window behind `position`,
    /// keeping their hashes per second for [`Self::find_beyond`].
    pub fn prune(&mut self, position: &Position) {
        let window_start = self.window_start(position);
        let start = Position::start_of(window_start);
        let kept = self.sent.split_off(&start);
        self.digest = self.digest.split_off(&second_of(window_start));
        for key in std::mem::replace(&mut self.sent, kept) {
            self.left_window
                .entry(second_of(key.timestamp))
                .or_default()
                .insert(key_hash(&key));
        }
        // Hashes are kept for one more lookback below the window.
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
        let restored = self.restored.take();
        let from = if restored.is_some() {
            // Whole seconds, as the digest counts them.
            Timestamp(second_of(window_start) * MICROS_PER_SECOND)
        } else if full {
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
        let mut table_keys = Vec::with_capacity(keys.len());
        for row in keys {
            let key = tailer.key_position(row.unwrap())?;
            if key <= *position {
                table_keys.push(key);
            }
        }
        if let Some(restored) = restored {
            self.accept_matching_seconds(&restored, &table_keys);
        }
        let missing: Vec<Position> = table_keys
            .into_iter()
            .filter(|key| !self.sent.contains(key))
            .collect();
        let mut late = Vec::with_capacity(missing.len());
        for key in missing {
            late.extend(self.read_row_at(conn, tailer, &key).await?);
        }
        self.note_sent(&late);
        Ok(late)
    }
}

impl LateChanges {
    /// The row whose current key is `key`, if it still is: a row changed
    /// again since the scan has a newer key after the position, which the
    /// tail reads.
    async fn read_row_at(
        &self,
        conn: &mut Conn,
        tailer: &Tailer,
        key: &Position,
    ) -> Result<Option<SourceRow>> {
        let mut params = vec![key.timestamp.to_mysql()];
        params.extend(KeyColumns::params(&key.key));
        let row: Option<Row> = conn.exec_first(self.select_row.as_str(), params).await?;
        match row {
            Some(row) => {
                let row = tailer.convert(row)?;
                Ok((row.position == *key).then_some(row))
            }
            None => Ok(None),
        }
    }

    /// Remembers as sent the keys (in key order) of every second whose
    /// digest is the one `restored` holds for it.
    fn accept_matching_seconds(&mut self, restored: &WindowDigest, keys: &[Position]) {
        for second in keys.chunk_by(|a, b| second_of(a.timestamp) == second_of(b.timestamp)) {
            let digest = second.iter().fold((0u64, 0u64), |(count, sum), key| {
                (count + 1, sum.wrapping_add(key_hash(key)))
            });
            if restored.get(&second_of(second[0].timestamp)) == Some(&digest) {
                for key in second {
                    self.remember(key.clone());
                }
            }
        }
    }

    /// Reads the keys committed within one lookback below the window and
    /// re-reads the rows of those that were not sent. Call right after a
    /// full [`Self::find`] with the same position.
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
        let keys: Vec<Row> = conn
            .exec(
                self.select_keys.as_str(),
                (from.to_mysql(), window_start.to_mysql()),
            )
            .await?;
        let mut missing = Vec::new();
        for row in keys {
            let key = tailer.key_position(row.unwrap())?;
            if key.timestamp >= window_start {
                continue; // the window's own scan covers it
            }
            let sent = self
                .left_window
                .get(&second_of(key.timestamp))
                .is_some_and(|hashes| hashes.contains(&key_hash(&key)));
            if !sent {
                missing.push(key);
            }
        }
        let mut beyond = BeyondWindow::default();
        for key in missing {
            let second = second_of(key.timestamp);
            // Found once: the next scans do not report it again.
            self.left_window
                .entry(second)
                .or_default()
                .insert(key_hash(&key));
            beyond.late += 1;
            let second_start = Timestamp(second * MICROS_PER_SECOND);
            if beyond.seconds.last() != Some(&second_start) {
                beyond.seconds.push(second_start);
            }
            beyond
                .rows
                .extend(self.read_row_at(conn, tailer, &key).await?);
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
    fn a_restored_digest_accepts_only_the_seconds_it_matches() {
        let sent = [key(1_000_001, 1), key(1_500_000, 2), key(2_000_003, 3)];
        let key_columns =
            KeyColumns::from_kinds(vec![("k".into(), crate::source::catalog::ColumnKind::Int)]);
        let mut before = LateChanges::new("t", &key_columns, "ts", Duration::from_secs(60));
        for k in &sent {
            before.remember(k.clone());
        }
        let mut after = LateChanges::new("t", &key_columns, "ts", Duration::from_secs(60));
        // Second 2 gained a late key: it is not accepted, second 1 is.
        let table = [
            sent[0].clone(),
            sent[1].clone(),
            key(2_000_002, 9),
            sent[2].clone(),
        ];
        after.accept_matching_seconds(&before.digest(), &table);
        assert_eq!(after.remembered(), 2);
        assert!(after.sent.contains(&sent[1]) && !after.sent.contains(&sent[2]));
    }

    /// The hash is saved with the position (the window digest): it must not
    /// change between versions. This is the first version's code, which
    /// allocated a vector per key part.
    fn first_version_key_hash(key: &Position) -> u64 {
        fn mix(mut z: u64) -> u64 {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn bytes_as_words(bytes: &[u8]) -> Vec<u64> {
            let mut words: Vec<u64> = bytes
                .chunks(8)
                .map(|chunk| {
                    let mut word = [0u8; 8];
                    word[..chunk.len()].copy_from_slice(chunk);
                    u64::from_le_bytes(word)
                })
                .collect();
            words.push(bytes.len() as u64);
            words
        }
        let mut hash = mix(key.timestamp.micros() as u64 ^ 0x9e37_79b9_7f4a_7c15);
        for part in &key.key {
            let (kind, words): (u64, Vec<u64>) = match part {
                KeyPart::Int(value) => (1, vec![*value as u64]),
                KeyPart::UInt(value) => (2, vec![*value]),
                KeyPart::Text(text) => (3, bytes_as_words(text.as_bytes())),
                KeyPart::Bytes(bytes) => (4, bytes_as_words(bytes)),
            };
            hash = mix(hash ^ kind);
            for word in words {
                hash = mix(hash ^ word);
            }
        }
        hash
    }

    #[test]
    fn the_key_hash_is_the_one_earlier_versions_saved() {
        let keys = [
            vec![KeyPart::Int(7)],
            vec![KeyPart::Int(-1)],
            vec![KeyPart::UInt(u64::MAX)],
            vec![KeyPart::Text(String::new())],
            vec![KeyPart::Text("sku-12345678901".into()), KeyPart::Int(3)],
            vec![KeyPart::Bytes(vec![0, 1, 2, 3, 4, 5, 6, 7, 8])],
        ];
        for (index, key) in keys.into_iter().enumerate() {
            let position = Position {
                timestamp: Timestamp(1_764_064_800_123_456 + index as i64),
                key,
            };
            assert_eq!(
                key_hash(&position),
                first_version_key_hash(&position),
                "{position}"
            );
        }
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
