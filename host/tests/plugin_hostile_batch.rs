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
        fails_with(&["returned 1 values for 1 kept records of 2 `writes` each"]),
    );
}
