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

/// A run of records a plugin can be called on, in either world.
pub trait Records: Sized {
    /// Where the results go, one per record, in order.
    type Out;
    fn len(&self) -> usize;
    /// Records `start..end` of these.
    fn slice(&self, start: usize, end: usize) -> Self;
    /// Calls the plugin; on success appends one result per record to `out`
    /// (and nothing on failure: a wrong number of outcomes is a failure).
    fn call(&self, plugin: &mut Loaded, out: &mut Self::Out) -> Result<(), CallFailure>;
    /// Appends the result of one record whose call failed.
    fn failed(out: &mut Self::Out, reason: String);
}

impl Records for &[Row] {
    type Out = Vec<Result<Outcome, String>>;

    fn len(&self) -> usize {
        <[Row]>::len(self)
    }

    fn slice(&self, start: usize, end: usize) -> Self {
        &self[start..end]
    }

    fn call(&self, plugin: &mut Loaded, out: &mut Self::Out) -> Result<(), CallFailure> {
        let outcomes = plugin.call(self)?;
        if outcomes.len() != self.len() {
            return Err(CallFailure::from(format!(
                "returned {} outcomes for {} records",
                outcomes.len(),
                self.len()
            )));
        }
        out.extend(outcomes.into_iter().map(Ok));
        Ok(())
    }

    fn failed(out: &mut Self::Out, reason: String) {
        out.push(Err(reason));
    }
}

/// Appends one result per record of `rows` to `out`, in order: the plugin's
/// outcome, or why the record's call failed.
pub fn call<R: Records>(plugin: &mut Loaded, rows: R, out: &mut R::Out) {
    let len = rows.len();
    if len == 0 {
        return;
    }
    let fresh = plugin.fresh();
    let failure = match rows.call(plugin, out) {
        Ok(()) => return,
        Err(failure) => failure,
    };
    if failure.timed_out && len > 1 {
        for one in 0..len {
            call(plugin, rows.slice(one, one + 1), out);
        }
        return;
    }
    if !fresh {
        plugin.reset();
        call(plugin, rows, out);
        return;
    }
    if len == 1 {
        R::failed(out, failure.reason);
        return;
    }
    let middle = len / 2;
    call(plugin, rows.slice(0, middle), out);
    call(plugin, rows.slice(middle, len), out);
}
