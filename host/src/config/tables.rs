//! Several tables in one pipeline: `[source] table` is the first, each
//! `[[source.tables]]` entry adds one, each with its own key, stamp column,
//! saved position, topic and plugin chain.
//!
//! The rule that keeps tables apart: **every table has its own topic and,
//! in timestamp mode, its own position file** (binlog mode reads every
//! table from one stream and keeps one position, `source.binlog_position_file`,
//! see `source::binlog::tables`), checked at start (two tables on one topic, or
//! one table twice, stop the pipeline naming the key), so positions,
//! acknowledgements and the consumers' duplicate rule, all kept per topic,
//! never mix two tables.
//!
//! Each table is served through a view of the configuration
//! ([`Config::for_table`]): the whole configuration with `[source]` and
//! `[topic] name` set to that table's and `[[plugins]]` filtered to the
//! plugins that apply to it, so the single-table code runs unchanged per
//! table.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{Config, SourceMode};
use crate::error::{Error, Result};

/// One `[[source.tables]]` entry: a table served besides `[source] table`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    pub name: String,
    /// Its key columns; empty: the table's PRIMARY KEY.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_columns: Vec<String>,
    /// Its stamp column (timestamp mode); default: `[source] timestamp_column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_column: Option<String>,
    /// An Avro value schema file instead of the one derived from the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_schema_file: Option<PathBuf>,
    /// Its topic; default: `[topic] name_pattern` with `{table}` replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Its saved position; default: `[source] position_file` with the
    /// table's name before the extension
    /// (`time_track/last_read_timestamp.<table>.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_file: Option<PathBuf>,
}

/// A table as the pipeline serves it, every default resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub key_columns: Vec<String>,
    pub timestamp_column: String,
    pub value_schema_file: Option<PathBuf>,
    pub topic: String,
    pub position_file: PathBuf,
}

/// The placeholder `[topic] name_pattern` replaces with the table's name.
pub const TABLE_PLACEHOLDER: &str = "{table}";

impl Config {
    /// Every table served, the first being `[source] table`.
    pub fn tables(&self) -> Vec<TableSpec> {
        let source = &self.source;
        let first = TableSpec {
            name: source.table.clone(),
            key_columns: source.configured_key(),
            timestamp_column: source.timestamp_column.clone(),
            value_schema_file: source.value_schema_file.clone(),
            topic: self.topic.name.clone(),
            position_file: source.position_file.clone(),
        };
        let extra = source.tables.iter().map(|entry| TableSpec {
            name: entry.name.clone(),
            key_columns: entry.key_columns.clone(),
            timestamp_column: entry
                .timestamp_column
                .clone()
                .unwrap_or_else(|| source.timestamp_column.clone()),
            value_schema_file: entry.value_schema_file.clone(),
            topic: entry.topic.clone().unwrap_or_else(|| {
                self.topic
                    .name_pattern
                    .replace(TABLE_PLACEHOLDER, &entry.name)
            }),
            position_file: entry
                .position_file
                .clone()
                .unwrap_or_else(|| position_file_of(&source.position_file, &entry.name)),
        });
        std::iter::once(first).chain(extra).collect()
    }

    /// Every table's topic, the first table's first.
    pub fn topics(&self) -> Vec<String> {
        self.tables().into_iter().map(|table| table.topic).collect()
    }

    /// The configuration as the single-table code sees `table`: its source
    /// settings and topic, and only the plugins that apply to it.
    pub fn for_table(&self, table: &TableSpec) -> Config {
        let mut view = self.clone();
        view.source.tables.clear();
        view.source.table = table.name.clone();
        view.source.key_columns = table.key_columns.clone();
        view.source.id_column = None;
        view.source.timestamp_column = table.timestamp_column.clone();
        view.source.value_schema_file = table.value_schema_file.clone();
        view.source.position_file = table.position_file.clone();
        view.topic.name = table.topic.clone();
        view.plugins
            .retain(|plugin| plugin.tables.is_empty() || plugin.tables.contains(&table.name));
        view
    }

    /// One view per table ([`Self::for_table`]).
    pub fn table_views(&self) -> Vec<Config> {
        self.tables()
            .iter()
            .map(|table| self.for_table(table))
            .collect()
    }

