//! Hostile plugins: code written to attack the host, not clumsy code. Each
//! attack must cost the host at most the plugin's limits: the chain keeps
//! working, only the attacking record fails (with a reason naming the real
//! cause), the process's peak memory stays under [`PEAK_RSS_MIB`], and each
//! hostile record costs less than [`HOSTILE_RECORD_WALL`] of wall time.
//!
//! The fixtures are `plugins/fixture-hostile` (attacks chosen by the record's
//! id, 101 to 112, see its doc), `fixture-leak`, `fixture-random` and the
//! `fixture-manifest-*`, `fixture-key-optional` and `fixture-unknown-import`
//! plugins, which attack at load.

mod plugin_support;

use std::time::{Duration, Instant};

use pipeline::config::PluginConfig;
use pipeline::plugin::{ChainOutcome, PluginChain};
use pipeline::record::FieldValue;
use plugin_support::{failed, id_of, kept, peak_rss_mib, products, schema, wasm};

/// Peak RSS of the whole test process (several chains with the default
/// limits: 16 MiB of guest memory each, compiled code, the test harness).
const PEAK_RSS_MIB: u64 = 256;

/// Wall time one hostile record may cost, generous for a loaded 2-core
/// machine: the budget is 10 ms of CPU per record (50 ms per batch), and
/// the attack is retried alone and on a fresh instance.
const HOSTILE_RECORD_WALL: Duration = Duration::from_secs(10);

/// Wall time a refused load may take: mostly compiling the component, which
/// takes seconds in a debug build on a loaded machine; a manifest that
/// sleeps would take an hour.
const LOAD_WALL: Duration = Duration::from_secs(60);

/// Runs the tests of this file one at a time, each with the process's peak
/// RSS reset (`/proc/self/clear_refs`), so a peak is one attack's, not the sum
/// of two running side by side (the suite runs with `--test-threads 2`).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // "5" resets VmHWM to the current RSS (Linux 4.0+).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    guard
}

fn hostile() -> PluginChain {
    PluginChain::load(&[PluginConfig::at(wasm("fixture_hostile"))], &schema()).unwrap()
}

/// Runs innocents 1..=20 with `attacker` in the middle through `chain`; the
/// attacker's outcome goes to `check`, every other record must be kept
/// unchanged. Then a clean batch must pass, and the bounds must hold.
fn attack(chain: &mut PluginChain, attacker: i32, check: impl Fn(&ChainOutcome)) {
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
        assert_eq!(
            kept(&outcome),
            input,
            "the chain must go on after the attack"
        );
    }
    let peak = peak_rss_mib();
    assert!(
        peak < PEAK_RSS_MIB,
        "peak RSS {peak} MiB after attack {attacker}"
    );
}

fn fails_with(cause: &'static str) -> impl Fn(&ChainOutcome) {
    move |outcome| {
        let reason = failed(outcome);
        assert!(reason.contains(cause), "expected `{cause}` in: {reason}");
        assert!(reason.len() < 2048, "reason of {} bytes", reason.len());
    }
}

#[test]
fn a_sleep_fails_at_once_instead_of_stalling_the_member() {
    let _one_at_a_time = serial();
    attack(&mut hostile(), 101, fails_with("plugins may not block"));
}

#[test]
fn polling_a_clock_subscription_fails_at_once() {
    let _one_at_a_time = serial();
    attack(&mut hostile(), 102, fails_with("plugins may not block"));
}

#[test]
fn blocking_on_a_subscribe_instant_pollable_fails_at_once() {
    let _one_at_a_time = serial();
    attack(&mut hostile(), 103, fails_with("plugins may not block"));
}

#[test]
fn outcomes_sharing_one_buffer_are_not_copied_past_the_output_cap() {
    let _one_at_a_time = serial();
    attack(&mut hostile(), 104, fails_with("returned more than"));
}

#[test]
fn a_megabyte_fail_reason_hits_the_output_cap() {
    let _one_at_a_time = serial();
    attack(&mut hostile(), 105, fails_with("returned more than"));
}

