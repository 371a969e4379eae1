//! The producer: tails the table and produces each change, keyed by its key columns, in
//! the wire format; saves its position only after the broker acknowledged
//! everything before it.
//!
//! Three stages overlap, each handing batches to the next in read order: the
//! reader (MySQL, row decoding, late-change bookkeeping, and encoding on
//! `source.encoder_threads` threads, see `encode`), the sender (librdkafka's
//! produce calls, see `send`) and the acker, which waits for batch N's
//! acknowledgements while batch N+1 is produced and N+2 read. Batches are
//! acknowledged and checkpointed strictly in order, so the saved position
//! never passes a record that might not be on the broker. After a crash the producer resumes
//! from the saved position and may send some records again; consumers
//! recognise those by their source position and write them once.

pub(crate) mod acker;
mod counters;
pub mod encode;
pub(crate) mod schema;
mod send;
mod start;
mod tables;

use std::sync::Arc;
use std::time::Duration;

use mysql_async::Pool;
use rdkafka::producer::FutureProducer;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use tokio::sync::{mpsc, watch};

use crate::codec::{ValueSchema, registry_settings};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::{ClientRole, client_config, ensure_topic};
use crate::retry::{until_permanent_failure, with_backoff};
use crate::source::key::KeyColumns;
use crate::source::late::{ClockWatch, LateChanges, PARTIAL_SCANS_PER_FULL};
use crate::source::mysql::{connect, ensure_source_table, table_exists};
use crate::source::{PositionFile, Tailer};
use encode::EncoderPool;
use schema::TableSchema;
use send::{BATCHES_ENCODED_AHEAD, EncodedBatch};
use start::{check_start, report_beyond, report_clock_step, report_late};

pub use acker::AckedBatch;
pub use counters::ProducerCounters;

/// Batches produced but not yet acknowledged, at most. Not the limit that
/// matters in practice: that is librdkafka's queue (`queue.buffering.max.messages`,
/// `produce_batch` waits while it is full). While the broker is away the
/// reader keeps polling into that queue; a small cap here would stop it within
/// a second, and every row changed twice during the outage would then reach
/// the topic only in its latest state.
const BATCHES_IN_FLIGHT: usize = 4096;

/// Runs the producer until `shutdown` turns true; then lets in-flight records
/// be acknowledged and saves the position. Transient failures (MySQL, broker,
/// registry away) are waited out; the run restarts from the saved position.
/// Several tables (`[[source.tables]]`) are tailed side by side in this
/// process, each with its own position file, topic and acknowledgements
/// (see `tables`).
pub async fn run(
    config: &Config,
    counters: Arc<ProducerCounters>,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    if config.source.mode == crate::config::SourceMode::Binlog {
        return crate::source::binlog::run(config, counters, shutdown).await;
    }
    tables::run_each(config, counters, shutdown).await
}

/// Tails one table (`config` is its view, see `Config::for_table`).
/// `create_missing`: create the table in the seed's shape if it does not
/// exist (the first table only; a further table must exist).
async fn run_table(
    config: &Config,
    counters: Arc<ProducerCounters>,
    mut shutdown: watch::Receiver<bool>,
    create_missing: bool,
) -> Result<()> {
    // Bad local input stops the producer now, not after it has waited for
    // services that may never come.
    PositionFile::new(&config.source.position_file).load()?;
    if let Some(path) = &config.source.value_schema_file {
        ValueSchema::load(path)?;
    }
    let pool = connect(&config.mysql.url).await?;
    until_permanent_failure("producer", &mut shutdown, async |shutdown| {
        run_from_saved_position(config, &pool, &counters, shutdown, create_missing).await
    })
    .await
}

