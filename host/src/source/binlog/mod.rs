//! Binlog mode (`source.mode = "binlog"`): the producer registers as a
//! replica and turns the server's row-based binary log into records.
//!
//! The rule that makes it "every committed change, once, in commit order":
//! the position saved is always a transaction boundary in the log, saved
//! only after the broker acknowledged every record before it; every row
//! change after it becomes one record whose sequence number is fixed by its
//! place in the log. A restart re-reads from the boundary and re-sends the
//! same records with the same sequence numbers, which the consumers drop.
//! With no saved position, a snapshot of the table (op "r") is taken from a
//! read view whose binlog position is known exactly, and the log is
//! followed from there.
//!
//! - [`checks`]: binary log on, ROW, FULL image, privileges, position not purged.
//! - [`snapshot`]: the consistent read view and its binlog position.
//! - [`stream`]: the log's row events as records.
//! - [`convert`]: positional row values as the value schema's fields.
//! - [`alter`]: a new schema version when the table is altered while running.
//! - [`produce`]: records and tombstones to the broker; the ordered acker.
//! - [`position`]: the saved file and offset (and GTID position).
//! - [`gtid`]: MariaDB GTID positions: tracked, saved, resumed by.

pub mod alter;
pub mod checks;
pub mod convert;
pub mod gtid;
pub mod position;
pub mod produce;
pub mod snapshot;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool};
use rdkafka::producer::FutureProducer;
use tokio::sync::{mpsc, watch};

use crate::codec::{ValueSchema, registry_settings};
use crate::config::{BinlogResume, Config};
use crate::error::{Error, Result};
use crate::kafka::{ClientRole, client_config, ensure_topic};
use crate::producer::ProducerCounters;
use crate::retry::{until_permanent_failure, with_backoff};
use crate::source::catalog::TableDescription;
use crate::source::key::KeyColumns;
use crate::source::mysql::{SESSION_IN_UTC, connect};
use convert::{CatalogColumn, RowConverter, read_catalog};
use gtid::GtidState;
use position::{BinlogPosition, BinlogPositionFile};
use produce::{Chunk, Operation, Sender, acknowledge_in_order};

/// Chunks produced but not yet acknowledged, at most.
const CHUNKS_IN_FLIGHT: usize = 1024;

/// Runs the binlog producer until `shutdown` turns true. Transient failures
/// (server or broker away, the stream cut) are waited out and the log is
/// re-read from the saved position.
pub async fn run(
    config: &Config,
    counters: Arc<ProducerCounters>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    BinlogPositionFile::new(&config.source.binlog_position_file).load()?;
    if let Some(path) = &config.source.value_schema_file {
        ValueSchema::load(path)?;
    }
    let pool = connect(&config.mysql.url).await?;
    until_permanent_failure("binlog producer", &mut shutdown, async |shutdown| {
        run_once(config, &pool, &counters, shutdown).await
    })
    .await
}

/// The replica id: the configured one, or one derived from the process id.
pub fn server_id(configured: u32) -> u32 {
    if configured != 0 {
        return configured;
    }
    1_000_000 + std::process::id() % 1_000_000
}

