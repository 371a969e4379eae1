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

use mysql_async::binlog::events::{OptionalMetadataField, TableMapEvent};
use mysql_async::consts::ColumnType;
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
    /// The columns the converter was built for.
    catalog: Vec<CatalogColumn>,
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
            catalog: catalog.to_vec(),
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
            // catalog read at start, but the log may be older than that (a
            // restart catching up): the map must agree with that catalog.
            None => {
                columns == self.catalog.len() && disagreement(table_map, &self.catalog).is_none()
            }
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
        let mismatch = if catalog.len() != columns {
            Some(format!(
                "has {columns} columns, the catalog {}",
                catalog.len()
            ))
        } else {
            disagreement(table_map, &catalog)
        };
        if let Some(mismatch) = mismatch {
            return Err(Error::Binlog(format!(
                "a row event of `{}` {mismatch}: the table was altered after this event was written; \
                 binlog mode cannot name this event's columns (it never guesses). Fix: delete {} to take a new snapshot",
                self.source.table,
                position_path.display()
            )));
        }
        let schema = value_schema(&self.source, &table, &catalog)?;
        if schema.schema.canonical_form() != self.schema.schema.canonical_form() {
            let change = describe_change(&self.schema, &schema);
            tracing::info!(table = %self.source.table, %change, "the table changed shape; registering a new schema version");
            self.encoder =
                crate::producer::schema::register(&self.settings, &self.subject, &schema)
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
        self.catalog = catalog;
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

/// Where the event's columns visibly disagree with the catalog's: a name
/// (when the server logs them, `binlog_row_metadata = FULL`) or a kind of
/// type (integer, text, ...; widening within a kind is fine).
fn disagreement(table_map: &TableMapEvent<'_>, catalog: &[CatalogColumn]) -> Option<String> {
    for field in table_map.iter_optional_meta().flatten() {
        if let OptionalMetadataField::ColumnName(names) = field {
            for (index, name) in names.iter_names().enumerate() {
                let name = name.ok()?;
                let expected = &catalog.get(index)?.name;
                if name.name() != expected.as_str() {
                    return Some(format!(
                        "names column {} `{}`, the catalog `{expected}`",
                        index + 1,
                        name.name()
                    ));
                }
            }
        }
    }
    for (index, column) in catalog.iter().enumerate() {
        let Ok(Some(logged)) = table_map.get_column_type(index) else {
            continue;
        };
        if let (Some(log_kind), Some(catalog_kind)) =
            (logged_kind(logged), catalog_kind(&column.data_type))
            && log_kind != catalog_kind
        {
            return Some(format!(
                "holds {log_kind} in column {} where the catalog has `{}` {}",
                index + 1,
                column.name,
                column.data_type
            ));
        }
    }
    None
}

fn logged_kind(ty: ColumnType) -> Option<&'static str> {
    use ColumnType::*;
    Some(match ty {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG => "an integer",
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => "a float",
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => "a decimal",
        MYSQL_TYPE_DATE
        | MYSQL_TYPE_NEWDATE
        | MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2
        | MYSQL_TYPE_TIME
        | MYSQL_TYPE_TIME2
        | MYSQL_TYPE_YEAR => "a date or time",
        MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_JSON => "text or bytes",
        _ => return None,
    })
}

fn catalog_kind(data_type: &str) -> Option<&'static str> {
    Some(match data_type {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => "an integer",
        "float" | "double" | "real" => "a float",
        "decimal" | "numeric" => "a decimal",
        "date" | "datetime" | "timestamp" | "time" | "year" => "a date or time",
        "char" | "varchar" | "binary" | "varbinary" | "enum" | "set" | "tinytext" | "text"
        | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "json" => {
            "text or bytes"
        }
        _ => return None,
    })
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
