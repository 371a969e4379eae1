//! A `transform-batch` plugin's step of the chain: the fields it reads go in
//! as positional values under one column list per batch, the values of the
//! fields it writes come back, and the host puts them into its records.
//!
//! The rule that keeps this step cheap and the records whole: **a plugin is
//! sent only the fields of its `reads` and changes only the fields of its
//! `writes`; every other field stays in the host's record, untouched.** So
//! nothing is copied per record but the values a plugin declared (no field
//! names, no fields it does not use), a kept row cannot lose a field, and
//! its check is a type comparison per written value, no name lookups.
//!
//! Text and bytes cross as spans of one buffer per batch (`data`), both
//! ways: lowering a batch into the guest is two allocations there whatever
//! its strings, where a string per value cost a call into the guest's
//! allocator each; a written text is copied into the record's own string
//! (its allocation reused). The batch's buffers are kept from one call to
//! the next. How a returned span is checked before it is read: `cells`.

use super::bindings::Manifest;
use super::bindings::batch::{Batch, BatchResult, Cell, Column, RowOutcome};
use super::bisect::{self, Records};
use super::cells::{cell_of, check, put, shifted_back};
use super::loaded::{CallFailure, Loaded};
use super::schema::FieldSpec;
use super::validate::Expected;
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
    /// Where each row's bytes start in `batch.data`, and where the last
    /// ends: a bisection retry sends only its rows' bytes.
    row_data: Vec<usize>,
    /// Where each read column was in the last record (checked by name).
    read_at: Vec<usize>,
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
                data: Vec::new(),
            },
            row_data: Vec::new(),
            results: Results {
                outcomes: Vec::new(),
                values: Vec::new(),
                data: Vec::new(),
                parts: Vec::new(),
                width: writes.len(),
            },
            writes,
            verdicts: Vec::new(),
        })
    }

    /// Runs `records` through `plugin`: one verdict per record in
    /// `self.verdicts`; kept records are changed in place.
    pub fn run(&mut self, plugin: &mut Loaded, records: &mut [Record]) {
        self.verdicts.clear();
        if let Err(reason) = self.fill(records) {
            self.verdicts
                .extend(records.iter().map(|_| Verdict::CallFailed(reason.clone())));
            return;
        }
        self.results.clear();
        let rows = Rows {
            batch: &self.batch,
            row_data: &self.row_data,
            start: 0,
            end: records.len(),
        };
        bisect::call(plugin, rows, &mut self.results);
        let width = self.writes.len();
        let mut next_values = 0;
        let outcomes = std::mem::take(&mut self.results.outcomes);
        for (record, outcome) in records.iter_mut().zip(&outcomes) {
            let verdict = match outcome {
                Ok(RowOutcome::Keep) => {
                    let start = next_values;
                    next_values += width;
                    self.keep(plugin.name(), record, start)
                }
                Ok(RowOutcome::Drop(reason)) => Verdict::Drop(reason.clone()),
                Ok(RowOutcome::Fail(reason)) => Verdict::Fail(reason.clone()),
                Err(reason) => Verdict::CallFailed(reason.clone()),
            };
            self.verdicts.push(verdict);
        }
        self.results.outcomes = outcomes;
        self.results.clear();
    }

    /// Copies the read fields of `records` into the batch (the records keep
    /// them).
    fn fill(&mut self, records: &[Record]) -> Result<(), String> {
        let batch = &mut self.batch;
        batch.values.clear();
        batch.data.clear();
        self.row_data.clear();
        batch.rows = u32::try_from(records.len()).unwrap_or(u32::MAX);
        for record in records {
            self.row_data.push(batch.data.len());
            for (column, at) in batch.columns.iter().zip(&mut self.read_at) {
                let cell = match field_at(record, &column.name, at) {
                    Some(position) => cell_of(&record.fields[position].value, &mut batch.data),
                    None => Cell::Null,
                };
                batch.values.push(cell);
            }
        }
        self.row_data.push(batch.data.len());
        if u32::try_from(batch.data.len()).is_err() {
            return Err(format!(
                "was not called: the batch's text and bytes take {} bytes, more than a span can address (4 GiB); lower the consumer's batch size",
                batch.data.len()
            ));
        }
        Ok(())
    }

    /// Checks the written values of a kept row (at `start` in the results),
    /// then puts them into `record`.
    fn keep(&mut self, plugin: &str, record: &mut Record, start: usize) -> Verdict {
        let width = self.writes.len();
        let data = self.results.data_of(start);
        let Some(values) = self.results.values.get(start..start + width) else {
            return Verdict::Invalid(format!("plugin {plugin} returned too few values"));
        };
        if let Err(reason) = check(plugin, &self.writes, values, data) {
            return Verdict::Invalid(reason);
        }
        for ((spec, at), cell) in self.writes.iter().zip(&mut self.write_at).zip(values) {
            match field_at(record, &spec.name, at) {
                Some(position) => put(&mut record.fields[position].value, cell, data),
                None => {
                    let mut value = FieldValue::Null;
                    put(&mut value, cell, data);
                    record.fields.push(Field {
                        name: spec.name.clone(),
                        value,
                    });
                }
            }
        }
        Verdict::Keep
    }
}