#[test]
fn three_hundred_thousand_extra_outcomes_hit_the_output_cap() {
    let _one_at_a_time = serial();
    // Making them costs the plugin its CPU budget or its memory, or copying
    // them would pass the output cap: whichever comes first stops it.
    attack(&mut hostile(), 106, |outcome| {
        let reason = failed(outcome);
        assert!(
            [
                "returned more than",
                "exceeded its time limit",
                "exceeded its memory limit"
            ]
            .iter()
            .any(|cause| reason.contains(cause)),
            "{reason}"
        );
    });
}

#[test]
fn nan_and_infinity_fail_instead_of_logging_null() {
    let _one_at_a_time = serial();
    let mut chain = hostile();
    attack(
        &mut chain,
        107,
        fails_with("returned NaN for field `price`"),
    );
    attack(
        &mut chain,
        108,
        fails_with("returned inf for field `price`"),
    );
}

#[test]
fn printing_a_megabyte_is_harmless() {
    let _one_at_a_time = serial();
    // The host's work of taking 1 MB of output is charged to the plugin's
    // CPU budget; a debug build of the host needs more than the default
    // 10 ms for it, and the attack is that printing harms nothing.
    let mut config = PluginConfig::at(wasm("fixture_hostile"));
    config.time_limit_ms = 1000;
    let mut chain = PluginChain::load(&[config], &schema()).unwrap();
    attack(&mut chain, 109, |outcome| {
        assert_eq!(id_of(kept(outcome)), 109);
    });
}

#[test]
fn asking_for_a_gigabyte_of_random_bytes_fails() {
    let _one_at_a_time = serial();
    attack(&mut hostile(), 110, fails_with("exceeds limit"));
}

#[test]
fn a_long_drop_reason_is_cut() {
    let _one_at_a_time = serial();
    attack(&mut hostile(), 111, |outcome| match outcome {
        ChainOutcome::Dropped { reason, .. } => {
            assert!(reason.len() <= 1100, "{} bytes", reason.len());
            assert!(reason.ends_with("more bytes cut)"), "{reason}");
        }
        other => panic!("expected a drop: {other:?}"),
    });
}

#[test]
fn removing_the_key_fails() {
    let _one_at_a_time = serial();
    attack(&mut hostile(), 112, fails_with("dropped field `id`"));
}

