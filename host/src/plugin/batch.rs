//! A `transform-batch` plugin's step of the chain: the fields it reads go in
//! as positional values under one column list per batch, the values of the
//! fields it writes come back, and the host puts them into its records.
//!
//! The rule that keeps this step cheap and the records whole: **a plugin is
//! sent only the fields of its `reads` and changes only the fields of its
//! `writes`; every other field stays in the host's record, untouched.** So
//! nothing is copied per record but the values a plugin declared (no field
//! names, no fields it does not use), a kept row cannot lose a field, and
//! its check is a type comparison per written value, no name lookups. The
//! values sent are moved out of the records and moved back after the call
//! (the host's only copy is the plugin's output), and the batch's buffers
//! are kept from one call to the next.

use super::bindings::Manifest;
use super::bindings::Value;
use super::bindings::batch::{Batch, Column, RowOutcome};
use super::bisect::{self, Records};
use super::convert::{from_value, to_value};
use super::loaded::{CallFailure, Loaded};
use super::schema::FieldSpec;
use super::validate::{Expected, non_finite, value_type};
use crate::record::{Field, FieldValue, Record};

/// What became of one record in this step.
#[derive(Debug)]
pub enum Verdict {
    /// Kept; the record now carries the plugin's writes.
    Keep,
    /// The plugin's `drop`, with its reason.
    Drop(String),
    /// The plugin's `fail`, with its reason.
    Fail(String),
    /// The plugin returned a value the schema does not allow (the reason
    /// names the plugin).
    Invalid(String),
    /// The call failed for this record (a trap or a limit).
    CallFailed(String),
}

/// One `transform-batch` plugin's columns, and the buffers reused between batches.
pub struct BatchStep {
    /// The batch sent, its columns set once (the plugin's `reads`).
    batch: Batch,
    /// Where each read column was in the last record (checked by name).
    read_at: Vec<usize>,
    /// Indexes into `batch.values` of decimals sent as text, to restore them.
    decimals: Vec<usize>,
    /// The plugin's `writes`, typed as the chain's plan says at this step.
    writes: Vec<FieldSpec>,
    write_at: Vec<usize>,
    results: Results,
    pub verdicts: Vec<Verdict>,
}