/// The position of the field called `name`, looked for first at `at` (where
/// the last record had it: records of a batch share their layout), then
/// everywhere.
fn field_at(record: &Record, name: &str, at: &mut usize) -> Option<usize> {
    if record
        .fields
        .get(*at)
        .is_none_or(|field| field.name != name)
    {
        *at = record.fields.iter().position(|field| field.name == name)?;
    }
    Some(*at)
}

/// The results of the calls of one batch, bisection included.
struct Results {
    outcomes: Vec<Result<RowOutcome, String>>,
    /// The kept rows' writes, `width` values each, in order; their spans
    /// point into their own call's part of `data` (see [`Part`]).
    values: Vec<Cell>,
    /// The `data` of every successful call, end to end.
    data: Vec<u8>,
    /// One per successful call, in order.
    parts: Vec<Part>,
    width: usize,
}

/// The values and data one call returned, in [`Results`]. A span is
/// checked against its own call's data only: after a bisection the parts'
/// data lie end to end, and a span past the end of its part must not reach
/// into the next one.
struct Part {
    /// Where the call's values end in `Results::values`.
    values_end: usize,
    /// Where its data lies in `Results::data`.
    data: std::ops::Range<usize>,
}

impl Results {
    fn clear(&mut self) {
        self.outcomes.clear();
        self.values.clear();
        self.data.clear();
        self.parts.clear();
    }

    /// The data the spans of the value at `start` point into.
    fn data_of(&self, start: usize) -> &[u8] {
        self.parts
            .iter()
            .find(|part| start < part.values_end)
            .and_then(|part| self.data.get(part.data.clone()))
            .unwrap_or_default()
    }
}

/// Rows `start..end` of a batch.
struct Rows<'a> {
    batch: &'a Batch,
    row_data: &'a [usize],
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
            start: self.start + start,
            end: self.start + end,
            ..*self
        }
    }

    fn call(&self, plugin: &mut Loaded, out: &mut Results) -> Result<(), CallFailure> {
        let whole = self.start == 0 && self.len() == self.batch.rows as usize;
        // Only a bisection retry copies: the first call sends the batch as
        // is; a part gets its rows' values and bytes, spans moved to match.
        let part;
        let batch = if whole {
            self.batch
        } else {
            let width = self.batch.columns.len();
            let (from, to) = (self.row_data[self.start], self.row_data[self.end]);
            let by = u32::try_from(from).unwrap_or(u32::MAX);
            part = Batch {
                columns: self.batch.columns.clone(),
                rows: u32::try_from(self.len()).unwrap_or(u32::MAX),
                values: self.batch.values[self.start * width..self.end * width]
                    .iter()
                    .map(|cell| shifted_back(cell, by))
                    .collect(),
                data: self.batch.data[from..to].to_vec(),
            };
            &part
        };
        let result: BatchResult = plugin.call_batch(batch)?;
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
        let data_start = out.data.len();
        if out.parts.is_empty() {
            out.values = result.values;
            out.data = result.data;
        } else {
            out.values.extend_from_slice(&result.values);
            out.data.extend_from_slice(&result.data);
        }
        out.parts.push(Part {
            values_end: out.values.len(),
            data: data_start..out.data.len(),
        });
        Ok(())
    }

    fn failed(out: &mut Results, reason: String) {
        out.outcomes.push(Err(reason));
    }
}
