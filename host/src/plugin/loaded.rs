//! One plugin version: compiled once, instantiated once, called many times.
//!
//! Compiling a component is the expensive step (tens of milliseconds), so it
//! happens once per file version, off the hot path when hot-swapping. The
//! instance is reused across batches; only a trap (which may leave the guest's
//! memory inconsistent) poisons it, and then a new one is made from the
//! [`TransformPre`], which skips all linking work.
//!
//! The rule that bounds what a call costs the host: **every call, `manifest`
//! included, runs with a CPU budget and a cap on the bytes the host copies
//! out of the guest, set before the call.** The cap is wasmtime's hostcall
//! fuel, which is charged while the result is lifted, before each string or
//! list is copied, so outcomes that all point at one big buffer in the guest
//! are refused after `cap` bytes, not copied once each. The CPU time the host
//! spends lifting is charged to the call after it returns.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::Component;

use super::bindings::batch::{Batch, BatchResult, TransformBatch, TransformBatchPre};
use super::bindings::{Manifest, Outcome, Row, Transform, TransformPre};
use super::cpu_budget::Overspent;
use super::engine;
pub use super::failure::CallFailure;
use super::failure::{Allowed, FUEL_EXHAUSTED, describe};
use super::limits::{batch_budget_ms, batch_bytes, output_cap, row_bytes, span_bytes};
use super::sandbox::{self, Host};
use crate::config::PluginConfig;

/// CPU budget of instantiation and of the one-off `manifest()` call, in ms.
pub const MANIFEST_BUDGET_MS: u64 = 100;

/// Most bytes a manifest may make the host copy (about 5,000 fields).
pub const MANIFEST_MAX_BYTES: usize = 256 * 1024;

/// Longest plugin name or version, in bytes: both are copied into every log
/// line and dead letter.
pub const MAX_LABEL_BYTES: usize = 64;

/// Said when a plugin runs out of memory as it starts: the usual cause.
const INTERPRETER_HINT: &str =
    "a Python or JavaScript plugin carries its interpreter: give it memory_limit_mib = 32";

/// A compiled, instantiated plugin version.
pub struct Loaded {
    pub config: PluginConfig,
    pub manifest: Manifest,
    /// `name@version#hash`, the text the log lines carry.
    pub label: String,
    /// The first 8 hex digits of the file's SHA-256.
    pub hash: String,
    pre: Pre,
    instance: Option<Instance>,
}

/// Which world a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `transform`: every record as named fields.
    Rows,
    /// `transform-batch`: the fields it reads, as positional values.
    Batch,
}

/// A component linked and checked against one of the two worlds.
enum Pre {
    Rows(TransformPre<Host>),
    Batch(TransformBatchPre<Host>),
}

enum Bindings {
    Rows(Transform),
    Batch(TransformBatch),
}

struct Instance {
    store: Store<Host>,
    bindings: Bindings,
    /// `transform` calls made on it: 0 means fresh, no state left by others.
    calls: u64,
}

impl Loaded {
    /// Reads, compiles and instantiates the plugin at `config.path`, and asks
    /// it for its manifest, on a thread of its own (never an async runtime's,
    /// where WASI's blocking helpers would abort the process). The error
    /// says why, for the log.
    pub fn load(config: &PluginConfig) -> Result<Self, String> {
        let bytes = std::fs::read(&config.path).map_err(|error| format!("cannot read: {error}"))?;
        off_runtime(|| Self::from_bytes(config, &bytes))?
    }

