//! Stopping before changes that are written but not yet committed.
//!
//! The tailer reads the same key range twice: first the keys only, with
//! `READ UNCOMMITTED` (a *dirty* read, which also sees rows that open
//! transactions have written), then the rows, committed only. A key the dirty
//! read saw and the committed read did not is a change still in flight; when
//! it commits it lands at that key or later (the table's triggers only move a
//! row's stamp forward), so nothing at or after it may be handed on yet, or
//! the position would pass it and it would never be read.
//!
//! Why not `information_schema.innodb_trx`: it gives a transaction's start in
//! whole seconds, it is a cache that can be 100 ms stale, and it needs the
//! PROCESS privilege. The dirty read is exact, needs only SELECT, and is an
//! index-only scan of the range the poll reads anyway.

use super::position::Position;
use super::tail::SourceRow;

/// The committed rows (in key order, as read) that may be handed on: those
/// before the first key of `dirty` (in key order, read first) that is not among
/// them. When the dirty read was cut by its limit (`dirty_complete` false),
/// rows past its last key were not checked, so they wait for the next poll.
pub fn before_uncommitted(
    mut committed: Vec<SourceRow>,
    dirty: &[Position],
    dirty_complete: bool,
) -> Vec<SourceRow> {
    let mut checked = committed.iter().map(|row| &row.position).peekable();
    let in_flight = dirty.iter().find(|key| {
        // Both lists are in key order: walk them together.
        while checked.next_if(|position| position < key).is_some() {}
        checked.next_if(|&position| position == *key).is_none()
    });
    let keep = committed.partition_point(|row| {
        in_flight.is_none_or(|key| row.position < *key)
            && (dirty_complete || dirty.last().is_some_and(|last| row.position <= *last))
    });
    committed.truncate(keep);
    committed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use crate::source::position::KeyPart;
    use crate::timestamp::Timestamp;

    fn key(timestamp: i64, id: i64) -> Position {
        Position {
            timestamp: Timestamp(timestamp),
            key: vec![KeyPart::Int(id)],
        }
    }

    fn rows(keys: &[(i64, i64)]) -> Vec<SourceRow> {
        keys.iter()
            .map(|&(t, id)| SourceRow {
                position: key(t, id),
                record: Record::default(),
            })
            .collect()
    }

    fn kept(committed: &[(i64, i64)], dirty: &[(i64, i64)], complete: bool) -> Vec<(i64, i64)> {
        let dirty: Vec<_> = dirty.iter().map(|&(t, id)| key(t, id)).collect();
        before_uncommitted(rows(committed), &dirty, complete)
            .iter()
            .map(|row| match row.position.key[..] {
                [KeyPart::Int(id)] => (row.position.timestamp.micros(), id),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn nothing_in_flight_keeps_every_row() {
        let keys = [(1, 1), (2, 1), (2, 2)];
        assert_eq!(kept(&keys, &keys, true), keys);
    }

    #[test]
    fn rows_stop_before_an_uncommitted_change() {
        // (2, 9) is written but not committed.
        let committed = [(1, 1), (2, 1), (3, 4)];
        let dirty = [(1, 1), (2, 1), (2, 9), (3, 4)];
        assert_eq!(kept(&committed, &dirty, true), [(1, 1), (2, 1)]);
    }

    #[test]
    fn an_uncommitted_update_of_a_committed_row_stops_at_its_new_key() {
        // Row 5's committed version is at (1, 5); an open transaction moved
        // it to (4, 5): the dirty read sees only the new version.
        let committed = [(1, 5), (2, 1), (5, 2)];
        let dirty = [(2, 1), (4, 5), (5, 2)];
        assert_eq!(kept(&committed, &dirty, true), [(1, 5), (2, 1)]);
    }

    #[test]
    fn rows_past_a_cut_dirty_read_wait() {
        let committed = [(1, 1), (2, 1), (3, 1)];
        let dirty = [(1, 1), (2, 1)];
        assert_eq!(kept(&committed, &dirty, false), [(1, 1), (2, 1)]);
        assert_eq!(kept(&committed, &[], false), []);
    }

    #[test]
    fn a_change_committed_between_the_reads_is_kept() {
        // Dirty at the first read, committed by the second: same key.
        let keys = [(1, 1), (2, 3)];
        assert_eq!(kept(&keys, &keys, true), keys);
    }
}
