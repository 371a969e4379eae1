//! What a plugin's language costs, in one run: records/s through the seed
//! chain written in Rust, Python and JavaScript (Criterion throughput, batch
//! of 500 as the consumer), and the time to load each chain and to hot-swap
//! one of its plugins (printed; a swap is measured from the rename into
//! place to the first batch the new version processes, processing batches
//! meanwhile as a member does).
//!
//! Load and swap times depend on wasmtime's compilation cache (see
//! `host/src/plugin/engine.rs`): the first load of a version compiles it
//! (seconds for Python/JS), later ones map the cached code.
//! `PIPELINE_WASM_CACHE=off cargo bench -p bench --bench plugin_languages`
//! measures cold compiles.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pipeline::config::PluginConfig;
use pipeline::plugin::PluginChain;
use pipeline::record::Record;

#[path = "../../host/tests/plugin_support/mod.rs"]
mod plugin_support;
use plugin_support::{products, schema, wasm};

const BATCH: usize = 500;
/// What the README documents for Python and JavaScript plugins.
const INTERPRETER_MEMORY_MIB: u64 = 32;
const LANGUAGES: [(&str, &str, u64); 3] = [
    ("rust", "", 16),
    ("python", "_py", INTERPRETER_MEMORY_MIB),
    ("js", "_js", INTERPRETER_MEMORY_MIB),
];

/// A call's budget is at least `time_limit_ms`: an interpreter needs tens of
/// ms for a batch of 500, more than the 50 ms cap a batch otherwise gets
/// (which would split every batch; README, "Write a transform in Python").
fn config(path: std::path::PathBuf, memory_limit_mib: u64) -> PluginConfig {
    let time_limit_ms = if memory_limit_mib > 16 { 2_000 } else { 10 };
    PluginConfig {
        memory_limit_mib,
        time_limit_ms,
        ..PluginConfig::at(path)
    }
}

fn seed_chain(suffix: &str, memory: u64) -> PluginChain {
    let plugins = ["uppercase_category", "cat5_discount"]
        .map(|name| config(wasm(&format!("{name}{suffix}")), memory));
    PluginChain::load(&plugins, &schema()).expect("the seed plugins load")
}

/// Loads a chain whose first plugin is a copy of `uppercase_category`, renames
/// `round_prices` over it, and returns how long until a batch ran on it.
fn swap_time(suffix: &str, memory: u64) -> Duration {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("first.wasm");
    std::fs::copy(wasm(&format!("uppercase_category{suffix}")), &file).expect("copy");
    let plugins = [
        config(file.clone(), memory),
        config(wasm(&format!("cat5_discount{suffix}")), memory),
    ];
    let mut chain = PluginChain::load(&plugins, &schema()).expect("the chain loads");
    let temporary = dir.path().join("first.wasm.tmp");
    std::fs::copy(wasm(&format!("round_prices{suffix}")), &temporary).expect("copy");
    let started = Instant::now();
    std::fs::rename(&temporary, &file).expect("rename");
    let batch: Vec<Record> = products(1..=BATCH as i32);
    loop {
        black_box(chain.process(batch.clone()));
        if !chain.swap_in_ready().is_empty() {
            chain.process(batch.clone());
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no swap in 10 minutes"
        );
    }
}

fn languages(c: &mut Criterion) {
    let batch: Vec<Record> = products(1..=BATCH as i32);
    let mut chains = Vec::new();
    for (language, suffix, memory) in LANGUAGES {
        let started = Instant::now();
        let mut chain = seed_chain(suffix, memory);
        let load = started.elapsed();
        let swap = swap_time(suffix, memory);
        eprintln!(
            "plugin_languages/{language}: seed chain loaded in {:.1} ms, hot swap in {:.1} ms",
            load.as_secs_f64() * 1e3,
            swap.as_secs_f64() * 1e3
        );
        chains.push((language, chain.process(batch.clone()), chain));
    }
    // Same output in every language before any timing.
    for (language, output, _) in &chains[1..] {
        assert_eq!(output, &chains[0].1, "{language} differs from rust");
    }

    let mut group = c.benchmark_group("seed_chain_by_language");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (language, _, chain) in &mut chains {
        group.bench_function(*language, |b| {
            b.iter_batched(
                || batch.clone(),
                |records| black_box(chain.process(records)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, languages);
criterion_main!(benches);
