//! Every configured table on one binlog stream.
//!
//! The rule: **one replica stream and one saved position serve every
//! table; each row event goes to its own table's route** (schema version,
//! converter, key, topic), found by the table map's database and table
//! name. All tables' records pass through one ordered acknowledgement queue
//! (`produce::acknowledge_in_order`), so the saved position passes a record
//! of any table only once the broker acknowledged it, and a transaction
//! writing two tables has one boundary, after both tables' rows. This is
//! what Debezium does, and what a per-table position could not give: the
//! snapshot of every table is one read view at one position, and the log
//! is read once.
//!
//! The position file is `source.binlog_position_file`; it lists the tables
//! it covers. A table configured after a position was saved was never
//! snapshotted: refused at start (its rows from before would be missed). A
//! per-table `position_file` has no meaning here and is refused by the
//! configuration check.

use std::time::Duration;

use mysql_async::Pool;
use tokio::sync::watch;

use crate::codec::WireEncoder;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::retry::with_backoff;
use crate::source::binlog::alter::TableVersion;
use crate::source::binlog::checks;
use crate::source::binlog::convert::{CatalogColumn, read_catalog};
use crate::source::binlog::position::{BinlogPosition, BinlogPositionFile, SavedPosition};
use crate::source::binlog::produce::{Fields, truncate_schema};
use crate::source::catalog::TableDescription;
use crate::source::key::KeyColumns;

/// One table as the stream serves it.
pub struct TableRoute {
    /// Its view of the configuration (see `Config::for_table`).
    pub view: Config,
    pub key: KeyColumns,
    /// The schema version its rows are converted and encoded with now.
    pub version: TableVersion,
    /// Its columns at start, in ordinal order (the snapshot reads them).
    pub catalog: Vec<CatalogColumn>,
    /// The encoder of its truncate records, once one was needed.
    pub truncate: Option<WireEncoder>,
}

impl TableRoute {
    pub fn table(&self) -> &str {
        &self.view.source.table
    }

    pub fn topic(&self) -> &str {
        &self.view.topic.name
    }

    /// The encoder of the table's truncate records, their schema
    /// registered under `<topic>-truncate` on first use.
    pub async fn truncate_encoder(&mut self, fields: &Fields<'_>) -> Result<WireEncoder> {
        if let Some(encoder) = &self.truncate {
            return Ok(encoder.clone());
        }
        let settings = crate::codec::registry_settings(&self.view.schema_registry)?;
        let schema = truncate_schema(fields.operation_field, fields.sequence_field)?;
        let subject = format!("{}-truncate", self.topic());
        let encoder = crate::producer::schema::register(&settings, &subject, &schema).await?;
        self.truncate = Some(encoder.clone());
        Ok(encoder)
    }
}

/// A table read at start: its columns, description and key.
pub struct ReadTable {
    pub view: Config,
    pub catalog: Vec<CatalogColumn>,
    pub description: TableDescription,
    pub key: KeyColumns,
}

/// Refuses a saved position that does not cover every configured table
/// (one added since it was saved).
pub fn check_covered(config: &Config, saved: &SavedPosition, path: &std::path::Path) -> Result<()> {
    let covered = saved
        .tables
        .clone()
        .unwrap_or_else(|| vec![config.source.table.clone()]);
    let added: Vec<String> = config
        .tables()
        .into_iter()
        .map(|table| table.name)
        .filter(|name| !covered.contains(name))
        .map(|name| format!("`{name}`"))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(Error::Position {
        path: path.to_owned(),
        message: format!(
            "the saved binlog position covers table(s) {} only; {} configured since would miss every row \
             written before it (binlog mode snapshots the tables when it has no position). Fix: delete {} \
             to take a new snapshot of every table (consumers log every row again, with op \"r\"), \
             or remove the table(s) from [[source.tables]]",
            covered
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", "),
            added.join(", "),
            path.display()
        ),
    })
}

/// Runs the start checks and reads every table's columns and key, waiting
/// (with a log line) while the first table does not exist yet; a further
/// table must exist. `saved` is the position resumed by file and offset,
/// checked against the server's logs. `None` on shutdown.
pub async fn read_tables(
    pool: &Pool,
    config: &Config,
    saved: Option<&BinlogPosition>,
    position_file: &BinlogPositionFile,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Vec<ReadTable>>> {
    let views = config.table_views();
    loop {
        let read = with_backoff("MySQL", || async {
            let mut conn = pool.get_conn().await?;
            checks::check_settings(&mut conn).await?;
            checks::check_privileges(&mut conn).await?;
            if let Some(position) = saved {
                checks::check_not_purged(&mut conn, position, position_file.path()).await?;
            }
            let mut tables = Vec::with_capacity(views.len());
            for (index, view) in views.iter().enumerate() {
                let source = &view.source;
                let catalog = read_catalog(&mut conn, &source.table).await?;
                if catalog.is_empty() {
                    if index == 0 {
                        return Ok(None);
                    }
                    return Err(Error::Source(format!(
                        "table `{}` (source.tables[{}]) not found in the configured database (mysql.url); \
                         create it, or remove its [[source.tables]] entry",
                        source.table,
                        index - 1
                    )));
                }
                let description = TableDescription::read(&mut conn, &source.table).await?;
                let names = description.key_columns(&source.configured_key())?;
                // The snapshot pages through the table by the key, and
                // records are keyed by it: it must be unique.
                checks::check_unique_key(&mut conn, &source.table, &names).await?;
                let key = KeyColumns::new(
                    &description,
                    &names,
                    &description.kinds(source.decimal_handling),
                )?;
                tables.push(ReadTable {
                    view: view.clone(),
                    catalog,
                    description,
                    key,
                });
            }
            Ok::<_, Error>(Some(tables))
        })
        .await?;
        if let Some(tables) = read {
            return Ok(Some(tables));
        }
        tracing::warn!(table = %config.source.table, "waiting for the source table to exist (source.table)");
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

/// Registers each table's value schema under `<its topic>-value`.
pub async fn register(tables: Vec<ReadTable>) -> Result<Vec<TableRoute>> {
    let mut routes = Vec::with_capacity(tables.len());
    for table in tables {
        let settings = crate::codec::registry_settings(&table.view.schema_registry)?;
        let subject = format!("{}-value", table.view.topic.name);
        let version = TableVersion::register(
            settings,
            subject,
            &table.view.source,
            &table.description,
            &table.catalog,
        )
        .await?;
        routes.push(TableRoute {
            view: table.view,
            key: table.key,
            version,
            catalog: table.catalog,
            truncate: None,
        });
    }
    Ok(routes)
}
