//! Throughput of the seed chain, wasm against native Rust, at the consumer's
//! default batch size. Ignored by default (timings need a release build):
//! `cargo test -p host --release --test plugin_throughput -- --ignored --nocapture`.

mod plugin_support;

use std::time::Instant;

use pipeline::config::PluginConfig;
use pipeline::plugin::PluginChain;
use pipeline::record::{FieldValue, Record};
use plugin_support::{products, schema, wasm};

const BATCH: usize = 500;
const BATCHES: usize = 200;

fn records_per_second(chain: &mut PluginChain, batch: &[Record]) -> f64 {
    chain.process(batch.to_vec()); // warm up
    let started = Instant::now();
    let mut checksum = 0usize;
    for _ in 0..BATCHES {
        checksum += chain.process(batch.to_vec()).len();
    }
    let rate = checksum as f64 / started.elapsed().as_secs_f64();
    assert_eq!(checksum, BATCH * BATCHES);
    rate
}

#[test]
#[ignore = "a measurement, run in release with --ignored"]
fn wasm_chain_against_native() {
    let plugins = [
        PluginConfig::at(wasm("uppercase_category")),
        PluginConfig::at(wasm("cat5_discount")),
    ];
    let mut wasm_chain = PluginChain::load(&plugins, &schema()).unwrap();
    let mut native = PluginChain::native_seed();
    let batch = products(1..=BATCH as i32);
    assert!(
        matches!(native.process(batch.clone())[3], pipeline::plugin::ChainOutcome::Keep(ref r) if r.get("discount_price") == Some(&FieldValue::Double(4.0)))
    );
    let native_rate = records_per_second(&mut native, &batch);
    let wasm_rate = records_per_second(&mut wasm_chain, &batch);
    println!(
        "seed chain, batches of {BATCH}: native {native_rate:.0} records/s, wasm {wasm_rate:.0} records/s, ratio {:.2}",
        wasm_rate / native_rate
    );
    for stats in wasm_chain.stats() {
        println!(
            "  {}: {} records in {:?}",
            stats.version, stats.records_in, stats.time
        );
    }
}
