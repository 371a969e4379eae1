//! Pins the transformed output of the 50 seed records (insta snapshot), and
//! checks the seed chain written in Python and in JavaScript gives exactly
//! the same logs (the same snapshot, `discount_price` rounding included).

mod common;

use std::time::Duration;

use common::Harness;
use pipeline::config::{Config, PluginConfig};

/// The memory a Python or JavaScript component needs (README, "Write a
/// transform in Python").
const INTERPRETER_MEMORY_MIB: u64 = 32;

/// Runs the seed through a pipeline whose chain is the seed's plugins with
/// `suffix` (`""` Rust, `"_py"` Python, `"_js"` JavaScript) and snapshots it.
async fn seed_records_transformed_by(test: &str, suffix: &str) {
    let mut harness = Harness::new(test, "");
    if !suffix.is_empty() {
        common::ensure_polyglot_plugins_built();
        let wasm = common::workspace_root().join("plugins/wasm");
        harness.reconfigure(|config: &mut Config| {
            config.plugins = ["uppercase_category", "cat5_discount"]
                .map(|name| PluginConfig {
                    memory_limit_mib: INTERPRETER_MEMORY_MIB,
                    ..PluginConfig::at(wasm.join(format!("{name}{suffix}.wasm")))
                })
                .to_vec();
        });
    }
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(1);
    harness.spawn("producer", &["produce"]);
    harness.run(&["update", "--count", "0"]);
    let mut lines = harness.wait_for_lines(50, Duration::from_secs(600));
    lines.sort_by_key(|line| line.id());
    // The insert trigger stamps each row with the load time: not stable.
    let records: Vec<_> = lines
        .into_iter()
        .map(|line| {
            let mut record = line.record;
            assert!(record.remove("last_updated").is_some_and(|v| v.is_i64()));
            record
        })
        .collect();
    insta::assert_json_snapshot!("seed_records_transformed", records);
    pool.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_records_transformed() {
    seed_records_transformed_by("seed", "").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_records_transformed_in_python() {
    seed_records_transformed_by("seed_py", "_py").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_records_transformed_in_javascript() {
    seed_records_transformed_by("seed_js", "_js").await;
}
