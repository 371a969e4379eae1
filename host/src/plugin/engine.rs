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

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine};

use crate::error::{Error, Result};

/// How often the ticker advances the epoch: one tick is one millisecond, so a
/// deadline in ticks is a deadline in milliseconds.
pub const TICK: Duration = Duration::from_millis(1);

static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();

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

/// Increments the engine's epoch every [`TICK`], for the life of the process.
fn start_ticker(engine: Engine) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
}
