//! Batch calls that degrade to finding the bad record.
//!
//! Records cross into a plugin in batches (one call per batch is what makes
//! the sandbox cheap). If a call fails as a whole (a trap, the time, memory
//! or output limit, or the wrong number of outcomes), the batch is split in
//! halves and each half retried, recursively, so only the record that causes
//! the failure is lost; the rest are processed normally. A batch with one bad
//! record costs about 2·log2(n) extra calls.
//!
//! The rule that keeps innocent records out of the dead letters: **a failure
//! is blamed on records only when it happens on a fresh instance.** A plugin
//! can leave state behind (leaked memory, a corrupt cache) that makes a later
//! call fail whatever its records; so a call that failed on an instance that
//! served earlier calls is first retried, whole, on a fresh one. In
//! particular every record is retried alone on a fresh instance before it is
//! dead-lettered.
//!
//! A time-out is the exception to halving: the looping record spends the
//! whole budget of every call it is part of (the per-record limit times the
//! batch length, capped per batch), so halving would pay that again at every
//! level. After a time-out the records are retried one by one instead: the
//! good ones take microseconds, the bad one its own limit (twice, the second
//! time on a fresh instance).

use super::bindings::{Outcome, Row};
use super::loaded::{CallFailure, Loaded};

/// Appends one result per row of `rows` to `out`, in order: the plugin's
/// outcome, or why the row's call failed.
pub fn call(plugin: &mut Loaded, rows: &[Row], out: &mut Vec<Result<Outcome, String>>) {
    if rows.is_empty() {
        return;
    }
    let fresh = plugin.fresh();
    let failure = match plugin.call(rows) {
        Ok(outcomes) if outcomes.len() == rows.len() => {
            out.extend(outcomes.into_iter().map(Ok));
            return;
        }
        Ok(outcomes) => CallFailure::from(format!(
            "returned {} outcomes for {} records",
            outcomes.len(),
            rows.len()
        )),
        Err(failure) => failure,
    };
    if failure.timed_out && rows.len() > 1 {
        for row in rows.chunks(1) {
            call(plugin, row, out);
        }
        return;
    }
    if !fresh {
        plugin.reset();
        call(plugin, rows, out);
        return;
    }
    if rows.len() == 1 {
        out.push(Err(failure.reason));
        return;
    }
    let (left, right) = rows.split_at(rows.len() / 2);
    call(plugin, left, out);
    call(plugin, right, out);
}
