//! One plugin version: compiled once, instantiated once, called many times.
//!
//! Compiling a component is the expensive step (tens of milliseconds), so it
//! happens once per file version, off the hot path when hot-swapping. The
//! instance is reused across batches; only a trap (which may leave the guest's
//! memory inconsistent) poisons it, and then a new one is made from the
//! [`TransformPre`], which skips all linking work.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::Trap;
use wasmtime::component::Component;

use super::bindings::{Manifest, Outcome, Row, Transform, TransformPre};
use super::engine;
use super::sandbox::{self, Host};
use crate::config::PluginConfig;

/// Budget for instantiation and the one-off `manifest()` call, in epoch
/// ticks (milliseconds).
const MANIFEST_TICKS: u64 = 1_000;

/// A compiled, instantiated plugin version.
pub struct Loaded {
    pub config: PluginConfig,
    pub manifest: Manifest,
    /// `name@version#hash`, the text the log lines carry.
    pub label: String,
    /// The first 8 hex digits of the file's SHA-256.
    pub hash: String,
    pre: TransformPre<Host>,
    instance: Option<Instance>,
}

/// Why a call failed as a whole.
#[derive(Debug, Clone)]
pub struct CallFailure {
    pub reason: String,
    /// The time limit was hit (the whole budget was spent).
    pub timed_out: bool,
}

impl From<String> for CallFailure {
    fn from(reason: String) -> Self {
        Self {
            reason,
            timed_out: false,
        }
    }
}

struct Instance {
    store: Store<Host>,
    bindings: Transform,
}

impl Loaded {
    /// Reads, compiles and instantiates the plugin at `config.path`, and asks
    /// it for its manifest. The error says why, for the log.
    pub fn load(config: &PluginConfig) -> Result<Self, String> {
        let bytes = std::fs::read(&config.path).map_err(|error| format!("cannot read: {error}"))?;
        Self::from_bytes(config, &bytes)
    }

    /// As [`Loaded::load`], from the file's contents.
    pub fn from_bytes(config: &PluginConfig, bytes: &[u8]) -> Result<Self, String> {
        let engine = engine::engine().map_err(|error| error.to_string())?;
        let component = Component::new(&engine, bytes).map_err(|error| {
            format!("not a valid WebAssembly component: {}", error.root_cause())
        })?;
        let linker = sandbox::linker(&engine).map_err(|error| format!("{error:#}"))?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(TransformPre::new)
            .map_err(|error| {
                format!(
                    "does not implement the `transform` world: {}",
                    error.root_cause()
                )
            })?;
        let mut instance = instantiate(&pre, config)?;
        start_budget(&mut instance.store, MANIFEST_TICKS);
        let manifest = instance
            .bindings
            .call_manifest(&mut instance.store)
            .map_err(|error| format!("manifest() failed: {}", error.root_cause()))?;
        let hash = content_hash(bytes);
        Ok(Self {
            label: format!("{}@{}#{}", manifest.name, manifest.version, hash),
            config: config.clone(),
            manifest,
            hash,
            pre,
            instance: Some(instance),
        })
    }

    /// The plugin's name, from its manifest.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Calls `transform` on `rows` within the time budget of `rows.len()`
    /// records. On a trap the instance is dropped (the next call makes a fresh
    /// one) and the error names the limit that was hit, if any.
    pub fn call(&mut self, rows: &[Row]) -> Result<Vec<Outcome>, CallFailure> {
        let instance = match &mut self.instance {
            Some(instance) => instance,
            None => self.instance.insert(instantiate(&self.pre, &self.config)?),
        };
        let records = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let budget = batch_budget_ms(self.config.time_limit_ms, records);
        instance.store.data_mut().limits.memory_refused = false;
        start_budget(&mut instance.store, budget);
        match instance.bindings.call_transform(&mut instance.store, rows) {
            Ok(outcomes) => Ok(outcomes),
            Err(error) => {
                let limits = &instance.store.data().limits;
                let timed_out = error.downcast_ref::<Trap>() == Some(&Trap::Interrupt);
                let reason = if timed_out {
                    format!(
                        "exceeded its time limit of {} ms per record (CPU time: {budget} ms for {records} records)",
                        self.config.time_limit_ms
                    )
                } else if limits.memory_refused {
                    format!(
                        "exceeded its memory limit of {} MiB",
                        limits.memory_limit_mib()
                    )
                } else {
                    format!("trapped: {}", error.root_cause())
                };
                self.instance = None;
                Err(CallFailure { reason, timed_out })
            }
        }
    }
}

/// The most a whole batch may spend, in ms, however long it is. Real
/// transforms take microseconds per record, so a batch that needs more is
/// almost surely one looping record; without the cap it would burn
/// `limit × batch length` (5 s for 500 records at 10 ms) before the retry.
const BATCH_BUDGET_CAP_MS: u64 = 50;

/// The epoch budget of one call over `records` records: the per-record limit
/// times the batch length, capped at `BATCH_BUDGET_CAP_MS` but never below
/// one record's limit. A batch of slow-but-legitimate records that hits the
/// cap is retried record by record (see `bisect`), each within its own limit.
fn batch_budget_ms(time_limit_ms: u64, records: u64) -> u64 {
    time_limit_ms
        .saturating_mul(records)
        .min(BATCH_BUDGET_CAP_MS)
        .max(time_limit_ms)
}

fn instantiate(pre: &TransformPre<Host>, config: &PluginConfig) -> Result<Instance, String> {
    let mut store = sandbox::store(pre.engine(), config);
    start_budget(&mut store, MANIFEST_TICKS); // for start functions
    let bindings = pre
        .instantiate(&mut store)
        .map_err(|error| format!("cannot instantiate: {}", error.root_cause()))?;
    Ok(Instance { store, bindings })
}

/// Gives the next call `limit_ms` of CPU time (see `cpu_budget`).
fn start_budget(store: &mut wasmtime::Store<Host>, limit_ms: u64) {
    let first_look = store.data_mut().cpu.start(limit_ms);
    store.set_epoch_deadline(first_look);
}

/// The first 8 hex digits of the SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The plugin's file name, for messages about a file that never loaded.
pub fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::batch_budget_ms;

    #[test]
    fn a_batch_budget_is_capped_but_never_below_one_record() {
        assert_eq!(batch_budget_ms(10, 1), 10);
        assert_eq!(batch_budget_ms(10, 3), 30);
        assert_eq!(batch_budget_ms(10, 500), 50);
        assert_eq!(batch_budget_ms(200, 500), 200);
    }
}
