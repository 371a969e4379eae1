//! Process resources sized explicitly, never from the machine's core count.
//!
//! The rule: a process's memory must not depend on how many cores the
//! machine has. Left to their defaults, tokio starts one worker thread per
//! core, and glibc gives every thread that allocates its own malloc arena
//! (up to 8 per core), each keeping freed memory for itself; on a 16-core
//! machine a member's RSS grew with both. So the runtime gets a fixed number
//! of workers and the allocator a fixed number of arenas. (librdkafka's
//! prefetch queue, the other large buffer, is bounded in `kafka::client`.)

/// Async worker threads of every `pipeline` process. The heavy work runs
/// off the runtime (a member's loop and its plugins on one blocking thread,
/// the producer's encoding on its `source.encoder_threads`, also a fixed
/// number, and librdkafka's own threads), so two workers keep the I/O moving
/// on any machine.
pub const RUNTIME_WORKER_THREADS: usize = 2;

/// Upper bound on tokio's blocking threads (a member uses one; `up`, the
/// registry and `status` a few short-lived ones).
pub const RUNTIME_MAX_BLOCKING_THREADS: usize = 16;

/// glibc malloc arenas for the whole process.
pub const MALLOC_ARENAS: i32 = 4;

/// The async runtime every subcommand runs on.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_WORKER_THREADS)
        .max_blocking_threads(RUNTIME_MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
}

/// Caps glibc's malloc arenas; call before any other thread starts.
/// `MALLOC_ARENA_MAX` in the environment, when set, wins (an operator's
/// choice). Elsewhere than glibc this does nothing.
pub fn cap_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called while the
    // process has one thread, before the runtime starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_has_the_stated_workers_whatever_the_cores() {
        let runtime = runtime().expect("runtime");
        let workers = runtime.metrics().num_workers();
        assert_eq!(workers, RUNTIME_WORKER_THREADS);
    }
}
