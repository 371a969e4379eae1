//! Commit-to-log latency at a fixed offered load, in both source modes:
//! timestamp mode on the bench's MySQL, binlog mode on a server with a ROW
//! binary log (`--binlog-url`). Each run is split into commit → `produce()`
//! → log line (`breakdown`) and recorded with the settings it ran with.

use std::time::Duration;

use anyhow::Result;
use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use pipeline::config::{Config, SourceMode};
use pipeline::kafka::{ClientRole, client_config};
use pipeline::source::PositionFile;

use crate::deployment::{self, Deployment, percentile};
use crate::measure::{
    BenchOptions, Preloaded, TIMEOUT, current_end, offered_updates, offered_updates_over,
    with_database,
};
use crate::report::{Latency, Report, measured};
use crate::breakdown;

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
            Ok(latency) => report.latency_binlog = latency,
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
    PositionFile::new(&deployment.config.source.position_file)
        .save(Some(&current_end(pool, config, positions).await?))?;
    deployment.start_consumers(5)?;
    deployment.wait_for_group(5, Duration::from_secs(60))?;
    deployment.spawn("producer", &["produce"])?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let count = offered_updates(pool, config, options).await?;
    deployment::wait_for_lines(&deployment.config.consumer.log_dir, count as usize, TIMEOUT)?;
    deployment.stop();
    summarise(&deployment, options, "latency")
}

/// Binlog mode: a table of [`BINLOG_PRODUCTS`] rows on the binlog server,
/// the producer's snapshot of it logged first, then the offered updates;
/// only the updates count.
async fn binlog_mode(base: &Config, options: &BenchOptions) -> Result<Latency> {
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
    deployment.start_consumers(5)?;
    deployment.wait_for_group(5, Duration::from_secs(60))?;
    deployment.spawn("producer", &["produce"])?;
    let log_dir = deployment.config.consumer.log_dir.clone();
    deployment::wait_for_lines(&log_dir, products, TIMEOUT)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let count = offered_updates_over(&pool, &config, options, products).await?;
    deployment::wait_for_lines(&log_dir, products + count as usize, TIMEOUT)?;
    deployment.stop();
    pool.disconnect().await?;
    summarise(&deployment, options, "latency_binlog")
}

/// The run's percentiles, legs and settings.
fn summarise(deployment: &Deployment, options: &BenchOptions, name: &str) -> Result<Latency> {
    let config = &deployment.config;
    let mut latencies =
        deployment::latencies_ms(&config.consumer.log_dir, &config.source.operation_field);
    let legs = breakdown::measure(
        config,
        &config.topic.name,
        config.topic.partitions,
        &config.consumer.log_dir,
    )?;
    let key = |what: &str| format!("{name}_{what}");
    let setting = |role: ClientRole, property: &str| {
        client_config(config, role)
            .get(property)
            .and_then(|value| value.parse::<f64>().ok())
    };
    Ok(Latency {
        offered_rate_per_s: Some(options.rate),
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
        produce_to_log_p50_ms: measured(
            &key("produce_to_log_p50_ms"),
            legs.produce_to_log_p50_ms,
        ),
        produce_to_log_p99_ms: measured(
            &key("produce_to_log_p99_ms"),
            legs.produce_to_log_p99_ms,
        ),
        grace_period_ms: (config.source.mode == SourceMode::Timestamp)
            .then_some(config.source.grace_period_ms as f64),
        poll_interval_ms: (config.source.mode == SourceMode::Timestamp)
            .then_some(config.source.poll_interval_ms as f64),
        linger_ms: setting(ClientRole::Producer, "linger.ms"),
        fetch_wait_max_ms: setting(ClientRole::Consumer, "fetch.wait.max.ms"),
    })
}