impl BatchStep {
    /// The step of the plugin with `manifest`, given records that look like
    /// `input` and must come out like `output`. Refuses a field read or
    /// written twice (each is one position).
    pub fn new(manifest: &Manifest, input: &Expected, output: &Expected) -> Result<Self, String> {
        fn twice<'a>(mut names: impl Iterator<Item = &'a String>) -> Option<String> {
            let mut seen = std::collections::HashSet::new();
            names.find(|name| !seen.insert(name.as_str())).cloned()
        }
        if let Some(name) = twice(manifest.reads.iter()) {
            return Err(format!(
                "plugin {} reads field `{name}` twice",
                manifest.name
            ));
        }
        if let Some(name) = twice(manifest.writes.iter().map(|write| &write.name)) {
            return Err(format!(
                "plugin {} writes field `{name}` twice",
                manifest.name
            ));
        }
        let unknown = |name: &str| {
            format!(
                "plugin {} names field `{name}`, which the schema (and earlier plugins) lack",
                manifest.name
            )
        };
        let columns = manifest
            .reads
            .iter()
            .map(|name| {
                let spec = input.spec(name).ok_or_else(|| unknown(name))?;
                Ok(Column {
                    name: name.clone(),
                    type_: spec.ty.to_wit(),
                    optional: spec.optional,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let writes = manifest
            .writes
            .iter()
            .map(|write| {
                output
                    .spec(&write.name)
                    .cloned()
                    .ok_or_else(|| unknown(&write.name))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            read_at: vec![0; columns.len()],
            write_at: vec![0; writes.len()],
            batch: Batch {
                columns,
                rows: 0,
                values: Vec::new(),
            },
            decimals: Vec::new(),
            results: Results {
                outcomes: Vec::new(),
                values: Vec::new(),
                width: writes.len(),
            },
            writes,
            verdicts: Vec::new(),
        })
    }

    /// Runs `records` through `plugin`: one verdict per record in
    /// `self.verdicts`; kept records are changed in place.
    pub fn run(&mut self, plugin: &mut Loaded, records: &mut [Record]) {
        self.fill(records);
        self.results.outcomes.clear();
        self.results.values.clear();
        let rows = Rows {
            batch: &self.batch,
            start: 0,
            end: records.len(),
        };
        bisect::call(plugin, rows, &mut self.results);
        self.verdicts.clear();
        let width = self.writes.len();
        let mut next_values = 0;
        let outcomes = std::mem::take(&mut self.results.outcomes);
        for (row, (record, outcome)) in records.iter_mut().zip(&outcomes).enumerate() {
            let verdict = match outcome {
                Ok(RowOutcome::Keep) => {
                    let start = next_values;
                    next_values += width;
                    self.keep(plugin.name(), row, record, start)
                }
                Ok(RowOutcome::Drop(reason)) => Verdict::Drop(reason.clone()),
                Ok(RowOutcome::Fail(reason)) => Verdict::Fail(reason.clone()),
                Err(reason) => Verdict::CallFailed(reason.clone()),
            };
            self.verdicts.push(verdict);
        }
        self.results.outcomes = outcomes;
        self.results.outcomes.clear();
        self.results.values.clear();
        self.batch.values.clear();
    }

    /// Moves the read fields of `records` into the batch.
    fn fill(&mut self, records: &mut [Record]) {
        let batch = &mut self.batch;
        batch.values.clear();
        self.decimals.clear();
        batch.rows = u32::try_from(records.len()).unwrap_or(u32::MAX);
        for record in records {
            for (column, at) in batch.columns.iter().zip(&mut self.read_at) {
                let value = match field_at(record, &column.name, at) {
                    Some(field) => std::mem::replace(&mut field.value, FieldValue::Null),
                    None => FieldValue::Null,
                };
                if matches!(value, FieldValue::Decimal(_)) {
                    self.decimals.push(batch.values.len());
                }
                batch.values.push(to_value(value));
            }
        }
    }

    /// Checks the written values of the kept `row` (at `start` in the
    /// results), then gives `record` back its read fields and the writes.
    fn keep(&mut self, plugin: &str, row: usize, record: &mut Record, start: usize) -> Verdict {
        let width = self.writes.len();
        let Some(values) = self.results.values.get_mut(start..start + width) else {
            return Verdict::Invalid(format!("plugin {plugin} returned too few values"));
        };
        if let Err(reason) = check(plugin, &self.writes, values) {
            return Verdict::Invalid(reason);
        }
        let reads = self.batch.columns.len();
        let sent = &mut self.batch.values[row * reads..(row + 1) * reads];
        for (index, ((column, at), value)) in self
            .batch
            .columns
            .iter()
            .zip(&mut self.read_at)
            .zip(sent)
            .enumerate()
        {
            if let Some(field) = field_at(record, &column.name, at) {
                let value = from_value(std::mem::replace(value, Value::Null));
                field.value = match value {
                    FieldValue::Text(text)
                        if self.decimals.binary_search(&(row * reads + index)).is_ok() =>
                    {
                        FieldValue::Decimal(text)
                    }
                    value => value,
                };
            }
        }
        for ((spec, at), value) in self.writes.iter().zip(&mut self.write_at).zip(values) {
            let value = from_value(std::mem::replace(value, Value::Null));
            match field_at(record, &spec.name, at) {
                Some(field) => field.value = value,
                None => record.fields.push(Field {
                    name: spec.name.clone(),
                    value,
                }),
            }
        }
        Verdict::Keep
    }
}

/// Checks one kept row's written values against the plan.
fn check(plugin: &str, writes: &[FieldSpec], values: &[Value]) -> Result<(), String> {
    for (spec, value) in writes.iter().zip(values) {
        if let Some(number) = non_finite(value) {
            return Err(format!(
                "plugin {plugin} returned {number} for field `{}`: NaN and infinities are not numbers a log line can carry",
                spec.name
            ));
        }
        match value_type(value) {
            None if !spec.optional => {
                return Err(format!(
                    "plugin {plugin} returned null for field `{}`, declared {} (not optional)",
                    spec.name,
                    spec.ty.name()
                ));
            }
            Some(ty) if ty != spec.ty => {
                return Err(format!(
                    "plugin {plugin} returned field `{}` of type {}, declared {}",
                    spec.name,
                    ty.name(),
                    spec.ty.name()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The field called `name`, looked for first at `at` (where the last
/// record had it: records of a batch share their layout), then everywhere.
fn field_at<'a>(record: &'a mut Record, name: &str, at: &mut usize) -> Option<&'a mut Field> {
    if record
        .fields
        .get(*at)
        .is_none_or(|field| field.name != name)
    {
        *at = record.fields.iter().position(|field| field.name == name)?;
    }
    record.fields.get_mut(*at)
}

/// The results of the calls of one batch, bisection included.
struct Results {
    outcomes: Vec<Result<RowOutcome, String>>,
    /// The kept rows' writes, `width` values each, in order.
    values: Vec<Value>,
    width: usize,
}

/// Rows `start..end` of a batch.
struct Rows<'a> {
    batch: &'a Batch,
    start: usize,
    end: usize,
}

impl Records for Rows<'_> {
    type Out = Results;

    fn len(&self) -> usize {
        self.end - self.start
    }

    fn slice(&self, start: usize, end: usize) -> Self {
        Rows {
            batch: self.batch,
            start: self.start + start,
            end: self.start + end,
        }
    }

    fn call(&self, plugin: &mut Loaded, out: &mut Results) -> Result<(), CallFailure> {
        let whole = self.start == 0 && self.len() == self.batch.rows as usize;
        // Only a bisection retry copies: the first call sends the batch as is.
        let part;
        let batch = if whole {
            self.batch
        } else {
            let width = self.batch.columns.len();
            part = Batch {
                columns: self.batch.columns.clone(),
                rows: u32::try_from(self.len()).unwrap_or(u32::MAX),
                values: self.batch.values[self.start * width..self.end * width].to_vec(),
            };
            &part
        };
        let result = plugin.call_batch(batch)?;
        if result.outcomes.len() != self.len() {
            return Err(CallFailure::from(format!(
                "returned {} outcomes for {} records",
                result.outcomes.len(),
                self.len()
            )));
        }
        let kept = result
            .outcomes
            .iter()
            .filter(|outcome| matches!(outcome, RowOutcome::Keep))
            .count();
        if result.values.len() != kept * out.width {
            return Err(CallFailure::from(format!(
                "returned {} values for {kept} kept records of {} `writes` each",
                result.values.len(),
                out.width
            )));
        }
        out.outcomes.extend(result.outcomes.into_iter().map(Ok));
        if out.values.is_empty() {
            out.values = result.values;
        } else {
            out.values.extend(result.values);
        }
        Ok(())
    }

    fn failed(out: &mut Results, reason: String) {
        out.outcomes.push(Err(reason));
    }
}
