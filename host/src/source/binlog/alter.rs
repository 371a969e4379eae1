//! `ALTER TABLE` while binlog mode runs: a new schema version, or a clear
//! stop.
//!
//! The rule: **a row is named by a catalog whose columns match its table map,
//! and encoded only under a schema version the registry accepted for that
//! catalog.** A table map whose column signature (types, metadata,
//! nullability) differs from the one the converter was built for makes the
//! catalog be read again and the value schema derived again, exactly as at
//! start; a changed schema is registered under the registry's compatibility
//! rules (a refusal stops the producer with exit code 2, naming the columns
//! and the fix). A catalog whose column count does not match the event (the
//! table changed again after this event, e.g. a restart catching up on rows
//! written before an ALTER) stops with an error rather than naming values by
//! the wrong columns.

use std::collections::BTreeMap;
use std::path::Path;

use mysql_async::binlog::events::TableMapEvent;
use mysql_async::{Conn, Opts};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use serde_json::Value as Json;

use crate::codec::{ValueSchema, WireEncoder};
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::source::binlog::convert::{CatalogColumn, RowConverter, binlog_schema, read_catalog};
use crate::source::catalog::TableDescription;

/// The value schema binlog mode registers for the table as `catalog` shows
/// it: the derived (or configured) schema plus the operation and sequence
/// fields.
pub fn value_schema(
    source: &SourceConfig,
    table: &TableDescription,
    catalog: &[CatalogColumn],
) -> Result<ValueSchema> {
    binlog_schema(
        &table.value_schema(source)?,
        &table.catalog_types(source.decimal_handling),
        catalog,
        &source.operation_field,
        &source.sequence_field,
    )
}

/// The schema version rows are converted and encoded with now.
pub struct TableVersion {
    settings: SrSettings,
    subject: String,
    source: SourceConfig,
    schema: ValueSchema,
    pub converter: RowConverter,
    pub encoder: WireEncoder,
    /// The table id and column signature of the last table map checked.
    seen: Option<(u64, Vec<u8>)>,
}

impl TableVersion {
    /// Registers the schema for `catalog` under `subject`.
    pub async fn register(
        settings: SrSettings,
        subject: String,
        source: &SourceConfig,
        table: &TableDescription,
        catalog: &[CatalogColumn],
    ) -> Result<Self> {
        let schema = value_schema(source, table, catalog)?;
        let encoder = crate::producer::schema::register(&settings, &subject, &schema).await?;
        Ok(Self {
            converter: RowConverter::new(catalog, &schema)?,
            settings,
            subject,
            source: source.clone(),
            schema,
            encoder,
            seen: None,
        })
    }

    /// Makes the converter and encoder fit `table_map` (a map of the
    /// configured table). The server gives an altered table a new table id,
    /// so the signature is compared only when the id changes.
    pub async fn fit(
        &mut self,
        opts: &Opts,
        table_map: &TableMapEvent<'_>,
        position_path: &Path,
    ) -> Result<()> {
        let id = table_map.table_id();
        if self.seen.as_ref().is_some_and(|(seen, _)| *seen == id) {
            return Ok(());
        }
        let columns = table_map.columns_count() as usize;
        let signature = signature(table_map);
        let known = match &self.seen {
            // The first map of this run: the converter was built from the
            // catalog read at start.
            None => columns == self.converter.columns(),
            Some((_, seen)) => *seen == signature,
        };
        self.seen = Some((id, signature));
        if known {
            return Ok(());
        }
        let mut conn = Conn::new(opts.clone()).await?;
        let catalog = read_catalog(&mut conn, &self.source.table).await?;
        let table = TableDescription::read(&mut conn, &self.source.table).await?;
        conn.disconnect().await?;
        if catalog.len() != columns {
            return Err(Error::Binlog(format!(
                "a row event of `{}` has {columns} columns, the catalog {}: the table was altered again since this event; \
                 binlog mode cannot name this event's columns. Fix: delete {} to take a new snapshot",
                self.source.table,
                catalog.len(),
                position_path.display()
            )));
        }
        let schema = value_schema(&self.source, &table, &catalog)?;
        if schema.schema.canonical_form() != self.schema.schema.canonical_form() {
            let change = describe_change(&self.schema, &schema);
            tracing::info!(table = %self.source.table, %change, "the table changed shape; registering a new schema version");
            self.encoder = crate::producer::schema::register(&self.settings, &self.subject, &schema)
                .await
                .map_err(|error| match error {
                    Error::Source(message) => Error::Source(format!(
                        "ALTER TABLE `{}` ({change}): {message}",
                        self.source.table
                    )),
                    other => other,
                })?;
            self.schema = schema;
        }
        self.converter = RowConverter::new(&catalog, &self.schema)?;
        Ok(())
    }
}

/// The table map's column types, metadata (lengths, precision) and
/// nullability: what changes when a column is added, dropped or widened.
fn signature(table_map: &TableMapEvent<'_>) -> Vec<u8> {
    let columns = table_map.columns_count() as usize;
    let mut signature = Vec::new();
    for index in 0..columns {
        match table_map.get_raw_column_type(index) {
            Ok(Some(ty)) => signature.push(ty as u8),
            _ => signature.push(u8::MAX),
        }
        let metadata = table_map.get_column_metadata(index).unwrap_or_default();
        signature.push(metadata.len() as u8);
        signature.extend_from_slice(metadata);
    }
    let nulls = table_map.null_bitmask();
    signature.extend((0..columns).map(|index| nulls.get(index).is_some_and(|bit| *bit) as u8));
    signature
}

/// "added `a`; dropped `b`; changed `c`": the fields that differ.
fn describe_change(old: &ValueSchema, new: &ValueSchema) -> String {
    let fields = |schema: &ValueSchema| -> BTreeMap<String, Json> {
        serde_json::from_str::<Json>(&schema.text)
            .ok()
            .and_then(|document| document.get("fields").cloned())
            .and_then(|fields| fields.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|field| {
                let name = field.get("name")?.as_str()?.to_owned();
                Some((name, field.get("type").cloned().unwrap_or(Json::Null)))
            })
            .collect()
    };
    let (old, new) = (fields(old), fields(new));
    let list = |names: Vec<&String>| {
        names
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    for (label, names) in [
        (
            "added",
            new.keys().filter(|name| !old.contains_key(*name)).collect(),
        ),
        (
            "dropped",
            old.keys().filter(|name| !new.contains_key(*name)).collect(),
        ),
        (
            "changed",
            new.iter()
                .filter(|(name, ty)| old.get(*name).is_some_and(|old| old != *ty))
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
        ),
    ] {
        if !names.is_empty() {
            parts.push(format!("{label} {}", list(names)));
        }
    }
    if parts.is_empty() {
        "field attributes changed".into()
    } else {
        parts.join("; ")
    }
}
