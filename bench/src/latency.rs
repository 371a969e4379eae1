//! Commit-to-log latency at a fixed offered load, in both source modes:
//! timestamp mode on the bench's MySQL, binlog mode on a server with a ROW
//! binary log (`--binlog-url`). Each run is split into commit → `produce()`
//! → log line (`breakdown`) and recorded with the settings it ran with.

use std::time::{Duration, Instant};

use anyhow::Result;
use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use pipeline::config::{Config, SourceMode};
use pipeline::kafka::{ClientRole, client_config};
use pipeline::source::PositionFile;
use pipeline::timestamp::Timestamp;

use crate::breakdown;
use crate::deployment::{self, Deployment, percentile};
use crate::measure::{
    BenchOptions, Preloaded, TIMEOUT, current_end, offered_updates, offered_updates_over,
    with_database,
};
use crate::report::{BinlogCatchUp, Latency, Report, measured};

/// Which source modes the latency runs measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Modes {
    Timestamp,
    Binlog,
    Both,
}

/// Products the binlog run updates in turn: every change is read from the
/// log whatever the row, so they need not be distinct within a poll, and
/// the snapshot before the run stays short.
const BINLOG_PRODUCTS: usize = 2000;

/// The latency runs `options.source_mode` asks for, into `report`. A binlog
/// server that cannot be reached or has no ROW log is reported and skipped.
pub async fn measure(
    config: &Config,
    options: &BenchOptions,
    pool: &Pool,
    positions: &Preloaded,
    report: &mut Report,
) -> Result<()> {
    if options.source_mode != Modes::Binlog {
        report.latency = timestamp_mode(config, options, pool, positions).await?;
    }
    if options.source_mode != Modes::Timestamp {
        match binlog_mode(config, options).await {
            Ok((latency, catch_up)) => {
                report.latency_binlog = latency;
                report.binlog_catch_up = catch_up;
            }
            Err(error) => tracing::warn!(
                url = options.binlog_url,
                "binlog-mode latency not measured: {error:#}"
            ),
        }
    }
    Ok(())
}

/// Timestamp mode: the producer starts at the table's end, five members,
/// then the offered updates over the preloaded rows.
async fn timestamp_mode(
    config: &Config,
    options: &BenchOptions,
    pool: &Pool,
    positions: &Preloaded,
) -> Result<Latency> {
    let mut deployment = Deployment::new(
        config,
        &options.work_dir,
        "latency",
        config.topic.partitions,
    )?;
    deployment.trace_latency();
    PositionFile::new(&deployment.config.source.position_file)
        .save(Some(&current_end(pool, config, positions).await?))?;
    deployment.start_consumers(5)?;
    deployment.wait_for_group(5, Duration::from_secs(60))?;
    deployment.spawn("producer", &["produce"])?;
    let log_dir = deployment.config.consumer.log_dir.clone();
    // The producer's first late-change scan re-sends the lookback window
    // (the bench saved a position without its digest): let it pass, and a
    // first change reach the logs, before the measured updates start.
    touch_one(pool, config).await?;
    settle(&log_dir)?;
    let since = Timestamp::now().micros();
    let started = Instant::now();
    let count = offered_updates(pool, config, options).await?;
    let elapsed = started.elapsed();
    wait_for_changes(&deployment, since, count)?;
    deployment.stop();
    summarise(
        &deployment,
        "latency",
        since,
        options.rate,
        count as f64 / elapsed.as_secs_f64(),
    )
}

/// Changes one row (its stamp moves on), so a line reaches the logs.
async fn touch_one(pool: &Pool, config: &Config) -> Result<()> {
    pool.get_conn()
        .await?
        .query_drop(format!(
            "UPDATE {} SET price = price + 1 ORDER BY id LIMIT 1",
            pipeline::source::mysql::quote_identifier(&config.source.table)
        ))
        .await?;
    Ok(())
}