async fn run_once(
    config: &Config,
    pool: &Pool,
    counters: &Arc<ProducerCounters>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let source = &config.source;
    let position_file = BinlogPositionFile::new(&source.binlog_position_file);
    let saved = position_file.load()?;
    let mariadb = with_backoff("MySQL", || async {
        let mut conn = pool.get_conn().await?;
        gtid::is_mariadb(&mut conn).await
    })
    .await?;
    let by_gtid = resume_by_gtid(
        source.binlog_position,
        saved.as_ref(),
        mariadb,
        &position_file,
    )?;
    let Some((catalog, table, key)) = wait_for_table(
        pool,
        config,
        saved.as_ref().filter(|_| !by_gtid),
        &position_file,
        shutdown,
    )
    .await?
    else {
        return Ok(());
    };
    with_backoff("the Kafka broker", || {
        ensure_topic(config, &config.topic.name, config.topic.partitions)
    })
    .await?;
    let settings = registry_settings(&config.schema_registry)?;
    let subject = format!("{}-value", config.topic.name);
    let mut version =
        alter::TableVersion::register(settings, subject, source, &table, &catalog).await?;
    // The snapshot's rows are encoded with the version registered at start.
    let encoder = version.encoder.clone();
    let producer: FutureProducer = client_config(config, ClientRole::Producer).create()?;
    let sender = Sender {
        producer: &producer,
        topic: &config.topic.name,
        encoder: &encoder,
        key: &key,
        operation_field: &source.operation_field,
        sequence_field: &source.sequence_field,
    };
    let (to_acker, from_reader) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let acker = tokio::spawn(acknowledge_in_order(
        from_reader,
        position_file.clone(),
        Arc::clone(counters),
        crate::latency_trace::AckTrace::from_env(&config.topic.name),
    ));
    let outcome: Result<()> = async {
        let position = match saved {
            Some(position) => position,
            None => {
                take_snapshot(
                    pool,
                    config,
                    &catalog,
                    &key,
                    &version.converter,
                    &sender,
                    &to_acker,
                    counters,
                )
                .await?
            }
        };
        let gtid = match (mariadb, &position.gtid) {
            (false, _) => None,
            (true, Some(text)) => {
                Some(GtidState::parse(text).map_err(|error| Error::Position {
                    path: position_file.path().to_owned(),
                    message: format!(
                        "{error}; fix it, or delete the file to take a new snapshot of the table"
                    ),
                })?)
            }
            // Saved before GTIDs were recorded: the server says which GTID
            // position that point is, so the positions saved from now on
            // carry one.
            (true, None) => {
                let mut conn = pool.get_conn().await?;
                gtid::position_at(&mut conn, &position.file, position.offset).await?
            }
        };
        let start = stream::Start {
            position,
            gtid,
            by_gtid,
        };
        let opts = Opts::from_url(&config.mysql.url)
            .map_err(|error| Error::config("mysql.url", format!("not a MySQL URL: {error}")))?;
        let database = opts.db_name().unwrap_or_default().to_owned();
        let (checksum,): (String,) = pool
            .get_conn()
            .await?
            .query_first("SELECT @@GLOBAL.binlog_checksum")
            .await?
            .unwrap_or(("NONE".into(),));
        let follower = stream::Follower {
            opts: OptsBuilder::from_opts(opts)
                .setup(vec![SESSION_IN_UTC])
                .into(),
            server_id: server_id(source.server_id),
            mariadb,
            checksums: !checksum.eq_ignore_ascii_case("NONE"),
            database,
            table: source.table.clone(),
            sender,
            position_path: position_file.path().to_owned(),
            to_acker: &to_acker,
            counters,
        };
        follower.follow(&start, &mut version, shutdown).await
    }
    .await;
    crate::producer::acker::finish_run(to_acker, acker, &producer, outcome).await
}

/// Whether the saved position is resumed by its GTID position (see
/// `source.binlog_position`); refuses `gtid` where it cannot be done.
fn resume_by_gtid(
    resume: BinlogResume,
    saved: Option<&BinlogPosition>,
    mariadb: bool,
    position_file: &BinlogPositionFile,
) -> Result<bool> {
    let has_gtid = saved.is_some_and(|position| position.gtid.is_some());
    match resume {
        BinlogResume::File => Ok(false),
        BinlogResume::Auto => Ok(mariadb && has_gtid),
        BinlogResume::Gtid if !mariadb => Err(Error::config(
            "source.binlog_position",
            "\"gtid\" resumes by MariaDB's GTID position; this server is not MariaDB \
             (MySQL's gtid_executed is not implemented yet): use \"file\" or \"auto\"",
        )),
        BinlogResume::Gtid if saved.is_some() && !has_gtid => Err(Error::Position {
            path: position_file.path().to_owned(),
            message: "the saved position has no GTID (it was saved by file and offset): \
                      run once with source.binlog_position = \"auto\" (it records the GTID), \
                      or delete the file to take a new snapshot of the table"
                .into(),
        }),
        BinlogResume::Gtid => Ok(true),
    }
}

