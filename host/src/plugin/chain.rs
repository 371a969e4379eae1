//! [`PluginChain`]: the consumer's one entry point to the plugins.

use std::time::Duration;

use super::loaded::{Loaded, World, file_label};
use super::native;
use super::schema::SchemaFields;
use super::slot::{Slot, Stage, steps, steps_of};
use super::validate::plan;
use super::watch::Watcher;
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
        let refused = |message| Error::Plugin {
            plugin: "chain".into(),
            message,
        };
        let plans = plan(schema, loaded.iter().map(|plugin| &plugin.manifest)).map_err(refused)?;
        let steps = steps(schema, &loaded, &plans).map_err(refused)?;
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
            .zip(steps)
            .map(|((plugin, expected), step)| Slot {
                step,
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
        let mut positions: Vec<usize> = (0..batch.len()).collect();
        let mut stage = Stage::Records(batch);
        for slot in &mut self.slots {
            if positions.is_empty() {
                break;
            }
            slot.stats.records_in += positions.len() as u64;
            stage = match slot.plugin.world() {
                World::Rows => Stage::Rows(slot.rows_step(
                    stage.into_rows(),
                    &mut positions,
                    &mut outcomes,
                    &mut self.scratch,
                )),
                World::Batch => Stage::Records(slot.batch_step(
                    stage.into_records(),
                    &mut positions,
                    &mut outcomes,
                )),
            };
            slot.stats.records_out += positions.len() as u64;
        }
        for (record, position) in stage.into_records().into_iter().zip(positions) {
            outcomes[position] = Some(ChainOutcome::Keep(record));
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
            let planned = plan(&self.schema, manifests).and_then(|plans| {
                let plugins = self.slots.iter().enumerate().map(|(index, slot)| {
                    if index == ready.index {
                        &ready.plugin
                    } else {
                        &slot.plugin
                    }
                });
                let steps = steps_of(&self.schema, plugins, &plans)?;
                Ok((plans, steps))
            });
            match planned {
                Ok((plans, steps)) => {
                    for ((slot, expected), step) in self.slots.iter_mut().zip(plans).zip(steps) {
                        slot.expected = expected;
                        slot.step = step;
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

    /// The world each plugin exports (`transform-batch` or `transform`), in
    /// chain order.
    pub fn worlds(&self) -> Vec<&'static str> {
        self.slots
            .iter()
            .map(|slot| match slot.plugin.world() {
                World::Batch => "transform-batch",
                World::Rows => "transform",
            })
            .collect()
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
