//! Per-record cost of the seed transforms: the two-plugin wasm chain against
//! the same transforms in native Rust, on the same batch of records, at the
//! consumer's default batch size. (The consumer-level ratio, decode and log
//! writes included, is `wasm_vs_native_ratio` in `pipeline bench`.)
//!
//! Needs the plugins built (`just plugins`; `just bench` does it).

use std::hint::black_box;
use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pipeline::config::PluginConfig;
use pipeline::plugin::{FieldType, PluginChain, SchemaFields};
use pipeline::record::{FieldValue, Record};

const BATCH: usize = 500;

fn product(id: i32) -> Record {
    Record::default()
        .with("id", FieldValue::Int(id))
        .with("name", FieldValue::Text(format!("product {id}")))
        .with("category", FieldValue::Text(format!("cat_{}", id % 5 + 1)))
        .with("price", FieldValue::Double(f64::from(id) * 1.25))
        .with(
            "last_updated",
            FieldValue::Long(1_700_000_000_000_000 + i64::from(id)),
        )
}

fn chains(c: &mut Criterion) {
    let plugins_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/wasm");
    let plugins = ["uppercase_category", "cat5_discount"]
        .map(|name| PluginConfig::at(plugins_dir.join(format!("{name}.wasm"))));
    let schema = SchemaFields::new([
        ("id", FieldType::Int, false),
        ("name", FieldType::Text, false),
        ("category", FieldType::Text, false),
        ("price", FieldType::Double, false),
        ("last_updated", FieldType::Long, false),
    ]);
    let mut wasm = match PluginChain::load(&plugins, &schema) {
        Ok(chain) => chain,
        Err(error) => panic!("{error} (build the plugins first: `just plugins`)"),
    };
    let mut native = PluginChain::native_seed();
    let batch: Vec<Record> = (1..=BATCH as i32).map(product).collect();
    assert_eq!(wasm.process(batch.clone()), native.process(batch.clone()));

    let mut group = c.benchmark_group("seed_chain");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, chain) in [("native", &mut native), ("wasm", &mut wasm)] {
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
