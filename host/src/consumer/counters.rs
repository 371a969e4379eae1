//! What a member has done, for progress lines and metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::histogram::LatencyHistogram;

/// Counters of one consumer-group member.
#[derive(Debug, Default)]
pub struct ConsumerCounters {
    records_in: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    dead_lettered: AtomicU64,
    duplicates_skipped: AtomicU64,
    tombstones: AtomicU64,
    lag: AtomicU64,
    partitions: Mutex<Vec<i32>>,
    plugin_versions: Mutex<String>,
    latency: LatencyHistogram,
}

macro_rules! counter {
    ($add:ident, $get:ident, $field:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $get(&self) -> u64 {
            self.$field.load(Ordering::Relaxed)
        }

        pub fn $add(&self, count: usize) {
            self.$field.fetch_add(count as u64, Ordering::Relaxed);
        }
    };
}

impl ConsumerCounters {
    counter!(
        add_in,
        records_in,
        records_in,
        "Records taken from the topic."
    );
    counter!(add_written, written, written, "Lines written to the log.");
    counter!(
        add_dropped,
        dropped,
        dropped,
        "Records a plugin filtered out on purpose."
    );
    counter!(
        add_dead_lettered,
        dead_lettered,
        dead_lettered,
        "Records sent to the dead letters."
    );
    counter!(
        add_duplicates,
        duplicates_skipped,
        duplicates_skipped,
        "Records already in a log (re-fetched or re-sent by the producer), skipped."
    );
    counter!(
        add_tombstones,
        tombstones,
        tombstones,
        "Tombstones (a key with a null value, sent after a delete in binlog mode), skipped: they are for compaction, not for the logs."
    );

    /// Messages behind the high watermark, over the owned partitions.
    pub fn lag(&self) -> u64 {
        self.lag.load(Ordering::Relaxed)
    }

    pub fn set_lag(&self, lag: u64) {
        self.lag.store(lag, Ordering::Relaxed);
    }

    pub fn partitions(&self) -> Vec<i32> {
        self.partitions
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    pub fn set_partitions(&self, partitions: Vec<i32>) {
        if let Ok(mut owned) = self.partitions.lock() {
            *owned = partitions;
        }
    }

    /// MySQL commit (`last_updated`) to log line.
    pub fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }

    pub fn plugin_versions(&self) -> String {
        self.plugin_versions
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    pub fn set_plugin_versions(&self, versions: &str) {
        if let Ok(mut current) = self.plugin_versions.lock()
            && *current != versions
        {
            *current = versions.to_owned();
        }
    }
}
