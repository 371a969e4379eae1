//! Hostile `transform-batch` plugins: the attacks of `plugin_hostile` that
//! go through the batch world's own paths (its positional output values, the
//! budget and limits of its calls) must cost the host no more than there:
//! only the attacking record fails, with a reason naming the real cause, the
//! chain goes on, and the process's peak memory and each attack's wall time
//! stay bounded. The fixture is `plugins/fixture-hostile-batch` (attacks
//! chosen by the record's id, see its doc).

mod plugin_support;

use std::time::{Duration, Instant};

use pipeline::config::PluginConfig;
use pipeline::plugin::{ChainOutcome, PluginChain};
use pipeline::record::FieldValue;
use plugin_support::{failed, id_of, kept, peak_rss_mib, products, schema, wasm};

/// As in `plugin_hostile`: several chains with the default limits.
const PEAK_RSS_MIB: u64 = 256;
const HOSTILE_RECORD_WALL: Duration = Duration::from_secs(10);

/// One test at a time, each with the peak RSS reset (see `plugin_hostile`).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    guard
}

fn hostile() -> PluginChain {
    PluginChain::load(
        &[PluginConfig::at(wasm("fixture_hostile_batch"))],
        &schema(),
    )
    .unwrap()
}

/// Innocents 1..=20 with `attacker` in the middle: the attacker's outcome
/// goes to `check`, every other record is kept unchanged, a clean batch
/// passes afterwards, and the bounds hold.
fn attack(attacker: i32, check: impl Fn(&ChainOutcome)) {
    let _one_at_a_time = serial();
    let mut chain = hostile();
    let mut ids: Vec<i32> = (1..=20).collect();
    ids.insert(10, attacker);
    let batch = products(ids.iter().copied());
    let started = Instant::now();
    let outcomes = chain.process(batch.clone());
    let elapsed = started.elapsed();
    assert_eq!(outcomes.len(), batch.len());
    for (input, outcome) in batch.iter().zip(&outcomes) {
        if id_of(input) == attacker {
            check(outcome);
        } else {
            assert_eq!(kept(outcome), input, "an innocent record was touched");
        }
    }
    assert!(
        elapsed < HOSTILE_RECORD_WALL,
        "attack {attacker} cost {elapsed:?}"
    );
    let clean = products(21..=40);
    for (input, outcome) in clean.iter().zip(chain.process(clean.clone())) {
        assert_eq!(kept(&outcome), input, "the chain must go on");
    }
    let peak = peak_rss_mib();
    assert!(
        peak < PEAK_RSS_MIB,
        "peak RSS {peak} MiB after attack {attacker}"
    );
}

fn fails_with(causes: &'static [&'static str]) -> impl Fn(&ChainOutcome) {
    move |outcome| {
        let reason = failed(outcome);
        assert!(
            causes.iter().any(|cause| reason.contains(cause)),
            "expected one of {causes:?} in: {reason}"
        );
        assert!(reason.len() < 2048, "reason of {} bytes", reason.len());
    }
}

#[test]
fn a_sleep_fails_at_once() {
    attack(101, fails_with(&["plugins may not block"]));
}

#[test]
fn values_sharing_one_buffer_are_not_copied_past_the_output_cap() {
    attack(104, fails_with(&["returned more than"]));
}

#[test]
fn a_megabyte_fail_reason_hits_the_output_cap() {
    attack(105, fails_with(&["returned more than"]));
}

#[test]
fn three_hundred_thousand_extra_outcomes_are_stopped() {
    attack(
        106,
        fails_with(&[
            "returned more than",
            "exceeded its time limit",
            "exceeded its memory limit",
        ]),
    );
}

#[test]
fn nan_and_infinity_fail_instead_of_logging_null() {
    attack(107, fails_with(&["returned NaN for field `price`"]));
    attack(108, fails_with(&["returned inf for field `price`"]));
}

#[test]
fn a_null_key_fails() {
    attack(
        112,
        fails_with(&["returned null for field `id`, declared int (not optional)"]),
    );
}

#[test]
fn an_endless_loop_hits_the_time_limit() {
    attack(113, fails_with(&["exceeded its time limit"]));
}

#[test]
fn a_gigabyte_hits_the_memory_limit() {
    attack(114, fails_with(&["exceeded its memory limit"]));
}

#[test]
fn too_few_values_fail_only_their_record() {
    attack(
        115,
        fails_with(&["returned 1 values for 1 kept records of 3 `writes` each"]),
    );
}

#[test]
fn a_span_past_the_end_of_the_data_fails() {
    attack(116, fails_with(&["returned field `name` as bytes"]));
}

#[test]
fn a_span_whose_end_overflows_fails() {
    attack(
        117,
        fails_with(&["returned field `name` as bytes 4294967294..+2 of a result of"]),
    );
}

#[test]
fn a_text_span_that_is_not_utf8_fails() {
    attack(
        118,
        fails_with(&["returned field `name` as text that is not UTF-8"]),
    );
    attack(
        120,
        fails_with(&["returned field `name` as text that is not UTF-8"]),
    );
}

#[test]
fn a_span_count_far_above_the_record_count_is_stopped() {
    attack(
        119,
        fails_with(&[
            "returned more than",
            "values for 1 kept records of 3 `writes` each",
        ]),
    );
}

#[test]
fn a_trap_fails_only_its_record() {
    attack(121, fails_with(&["trapped"]));
}

/// A bisection calls the plugin on parts of a batch, and the host puts the
/// parts' results end to end: a span past the end of its own part's data
/// must not become valid by pointing into the next part's.
#[test]
fn a_span_past_its_part_of_a_bisected_batch_fails() {
    let _one_at_a_time = serial();
    let mut chain = hostile();
    let mut ids: Vec<i32> = (1..=20).collect();
    ids.insert(4, 116);
    ids.insert(16, 121);
    let batch = products(ids.iter().copied());
    let outcomes = chain.process(batch.clone());
    assert_eq!(outcomes.len(), batch.len());
    for (input, outcome) in batch.iter().zip(&outcomes) {
        match id_of(input) {
            116 => fails_with(&["returned field `name` as bytes"])(outcome),
            121 => fails_with(&["trapped"])(outcome),
            _ => assert_eq!(kept(outcome), input, "an innocent record was touched"),
        }
    }
}

/// Text written back travels as spans of the result's data: every kept
/// record gets its own bytes back, none of a neighbour's.
#[test]
fn written_text_comes_back_to_its_own_record() {
    let _one_at_a_time = serial();
    let mut chain = hostile();
    let batch = products(1..=50);
    for (input, outcome) in batch.iter().zip(chain.process(batch.clone())) {
        let record = kept(&outcome);
        assert_eq!(
            record.get("name"),
            Some(&FieldValue::Text(format!("product {}", id_of(input))))
        );
        assert_eq!(record, input);
    }
}