/// Runs the start checks and reads the table's columns and key, waiting
/// (with a log line) while the table does not exist yet. `saved` is the
/// position resumed by file and offset, checked against the server's logs.
/// `None` on shutdown.
async fn wait_for_table(
    pool: &Pool,
    config: &Config,
    saved: Option<&BinlogPosition>,
    position_file: &BinlogPositionFile,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<(Vec<CatalogColumn>, TableDescription, KeyColumns)>> {
    let source = &config.source;
    loop {
        let (catalog, table) = with_backoff("MySQL", || async {
            let mut conn = pool.get_conn().await?;
            checks::check_settings(&mut conn).await?;
            checks::check_privileges(&mut conn).await?;
            if let Some(position) = saved {
                checks::check_not_purged(&mut conn, position, position_file.path()).await?;
            }
            let catalog = read_catalog(&mut conn, &source.table).await?;
            let table = TableDescription::read(&mut conn, &source.table).await;
            // The snapshot pages through the table by the key, and records
            // are keyed by it: it must be unique.
            if let Ok(described) = &table
                && !catalog.is_empty()
                && let Ok(keys) = described.key_columns(&source.configured_key())
            {
                checks::check_unique_key(&mut conn, &source.table, &keys).await?;
            }
            Ok::<_, Error>((catalog, table))
        })
        .await?;
        if !catalog.is_empty() {
            let table = table?;
            let key = KeyColumns::new(
                &table,
                &table.key_columns(&source.configured_key())?,
                &table.kinds(source.decimal_handling),
            )?;
            return Ok(Some((catalog, table, key)));
        }
        tracing::warn!(table = %source.table, "waiting for the source table to exist (source.table)");
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

/// Produces every row of the table as op "r" from a consistent read view,
/// then a chunk carrying the view's binlog position (saved once all of them
/// are acknowledged). Returns that position, where the log is followed from.
#[allow(clippy::too_many_arguments)]
async fn take_snapshot(
    pool: &Pool,
    config: &Config,
    catalog: &[CatalogColumn],
    key: &KeyColumns,
    converter: &RowConverter,
    sender: &Sender<'_>,
    to_acker: &mpsc::Sender<Chunk>,
    counters: &ProducerCounters,
) -> Result<BinlogPosition> {
    let source = &config.source;
    let mut conn = pool.get_conn().await?;
    let position = snapshot::open_view(&mut conn).await?;
    let sequence = position.sequence()?;
    tracing::info!(file = %position.file, offset = position.offset, gtid = position.gtid.as_deref().unwrap_or_default(), table = %source.table, "snapshot of the table at this binlog position");
    let names: Vec<String> = catalog.iter().map(|column| column.name.clone()).collect();
    let key_names = key.names();
    let key_indexes = key_names
        .iter()
        .map(|column| {
            names
                .iter()
                .position(|name| name == column)
                .ok_or_else(|| Error::Binlog(format!("no key column `{column}`")))
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut after: Option<Vec<mysql_async::Value>> = None;
    let mut total = 0;
    loop {
        let page = snapshot::read_page(
            &mut conn,
            &source.table,
            &names,
            &key_names,
            after.as_deref(),
            source.batch_size,
        )
        .await?;
        let Some(last) = page.last() else { break };
        after = Some(
            key_indexes
                .iter()
                .map(|index| last[*index].clone())
                .collect(),
        );
        let rows = page.len();
        let mut deliveries = Vec::with_capacity(rows);
        for values in page {
            let record = converter.record(values)?;
            sender
                .send(record, Operation::Read, sequence, &mut deliveries)
                .await?;
        }
        total += rows;
        counters.add_read(rows);
        send(
            to_acker,
            Chunk {
                end: None,
                deliveries,
                rows,
            },
        )
        .await?;
    }
    conn.query_drop("COMMIT").await?;
    tracing::info!(
        rows = total,
        "snapshot produced; following the log from its position"
    );
    send(
        to_acker,
        Chunk {
            end: Some(position.clone()),
            deliveries: Vec::new(),
            rows: 0,
        },
    )
    .await?;
    Ok(position)
}

async fn send(to_acker: &mpsc::Sender<Chunk>, chunk: Chunk) -> Result<()> {
    to_acker
        .send(chunk)
        .await
        .map_err(|_| Error::task_failed("acknowledgement task", "it stopped"))
}
