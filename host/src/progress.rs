//! Progress snapshots: each process writes what it has done, once a second,
//! to `<run.dir>/progress/<name>.json`; `pipeline up` and `pipeline status`
//! read them. Files, rather than a socket, so a snapshot outlives a crashed
//! process and needs no port.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::consumer::ConsumerCounters;
use crate::fs::write_atomically;
use crate::producer::ProducerCounters;
use crate::timestamp::Timestamp;

/// What one process reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Snapshot {
    Producer {
        rows_read: u64,
        rows_acked: u64,
        /// Changes found behind the position by the lookback scan.
        #[serde(default)]
        late_changes: u64,
        position: Option<String>,
        at_us: i64,
    },
    Consumer {
        member: u32,
        partitions: Vec<i32>,
        records_in: u64,
        written: u64,
        dropped: u64,
        dead_lettered: u64,
        duplicates_skipped: u64,
        lag: u64,
        plugins: String,
        at_us: i64,
    },
    Updater {
        updates: u64,
        at_us: i64,
    },
}

impl Snapshot {
    pub fn of_producer(counters: &ProducerCounters) -> Self {
        Snapshot::Producer {
            rows_read: counters.rows_read(),
            rows_acked: counters.rows_acked(),
            late_changes: counters.late_changes(),
            position: counters.position().map(|p| p.to_string()),
            at_us: Timestamp::now().micros(),
        }
    }

    pub fn of_consumer(member: u32, counters: &ConsumerCounters) -> Self {
        Snapshot::Consumer {
            member,
            partitions: counters.partitions(),
            records_in: counters.records_in(),
            written: counters.written(),
            dropped: counters.dropped(),
            dead_lettered: counters.dead_lettered(),
            duplicates_skipped: counters.duplicates_skipped(),
            lag: counters.lag(),
            plugins: counters.plugin_versions(),
            at_us: Timestamp::now().micros(),
        }
    }
}

/// The progress directory under `run_dir`.
pub fn progress_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("progress")
}

/// Writes `snapshot()` to `<dir>/<name>.json` every second until the task
/// is dropped or aborted. Write failures are logged once, not fatal: progress
/// is for people, the pipeline must not stop over it.
pub fn spawn_reporter(
    dir: PathBuf,
    name: String,
    snapshot: Arc<dyn Fn() -> Snapshot + Send + Sync>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let path = dir.join(format!("{name}.json"));
        let mut warned = false;
        loop {
            let result = serde_json::to_vec(&snapshot())
                .map_err(crate::Error::from)
                .and_then(|bytes| write_atomically(&path, &bytes));
            if let Err(error) = result
                && !warned
            {
                tracing::warn!(%error, "cannot write progress snapshot");
                warned = true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Every snapshot in `dir`, by file name.
pub fn read_all(dir: &Path) -> Vec<(String, Snapshot)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut snapshots: Vec<_> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "json" {
                return None;
            }
            let snapshot = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            Some((path.file_stem()?.to_string_lossy().into_owned(), snapshot))
        })
        .collect();
    snapshots.sort_by(|a, b| a.0.cmp(&b.0));
    snapshots
}
