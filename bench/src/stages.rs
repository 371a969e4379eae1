//! Per-record stage costs for the report, from the last Criterion run
//! (`cargo bench -p bench`, which `just bench` runs first): the mean time
//! of each stage's benchmark divided by the records one iteration handles.
//! A stage whose benchmark has not run is left out (the report says which
//! ran).
//!
//! The stages the micro-benchmarks cannot isolate (librdkafka's produce and
//! fetch, the acknowledgements, the poll loop) are reported as what remains
//! of each process's measured CPU per row in the catch-up once the stages
//! above are taken off: `producer_rest` and `consumers_rest`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// Criterion benchmark (`group/function`) and the report's name for it.
pub const STAGES: &[(&str, &str)] = &[
    ("producer/mysql_row_decode", "producer_mysql_row_decode"),
    ("producer/avro_encode", "producer_avro_encode"),
    ("producer/message_key", "producer_message_key"),
    ("producer/key_decode", "producer_key_decode"),
    ("producer/late_note_sent", "producer_late_note_sent"),
    (
        "producer/encode_batch_1_thread",
        "producer_encode_batch_1_thread",
    ),
    // Wall time per record on the pool's two threads (the CPU is the
    // one-thread figure's, plus the hand-over).
    (
        "producer/encode_batch_2_threads",
        "producer_encode_batch_2_threads",
    ),
    ("consumer/wire_decode", "consumer_wire_decode"),
    ("seed_chain/wasm", "consumer_plugin_chain_wasm"),
    ("seed_chain/native", "consumer_plugin_chain_native"),
    ("consumer/json_line", "consumer_json_line"),
    ("consumer/log_write", "consumer_log_write"),
    // Per commit of a member (one every 500 ms while records flow), not per record.
    (
        "consumer/log_sync_per_commit",
        "consumer_log_sync_per_commit",
    ),
    // The paths these stages replaced, for comparison.
    (
        "producer/avro_encode_apache_avro",
        "before_producer_avro_encode",
    ),
    (
        "consumer/wire_decode_apache_avro",
        "before_consumer_wire_decode",
    ),
    ("consumer/json_line_via_map", "before_consumer_json_line"),
    ("seed_chain/wasm_rows", "before_consumer_plugin_chain_wasm"),
];

/// Where Criterion wrote its results: next to the bench binary's profile
/// directory (`target/criterion`), or under `CARGO_TARGET_DIR`.
fn criterion_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(target).join("criterion"));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(target) = exe.parent().and_then(Path::parent)
    {
        dirs.push(target.join("criterion"));
    }
    dirs.push(PathBuf::from("target/criterion"));
    dirs
}

/// Nanoseconds per record of each stage Criterion measured.
pub fn from_criterion() -> BTreeMap<String, f64> {
    let mut costs = BTreeMap::new();
    for dir in criterion_dirs() {
        for (bench, name) in STAGES {
            if costs.contains_key(*name) {
                continue;
            }
            if let Some(ns) = per_record_ns(&dir.join(bench)) {
                costs.insert((*name).to_owned(), (ns * 10.0).round() / 10.0);
            }
        }
    }
    costs
}

/// The mean of one benchmark's last run over its elements per iteration.
fn per_record_ns(bench: &Path) -> Option<f64> {
    let read = |file: &str| -> Option<Json> {
        serde_json::from_str(&std::fs::read_to_string(bench.join("new").join(file)).ok()?).ok()
    };
    let mean = read("estimates.json")?
        .pointer("/mean/point_estimate")?
        .as_f64()?;
    let elements = read("benchmark.json")
        .and_then(|info| info.pointer("/throughput/Elements")?.as_f64())
        .unwrap_or(1.0);
    Some(mean / elements.max(1.0))
}

/// Adds what remains of each process's CPU per row beyond its measured
/// stages (see the module comment); CPU in ms per 1,000 rows is µs per row.
pub fn add_rest(
    costs: &mut BTreeMap<String, f64>,
    producer_ms_per_1k: Option<f64>,
    consumers_ms_per_1k: Option<f64>,
) {
    let sum = |costs: &BTreeMap<String, f64>, names: &[&str]| -> Option<f64> {
        names.iter().map(|name| costs.get(*name).copied()).sum()
    };
    // The producer's later stages count where their benchmarks ran (a
    // report from before them has only the first two).
    let producer = sum(
        costs,
        &["producer_mysql_row_decode", "producer_avro_encode"],
    )
    .map(|base| {
        base + ["producer_message_key", "producer_late_note_sent"]
            .iter()
            .filter_map(|name| costs.get(*name))
            .sum::<f64>()
    });
    let consumers = sum(
        costs,
        &[
            "consumer_wire_decode",
            "consumer_plugin_chain_wasm",
            "consumer_json_line",
            "consumer_log_write",
        ],
    );
    if let (Some(total), Some(stages)) = (producer_ms_per_1k, producer) {
        costs.insert("producer_rest".into(), (total * 1000.0 - stages).round());
    }
    if let (Some(total), Some(stages)) = (consumers_ms_per_1k, consumers) {
        costs.insert("consumers_rest".into(), (total * 1000.0 - stages).round());
    }
}

/// Appends a batch of log lines and syncs, as a member does before a
/// commit, `rounds` times in `dir` (the bench's disk): p50 and p99 of the
/// sync alone, in ms.
pub fn log_sync_ms(dir: &Path, rounds: usize) -> anyhow::Result<(f64, f64)> {
    let path = dir.join("log_sync").join("consumer_log.json");
    let _ = std::fs::remove_file(&path);
    let mut log = pipeline::sink::ConsumerLog::open(&path, false)?;
    // 500 lines of the size the seed's records make.
    let line = format!("{{\"record\":\"{}\"}}\n", "x".repeat(240));
    let batch = line.repeat(500);
    let mut syncs = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        log.append_lines(batch.as_bytes())?;
        let started = std::time::Instant::now();
        log.sync()?;
        syncs.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    drop(log);
    let _ = std::fs::remove_file(&path);
    Ok((
        crate::deployment::percentile(&mut syncs, 50.0),
        crate::deployment::percentile(&mut syncs, 99.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_benchmark_is_read_per_record_and_the_rest_is_what_the_cpu_left() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("seed_chain/wasm/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":500000.0}}"#,
        )
        .unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"throughput":{"Elements":500}}"#,
        )
        .unwrap();
        assert_eq!(
            per_record_ns(&dir.path().join("seed_chain/wasm")),
            Some(1000.0)
        );
        assert_eq!(per_record_ns(&dir.path().join("missing")), None);

        let mut costs: BTreeMap<String, f64> = [
            ("producer_mysql_row_decode", 300.0),
            ("producer_avro_encode", 200.0),
        ]
        .into_iter()
        .map(|(name, ns)| (name.to_owned(), ns))
        .collect();
        add_rest(&mut costs, Some(6.0), Some(7.0));
        assert_eq!(costs.get("producer_rest"), Some(&5500.0));
        assert_eq!(costs.get("consumers_rest"), None, "its stages did not run");
    }
}
