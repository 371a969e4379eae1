//! `pipeline plugin check FILE.wasm`: load a plugin the way the chain would
//! (compile, manifest checked against the schema) and run it on records,
//! sample ones made up from the schema or the author's own
//! (`check_files`), so an author sees what it does before it is deployed.
//!
//! The rule that lets a plugin's own CI use it: **the report's
//! [`CheckReport::status`] is 0 only when no record failed** (or was
//! dropped, when every record must be kept) **and every outcome is the
//! expected one**; a plugin that does not load is an error (exit 2).

use std::fmt;
use std::path::Path;

use super::chain::{ChainOutcome, PluginChain, PluginStats};
use super::check_files::Expected;
use super::schema::{FieldType, SchemaFields};
use crate::config::PluginConfig;
use crate::error::{Error, Result};
use crate::record::{FieldValue, Record};

/// How many sample records are run through the plugin.
const SAMPLES: usize = 5;

/// Records per call, as the consumer's default `batch_size`.
const BATCH: usize = 500;

/// What `check_plugin` found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// `name@version#hash`.
    pub version: String,
    /// The world it exports: `transform-batch` or `transform`.
    pub world: &'static str,
    /// Each record and what the plugin did with it.
    pub samples: Vec<(Record, ChainOutcome)>,
    pub stats: PluginStats,
    /// The key's fields, to name records in the output.
    key: Vec<String>,
    /// The expected outcome of each record, when an expect file was given.
    expected: Option<Vec<Expected>>,
    /// Whether a dropped record counts as a failure.
    expect_keep: bool,
}

/// Validates the plugin at `path` against `schema` and runs it on sample records.
/// A plugin that does not load is an error; one that fails or misbehaves on a
/// sample is reported in the samples.
///
/// The plugin runs on a thread of its own, never the caller's (which may be
/// an async runtime's, where WASI's blocking helpers would abort the process).
pub fn check_plugin(path: &Path, schema: &SchemaFields) -> Result<CheckReport> {
    check_plugin_with(&PluginConfig::at(path), schema)
}

/// As [`check_plugin`], with `config`'s limits (a Python or JavaScript
/// plugin needs more memory than the default).
pub fn check_plugin_with(config: &PluginConfig, schema: &SchemaFields) -> Result<CheckReport> {
    check_records(config, schema, sample_records(schema, SAMPLES))
}

/// As [`check_plugin_with`], on `records` (see `check_files::read_records`).
pub fn check_records(
    config: &PluginConfig,
    schema: &SchemaFields,
    records: Vec<Record>,
) -> Result<CheckReport> {
    super::loaded::off_runtime(|| check_here(config, schema, records)).map_err(|message| {
        Error::Plugin {
            plugin: config.path.display().to_string(),
            message,
        }
    })?
}

fn check_here(
    config: &PluginConfig,
    schema: &SchemaFields,
    records: Vec<Record>,
) -> Result<CheckReport> {
    let mut chain = PluginChain::load(std::slice::from_ref(config), schema)?;
    let mut samples = Vec::with_capacity(records.len());
    for batch in records.chunks(BATCH) {
        let outcomes = chain.process(batch.to_vec());
        samples.extend(batch.iter().cloned().zip(outcomes));
    }
    Ok(CheckReport {
        version: chain.versions().to_owned(),
        world: chain.worlds().first().copied().unwrap_or_default(),
        samples,
        stats: chain.stats().into_iter().next().unwrap_or_default(),
        key: schema.keys().to_vec(),
        expected: None,
        expect_keep: false,
    })
}

impl CheckReport {
    /// Compares each record's outcome with `expected` (one per record).
    pub fn expect(&mut self, expected: Vec<Expected>) {
        self.expected = Some(expected);
    }

    /// Counts a dropped record as a failure.
    pub fn expect_keep(&mut self) {
        self.expect_keep = true;
    }

    /// The outcomes as expect lines (for writing an expect file).
    pub fn outcomes(&self) -> Vec<Expected> {
        self.samples
            .iter()
            .map(|(_, outcome)| Expected::of(outcome))
            .collect()
    }

