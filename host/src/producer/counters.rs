//! What the producer has done, for progress lines and metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::source::Position;

/// Counters shared between the producer's tasks and whoever reports them.
#[derive(Debug, Default)]
pub struct ProducerCounters {
    rows_read: AtomicU64,
    rows_acked: AtomicU64,
    late_changes: AtomicU64,
    clock_steps_back: AtomicU64,
    position: Mutex<Option<Position>>,
}

impl ProducerCounters {
    pub fn add_read(&self, rows: usize) {
        self.rows_read.fetch_add(rows as u64, Ordering::Relaxed);
    }

    pub fn add_acked(&self, rows: usize, position: Position) {
        self.rows_acked.fetch_add(rows as u64, Ordering::Relaxed);
        if let Ok(mut saved) = self.position.lock() {
            *saved = Some(position);
        }
    }

    /// Rows the broker acknowledged, without a timestamp position (binlog mode).
    pub fn add_acked_rows(&self, rows: usize) {
        self.rows_acked.fetch_add(rows as u64, Ordering::Relaxed);
    }

    /// Changes found behind the position by the lookback scan, and produced.
    pub fn add_late(&self, rows: usize) {
        self.late_changes.fetch_add(rows as u64, Ordering::Relaxed);
    }

    pub fn add_clock_step(&self) {
        self.clock_steps_back.fetch_add(1, Ordering::Relaxed);
    }

    /// Changes found behind the position by the lookback scan (late commits,
    /// clock steps back, a restart's re-sent window).
    pub fn late_changes(&self) -> u64 {
        self.late_changes.load(Ordering::Relaxed)
    }

    /// Steps back of the server's clock seen between polls.
    pub fn clock_steps_back(&self) -> u64 {
        self.clock_steps_back.load(Ordering::Relaxed)
    }

    /// Rows read from MySQL and handed to the Kafka client.
    pub fn rows_read(&self) -> u64 {
        self.rows_read.load(Ordering::Relaxed)
    }

    /// Rows the broker acknowledged (and whose position is saved).
    pub fn rows_acked(&self) -> u64 {
        self.rows_acked.load(Ordering::Relaxed)
    }

    /// The last saved position.
    pub fn position(&self) -> Option<Position> {
        self.position.lock().ok().and_then(|saved| saved.clone())
    }
}