async fn run_from_saved_position(
    config: &Config,
    pool: &Pool,
    counters: &Arc<ProducerCounters>,
    shutdown: &mut watch::Receiver<bool>,
    create_missing: bool,
) -> Result<()> {
    let source = &config.source;
    let position_file = PositionFile::new(&source.position_file);
    let mut read_position = position_file.load()?;
    let (description, key_names) = with_backoff("MySQL", || async {
        let mut conn = pool.get_conn().await?;
        if !create_missing && !table_exists(&mut conn, &source.table).await? {
            return Err(Error::Source(format!(
                "table `{}` not found in the configured database (mysql.url); create it, or remove its [[source.tables]] entry",
                source.table
            )));
        }
        let described = ensure_source_table(
            &mut conn,
            &source.table,
            &source.configured_key(),
            &source.timestamp_column,
        )
        .await?;
        check_start(
            &mut conn,
            source,
            read_position.as_ref(),
            position_file.path(),
        )
        .await?;
        Ok(described)
    })
    .await?;
    let kinds = description.kinds(source.decimal_handling);
    let key = KeyColumns::new(&description, &key_names, &kinds)?;
    with_backoff("the Kafka broker", || {
        ensure_topic(config, &config.topic.name, config.topic.partitions)
    })
    .await?;
    let settings = registry_settings(&config.schema_registry)?;
    let subject = format!("{}-value", config.topic.name);
    let mut schema =
        TableSchema::register(settings, subject, description.value_schema(source)?).await?;

    let producer: FutureProducer = client_config(config, ClientRole::Producer).create()?;
    tracing::info!(position = ?read_position, file = %position_file.path().display(), "producer starting");
    let mut late = LateChanges::new(
        &source.table,
        &key,
        &source.timestamp_column,
        source.lookback(),
    );
    let mut tailer = Tailer::new(
        &source.table,
        key,
        kinds,
        &source.timestamp_column,
        source.grace_period(),
    );
    late.restore(position_file.load_window()?);
    let mut clock = ClockWatch::default();
    // The first scan runs at once: after a restart it sends again the
    // seconds of the window that differ from the saved digest (consumers
    // skip what they logged), so a late change that committed while the
    // producer was down is not missed.
    let mut next_scan = tokio::time::Instant::now();
    let mut scans = 0i64;
    // When a poll last found rows (see `empty_poll_wait`).
    let mut last_rows: Option<tokio::time::Instant> = None;

    let encoders = EncoderPool::new(source.encoder_threads)?;
    let (to_acker, from_sender) = mpsc::channel(BATCHES_IN_FLIGHT);
    let acker = tokio::spawn(acker::acknowledge_in_order(
        from_sender,
        position_file,
        Arc::clone(counters),
        crate::latency_trace::AckTrace::from_env(&config.topic.name),
    ));
    let (to_sender, from_reader) = mpsc::channel(BATCHES_ENCODED_AHEAD);
    let sender = tokio::spawn(send::send_in_order(
        producer.clone(),
        config.topic.name.clone(),
        from_reader,
        to_acker,
    ));

    let outcome: Result<()> = async {
        while !*shutdown.borrow() {
            if acker.is_finished() || sender.is_finished() {
                break; // it failed; its error is reported below
            }
            let mut conn = pool.get_conn().await?;
            let mut rows = Vec::new();
            if let Some(position) = read_position
                .as_ref()
                .filter(|_| tokio::time::Instant::now() >= next_scan)
            {
                let full = scans % PARTIAL_SCANS_PER_FULL == 0;
                scans += 1;
                rows = late.find(&mut conn, &tailer, position, full).await?;
                report_late(&rows, position, counters);
                if full {
                    let beyond = late.find_beyond(&mut conn, &tailer, position).await?;
                    report_beyond(&beyond, position, source.lookback(), counters);
                    rows.extend(beyond.rows);
                    rows.sort_by(|a, b| a.position.cmp(&b.position));
                }
                next_scan = tokio::time::Instant::now() + source.lookback_interval();
            }
            let polled = tailer
                .poll(&mut conn, read_position.as_ref(), source.batch_size)
                .await?;
            drop(conn);
            if let Some(step) = clock.observe(polled.server_now) {
                report_clock_step(step, source.lookback(), counters);
            }
            late.note_sent(&polled.rows);
            rows.extend(polled.rows);
            let Some(last) = rows.last() else {
                let wait = empty_poll_wait(
                    source.poll_interval(),
                    last_rows.map_or(Duration::MAX, |at| at.elapsed()),
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            };
            last_rows = Some(tokio::time::Instant::now());
            // Late rows are behind the position: it stays where it is.
            let batch_end = match &read_position {
                Some(position) if *position > last.position => position.clone(),
                _ => last.position.clone(),
            };
            let count = rows.len();
            let chunks = schema
                .encode_batch(pool, source, &mut tailer, rows, &encoders)
                .await?;
            counters.add_read(count);
            read_position = Some(batch_end.clone());
            let batch = EncodedBatch {
                chunks,
                end: batch_end,
                window: late.digest(),
            };
            if to_sender.send(batch).await.is_err() {
                break;
            }
        }
        Ok(())
    }
    .await;
    send::finish(to_sender, sender, acker, &producer, outcome).await
}

/// For this long after a poll found rows, changes count as flowing.
const BUSY_SPELL: Duration = Duration::from_secs(1);

/// An empty poll's wait while changes are flowing.
const BUSY_WAIT: Duration = Duration::from_millis(2);

/// How long the producer waits after a poll that found nothing. Idle, the
/// configured `poll_interval`. While changes flow, an empty poll only means
/// the newest ones are still inside the grace period, readable within
/// milliseconds: waiting the whole interval there added up to 20 ms to each
/// change's latency at 2,000 updates/s (the bench's latency run), so the
/// wait is [`BUSY_WAIT`] until a second passes with nothing found.
fn empty_poll_wait(poll_interval: Duration, since_rows: Duration) -> Duration {
    if since_rows < BUSY_SPELL {
        poll_interval.min(BUSY_WAIT)
    } else {
        poll_interval
    }
}

/// The registry settings for the configured registry (re-exported for tests).
pub fn settings(config: &Config) -> Result<SrSettings> {
    registry_settings(&config.schema_registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_poll_waits_briefly_while_changes_flow_and_the_interval_when_idle() {
        let interval = Duration::from_millis(20);
        assert_eq!(empty_poll_wait(interval, Duration::ZERO), BUSY_WAIT);
        assert_eq!(empty_poll_wait(interval, BUSY_SPELL / 2), BUSY_WAIT);
        assert_eq!(empty_poll_wait(interval, BUSY_SPELL), interval);
        let short = Duration::from_millis(1);
        assert_eq!(empty_poll_wait(short, Duration::ZERO), short);
    }
}
