//! One plugin of a chain ([`Slot`]) and its step over a batch, in either
//! world, and the form the records take between two plugins ([`Stage`]).
//!
//! The rule that keeps a chain of `transform` plugins as cheap as it was:
//! **records change form only where the world changes.** Consecutive
//! `transform` plugins pass WIT rows to each other; the host's records are
//! converted to rows (by moving, see `convert`) before the first of them and
//! back after the last.

use std::time::Instant;

use super::batch::{BatchStep, Verdict};
use super::bindings::{Outcome, Row};
use super::bisect;
use super::chain::{ChainOutcome, DeadLetter, PluginStats, truncate_reason};
use super::convert::{to_record, to_row};
use super::loaded::{Loaded, World};
use super::schema::SchemaFields;
use super::validate::{Expected, input};
use crate::record::Record;

/// One plugin of a chain.
pub struct Slot {
    pub plugin: Loaded,
    pub expected: Expected,
    /// A `transform-batch` plugin's columns and buffers.
    pub step: Option<BatchStep>,
    pub stats: PluginStats,
}

/// The records between two plugins: as the host's records, or as the WIT
/// rows of the `transform` world while consecutive plugins take those.
pub enum Stage {
    Records(Vec<Record>),
    Rows(Vec<Row>),
}

impl Stage {
    pub fn into_records(self) -> Vec<Record> {
        match self {
            Stage::Records(records) => records,
            Stage::Rows(rows) => rows.into_iter().map(to_record).collect(),
        }
    }

    pub fn into_rows(self) -> Vec<Row> {
        match self {
            Stage::Records(records) => records.into_iter().map(to_row).collect(),
            Stage::Rows(rows) => rows,
        }
    }
}

/// The batch step of each `transform-batch` plugin of a chain planned as `plans`.
pub fn steps(
    schema: &SchemaFields,
    plugins: &[Loaded],
    plans: &[Expected],
) -> std::result::Result<Vec<Option<BatchStep>>, String> {
    steps_of(schema, plugins.iter(), plans)
}

pub fn steps_of<'a>(
    schema: &SchemaFields,
    plugins: impl Iterator<Item = &'a Loaded>,
    plans: &[Expected],
) -> std::result::Result<Vec<Option<BatchStep>>, String> {
    let first = input(schema);
    let inputs = std::iter::once(&first).chain(plans.iter());
    plugins
        .zip(inputs.zip(plans))
        .map(|(plugin, (input, output))| match plugin.world() {
            World::Rows => Ok(None),
            World::Batch => BatchStep::new(&plugin.manifest, input, output).map(Some),
        })
        .collect()
}

impl Slot {
    /// A `transform` plugin's step: the kept rows; `positions` and
    /// `outcomes` updated for the others.
    pub fn rows_step(
        &mut self,
        rows: Vec<Row>,
        positions: &mut Vec<usize>,
        outcomes: &mut [Option<ChainOutcome>],
        scratch: &mut Vec<bool>,
    ) -> Vec<Row> {
        let mut results = Vec::with_capacity(rows.len());
        let started = Instant::now();
        bisect::call(&mut self.plugin, rows.as_slice(), &mut results);
        self.stats.time += started.elapsed();
        let mut kept = Vec::with_capacity(rows.len());
        let mut kept_positions = Vec::with_capacity(rows.len());
        for ((input, &position), result) in rows.iter().zip(positions.iter()).zip(results) {
            let outcome = match result {
                Ok(Outcome::Keep(row)) => {
                    match self
                        .expected
                        .check(self.plugin.name(), input, &row, scratch)
                    {
                        Ok(()) => {
                            kept.push(row);
                            kept_positions.push(position);
                            continue;
                        }
                        Err(reason) => self.failed(reason),
                    }
                }
                Ok(Outcome::Drop(reason)) => self.dropped(reason),
                Ok(Outcome::Fail(reason)) => self.failed(truncate_reason(reason)),
                Err(reason) => {
                    let reason = format!("plugin {} {reason}", self.plugin.name());
                    self.failed(reason)
                }
            };
            outcomes[position] = Some(outcome);
        }
        *positions = kept_positions;
        kept
    }

    /// A `transform-batch` plugin's step (see `batch`), as [`Slot::rows_step`].
    pub fn batch_step(
        &mut self,
        mut records: Vec<Record>,
        positions: &mut Vec<usize>,
        outcomes: &mut [Option<ChainOutcome>],
    ) -> Vec<Record> {
        let Some(step) = self.step.as_mut() else {
            let reason = "internal error: a `transform-batch` plugin without its step";
            for &position in positions.iter() {
                outcomes[position] = Some(self.failed(reason.to_owned()));
            }
            positions.clear();
            return Vec::new();
        };
        let started = Instant::now();
        step.run(&mut self.plugin, &mut records);
        self.stats.time += started.elapsed();
        let mut verdicts = std::mem::take(&mut step.verdicts);
        let mut kept_positions = Vec::with_capacity(records.len());
        let mut kept = Vec::with_capacity(records.len());
        for ((record, &position), verdict) in records
            .into_iter()
            .zip(positions.iter())
            .zip(verdicts.drain(..))
        {
            let outcome = match verdict {
                Verdict::Keep => {
                    kept.push(record);
                    kept_positions.push(position);
                    continue;
                }
                Verdict::Drop(reason) => self.dropped(reason),
                Verdict::Fail(reason) => self.failed(truncate_reason(reason)),
                Verdict::Invalid(reason) => self.failed(reason),
                Verdict::CallFailed(reason) => {
                    let reason = format!("plugin {} {reason}", self.plugin.name());
                    self.failed(reason)
                }
            };
            outcomes[position] = Some(outcome);
        }
        if let Some(step) = self.step.as_mut() {
            step.verdicts = verdicts;
        }
        *positions = kept_positions;
        kept
    }

    pub fn dropped(&mut self, reason: String) -> ChainOutcome {
        self.stats.dropped += 1;
        ChainOutcome::Dropped {
            plugin: self.plugin.name().to_owned(),
            reason: truncate_reason(reason),
        }
    }

    pub fn failed(&mut self, reason: String) -> ChainOutcome {
        self.stats.failed += 1;
        ChainOutcome::Failed(DeadLetter {
            plugin: self.plugin.name().to_owned(),
            version: self.plugin.label.clone(),
            reason,
        })
    }
}