    /// As [`Loaded::load`], from the file's contents, on the calling thread.
    pub fn from_bytes(config: &PluginConfig, bytes: &[u8]) -> Result<Self, String> {
        let engine = engine::engine().map_err(|error| error.to_string())?;
        let component = Component::new(&engine, bytes).map_err(|error| {
            format!("not a valid WebAssembly component: {}", error.root_cause())
        })?;
        let linker = sandbox::linker(&engine).map_err(|error| format!("{error:#}"))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|error| refused_import(&error))
            .and_then(|pre| {
                // The newer world first: a component exporting both is
                // called the cheaper way.
                TransformBatchPre::new(pre.clone())
                    .map(Pre::Batch)
                    .or_else(|_| TransformPre::new(pre).map(Pre::Rows))
                    .map_err(|error| {
                        let exports_batch = component
                            .component_type()
                            .exports(&engine)
                            .any(|(name, _)| name == "transform-batch");
                        if exports_batch {
                            format!(
                                "exports a `transform-batch` that does not match this host's world (a plugin built before text and bytes became spans of the batch's `data`): rebuild it against the current wit/transform.wit: {}",
                                error.root_cause()
                            )
                        } else {
                            format!(
                                "implements neither the `transform-batch` nor the `transform` world: {}",
                                error.root_cause()
                            )
                        }
                    })
            })?;
        let _ticking = engine::Ticking::start();
        let mut instance = instantiate(&pre, config)?;
        start_budget(&mut instance.store, MANIFEST_BUDGET_MS, MANIFEST_MAX_BYTES);
        let manifest = match &instance.bindings {
            Bindings::Rows(bindings) => bindings.call_manifest(&mut instance.store),
            Bindings::Batch(bindings) => bindings.call_manifest(&mut instance.store),
        };
        let manifest = manifest.map_err(|error| {
            let limit = if format!("{error:#}").contains(FUEL_EXHAUSTED) {
                format!("its manifest is larger than {MANIFEST_MAX_BYTES} bytes")
            } else {
                describe(&instance.store, &error, &starting(config)).reason
            };
            format!("manifest() failed: {limit}")
        })?;
        check_labels(&manifest)?;
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

    /// The world the plugin exports.
    pub fn world(&self) -> World {
        match self.pre {
            Pre::Rows(_) => World::Rows,
            Pre::Batch(_) => World::Batch,
        }
    }

    /// Whether the next call runs on an instance no earlier call has touched.
    pub fn fresh(&self) -> bool {
        self.instance
            .as_ref()
            .is_none_or(|instance| instance.calls == 0)
    }

    /// Drops the instance: the next call gets a fresh one.
    pub fn reset(&mut self) {
        self.instance = None;
    }

    /// Calls `transform` on `rows` (a `transform` plugin) within the time
    /// budget of `rows.len()` records and the output cap of their size. On
    /// a trap the instance is dropped (the next call makes a fresh one) and
    /// the error names the limit that was hit, if any.
    pub fn call(&mut self, rows: &[Row]) -> Result<Vec<Outcome>, CallFailure> {
        let input_bytes = rows.iter().map(row_bytes).sum::<usize>();
        self.run(rows.len(), input_bytes, |bindings, store| match bindings {
            Bindings::Rows(bindings) => bindings.call_transform(store, rows),
            Bindings::Batch(_) => Err(wasmtime::format_err!(
                "internal error: a `transform-batch` plugin called with rows"
            )),
        })
    }

    /// Calls `transform-batch` on `batch` (a `transform-batch` plugin), with
    /// the same budget, output cap and failure handling as [`Loaded::call`].
    /// The text and bytes its values point at count against the output cap
    /// once per value, as the host copies them (see `limits`).
    pub fn call_batch(&mut self, batch: &Batch) -> Result<BatchResult, CallFailure> {
        let rows = usize::try_from(batch.rows).unwrap_or(usize::MAX);
        let input_bytes = batch_bytes(batch);
        let result = self.run(rows, input_bytes, |bindings, store| match bindings {
            Bindings::Batch(bindings) => bindings.call_transform_batch(store, batch),
            Bindings::Rows(_) => Err(wasmtime::format_err!(
                "internal error: a `transform` plugin called with a batch"
            )),
        })?;
        let allowed = allowed(&self.config, rows, input_bytes);
        if result.data.len().saturating_add(span_bytes(&result)) > allowed.output_cap {
            return Err(CallFailure::from(allowed.output_cap()));
        }
        Ok(result)
    }

    /// One call of `rows` records of `input_bytes` within their limits (the
    /// rule in the module comment), whichever the world.
    fn run<T>(
        &mut self,
        rows: usize,
        input_bytes: usize,
        call: impl FnOnce(&Bindings, &mut Store<Host>) -> wasmtime::Result<T>,
    ) -> Result<T, CallFailure> {
        let _ticking = engine::Ticking::start();
        let allowed = allowed(&self.config, rows, input_bytes);
        let instance = match &mut self.instance {
            Some(instance) => instance,
            None => self.instance.insert(instantiate(&self.pre, &self.config)?),
        };
        instance.calls += 1;
        start_budget(&mut instance.store, allowed.budget_ms, allowed.output_cap);
        let result = call(&instance.bindings, &mut instance.store);
        let overspent = instance.store.data().cpu.overspent();
        let failure = match result {
            Ok(_) if overspent == Some(Overspent::Wall) => CallFailure {
                reason: allowed.wall_limit(),
                timed_out: true,
            },
            Ok(_) if overspent.is_some() => CallFailure {
                reason: allowed.time_limit(),
                timed_out: true,
            },
            Ok(outcomes) => return Ok(outcomes),
            Err(error) => describe(&instance.store, &error, &allowed),
        };
        self.instance = None;
        Err(failure)
    }
}