    /// Refuses a table listed twice, two tables on one topic or one position
    /// file, a plugin filtered to a table that is not configured, and a
    /// per-table position file in binlog mode (one position serves all).
    pub(super) fn validate_tables(&self, origin: &str) -> Result<()> {
        let fail =
            |key: String, message: String| Err(Error::config(origin, format!("`{key}` {message}")));
        let tables = self.tables();
        let key_of = |index: usize, field: &str| match index {
            0 if field == "name" => "source.table".to_owned(),
            0 if field == "topic" => "topic.name".to_owned(),
            0 => format!("source.{field}"),
            n => format!("source.tables[{}].{field}", n - 1),
        };
        if self.source.tables.iter().any(|entry| entry.name.is_empty()) {
            let index = self
                .source
                .tables
                .iter()
                .position(|e| e.name.is_empty())
                .unwrap_or(0);
            return fail(key_of(index + 1, "name"), "is empty; name the table".into());
        }
        if self.source.tables.iter().any(|entry| entry.topic.is_none())
            && !self.topic.name_pattern.contains(TABLE_PLACEHOLDER)
        {
            return fail(
                "topic.name_pattern".into(),
                format!(
                    "must contain {TABLE_PLACEHOLDER} (e.g. \"{TABLE_PLACEHOLDER}_updates\"), or every [[source.tables]] entry must set its own `topic`: otherwise several tables share one topic"
                ),
            );
        }
        let mut names = BTreeMap::new();
        let mut topics = BTreeMap::new();
        let mut positions = BTreeMap::new();
        for (index, table) in tables.iter().enumerate() {
            if let Some(first) = names.insert(table.name.as_str(), index) {
                return fail(
                    key_of(index, "name"),
                    format!(
                        "names table `{}` again (it is already `{}`); list each table once",
                        table.name,
                        key_of(first, "name")
                    ),
                );
            }
            if let Some(first) = topics.insert(table.topic.as_str(), index) {
                return fail(
                    key_of(index, "topic"),
                    format!(
                        "puts table `{}` on topic `{}`, already the topic of table `{}`; give each table its own topic (set `topic` in its [[source.tables]] entry, or a topic.name_pattern with {TABLE_PLACEHOLDER})",
                        table.name, table.topic, tables[first].name
                    ),
                );
            }
            if let Some(first) = positions.insert(table.position_file.clone(), index) {
                return fail(
                    key_of(index, "position_file"),
                    format!(
                        "is {}, already the position file of table `{}`; give each table its own",
                        table.position_file.display(),
                        tables[first].name
                    ),
                );
            }
        }
        if let crate::config::DeadLetterConfig::Kafka { topic } = &self.dead_letter
            && let Some(&index) = topics.get(topic.as_str())
        {
            return fail(
                "dead_letter.topic".into(),
                format!(
                    "is `{topic}`, the topic of table `{}`; dead letters need a topic of their own",
                    tables[index].name
                ),
            );
        }
        for (index, plugin) in self.plugins.iter().enumerate() {
            if let Some(unknown) = plugin
                .tables
                .iter()
                .find(|name| !names.contains_key(name.as_str()))
            {
                return fail(
                    format!("plugins[{index}].tables"),
                    format!(
                        "names table `{unknown}`, which is not configured (configured: {}); name a table of [source] table or [[source.tables]]",
                        names
                            .keys()
                            .map(|name| format!("`{name}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        // Binlog mode reads every table from one stream, so one position
        // (source.binlog_position_file) serves them all: a table's own
        // position file would never be read or written.
        if self.source.mode == SourceMode::Binlog
            && let Some(index) = self
                .source
                .tables
                .iter()
                .position(|entry| entry.position_file.is_some())
        {
            return fail(
                key_of(index + 1, "position_file"),
                "is set, but binlog mode keeps one position for every table (one binlog stream reads them all): \
                 source.binlog_position_file; remove the entry's position_file (it is used in timestamp mode only)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// `dir/name.json` → `dir/name.<table>.json`.
fn position_file_of(first: &std::path::Path, table: &str) -> PathBuf {
    let stem = first.file_stem().map_or_else(
        || "position".into(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    let name = match first.extension() {
        Some(extension) => format!("{stem}.{table}.{}", extension.to_string_lossy()),
        None => format!("{stem}.{table}"),
    };
    first.with_file_name(name)
}
