//! `pipeline plugin check FILE.wasm`: load a plugin the way the chain would
//! (compile, manifest checked against the schema) and run it on a few sample
//! records made up from the schema, so an author sees what it does before it
//! is deployed.

use std::fmt;
use std::path::Path;

use super::chain::{ChainOutcome, PluginChain, PluginStats};
use super::schema::{FieldType, SchemaFields};
use crate::config::PluginConfig;
use crate::error::{Error, Result};
use crate::record::{FieldValue, Record};

/// How many sample records are run through the plugin.
const SAMPLES: usize = 5;

/// What `check_plugin` found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// `name@version#hash`.
    pub version: String,
    /// The world it exports: `transform-batch` or `transform`.
    pub world: &'static str,
    /// Each sample record and what the plugin did with it.
    pub samples: Vec<(Record, ChainOutcome)>,
    pub stats: PluginStats,
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
    super::loaded::off_runtime(|| check_here(config, schema)).map_err(|message| Error::Plugin {
        plugin: config.path.display().to_string(),
        message,
    })?
}

fn check_here(config: &PluginConfig, schema: &SchemaFields) -> Result<CheckReport> {
    let mut chain = PluginChain::load(std::slice::from_ref(config), schema)?;
    let records = sample_records(schema, SAMPLES);
    let outcomes = chain.process(records.clone());
    Ok(CheckReport {
        version: chain.versions().to_owned(),
        world: chain.worlds().first().copied().unwrap_or_default(),
        samples: records.into_iter().zip(outcomes).collect(),
        stats: chain.stats().into_iter().next().unwrap_or_default(),
    })
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
        for (record, outcome) in &self.samples {
            let input = serde_json::Value::Object(record.to_json());
            match outcome {
                ChainOutcome::Keep(output) => writeln!(
                    f,
                    "  {input}\n    -> keep {}",
                    serde_json::Value::Object(output.to_json())
                )?,
                ChainOutcome::Dropped { reason, .. } => {
                    writeln!(f, "  {input}\n    -> drop: {reason}")?
                }
                ChainOutcome::Failed(letter) => {
                    writeln!(f, "  {input}\n    -> FAIL: {}", letter.reason)?
                }
            }
        }
        write!(
            f,
            "  {} records in {:?}",
            self.stats.records_in, self.stats.time
        )
    }
}
