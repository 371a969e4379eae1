//! A plugin call's time limit, counted in CPU time of the calling thread.
//!
//! The epoch ticker (see `engine`) runs on wall-clock time, and on a busy
//! machine a consumer's thread can be descheduled for longer than a record's
//! whole limit: a healthy record would then be dead-lettered because of the
//! host's load, not the plugin's work (the benchmark's latency run hit this
//! on two cores shared by seven processes and the broker). So an expired
//! epoch deadline is only a prompt to look: the call is interrupted when the
//! thread has spent its budget on the CPU, and otherwise gets the ticks it
//! has left. A looping plugin burns CPU, so it is still stopped after its
//! limit; wall time only stretches while the thread is not running.

use std::time::Duration;

use wasmtime::UpdateDeadline;

/// The budget of the call in progress on a store.
#[derive(Debug, Default)]
pub struct CpuBudget {
    /// The thread's CPU time when the call started.
    started: Option<Duration>,
    limit: Duration,
}

impl CpuBudget {
    /// Starts a call that may use `limit_ms` of CPU time; returns the epoch
    /// deadline (in ticks of one millisecond) at which to check it first.
    pub fn start(&mut self, limit_ms: u64) -> u64 {
        self.started = thread_cpu_time();
        self.limit = Duration::from_millis(limit_ms);
        limit_ms.saturating_add(1)
    }

    /// Whether the call has used more than its budget, host work included:
    /// checked after a call returns, so the host's copying of a plugin's
    /// output (which no epoch check interrupts) is charged to the plugin.
    pub fn overspent(&self) -> bool {
        match (self.started, thread_cpu_time()) {
            (Some(started), Some(now)) => now.saturating_sub(started) > self.limit,
            _ => false,
        }
    }

    /// What to do when the epoch deadline expires: interrupt the call if
    /// it has used its CPU budget, otherwise wait for the rest of it.
    pub fn on_deadline(&self) -> UpdateDeadline {
        let used = match (self.started, thread_cpu_time()) {
            (Some(started), Some(now)) => now.saturating_sub(started),
            // Without a CPU clock the wall-clock deadline is the limit.
            _ => return UpdateDeadline::Interrupt,
        };
        match self.limit.checked_sub(used) {
            Some(left) if !left.is_zero() => {
                // At least one tick, rounded up so the next look is not early.
                UpdateDeadline::Continue(left.as_micros().div_ceil(1000).max(1) as u64)
            }
            _ => UpdateDeadline::Interrupt,
        }
    }
}

/// CPU time consumed by the calling thread.
#[cfg(unix)]
pub fn thread_cpu_time() -> Option<Duration> {
    let mut spec = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `spec` is a valid, writable timespec for the whole call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut spec) };
    if status != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(spec.tv_sec).ok()?,
        u32::try_from(spec.tv_nsec).ok()?,
    ))
}

/// CPU time consumed by the calling thread (not measured on this platform).
#[cfg(not(unix))]
pub fn thread_cpu_time() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin_for(duration: Duration) {
        let start = thread_cpu_time().unwrap();
        while thread_cpu_time().unwrap() - start < duration {
            std::hint::black_box(0u64);
        }
    }

    #[test]
    fn time_off_the_cpu_does_not_count() {
        let mut budget = CpuBudget::default();
        assert_eq!(budget.start(10), 11);
        std::thread::sleep(Duration::from_millis(30));
        match budget.on_deadline() {
            UpdateDeadline::Continue(ticks) => assert!((1..=10).contains(&ticks), "{ticks}"),
            _ => panic!("a sleeping thread used no CPU and must not be interrupted"),
        }
    }

    #[test]
    fn a_spent_budget_interrupts() {
        let mut budget = CpuBudget::default();
        budget.start(5);
        spin_for(Duration::from_millis(6));
        assert!(matches!(budget.on_deadline(), UpdateDeadline::Interrupt));
    }
}
