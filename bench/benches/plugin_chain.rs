//! Per-record cost of the seed transforms: the two-plugin wasm chain against
//! the same transforms in native Rust, on the same batch of records, at the
//! consumer's default batch size. `wasm` is the seed plugins as they are (the
//! `transform-batch` world), `wasm_rows` the same transforms built against
//! the first version of the interface (the `transform` world, every record
//! as named fields), side by side. (The consumer-level ratio, decode and log
//! writes included, is `wasm_vs_native_ratio` in the end-to-end bench, `cargo run --release -p bench`.)
//!
//! Builds the plugins first if they are not (`scripts/build-plugins.sh`).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pipeline::config::PluginConfig;
use pipeline::plugin::PluginChain;
use pipeline::record::Record;

#[path = "../../host/tests/plugin_support/mod.rs"]
mod plugin_support;
use plugin_support::{products, schema, wasm};

const BATCH: usize = 500;

fn chains(c: &mut Criterion) {
    let plugins = [wasm("uppercase_category"), wasm("cat5_discount")].map(PluginConfig::at);
    let mut wasm_chain = PluginChain::load(&plugins, &schema()).expect("the seed plugins load");
    let rows_plugins = [
        wasm("fixture_rows_uppercase_category"),
        wasm("fixture_rows_cat5_discount"),
    ]
    .map(PluginConfig::at);
    let mut rows_chain =
        PluginChain::load(&rows_plugins, &schema()).expect("the rows-world seed plugins load");
    let mut native = PluginChain::native_seed();
    let batch: Vec<Record> = products(1..=BATCH as i32);
    let expected = native.process(batch.clone());
    assert_eq!(wasm_chain.process(batch.clone()), expected);
    assert_eq!(rows_chain.process(batch.clone()), expected);

    let mut group = c.benchmark_group("seed_chain");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, chain) in [
        ("native", &mut native),
        ("wasm", &mut wasm_chain),
        ("wasm_rows", &mut rows_chain),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || batch.clone(),
                |records| black_box(chain.process(records)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, chains);
criterion_main!(benches);
