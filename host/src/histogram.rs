//! The latency histogram: commit (`last_updated`) to log line, per member.
//!
//! Fixed buckets and atomic counters, so the member's thread records a
//! latency without a lock and `/metrics` reads it at any time; the text
//! format is `metrics`' business.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, in milliseconds.
const BUCKETS_MS: [u64; 12] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// A latency histogram with fixed buckets, updated lock-free.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; BUCKETS_MS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

/// The histogram at one moment, cumulative as Prometheus wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations at or below it)`, ascending.
    pub buckets: Vec<(f64, u64)>,
    /// Every observation (the `+Inf` bucket).
    pub count: u64,
    pub sum_seconds: f64,
}

impl LatencyHistogram {
    pub fn observe_us(&self, micros: i64) {
        let micros = u64::try_from(micros).unwrap_or(0);
        let millis = micros / 1000;
        if let Some(index) = BUCKETS_MS.iter().position(|&bound| millis < bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = BUCKETS_MS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, bucket)| {
                cumulative += bucket.load(Ordering::Relaxed);
                (*bound as f64 / 1000.0, cumulative)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_seconds: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let histogram = LatencyHistogram::default();
        for micros in [500, 3_000, 3_000, 20_000_000] {
            histogram.observe_us(micros);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets[0], (0.001, 1));
        assert_eq!(snapshot.buckets[1], (0.005, 3));
        assert_eq!(snapshot.buckets.last(), Some(&(10.0, 3)));
        assert_eq!(snapshot.count, 4);
        assert_eq!(snapshot.sum_seconds, 20.0065);
    }
}
