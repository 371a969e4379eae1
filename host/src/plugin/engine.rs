//! The process-wide wasmtime [`Engine`] and its epoch ticker.
//!
//! One engine serves every chain in the process: compiled code is tied to the
//! engine that compiled it, and one ticker thread is enough for all stores.
//! Time limits use epoch interruption, not fuel: fuel instruments every basic
//! block (a measurable slowdown on the hot path), while an epoch check is a
//! single load and compare at loop heads and function entries.

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
    Engine::new(&config)
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