    /// What went wrong with record `index`, if anything: its outcome is not
    /// the expected one, or (without an expect file) it failed, or it was
    /// dropped when every record must be kept.
    fn problem(&self, index: usize) -> Option<String> {
        let outcome = &self.samples.get(index)?.1;
        match &self.expected {
            Some(expected) => match expected.get(index) {
                Some(expected) if expected.matches(outcome) => None,
                Some(expected) => Some(format!("expected {expected}")),
                None => Some("the expect file has no line for it".into()),
            },
            None => match outcome {
                ChainOutcome::Failed(_) => Some("failed".into()),
                ChainOutcome::Dropped { .. } if self.expect_keep => {
                    Some("dropped, and --expect-keep".into())
                }
                _ => None,
            },
        }
    }

    /// How many records did not come out as they should.
    pub fn problems(&self) -> usize {
        let extra = self.expected.as_ref().map_or(0, |expected| {
            expected.len().saturating_sub(self.samples.len())
        });
        (0..self.samples.len())
            .filter(|&index| self.problem(index).is_some())
            .count()
            + extra
    }

    /// The exit status: 0 when every record came out as it should, 1 otherwise.
    pub fn status(&self) -> u8 {
        u8::from(self.problems() > 0)
    }

    /// `id=7` (the key's fields of `record`), or the record's position.
    fn name(&self, index: usize, record: &Record) -> String {
        let parts: Vec<String> = self
            .key
            .iter()
            .filter_map(|field| Some(format!("{field}={}", record.get(field)?.to_json())))
            .collect();
        if parts.is_empty() {
            format!("record {}", index + 1)
        } else {
            format!("record {} ({})", index + 1, parts.join(", "))
        }
    }
}

/// `count` records with a value of the right type in every field: ids
/// counting from 1, prices alternating in sign, text like `category_3`.
pub fn sample_records(schema: &SchemaFields, count: usize) -> Vec<Record> {
    (1..=count)
        .map(|n| {
            let signed = if n % 2 == 0 { -(n as f64) } else { n as f64 };
            let mut record = Record::default();
            for field in schema.fields() {
                let value = match field.ty {
                    FieldType::Boolean => FieldValue::Boolean(n % 2 == 0),
                    FieldType::Int => FieldValue::Int(i32::try_from(n).unwrap_or(i32::MAX)),
                    FieldType::Long => FieldValue::Long(i64::try_from(n).unwrap_or(i64::MAX)),
                    FieldType::Float => FieldValue::Float(signed as f32 * 1.25),
                    FieldType::Double => FieldValue::Double(signed * 10.25),
                    FieldType::Text => FieldValue::Text(format!("{}_{n}", field.name)),
                    FieldType::Bytes => FieldValue::Bytes(vec![n as u8]),
                };
                record.fields.push(crate::record::Field {
                    name: field.name.clone(),
                    value,
                });
            }
            record
        })
        .collect()
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: loaded (the `{}` world), manifest fits the schema",
            self.version, self.world
        )?;
        let (mut kept, mut dropped, mut failed) = (0, 0, 0);
        for (index, (record, outcome)) in self.samples.iter().enumerate() {
            let input = serde_json::Value::Object(record.to_json());
            writeln!(f, "  {}: {input}", self.name(index, record))?;
            match outcome {
                ChainOutcome::Keep(output) => {
                    kept += 1;
                    writeln!(
                        f,
                        "    -> keep {}",
                        serde_json::Value::Object(output.to_json())
                    )?
                }
                ChainOutcome::Dropped { reason, .. } => {
                    dropped += 1;
                    writeln!(f, "    -> drop: {reason}")?
                }
                ChainOutcome::Failed(letter) => {
                    failed += 1;
                    writeln!(f, "    -> FAIL in {}: {}", letter.version, letter.reason)?
                }
            }
            if let Some(problem) = self.problem(index) {
                writeln!(f, "    !! {problem}")?;
            }
        }
        let missing = self.expected.as_ref().map_or(0, |expected| {
            expected.len().saturating_sub(self.samples.len())
        });
        if missing > 0 {
            writeln!(
                f,
                "  !! the expect file has {missing} lines more than there are records"
            )?;
        }
        writeln!(
            f,
            "  {} records in {:?}: {kept} kept, {dropped} dropped, {failed} failed",
            self.stats.records_in, self.stats.time
        )?;
        match self.problems() {
            0 => write!(f, "ok"),
            problems => write!(
                f,
                "FAILED: {problems} record{} not as {}",
                if problems == 1 { "" } else { "s" },
                if self.expected.is_some() {
                    "expected"
                } else {
                    "they should be"
                }
            ),
        }
    }
}