#[test]
fn state_leaked_across_calls_does_not_condemn_innocent_records() {
    let _one_at_a_time = serial();
    let mut chain =
        PluginChain::load(&[PluginConfig::at(wasm("fixture_leak"))], &schema()).unwrap();
    for round in 0..2 {
        let batch = products(1 + round * 500..=500 + round * 500);
        let outcomes = chain.process(batch.clone());
        let failures: Vec<_> = outcomes
            .iter()
            .filter_map(|outcome| match outcome {
                ChainOutcome::Failed(letter) => Some(letter.reason.clone()),
                _ => None,
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{} innocent records failed: {:?}",
            failures.len(),
            failures.first()
        );
    }
    let peak = peak_rss_mib();
    assert!(peak < PEAK_RSS_MIB, "peak RSS {peak} MiB");
}

fn noise(chain: &mut PluginChain) -> Vec<i64> {
    chain
        .process(products(1..=5))
        .iter()
        .map(|outcome| match kept(outcome).get("noise") {
            Some(FieldValue::Long(noise)) => *noise,
            other => panic!("no noise: {other:?}"),
        })
        .collect()
}

#[test]
fn random_numbers_are_replayed_unless_granted() {
    let _one_at_a_time = serial();
    let config = PluginConfig::at(wasm("fixture_random"));
    let mut chain = PluginChain::load(std::slice::from_ref(&config), &schema()).unwrap();
    let first = noise(&mut chain);
    assert_eq!(
        noise(&mut chain),
        first,
        "a retried batch must come out the same"
    );
    let mut other = PluginChain::load(std::slice::from_ref(&config), &schema()).unwrap();
    assert_eq!(noise(&mut other), first, "and in another member");

    let mut granted = config;
    granted.allow_random = true;
    let mut chain = PluginChain::load(&[granted], &schema()).unwrap();
    let first = noise(&mut chain);
    assert_ne!(
        noise(&mut chain),
        first,
        "allow_random grants real randomness"
    );
}

/// Loading `file` must fail, quickly, with `cause` in the message.
fn refused_at_load(file: &str, cause: &str) {
    let started = Instant::now();
    let error = PluginChain::load(&[PluginConfig::at(wasm(file))], &schema())
        .map(drop)
        .expect_err("must be refused");
    let message = error.to_string();
    assert!(message.contains(cause), "expected `{cause}` in: {message}");
    assert!(message.len() < 2048, "message of {} bytes", message.len());
    assert!(started.elapsed() < LOAD_WALL, "{:?}", started.elapsed());
}

#[test]
fn a_manifest_that_sleeps_is_refused_at_once() {
    let _one_at_a_time = serial();
    refused_at_load("fixture_manifest_sleep", "plugins may not block");
}

#[test]
fn a_manifest_that_prints_and_panics_is_refused() {
    let _one_at_a_time = serial();
    refused_at_load("fixture_manifest_panic", "manifest() failed: trapped");
}

#[test]
fn a_megabyte_manifest_name_is_refused() {
    let _one_at_a_time = serial();
    refused_at_load(
        "fixture_manifest_huge",
        "its manifest is larger than 262144 bytes",
    );
}

#[test]
fn eighty_thousand_writes_are_refused_quickly() {
    let _one_at_a_time = serial();
    refused_at_load("fixture_manifest_writes", "its manifest is larger than");
}

#[test]
fn the_key_cannot_be_declared_optional() {
    let _one_at_a_time = serial();
    refused_at_load(
        "fixture_key_optional",
        "declares the key field `id` optional",
    );
}

#[test]
fn an_import_the_host_does_not_provide_is_named() {
    let _one_at_a_time = serial();
    refused_at_load(
        "fixture_unknown_import",
        "imports `read-host-secret`, which the host does not provide",
    );
}

/// `transform-batch` changed (text and bytes became spans of one buffer):
/// a plugin built against the first version must be refused at load with
/// the fix, not a type error of the component model.
#[test]
fn a_plugin_of_the_first_batch_world_is_told_to_rebuild() {
    let _one_at_a_time = serial();
    refused_at_load(
        "fixture_batch_v1",
        "rebuild it against the current wit/transform.wit",
    );
}

#[test]
fn a_hot_swap_to_a_sleeping_manifest_does_not_block_the_watcher() {
    let _one_at_a_time = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.wasm");
    std::fs::copy(wasm("uppercase_category"), &path).unwrap();
    let mut chain = PluginChain::load(&[PluginConfig::at(&path)], &schema()).unwrap();
    let replace = |file: &str| {
        let staged = dir.path().join("staged.wasm");
        std::fs::copy(wasm(file), &staged).unwrap();
        std::fs::rename(&staged, &path).unwrap();
    };
    replace("fixture_manifest_sleep");
    let deadline = Instant::now() + Duration::from_secs(30);
    while chain.rejected_versions() == 0 {
        assert!(
            Instant::now() < deadline,
            "the sleeping version was never refused"
        );
        assert!(chain.swap_in_ready().is_empty());
        std::thread::sleep(Duration::from_millis(50));
    }
    replace("cat5_discount");
    loop {
        assert!(
            Instant::now() < deadline,
            "the watcher never picked up the next version"
        );
        if !chain.swap_in_ready().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        chain.versions().starts_with("cat5-discount@"),
        "{}",
        chain.versions()
    );
    let started = Instant::now();
    drop(chain);
    assert!(started.elapsed() < LOAD_WALL, "dropping the chain hung");
}
