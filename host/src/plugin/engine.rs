//! The process-wide wasmtime [`Engine`] and its epoch ticker.
//!
//! One engine serves every chain in the process: compiled code is tied to the
//! engine that compiled it, and one ticker thread is enough for all stores.
//! Time limits use epoch interruption, not fuel: fuel instruments every basic
//! block (a measurable slowdown on the hot path), while an epoch check is a
//! single load and compare at loop heads and function entries.
//!
//! Compiled code is cached on disk (wasmtime's cache, keyed by the file's
//! bytes, wasmtime's version and the engine's settings): a Python or
//! JavaScript component carries an interpreter and takes seconds to compile
//! (minutes in a debug build), so each version is compiled once per machine,
//! not once per process and member. `PIPELINE_WASM_CACHE=off` turns it off;
//! `PIPELINE_WASM_CACHE=DIR` puts it in DIR (default: wasmtime's,
//! `~/.cache/wasmtime`). Whoever can write there can change the code the
//! host runs: keep it as private as the pipeline's binary.
//!
//! The rule that keeps every call under its time limit while the ticker
//! sleeps between calls: **wasm runs only while a [`Ticking`] guard is
//! alive** (`loaded.rs` takes one around instantiation, `manifest` and
//! `transform`), and the ticker advances the epoch whenever one is. An idle
//! member's ticker is parked instead of waking a thousand times a second
//! (measured: 1.6% of a core per member, five members together about 3 ms
//! of CPU per 1,000 rows of a catch-up).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::{Config, Engine};

use crate::error::{Error, Result};

/// How often the ticker advances the epoch: one tick is one millisecond, so a
/// deadline in ticks is a deadline in milliseconds.
pub const TICK: Duration = Duration::from_millis(1);

static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();

/// Guards alive (wasm may be running while this is above zero).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// The ticker thread, to wake it when the first guard is taken.
static TICKER: OnceLock<Thread> = OnceLock::new();
/// Ticks so far (for tests).
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Keeps the epoch advancing while alive: take one before running any wasm.
#[must_use = "the epoch advances only while the guard is alive"]
pub struct Ticking(());

impl Ticking {
    pub fn start() -> Self {
        if ACTIVE.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(ticker) = TICKER.get()
        {
            ticker.unpark();
        }
        Ticking(())
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The shared engine, created (with its ticker thread) on first use.
pub fn engine() -> Result<Engine> {
    ENGINE
        .get_or_init(|| {
            let engine = build().map_err(|error| format!("{error:#}"))?;
            start_ticker(engine.clone()).map_err(|error| error.to_string())?;
            Ok(engine)
        })
        .clone()
        .map_err(|message| Error::Plugin {
            plugin: "engine".into(),
            message,
        })
}

fn build() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cache(compilation_cache());
    Engine::new(&config)
}

/// The on-disk compilation cache (see the module comment); none when it is
/// turned off or cannot be set up (the host then compiles every time).
fn compilation_cache() -> Option<wasmtime::Cache> {
    let mut cache = wasmtime::CacheConfig::new();
    match std::env::var_os("PIPELINE_WASM_CACHE") {
        Some(value) if value == "off" => return None,
        Some(dir) if !dir.is_empty() => {
            cache.with_directory(std::path::PathBuf::from(dir));
        }
        _ => {}
    }
    wasmtime::Cache::new(cache)
        .inspect_err(|error| {
            tracing::warn!(%error, "no compilation cache: plugins are compiled at every load")
        })
        .ok()
}

/// Increments the engine's epoch every [`TICK`] while a [`Ticking`] guard
/// is alive, for the life of the process; parks while none is. (An unpark
/// that comes between the check and the park makes the park return at
/// once, so a call starting then is not missed.)
fn start_ticker(engine: Engine) -> std::io::Result<()> {
    let handle = std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            loop {
                if ACTIVE.load(Ordering::SeqCst) == 0 {
                    std::thread::park();
                    continue;
                }
                std::thread::sleep(TICK);
                engine.increment_epoch();
                TICKS.fetch_add(1, Ordering::Relaxed);
            }
        })?;
    let _ = TICKER.set(handle.thread().clone());
    // A guard taken before the ticker was known: wake it now.
    handle.thread().unpark();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_advances_while_a_guard_is_alive() {
        engine().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let guard = Ticking::start();
        let before = TICKS.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(50));
        let ticked = TICKS.load(Ordering::Relaxed) - before;
        drop(guard);
        assert!(ticked >= 10, "only {ticked} ticks in 50 ms");
    }
}
