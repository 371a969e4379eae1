//! A plugin call's time limit, counted in CPU time of the calling thread,
//! with a wall-clock watchdog as a second limit.
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
//!
//! The rule that bounds what a call costs the host in wall time: **a call
//! is interrupted once it has run for its CPU budget plus [`WALL_MARGIN`] of
//! wall time, whatever its CPU use.** A thread starved of CPU (or a stall
//! nobody foresaw) would otherwise hold the member for as long as the CPU
//! budget takes to run out at its share of the CPU: minutes. The margin is
//! wide enough that ordinary descheduling never trips it; a record it stops
//! is retried alone on a fresh instance, with a fresh budget, before it is
//! dead-lettered. Epoch checks run in wasm code, and no host function a
//! plugin can call waits (see `sandbox`); a host function that returned
//! late would still be caught by [`CpuBudget::overspent`] after the call.

use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

/// Wall time a call may take beyond its CPU budget.
pub const WALL_MARGIN: Duration = Duration::from_secs(1);

/// Which limit ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overspent {
    Cpu,
    /// The wall-clock watchdog: CPU budget plus [`WALL_MARGIN`].
    Wall,
}

/// The budget of the call in progress on a store.
#[derive(Debug, Default)]
pub struct CpuBudget {
    /// The thread's CPU time when the call started.
    started: Option<Duration>,
    /// When the call started, by the wall clock.
    wall_started: Option<Instant>,
    limit: Duration,
    /// Set when the watchdog interrupted the call.
    pub wall_expired: bool,
}

impl CpuBudget {
    /// Starts a call that may use `limit_ms` of CPU time; returns the epoch
    /// deadline (in ticks of one millisecond) at which to check it first.
    pub fn start(&mut self, limit_ms: u64) -> u64 {
        self.started = thread_cpu_time();
        self.wall_started = Some(Instant::now());
        self.limit = Duration::from_millis(limit_ms);
        self.wall_expired = false;
        limit_ms.saturating_add(1)
    }

    /// The wall time the call may take.
    pub fn wall_limit(&self) -> Duration {
        self.limit + WALL_MARGIN
    }

    fn wall_used(&self) -> Duration {
        self.wall_started
            .map_or(Duration::ZERO, |started| started.elapsed())
    }

    /// Whether the call has used more than its budget, host work included:
    /// checked after a call returns, so the host's copying of a plugin's
    /// output (which no epoch check interrupts) is charged to the plugin,
    /// and so is any wait in a host function.
    pub fn overspent(&self) -> Option<Overspent> {
        if let (Some(started), Some(now)) = (self.started, thread_cpu_time())
            && now.saturating_sub(started) > self.limit
        {
            return Some(Overspent::Cpu);
        }
        (self.wall_used() > self.wall_limit()).then_some(Overspent::Wall)
    }

    /// What to do when the epoch deadline expires: interrupt the call if it
    /// has used its CPU budget, or its wall-clock limit, otherwise wait for
    /// the nearer of the two.
    pub fn on_deadline(&mut self) -> UpdateDeadline {
        let Some(wall_left) = self.wall_limit().checked_sub(self.wall_used()) else {
            self.wall_expired = true;
            return UpdateDeadline::Interrupt;
        };
        let used = match (self.started, thread_cpu_time()) {
            (Some(started), Some(now)) => now.saturating_sub(started),
            // Without a CPU clock the wall-clock deadline is the limit.
            _ => return UpdateDeadline::Interrupt,
        };
        match self.limit.checked_sub(used) {
            Some(left) if !left.is_zero() => {
                // At least one tick, rounded up so the next look is not early.
                let left = left.min(wall_left);
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
        assert!(!budget.wall_expired);
    }

    #[test]
    fn the_wall_clock_limit_interrupts_a_call_that_used_no_cpu() {
        let mut budget = CpuBudget::default();
        budget.start(5);
        std::thread::sleep(WALL_MARGIN + Duration::from_millis(10));
        assert!(matches!(budget.on_deadline(), UpdateDeadline::Interrupt));
        assert!(budget.wall_expired);
        assert_eq!(budget.overspent(), Some(Overspent::Wall));
    }
}