/// What a call of `rows` records of `input_bytes` may spend.
fn allowed(config: &PluginConfig, rows: usize, input_bytes: usize) -> Allowed<'_> {
    let records = u64::try_from(rows).unwrap_or(u64::MAX);
    Allowed {
        config,
        budget_ms: batch_budget_ms(config.time_limit_ms, records),
        records: Some(rows),
        input_bytes,
        output_cap: output_cap(config, input_bytes),
    }
}

/// What instantiation and `manifest()` may spend: fixed budgets.
fn starting(config: &PluginConfig) -> Allowed<'_> {
    Allowed {
        config,
        budget_ms: MANIFEST_BUDGET_MS,
        records: None,
        input_bytes: 0,
        output_cap: MANIFEST_MAX_BYTES,
    }
}

/// The message for a component the linker refused: an import the host does
/// not provide is named as such.
fn refused_import(error: &wasmtime::Error) -> String {
    let text = format!("{error:#}");
    match text.split('`').nth(1) {
        Some(import) if text.contains("matching implementation was not found") => format!(
            "imports `{import}`, which the host does not provide (a plugin gets only WASI, with no capabilities)"
        ),
        _ => format!(
            "implements neither the `transform-batch` nor the `transform` world: {}",
            error.root_cause()
        ),
    }
}

/// Refuses a name or version too long to copy into every log line.
fn check_labels(manifest: &Manifest) -> Result<(), String> {
    for (what, text) in [("name", &manifest.name), ("version", &manifest.version)] {
        if text.is_empty() || text.len() > MAX_LABEL_BYTES {
            return Err(format!(
                "its manifest {what} is {} bytes long; it must be 1 to {MAX_LABEL_BYTES} bytes",
                text.len()
            ));
        }
    }
    Ok(())
}

/// Runs `work` on a new thread and waits for it: plugins never run on an
/// async runtime's threads. A panic in the host's own code becomes an error.
pub fn off_runtime<R: Send>(work: impl FnOnce() -> R + Send) -> Result<R, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("plugin-load".into())
            .spawn_scoped(scope, work)
            .map_err(|error| format!("cannot start a thread: {error}"))?
            .join()
            .map_err(|_| "the host panicked while running the plugin".to_owned())
    })
}

fn instantiate(pre: &Pre, config: &PluginConfig) -> Result<Instance, String> {
    let engine = match pre {
        Pre::Rows(pre) => pre.engine(),
        Pre::Batch(pre) => pre.engine(),
    };
    let mut store = sandbox::store(engine, config);
    start_budget(&mut store, MANIFEST_BUDGET_MS, MANIFEST_MAX_BYTES); // for start functions
    let bindings = match pre {
        Pre::Rows(pre) => pre.instantiate(&mut store).map(Bindings::Rows),
        Pre::Batch(pre) => pre.instantiate(&mut store).map(Bindings::Batch),
    };
    let bindings = bindings.map_err(|error| {
        let hint = if store.data().limits.memory_refused {
            format!("; {INTERPRETER_HINT}")
        } else {
            String::new()
        };
        format!(
            "cannot instantiate: {}{hint}",
            describe(&store, &error, &starting(config)).reason
        )
    })?;
    Ok(Instance {
        store,
        bindings,
        calls: 0,
    })
}

/// Gives the next call `limit_ms` of CPU time (see `cpu_budget`), at most
/// `max_output` bytes of copies out of the guest, and the same random
/// numbers as every other call.
fn start_budget(store: &mut Store<Host>, limit_ms: u64, max_output: usize) {
    let host = store.data_mut();
    host.limits.memory_refused = false;
    host.limits.refused_bytes = 0;
    host.stderr.start_call();
    host.replay_random();
    let first_look = host.cpu.start(limit_ms);
    store.set_epoch_deadline(first_look);
    store.set_hostcall_fuel(max_output);
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
