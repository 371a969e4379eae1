//! [`PluginChain`]: the consumer's one entry point to the plugins.

use std::time::{Duration, Instant};

use super::bindings::{Outcome, Row};
use super::convert::{to_record, to_row};
use super::loaded::{Loaded, file_label};
use super::schema::SchemaFields;
use super::validate::{Expected, plan};
use super::watch::Watcher;
use super::{bisect, native};
use crate::config::PluginConfig;
use crate::error::{Error, Result};
use crate::record::Record;

/// What became of one input record.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainOutcome {
    /// Passed every plugin: write it to the log.
    Keep(Record),
    /// A plugin filtered it out on purpose.
    Dropped { plugin: String, reason: String },
    /// A plugin failed on it (or misbehaved): a dead letter.
    Failed(DeadLetter),
}

/// Why a record could not be transformed; the consumer adds the original
/// bytes, partition and offset.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub plugin: String,
    /// `name@version#hash`.
    pub version: String,
    pub reason: String,
}

/// A plugin version installed by [`PluginChain::swap_in_ready`].
#[derive(Debug, Clone, PartialEq)]
pub struct SwapEvent {
    pub plugin: String,
    pub from: String,
    pub to: String,
}

/// Counters of one plugin in the chain (across its versions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginStats {
    pub name: String,
    /// The running version, `name@version#hash`.
    pub version: String,
    pub records_in: u64,
    pub records_out: u64,
    pub dropped: u64,
    pub failed: u64,
    /// Wall time spent in calls to the plugin (bisection retries included).
    pub time: Duration,
}

struct Slot {
    plugin: Loaded,
    expected: Expected,
    stats: PluginStats,
}

/// The configured plugins, in order, with hot swap.
///
/// There are two kinds of chain: the wasm chain from [`PluginChain::load`]
/// (possibly empty, a pass-through), and [`PluginChain::native_seed`], the
/// seed transforms in Rust for the wasm-vs-native benchmark.
pub struct PluginChain {
    schema: SchemaFields,
    slots: Vec<Slot>,
    versions: String,
    watcher: Option<Watcher>,
    native: bool,
    /// Reused between rows to check outputs without allocating.
    scratch: Vec<bool>,
}

impl PluginChain {
    /// Loads and validates every plugin against the value schema's fields.
    pub fn load(plugins: &[PluginConfig], schema: &SchemaFields) -> Result<Self> {
        let mut loaded = Vec::with_capacity(plugins.len());
        for config in plugins {
            let plugin = Loaded::load(config).map_err(|message| Error::Plugin {
                plugin: config.path.display().to_string(),
                message,
            })?;
            loaded.push(plugin);
        }
        let plans =
            plan(schema, loaded.iter().map(|plugin| &plugin.manifest)).map_err(|message| {
                Error::Plugin {
                    plugin: "chain".into(),
                    message,
                }
            })?;
        let watcher = if loaded.is_empty() {
            None
        } else {
            let watched = loaded
                .iter()
                .map(|plugin| (plugin.config.clone(), plugin.hash.clone()))
                .collect();
            Some(Watcher::start(watched).map_err(|error| Error::Plugin {
                plugin: "watcher".into(),
                message: format!("cannot start the file watcher: {error}"),
            })?)
        };
        let slots = loaded
            .into_iter()
            .zip(plans)
            .map(|(plugin, expected)| Slot {
                stats: PluginStats {
                    name: plugin.name().to_owned(),
                    version: plugin.label.clone(),
                    ..PluginStats::default()
                },
                plugin,
                expected,
            })
            .collect();
        let mut chain = Self {
            schema: schema.clone(),
            slots,
            versions: String::new(),
            watcher,
            native: false,
            scratch: Vec::new(),
        };
        chain.refresh_versions();
        Ok(chain)
    }

    /// The seed transforms (`uppercase-category`, `cat5-discount`) as native
    /// Rust: the benchmark's reference for the sandbox's cost.
    pub fn native_seed() -> Self {
        Self {
            schema: SchemaFields::default(),
            slots: Vec::new(),
            versions: native::VERSIONS.to_owned(),
            watcher: None,
            native: true,
            scratch: Vec::new(),
        }
    }

