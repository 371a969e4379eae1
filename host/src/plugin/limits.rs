//! What one plugin call may cost: its CPU budget and the bytes it may make
//! the host copy out of the guest, both set from the call's input before it
//! starts (see `loaded` for how they are enforced).
//!
//! The rule: **a call's limits grow with its input and nothing else** (the
//! records' count for time, their size in bytes for output), counted the
//! same way in both worlds, so a plugin cannot buy itself room. A
//! `transform-batch` result's text and bytes count once per value that
//! points at them, as the host copies them.

use super::bindings::batch::{Batch, BatchResult, Cell, RowOutcome};
use super::bindings::{Outcome, Row, Value};
use crate::config::PluginConfig;

/// What a call may return beyond `output_ratio` × its input, in bytes.
pub const OUTPUT_ALLOWANCE: usize = 256 * 1024;

/// The bytes the host holds for `row`, counted as wasmtime counts lifted
/// data: the field entries plus their names and payloads.
pub fn row_bytes(row: &Row) -> usize {
    std::mem::size_of::<Outcome>()
        + row
            .fields
            .iter()
            .map(|field| {
                std::mem::size_of_val(field)
                    + field.name.len()
                    + match &field.value {
                        Value::Text(text) => text.len(),
                        Value::Bytes(bytes) => bytes.len(),
                        _ => 0,
                    }
            })
            .sum::<usize>()
}

/// The bytes the host holds for `batch`, counted as for [`row_bytes`]: an
/// outcome per row, the column names, the values and the batch's data.
pub fn batch_bytes(batch: &Batch) -> usize {
    let rows = usize::try_from(batch.rows).unwrap_or(usize::MAX);
    let columns = batch
        .columns
        .iter()
        .map(|column| std::mem::size_of_val(column) + column.name.len())
        .sum::<usize>();
    rows.saturating_mul(std::mem::size_of::<RowOutcome>())
        .saturating_add(columns)
        .saturating_add(std::mem::size_of_val(batch.values.as_slice()))
        .saturating_add(batch.data.len())
}

/// The bytes the host copies out of a `transform-batch` result on top of
/// what lifting it copied: every text and bytes span, once per value (spans
/// may share bytes of `data`, so its length alone does not bound them).
pub fn span_bytes(result: &BatchResult) -> usize {
    result
        .values
        .iter()
        .map(|cell| match cell {
            Cell::Text(span) | Cell::Bytes(span) => usize::try_from(span.len).unwrap_or(usize::MAX),
            _ => 0,
        })
        .fold(0, usize::saturating_add)
}

/// The most bytes a call given `input_bytes` may return.
pub fn output_cap(config: &PluginConfig, input_bytes: usize) -> usize {
    usize::try_from(config.output_ratio)
        .unwrap_or(usize::MAX)
        .saturating_mul(input_bytes)
        .saturating_add(OUTPUT_ALLOWANCE)
}

/// The most a whole batch may spend, in ms, however long it is. Real
/// transforms take microseconds per record, so a batch that needs more is
/// almost surely one looping record; without the cap it would burn
/// `limit × batch length` (5 s for 500 records at 10 ms) before the retry.
const BATCH_BUDGET_CAP_MS: u64 = 50;

/// The epoch budget of one call over `records` records: the per-record limit
/// times the batch length, capped at `BATCH_BUDGET_CAP_MS` but never below
/// one record's limit. A batch of slow-but-legitimate records that hits the
/// cap is retried record by record (see `bisect`), each within its own limit.
pub fn batch_budget_ms(time_limit_ms: u64, records: u64) -> u64 {
    time_limit_ms
        .saturating_mul(records)
        .min(BATCH_BUDGET_CAP_MS)
        .max(time_limit_ms)
}

#[cfg(test)]
mod tests {
    use super::batch_budget_ms;

    #[test]
    fn a_batch_budget_is_capped_but_never_below_one_record() {
        assert_eq!(batch_budget_ms(10, 1), 10);
        assert_eq!(batch_budget_ms(10, 3), 30);
        assert_eq!(batch_budget_ms(10, 500), 50);
        assert_eq!(batch_budget_ms(200, 500), 200);
    }
}
