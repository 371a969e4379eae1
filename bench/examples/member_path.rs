//! A member's own work on its records, in process (no broker, no disk):
//! wire format → record → plugin chain → JSON log lines, in batches of 500,
//! with the chain the first argument names (`wasm`: the seed plugins,
//! `wasm_rows`: their `transform`-world twins, `native`: the seed
//! transforms in Rust). Made to be counted by instructions, which a loaded
//! machine does not disturb:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='*member_path*batches*' \
//!     target/release/examples/member_path wasm 100
//! ```
//!
//! `--toggle-collect` leaves out start-up (compiling the plugins); the
//! second argument is the number of batches.

use std::hint::black_box;

use pipeline::codec::{ValueSchema, WireDecoder, WireEncoder};
use pipeline::config::PluginConfig;
use pipeline::plugin::{ChainOutcome, PluginChain};
use pipeline::record::Record;
use pipeline::sink::{LogLineRef, RecordJson, SourcePosition};

#[path = "../../host/tests/plugin_support/mod.rs"]
mod plugin_support;
use plugin_support::{products, schema, wasm};

const BATCH: usize = 500;

fn main() {
    let mut args = std::env::args().skip(1);
    let chain_name = args.next().unwrap_or_else(|| "wasm".into());
    let batches: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let mut chain = match chain_name.as_str() {
        "native" => PluginChain::native_seed(),
        "wasm" => load(&["uppercase_category", "cat5_discount"]),
        "wasm_rows" => load(&[
            "fixture_rows_uppercase_category",
            "fixture_rows_cat5_discount",
        ]),
        other => {
            eprintln!("member_path: unknown chain {other} (wasm, wasm_rows, native)");
            std::process::exit(2);
        }
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/product_value_avro_schema.json");
    let value_schema = ValueSchema::load(&path).expect("the value schema");
    let encoder = WireEncoder::with_id(&value_schema, 1);
    let payloads: Vec<Vec<u8>> = products(1..=BATCH as i32)
        .iter()
        .map(|record| encoder.encode(record).expect("encodes"))
        .collect();
    let decoder = WireDecoder::knowing(&value_schema, 1).expect("a decoder");
    let mut lines = Vec::with_capacity(BATCH * 300);
    let written = batches_of(&decoder, &payloads, &mut chain, &mut lines, batches);
    println!("{chain_name}: {written} lines");
}

fn load(files: &[&str]) -> PluginChain {
    let plugins: Vec<PluginConfig> = files
        .iter()
        .map(|file| PluginConfig::at(wasm(file)))
        .collect();
    PluginChain::load(&plugins, &schema()).expect("the plugins load")
}

/// `batches` times: decode every payload, run the chain, render the lines.
#[inline(never)]
fn batches_of(
    decoder: &WireDecoder,
    payloads: &[Vec<u8>],
    chain: &mut PluginChain,
    lines: &mut Vec<u8>,
    batches: usize,
) -> usize {
    let mut written = 0;
    for _ in 0..batches {
        let records: Vec<Record> = payloads
            .iter()
            .map(|payload| {
                decoder
                    .decode_known(Some(payload))
                    .expect("known schema")
                    .expect("decodes")
            })
            .collect();
        let versions = chain.versions().to_owned();
        lines.clear();
        for (offset, outcome) in chain.process(records).into_iter().enumerate() {
            let ChainOutcome::Keep(record) = outcome else {
                panic!("a seed record was not kept: {outcome:?}");
            };
            let source = SourcePosition {
                key: serde_json::json!(offset),
                stamp: 1_764_064_800_123_456,
            };
            let line = LogLineRef {
                topic: "product_updates",
                partition: 0,
                offset: offset as i64,
                member: 1,
                plugins: &versions,
                logged_at_us: 1_764_064_800_223_456,
                source: Some(&source),
                record: RecordJson(&record),
            };
            serde_json::to_writer(&mut *lines, &line).expect("serializes");
            lines.push(b'\n');
            written += 1;
        }
        black_box(&lines);
    }
    written
}
