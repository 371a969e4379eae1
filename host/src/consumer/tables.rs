//! The tables a member reads: one topic each, numbered in configuration
//! order, each with its own plugin chain and duplicate-rule columns.
//!
//! The rule: **a record goes through the chain of its topic's table, and
//! its offsets and source position count only within that topic** (see
//! `sink::Delivered`): two tables never share a partition's resume point
//! or a key's newest stamp.

use std::sync::Arc;

use crate::config::{Config, SourceMode};
use crate::error::Result;
use crate::plugin::PluginChain;
use crate::sink::SourceColumns;

/// A topic's number in [`Topics`] and a partition of it.
pub type TopicPartition = (usize, i32);

/// The topics read, in configuration order (the first table's first).
#[derive(Debug, Clone)]
pub struct Topics(Arc<[String]>);

impl Topics {
    pub fn new(topics: Vec<String>) -> Self {
        Self(topics.into())
    }

    /// The topic numbered `index`.
    pub fn name(&self, index: usize) -> &str {
        self.0.get(index).map_or("", String::as_str)
    }

    /// The number of `topic`, if it is read.
    pub fn index(&self, topic: &str) -> Option<usize> {
        self.0.iter().position(|name| name == topic)
    }

    pub fn all(&self) -> &[String] {
        &self.0
    }
}

/// One table as a member handles it.
pub struct TableRoute {
    pub table: String,
    pub chain: PluginChain,
    /// Its key and stamp columns: the duplicate rule's key.
    pub columns: SourceColumns,
}

/// Every configured table's plugin chain, in configuration order: the
/// plugins without `tables`, and those naming the table, each checked
/// against that table's value schema.
pub async fn load_chains(config: &Config) -> Result<Vec<PluginChain>> {
    let mut chains = Vec::new();
    for view in config.table_views() {
        chains.push(super::load_chain(&view).await?);
    }
    Ok(chains)
}

/// The routes of `config`'s tables, with `chains` (one per table, in order).
pub fn routes(config: &Config, chains: Vec<PluginChain>) -> Vec<TableRoute> {
    config
        .table_views()
        .into_iter()
        .zip(chains)
        .map(|(view, chain)| {
            let stamp = if view.source.mode == SourceMode::Binlog {
                &view.source.sequence_field
            } else {
                &view.source.timestamp_column
            };
            TableRoute {
                columns: SourceColumns::new(&view.source.configured_key(), stamp),
                table: view.source.table,
                chain,
            }
        })
        .collect()
}

/// The plugin versions of every chain: the chain's own text for one table,
/// `table=[…]` per table for several.
pub fn versions(routes: &[TableRoute]) -> String {
    match routes {
        [only] => only.chain.versions().to_owned(),
        _ => routes
            .iter()
            .map(|route| format!("{}=[{}]", route.table, route.chain.versions()))
            .collect::<Vec<_>>()
            .join(" "),
    }
}