    /// One outcome per input record, same order.
    pub fn process(&mut self, batch: Vec<Record>) -> Vec<ChainOutcome> {
        if self.native {
            return batch.into_iter().map(native::seed).collect();
        }
        if self.slots.is_empty() {
            return batch.into_iter().map(ChainOutcome::Keep).collect();
        }
        let mut outcomes: Vec<Option<ChainOutcome>> = (0..batch.len()).map(|_| None).collect();
        let mut rows: Vec<Row> = batch.into_iter().map(to_row).collect();
        let mut positions: Vec<usize> = (0..rows.len()).collect();
        let mut results = Vec::with_capacity(rows.len());
        for slot in &mut self.slots {
            if rows.is_empty() {
                break;
            }
            results.clear();
            let started = Instant::now();
            bisect::call(&mut slot.plugin, &rows, &mut results);
            slot.stats.time += started.elapsed();
            slot.stats.records_in += rows.len() as u64;
            let mut kept = Vec::with_capacity(rows.len());
            let mut kept_positions = Vec::with_capacity(rows.len());
            for ((input, &position), result) in rows.iter().zip(&positions).zip(results.drain(..)) {
                let outcome = match result {
                    Ok(Outcome::Keep(row)) => {
                        match slot.expected.check(
                            slot.plugin.name(),
                            input,
                            &row,
                            &mut self.scratch,
                        ) {
                            Ok(()) => {
                                kept.push(row);
                                kept_positions.push(position);
                                continue;
                            }
                            Err(reason) => slot.failed(reason),
                        }
                    }
                    Ok(Outcome::Drop(reason)) => {
                        slot.stats.dropped += 1;
                        ChainOutcome::Dropped {
                            plugin: slot.plugin.name().to_owned(),
                            reason: truncate_reason(reason),
                        }
                    }
                    Ok(Outcome::Fail(reason)) => slot.failed(truncate_reason(reason)),
                    Err(reason) => {
                        let reason = format!("plugin {} {reason}", slot.plugin.name());
                        slot.failed(reason)
                    }
                };
                outcomes[position] = Some(outcome);
            }
            slot.stats.records_out += kept.len() as u64;
            rows = kept;
            positions = kept_positions;
        }
        for (row, position) in rows.into_iter().zip(positions) {
            outcomes[position] = Some(ChainOutcome::Keep(to_record(row)));
        }
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    ChainOutcome::Failed(DeadLetter {
                        plugin: "chain".into(),
                        version: String::new(),
                        reason: "internal error: the record got no outcome".into(),
                    })
                })
            })
            .collect()
    }

    /// Installs any new plugin versions compiled in the background since the
    /// last call (call between batches). A version whose manifest no longer
    /// fits the schema or the rest of the chain is refused and logged; the
    /// old version keeps running.
    pub fn swap_in_ready(&mut self) -> Vec<SwapEvent> {
        let Some(watcher) = &self.watcher else {
            return Vec::new();
        };
        let mut events = Vec::new();
        for ready in watcher.take_ready() {
            let Some(slot) = self.slots.get(ready.index) else {
                continue;
            };
            if slot.plugin.hash == ready.plugin.hash {
                continue; // back to the running content
            }
            let manifests = self.slots.iter().enumerate().map(|(index, slot)| {
                if index == ready.index {
                    &ready.plugin.manifest
                } else {
                    &slot.plugin.manifest
                }
            });
            match plan(&self.schema, manifests) {
                Ok(plans) => {
                    for (slot, expected) in self.slots.iter_mut().zip(plans) {
                        slot.expected = expected;
                    }
                    let slot = &mut self.slots[ready.index];
                    let from = std::mem::replace(&mut slot.plugin, ready.plugin);
                    slot.stats.name = slot.plugin.name().to_owned();
                    slot.stats.version = slot.plugin.label.clone();
                    events.push(SwapEvent {
                        plugin: slot.plugin.name().to_owned(),
                        from: from.label,
                        to: slot.plugin.label.clone(),
                    });
                }
                Err(reason) => {
                    watcher.note_rejected();
                    tracing::error!(
                        file = %file_label(&ready.plugin.config.path),
                        version = ready.plugin.label,
                        reason,
                        "plugin version rejected; the running version is kept"
                    );
                }
            }
        }
        if !events.is_empty() {
            self.refresh_versions();
        }
        events
    }

    /// The running versions, `name@version#hash` joined by commas, in chain order.
    pub fn versions(&self) -> &str {
        &self.versions
    }

    /// Counters per plugin, in chain order.
    pub fn stats(&self) -> Vec<PluginStats> {
        self.slots.iter().map(|slot| slot.stats.clone()).collect()
    }

    /// How many changed plugin files were refused (did not compile or
    /// validate) since the chain was loaded.
    pub fn rejected_versions(&self) -> u64 {
        self.watcher.as_ref().map_or(0, Watcher::rejected)
    }

    fn refresh_versions(&mut self) {
        self.versions = self
            .slots
            .iter()
            .map(|slot| slot.plugin.label.as_str())
            .collect::<Vec<_>>()
            .join(",");
    }
}

/// Longest `drop` or `fail` reason kept, in bytes; the rest is cut.
pub const MAX_REASON_BYTES: usize = 1024;

/// `reason`, cut to [`MAX_REASON_BYTES`] (at a character boundary) with a
/// note saying how much was cut.
pub fn truncate_reason(mut reason: String) -> String {
    if reason.len() <= MAX_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let cut = reason.len() - end;
    reason.truncate(end);
    reason.push_str(&format!("… ({cut} more bytes cut)"));
    reason
}

impl Slot {
    fn failed(&mut self, reason: String) -> ChainOutcome {
        self.stats.failed += 1;
        ChainOutcome::Failed(DeadLetter {
            plugin: self.plugin.name().to_owned(),
            version: self.plugin.label.clone(),
            reason,
        })
    }
}
