//! The wall-clock watchdog: a plugin call costs the host at most its CPU
//! budget plus `WALL_MARGIN` of wall time, even when the calling thread
//! gets almost no CPU (so the CPU budget alone would take minutes to run
//! out). The stall is made real: the thread calling the plugin runs at
//! `SCHED_IDLE`, pinned to one CPU that a busy thread keeps to itself.

mod plugin_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pipeline::config::PluginConfig;
use pipeline::plugin::{ChainOutcome, PluginChain};
use plugin_support::{failed, products, schema, wasm};

/// The margin the README states.
const WALL_MARGIN: Duration = Duration::from_secs(1);

/// The CPU budget of the looping record: far more CPU than a starved
/// thread gets within the wall-clock bound.
const CPU_BUDGET_MS: u64 = 2000;

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity"
        );
    }
}

/// The first CPU this process may run on.
fn first_allowed_cpu() -> usize {
    // SAFETY: as above; the set is written by the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (0..libc::CPU_SETSIZE as usize)
            .find(|&cpu| libc::CPU_ISSET(cpu, &set))
            .unwrap_or(0)
    }
}

#[test]
fn a_starved_call_is_stopped_after_its_budget_plus_the_margin_of_wall_time() {
    let config = PluginConfig {
        time_limit_ms: CPU_BUDGET_MS,
        ..PluginConfig::at(wasm("fixture_infinite_loop"))
    };
    let mut chain = PluginChain::load(&[config], &schema()).unwrap();
    let cpu = first_allowed_cpu();
    let stop = Arc::new(AtomicBool::new(false));
    let hog = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            pin_to(cpu);
            while !stop.load(Ordering::Relaxed) {
                std::hint::black_box(0u64);
            }
        })
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        pin_to(cpu);
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is valid for the call; 0 is this thread.
        let status = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        assert_eq!(status, 0, "SCHED_IDLE");
        let started = Instant::now();
        // Id 50 loops forever.
        let outcomes = chain.process(products(50..=50));
        let _ = sender.send((started.elapsed(), outcomes));
    });
    let bound = Duration::from_millis(CPU_BUDGET_MS) + WALL_MARGIN;
    // Generous for the thread's own starvation after the interrupt; without
    // the watchdog the call takes minutes (the CPU budget at ~0.3 % of a CPU).
    let result = receiver.recv_timeout(bound * 4);
    stop.store(true, Ordering::Relaxed);
    hog.join().unwrap();
    let (elapsed, outcomes) = result.expect("the starved call was not stopped by wall time");
    assert!(
        elapsed < bound + Duration::from_secs(2),
        "the call cost {elapsed:?}"
    );
    let reason = failed(&outcomes[0]);
    assert!(reason.contains("wall-clock limit"), "{reason}");
    assert!(!matches!(outcomes[0], ChainOutcome::Keep(_)));
}
