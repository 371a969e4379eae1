//! Shared by the `plugin_*` tests: builds the plugins once, a product schema,
//! product records.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use pipeline::plugin::{ChainOutcome, FieldType, SchemaFields};
use pipeline::record::{FieldValue, Record};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `plugins/wasm/<file>.wasm`, building every plugin (once per test binary)
/// with `scripts/build-plugins.sh`; cargo makes it a no-op when up to date.
pub fn wasm(file: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(root().join("scripts/build-plugins.sh"))
            .current_dir(root())
            .status()
            .expect("run scripts/build-plugins.sh");
        assert!(status.success(), "scripts/build-plugins.sh failed");
    });
    let path = root().join("plugins/wasm").join(format!("{file}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The product value schema's fields, `id` the key.
pub fn schema() -> SchemaFields {
    SchemaFields::new([
        ("id", FieldType::Int, false),
        ("name", FieldType::Text, false),
        ("category", FieldType::Text, false),
        ("price", FieldType::Double, false),
        ("last_updated", FieldType::Long, false),
    ])
    .with_key("id")
}

/// The peak resident memory of this process so far (`VmHWM`), in MiB.
pub fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib / 1024)
        .expect("VmHWM in /proc/self/status")
}

/// A product record: category `cat_(id % 5 + 1)`, price `id * 1.25`.
pub fn product(id: i32) -> Record {
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

pub fn products(ids: impl IntoIterator<Item = i32>) -> Vec<Record> {
    ids.into_iter().map(product).collect()
}

/// The kept record, or a panic naming what happened instead.
pub fn kept(outcome: &ChainOutcome) -> &Record {
    match outcome {
        ChainOutcome::Keep(record) => record,
        other => panic!("expected Keep, got {other:?}"),
    }
}

/// The failure reason, or a panic.
pub fn failed(outcome: &ChainOutcome) -> &str {
    match outcome {
        ChainOutcome::Failed(letter) => &letter.reason,
        other => panic!("expected Failed, got {other:?}"),
    }
}

pub fn id_of(record: &Record) -> i32 {
    match record.get("id") {
        Some(FieldValue::Int(id)) => *id,
        other => panic!("no int id: {other:?}"),
    }
}
