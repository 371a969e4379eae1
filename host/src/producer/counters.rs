//! What the producer has done, for progress lines and metrics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::source::Position;

/// Counters shared between the producer's tasks and whoever reports them.
#[derive(Debug, Default)]
pub struct ProducerCounters {
    rows_read: AtomicU64,
    rows_acked: AtomicU64,
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
        self.position.lock().ok().and_then(|saved| *saved)
    }
}
