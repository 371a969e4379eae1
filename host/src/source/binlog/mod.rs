//! Binlog mode (`source.mode = "binlog"`): the producer registers as a
//! replica and turns the server's row-based binary log into records.
//!
//! The rule that makes it "every committed change, once, in commit order":
//! the position saved is always a transaction boundary in the log, saved
//! only after the broker acknowledged every record before it; every row
//! change after it becomes one record whose sequence number is fixed by its
//! place in the log. A restart re-reads from the boundary and re-sends the
//! same records with the same sequence numbers, which the consumers drop.
//! With no saved position, a snapshot of every configured table (op "r")
//! is taken from one read view whose binlog position is known exactly, and
//! the log is followed from there. One stream and one position serve every
//! table (see [`tables`]); the position is resumed only on the binary-log
//! history it was read from (see [`identity`]).
//!
//! - [`checks`]: binary log on, ROW, FULL image, privileges, position not purged.
//! - [`tables`]: every configured table on the one stream: routes by table map.
//! - [`identity`]: the server's binary-log history, saved with the position.
//! - [`snapshot`]: the consistent read view of every table and its binlog position.
//! - [`stream`]: the log's row events as records.
//! - [`events`]: every other event that can change rows: handled (TRUNCATE) or refused.
//! - [`statements`]: what a logged statement does to the configured tables.
//! - [`convert`]: positional row values as the value schema's fields.
//! - [`alter`]: a new schema version when the table is altered while running.
//! - [`produce`]: records and tombstones to the broker; the ordered acker.
//! - [`oversized`]: records over the broker's message size: dead letters or a stop.
//! - [`position`]: the saved file and offset (and GTID position).
//! - [`gtid`]: MariaDB GTID positions: tracked, saved, resumed by.
//! - [`replica_id`]: the replica server id, unique per deployment by default.

pub mod alter;
pub mod checks;
pub mod convert;
pub mod events;
pub mod gtid;
pub mod identity;
pub mod oversized;
pub mod position;
pub mod produce;
pub mod replica_id;
pub mod snapshot;
pub mod statements;
pub mod stream;
pub mod tables;

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool};
use rdkafka::producer::FutureProducer;
use tokio::sync::{mpsc, watch};

use crate::codec::ValueSchema;
use crate::config::{BinlogResume, Config};
use crate::error::{Error, Result};
use crate::kafka::{ClientRole, client_config, ensure_topic};
use crate::producer::ProducerCounters;
use crate::retry::{until_permanent_failure, with_backoff};
use crate::source::mysql::{SESSION_IN_UTC, connect};
use gtid::GtidState;
use position::{BinlogPosition, BinlogPositionFile};
use produce::{Fields, acknowledge_in_order};

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
    let position_file = BinlogPositionFile::new(&config.source.binlog_position_file);
    if let Some(saved) = position_file.load_saved()? {
        tables::check_covered(config, &saved, position_file.path())?;
    }
    for table in config.tables() {
        if let Some(path) = &table.value_schema_file {
            ValueSchema::load(path)?;
        }
    }
    let pool = connect(&config.mysql.url).await?;
    until_permanent_failure("binlog producer", &mut shutdown, async |shutdown| {
        run_once(config, &pool, &counters, shutdown).await
    })
    .await
}

async fn run_once(
    config: &Config,
    pool: &Pool,
    counters: &Arc<ProducerCounters>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let source = &config.source;
    let position_file = BinlogPositionFile::new(&source.binlog_position_file);
    let saved = position_file.load_saved()?;
    let (mariadb, server) = with_backoff("MySQL", || async {
        let mut conn = pool.get_conn().await?;
        let mariadb = gtid::is_mariadb(&mut conn).await?;
        let server = identity::read(&mut conn, mariadb).await?;
        if let Some(saved) = &saved {
            let logs = checks::binary_logs(&mut conn).await?;
            identity::check(
                &mut conn,
                saved,
                &server,
                mariadb,
                &logs,
                position_file.path(),
            )
            .await?;
        }
        Ok::<_, Error>((mariadb, server))
    })
    .await?;
    let names: Vec<String> = config
        .tables()
        .into_iter()
        .map(|table| table.name)
        .collect();
    let position_file = position_file.describing(server, names.clone());
    let saved = saved.map(|saved| {
        let upgrade = saved.server.is_none() || saved.tables.as_ref() != Some(&names);
        (saved.position, upgrade)
    });
    if let Some((position, true)) = &saved {
        // The same point, now with the server's identity and the tables.
        position_file.save(position)?;
    }
    let saved = saved.map(|(position, _)| position);
    let by_gtid = resume_by_gtid(
        source.binlog_position,
        saved.as_ref(),
        mariadb,
        &position_file,
    )?;
    let Some(read) = tables::read_tables(
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
    for table in &read {
        with_backoff("the Kafka broker", || {
            ensure_topic(config, &table.view.topic.name, config.topic.partitions)
        })
        .await?;
    }
    let mut routes = tables::register(read).await?;
    let producer: FutureProducer = client_config(config, ClientRole::Producer).create()?;
    let oversized = Arc::new(oversized::Oversized::new(config));
    let fields = Fields {
        producer: &producer,
        operation_field: &source.operation_field,
        sequence_field: &source.sequence_field,
        oversized: &oversized,
    };
    let (to_acker, from_reader) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let acker = tokio::spawn(acknowledge_in_order(
        from_reader,
        position_file.clone(),
        Arc::clone(counters),
        Arc::clone(&oversized),
        crate::latency_trace::AckTrace::from_env(&config.topic.name),
    ));
    let outcome: Result<()> = async {
        let position = match saved {
            Some(position) => position,
            None => snapshot::take(pool, source, &routes, &fields, &to_acker, counters).await?,
        };
        let gtid = match (mariadb, &position.gtid) {
            (false, _) => None,
            (true, Some(text)) => {
                Some(GtidState::parse(text).map_err(|error| Error::Position {
                    path: position_file.path().to_owned(),
                    message: format!(
                        "{error}; fix it, or delete the file to take a new snapshot of the tables"
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
        let (checksum, lower_case_table_names): (String, i64) = pool
            .get_conn()
            .await?
            .query_first("SELECT @@GLOBAL.binlog_checksum, @@lower_case_table_names")
            .await?
            .unwrap_or(("NONE".into(), 0));
        let follower = stream::Follower {
            opts: OptsBuilder::from_opts(opts)
                .setup(vec![SESSION_IN_UTC])
                .into(),
            server_id: replica_id::server_id(source.server_id, &source.binlog_position_file)?,
            mariadb,
            checksums: !checksum.eq_ignore_ascii_case("NONE"),
            database,
            names: statements::NameRule::for_setting(lower_case_table_names),
            fields,
            position_path: position_file.path().to_owned(),
            to_acker: &to_acker,
            counters,
        };
        follower.follow(&start, &mut routes, shutdown).await
    }
    .await;
    // A run that ended because the acknowledgement task stopped ends with
    // that task's error (a record refused, or one too large to produce
    // with `oversized_records = "stop"`), not with "it stopped".
    let outcome = match outcome {
        Err(Error::TaskFailed { task, .. }) if task == stream::ACKER => Ok(()),
        other => other,
    };
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
                      or delete the file to take a new snapshot of the tables"
                .into(),
        }),
        BinlogResume::Gtid => Ok(true),
    }
}