/// Waits for a first line, then until no line arrives for a second.
fn settle(log_dir: &std::path::Path) -> Result<()> {
    deployment::wait_for_lines(log_dir, 1, TIMEOUT)?;
    let mut counter = deployment::LineCounter::default();
    let mut seen = counter.count(log_dir);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = counter.count(log_dir);
        if now == seen {
            return Ok(());
        }
        seen = now;
    }
}

/// Waits until `count` changes stamped from `since` on are logged.
fn wait_for_changes(deployment: &Deployment, since: i64, count: u64) -> Result<()> {
    let config = &deployment.config;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let logged = deployment::latencies_ms(
            &config.consumer.log_dir,
            &config.source.operation_field,
            since,
        )
        .len();
        if logged as u64 >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("only {logged} of {count} changes reached the logs within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Binlog mode: a table of [`BINLOG_PRODUCTS`] rows on the binlog server,
/// the producer's snapshot of it logged first, then the offered updates;
/// only the updates count. Then the catch-up capacity on the same
/// deployment ([`binlog_catch_up`]).
async fn binlog_mode(base: &Config, options: &BenchOptions) -> Result<(Latency, BinlogCatchUp)> {
    let mut config = base.clone();
    config.mysql.url = with_database(&options.binlog_url, "pipeline_bench")?;
    config.source.mode = SourceMode::Binlog;
    let pool = pipeline::source::mysql::connect(&config.mysql.url).await?;
    let mut conn = pool.get_conn().await?;
    let format: Option<(String, String)> = conn
        .query_first("SHOW VARIABLES LIKE 'binlog_format'")
        .await?;
    if !format.is_some_and(|(_, value)| value.eq_ignore_ascii_case("ROW")) {
        anyhow::bail!("{} has no ROW binary log", options.binlog_url);
    }
    conn.query_drop(format!(
        "DROP TABLE IF EXISTS {}",
        pipeline::source::mysql::quote_identifier(&config.source.table)
    ))
    .await?;
    drop(conn);
    let products = BINLOG_PRODUCTS.min(options.rows.max(1));
    pipeline::updater::bulk_upsert(&pool, &config.source.table, 1, products as i32).await?;

    let mut deployment = Deployment::new(
        &config,
        &options.work_dir,
        "latency_binlog",
        config.topic.partitions,
    )?;
    deployment.trace_latency();
    deployment.start_consumers(5)?;
    deployment.wait_for_group(5, Duration::from_secs(60))?;
    deployment.spawn("producer", &["produce"])?;
    let log_dir = deployment.config.consumer.log_dir.clone();
    deployment::wait_for_lines(&log_dir, products, TIMEOUT)?;
    settle(&log_dir)?;
    let since = Timestamp::now().micros();
    let started = Instant::now();
    let count = offered_updates_over(&pool, &config, options, products).await?;
    let elapsed = started.elapsed();
    wait_for_changes(&deployment, since, count)?;
    let latency = summarise(
        &deployment,
        "latency_binlog",
        since,
        options.rate,
        count as f64 / elapsed.as_secs_f64(),
    )?;
    let catch_up = binlog_catch_up(&pool, &config, &log_dir, products, options.rows).await?;
    deployment.stop();
    pool.disconnect().await?;
    Ok((latency, catch_up))
}

/// Catch-up capacity in binlog mode: `rows` new rows inserted as fast as
/// MySQL takes them (1,000 per statement) into the running deployment's
/// table, timed from the first insert to the last of them logged. The
/// write time is reported too: only while it is well below the total was
/// there a backlog, so the rate is the pipeline's and not MySQL's.
async fn binlog_catch_up(
    pool: &Pool,
    config: &Config,
    log_dir: &std::path::Path,
    existing: usize,
    rows: usize,
) -> Result<BinlogCatchUp> {
    let logged_before = deployment::LineCounter::default().count(log_dir);
    let started = Instant::now();
    pipeline::updater::bulk_upsert(pool, &config.source.table, existing as i32 + 1, rows as i32)
        .await?;
    let written = started.elapsed();
    deployment::wait_for_lines(log_dir, logged_before + rows, TIMEOUT)?;
    let total = started.elapsed();
    Ok(BinlogCatchUp {
        rows: Some(rows as f64),
        write_s: measured("binlog_catch_up.write_s", written.as_secs_f64()),
        rows_per_s: measured(
            "binlog_catch_up.rows_per_s",
            rows as f64 / total.as_secs_f64(),
        ),
    })
}

/// The run's percentiles (changes stamped from `since` on), legs and
/// settings; `achieved` is the update rate MySQL took.
fn summarise(
    deployment: &Deployment,
    name: &str,
    since: i64,
    offered: f64,
    achieved: f64,
) -> Result<Latency> {
    let config = &deployment.config;
    let mut latencies = deployment::latencies_ms(
        &config.consumer.log_dir,
        &config.source.operation_field,
        since,
    );
    let legs = breakdown::measure(
        config,
        &config.topic.name,
        config.topic.partitions,
        &config.consumer.log_dir,
        &deployment.trace_dir(),
        since,
    )?;
    let key = |what: &str| format!("{name}_{what}");
    let setting = |role: ClientRole, property: &str| {
        client_config(config, role)
            .get(property)
            .and_then(|value| value.parse::<f64>().ok())
    };
    Ok(Latency {
        offered_rate_per_s: Some(offered),
        achieved_rate_per_s: measured(&key("achieved_rate_per_s"), achieved),
        changes: Some(latencies.len() as f64),
        p50_ms: measured(&key("p50_ms"), percentile(&mut latencies, 50.0)),
        p99_ms: measured(&key("p99_ms"), percentile(&mut latencies, 99.0)),
        max_ms: measured(&key("max_ms"), percentile(&mut latencies, 100.0)),
        commit_to_produce_p50_ms: measured(
            &key("commit_to_produce_p50_ms"),
            legs.commit_to_produce_p50_ms,
        ),
        commit_to_produce_p99_ms: measured(
            &key("commit_to_produce_p99_ms"),
            legs.commit_to_produce_p99_ms,
        ),
        produce_to_log_p50_ms: measured(&key("produce_to_log_p50_ms"), legs.produce_to_log_p50_ms),
        produce_to_log_p99_ms: measured(&key("produce_to_log_p99_ms"), legs.produce_to_log_p99_ms),
        produce_to_ack_p50_ms: measured(&key("produce_to_ack_p50_ms"), legs.produce_to_ack_p50_ms),
        produce_to_ack_p99_ms: measured(&key("produce_to_ack_p99_ms"), legs.produce_to_ack_p99_ms),
        ack_to_poll_p50_ms: measured(&key("ack_to_poll_p50_ms"), legs.ack_to_poll_p50_ms),
        ack_to_poll_p99_ms: measured(&key("ack_to_poll_p99_ms"), legs.ack_to_poll_p99_ms),
        poll_to_log_p50_ms: measured(&key("poll_to_log_p50_ms"), legs.poll_to_log_p50_ms),
        poll_to_log_p99_ms: measured(&key("poll_to_log_p99_ms"), legs.poll_to_log_p99_ms),
        load_average: load_average().and_then(|load| measured(&key("load_average"), load)),
        grace_period_ms: (config.source.mode == SourceMode::Timestamp)
            .then_some(config.source.grace_period_ms as f64),
        poll_interval_ms: (config.source.mode == SourceMode::Timestamp)
            .then_some(config.source.poll_interval_ms as f64),
        linger_ms: setting(ClientRole::Producer, "linger.ms"),
        fetch_wait_max_ms: setting(ClientRole::Consumer, "fetch.wait.max.ms"),
    })
}

/// The machine's 1-minute load average (`/proc/loadavg`), reported with each
/// run: the machine is shared, and latency follows its load.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
