//! The measurements, in the order they run: the broker alone, the producer
//! alone, the members alone (wasm and native), a catch-up, the scaling runs,
//! latency, then the Python baseline.
//!
//! A polling CDC delivers a row's latest state, and MySQL's own commit rate
//! caps any "as fast as the updater writes" figure, so capacity is measured
//! on changes already committed (N distinct products changed before the
//! pipeline starts) and latency at a fixed offered load.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mysql_async::Pool;
use mysql_async::prelude::Queryable;

use anyhow::{Context, Result, anyhow, bail};
use pipeline::config::Config;
use pipeline::source::{Position, PositionFile};
use pipeline::timestamp::Timestamp;
use pipeline::updater::{UpdatePlan, bulk_upsert, run_updates};

use crate::deployment::{self, Deployment, percentile};
use crate::report::{CpuUse, Report, measured};
use crate::{baseline, broker, cpu, engine, latency, stages};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Distinct changed rows for the capacity runs.
    pub rows: usize,
    /// Offered load for the latency run, updates/s.
    pub rate: f64,
    /// Length of the latency run.
    pub duration: Duration,
    pub baseline: bool,
    pub scaling: bool,
    /// Where the JSON report goes.
    pub out: PathBuf,
    /// Working directory for the runs' logs.
    pub work_dir: PathBuf,
    /// Start a nisshi of the bench's own with this storage engine.
    pub broker_engine: Option<String>,
    /// Measure only the broker alone (for comparing engines).
    pub broker_only: bool,
    /// Measure only the latency runs.
    pub latency_only: bool,
    /// The latency runs' source modes.
    pub source_mode: latency::Modes,
    /// The MySQL server of the binlog-mode latency run.
    pub binlog_url: String,
    /// Measure only the members CPU-bound (wasm, native, the `transform`
    /// world), after the producer fills the topic.
    pub cpu_bound_only: bool,
    /// Measure only the producer alone, these variants in turn.
    pub producer_only: bool,
    pub producer_variants: Vec<crate::producer::Variant>,
    pub producer_rounds: usize,
    /// The MySQL database the bench fills.
    pub database: String,
    /// Measure only the side-by-side comparison with Debezium.
    pub peers_only: bool,
    /// Its MariaDB, instead of a server of the bench's own.
    pub peers_mysql_url: Option<String>,
}

pub const TIMEOUT: Duration = Duration::from_secs(600);

/// Runs every measurement and writes the report.
pub async fn run(base: &Config, options: &BenchOptions) -> Result<Report> {
    let mut config = base.clone();
    config.mysql.url = with_database(&config.mysql.url, &options.database)?;
    config.source.batch_size = config.source.batch_size.max(5000);
    std::fs::create_dir_all(&options.work_dir)
        .with_context(|| options.work_dir.display().to_string())?;
    let mut report = Report {
        rows: Some(options.rows as f64),
        ..Report::default()
    };
    let broker_process = engine::Broker::start_or_find(
        &mut config,
        options.broker_engine.as_deref(),
        &options.work_dir,
    )?;
    report.broker_engine = Some(broker_process.engine.clone());
    if options.broker_only {
        report.broker = broker::measure(&config, options.rows).await?;
        report.write_json(&options.out)?;
        return Ok(report);
    }
    let (sync_p50, sync_p99) = stages::log_sync_ms(&options.work_dir, 100)?;
    report.log_sync_ms_p50 = measured("log_sync_ms_p50", sync_p50);
    report.log_sync_ms_p99 = measured("log_sync_ms_p99", sync_p99);
    let _registry = ensure_registry(&config, options)?;
    if options.peers_only {
        // The rest of an earlier report stays: the README's table shows the
        // Python baseline's figures from it beside both systems.
        let mut report = Report::read_json(&options.out).unwrap_or_default();
        report.peers.debezium = Some(crate::peers::measure(&config, options).await?);
        drop(broker_process);
        report.write_json(&options.out)?;
        return Ok(report);
    }

    let pool = pipeline::source::mysql::connect(&config.mysql.url).await?;
    tracing::info!(rows = options.rows, "preloading distinct changed rows");
    let positions = preload(&pool, &config, options.rows).await?;
    if options.producer_only {
        let configured = [crate::producer::Variant {
            label: "configured".into(),
            sets: Vec::new(),
            binary: None,
        }];
        let variants = if options.producer_variants.is_empty() {
            &configured[..]
        } else {
            &options.producer_variants[..]
        };
        report.producer_only = crate::producer::measure(
            &config,
            options,
            &positions,
            variants,
            options.producer_rounds.max(1),
        )?;
        report.stage_costs_ns = stages::from_criterion();
        pool.disconnect().await?;
        drop(broker_process);
        report.write_json(&options.out)?;
        return Ok(report);
    }
    if options.latency_only {
        latency::measure(&config, options, &pool, &positions, &mut report).await?;
        pool.disconnect().await?;
        drop(broker_process);
        report.write_json(&options.out)?;
        return Ok(report);
    }

    if !options.cpu_bound_only {
        report.broker = broker::measure(&config, options.rows).await?;
    }

    // Producer alone, then the members alone on the topic it filled.
    let mut produced = Deployment::new(
        &config,
        &options.work_dir,
        "producer",
        config.topic.partitions,
    )?;
    let started = Instant::now();
    produced.spawn("producer", &["produce"])?;
    let rss = wait_for_position(&mut produced, positions.last.clone(), TIMEOUT)?;
    report.producer_rows_per_s = measured(
        "producer_rows_per_s",
        options.rows as f64 / started.elapsed().as_secs_f64(),
    );
    report.producer_peak_rss_mib = measured("producer_peak_rss_mib", rss);
    produced.stop();
    let full_topic = produced.config.topic.name.clone();
    if options.cpu_bound_only {
        cpu_bound(&config, options, &full_topic, &mut report)?;
        pool.disconnect().await?;
        drop(broker_process);
        report.write_json(&options.out)?;
        return Ok(report);
    }

    // The members read 100k records in about two seconds, so one broker
    // stall moves a single reading by a third: alternate wasm and native
    // runs and report each one's median.
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut consumer_rss = 0.0f64;
    for round in 0..CONSUMER_ROUNDS {
        for (index, label) in ["consumers_records_per_s", "native_consumers_records_per_s"]
            .into_iter()
            .enumerate()
        {
            let native = index == 1;
            let name = format!("{label}_{round}");
            let (rate, rss, _) =
                consumers_alone(&config, options, &full_topic, options.rows, native, &name)?;
            tracing::info!(label, round, rate, "consumers alone");
            rates[index].push(rate);
            if !native {
                consumer_rss = consumer_rss.max(rss);
            }
        }
    }
    let (wasm, native) = (median(&mut rates[0]), median(&mut rates[1]));
    report.consumers_records_per_s = measured("consumers_records_per_s", wasm);
    report.native_consumers_records_per_s = measured("native_consumers_records_per_s", native);
    report.consumer_peak_rss_mib = measured("consumer_peak_rss_mib", consumer_rss);
    report.wasm_vs_native_ratio = measured("wasm_vs_native_ratio", wasm / native);
    cpu_bound(&config, options, &full_topic, &mut report)?;

    // Memory does not grow with N: the same run on a topic of 10k records.
    let small = options.rows.min(10_000);
    let mut small_topic = Deployment::new(
        &config,
        &options.work_dir,
        "producer_10k",
        config.topic.partitions,
    )?;
    PositionFile::new(&small_topic.config.source.position_file)
        .save(positions.before_last(small).as_ref())?;
    small_topic.spawn("producer", &["produce"])?;
    wait_for_position(&mut small_topic, positions.last.clone(), TIMEOUT)?;
    small_topic.stop();
    let (_, rss_small, _) = consumers_alone(
        &config,
        options,
        &small_topic.config.topic.name.clone(),
        small,
        false,
        "consumers_10k",
    )?;
    report.consumer_peak_rss_mib_10k = measured("consumer_peak_rss_mib_10k", rss_small);

    let (rate, usage) = catch_up(
        &config,
        options,
        &positions,
        options.rows,
        5,
        config.topic.partitions,
        "catchup",
    )?;
    report.catchup_rows_per_s = measured("catchup_rows_per_s", rate);
    report.catchup_cpu = cpu_use(&usage, options.rows);
    report.our_cpu_ms_per_1k_rows = our_cpu(&report.catchup_cpu);
    report.stage_costs_ns = stages::from_criterion();
    stages::add_rest(
        &mut report.stage_costs_ns,
        report.catchup_cpu.producer_ms_per_1k_rows,
        report.catchup_cpu.consumers_ms_per_1k_rows,
    );
    if options.scaling {
        // Every preloaded row, as the catch-up above. A run started half way
        // (it was `rows / 2`) began at a position the bench writes by hand,
        // without the digest of the keys sent in the lookback window that a
        // producer saves with its position; so its first scan re-sent the
        // half behind that position still within the window (a producer
        // restart does not: its digest says what was sent): 50,000 extra
        // records measured as a slow catch-up (5k rows/s on 2026-12-07).
        let rows = options.rows;
        let mut by_members = Vec::new();
        for members in [1, 2, 5] {
            let (rate, _) = catch_up(
                &config,
                options,
                &positions,
                rows,
                members,
                10,
                &format!("scaling_{members}"),
            )?;
            by_members.push(measured(&format!("scaling, {members} consumers"), rate));
        }
        if let [one, two, five] = by_members[..] {
            report.scaling.consumers_1_rows_per_s = one;
            report.scaling.consumers_2_rows_per_s = two;
            report.scaling.consumers_5_rows_per_s = five;
        }
        let (rate, _) = catch_up(&config, options, &positions, rows, 5, 30, "scaling_5_30")?;
        report.scaling.consumers_5_partitions_30_rows_per_s =
            measured("scaling, 5 consumers, 30 partitions", rate);
    }

    latency::measure(&config, options, &pool, &positions, &mut report).await?;

    if options.baseline {
        report.baseline = baseline::measure(&config, options, &pool, &positions).await?;
        if let (Some(ours), Some(theirs)) = (
            report.catchup_rows_per_s,
            report.baseline.catchup_rows_per_s,
        ) {
            report.ratio_vs_baseline = measured("ratio_vs_baseline", ours / theirs);
        }
        report.baseline_cpu_ms_per_1k_rows = our_cpu(&report.baseline.catchup_cpu);
        if let (Some(ours), Some(theirs)) = (
            report.our_cpu_ms_per_1k_rows,
            report.baseline_cpu_ms_per_1k_rows,
        ) {
            report.cpu_ratio_vs_baseline = measured("cpu_ratio_vs_baseline", ours / theirs);
        }
    }
    pool.disconnect().await?;
    drop(broker_process);
    report.write_json(&options.out)?;
    Ok(report)
}

/// Producer plus consumers, CPU ms per 1,000 rows.
fn our_cpu(cpu: &CpuUse) -> Option<f64> {
    let total = cpu.producer_ms_per_1k_rows? + cpu.consumers_ms_per_1k_rows?;
    measured("producer + consumers CPU ms per 1k rows", total)
}

/// librdkafka's default fetch wait: members reading a full topic get big
/// fetches, so their own CPU, not the broker's fetch cycle, is the limit.
const CPU_BOUND_FETCH_WAIT_MS: u32 = 500;

/// The members alone on the full topic with a long fetch wait, wasm,
/// native and the first plugin interface alternated: records/s and CPU per
/// record of each. `wasm` is the configured chain (the seed plugins, in the
/// `transform-batch` world); `wasm_rows` the same transforms built against
/// the `transform` world (`plugins/fixture-rows-*`), the chain as it was
/// before the batch world, measured in the same run for comparison.
fn cpu_bound(
    config: &Config,
    options: &BenchOptions,
    topic: &str,
    report: &mut Report,
) -> Result<()> {
    let mut config = config.clone();
    config.kafka.insert(
        "fetch.wait.max.ms".into(),
        CPU_BOUND_FETCH_WAIT_MS.to_string(),
    );
    let rows_config = rows_world_twin(&config);
    let mut rates: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut cpu: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..CONSUMER_ROUNDS {
        for (index, label) in ["wasm", "native", "wasm_rows"].into_iter().enumerate() {
            let (run_config, native) = match label {
                "native" => (&config, true),
                "wasm_rows" => match &rows_config {
                    Some(rows_config) => (rows_config, false),
                    None => continue,
                },
                _ => (&config, false),
            };
            let name = format!("cpu_bound_{label}_{round}");
            let (rate, _, ms_per_1k) =
                consumers_alone(run_config, options, topic, options.rows, native, &name)?;
            tracing::info!(label, round, rate, ms_per_1k, "members CPU-bound");
            rates[index].push(rate);
            cpu[index].extend(ms_per_1k);
        }
    }
    let bound = &mut report.cpu_bound;
    bound.fetch_wait_max_ms = Some(f64::from(CPU_BOUND_FETCH_WAIT_MS));
    let (wasm, native) = (median(&mut rates[0]), median(&mut rates[1]));
    bound.wasm_records_per_s = measured("cpu_bound wasm records/s", wasm);
    bound.native_records_per_s = measured("cpu_bound native records/s", native);
    bound.wasm_cpu_ms_per_1k = measured("cpu_bound wasm CPU ms/1k", median(&mut cpu[0]));
    bound.native_cpu_ms_per_1k = measured("cpu_bound native CPU ms/1k", median(&mut cpu[1]));
    if let (Some(wasm_cpu), Some(native_cpu)) =
        (bound.wasm_cpu_ms_per_1k, bound.native_cpu_ms_per_1k)
    {
        bound.native_over_wasm_cpu =
            measured("cpu_bound native CPU / wasm CPU", native_cpu / wasm_cpu);
    }
    if !rates[2].is_empty() {
        let rows = median(&mut rates[2]);
        bound.wasm_rows_records_per_s =
            measured("cpu_bound wasm (transform world) records/s", rows);
        bound.wasm_rows_cpu_ms_per_1k = measured(
            "cpu_bound wasm (transform world) CPU ms/1k",
            median(&mut cpu[2]),
        );
        bound.wasm_rows_vs_native_ratio =
            measured("cpu_bound wasm (transform world) / native", rows / native);
    }
    report.wasm_vs_native_ratio_cpu_bound =
        measured("wasm_vs_native_ratio_cpu_bound", wasm / native);
    Ok(())
}

/// `config` with each plugin replaced by its `transform`-world twin
/// (`plugins/wasm/fixture_rows_<file>`), if every plugin has one.
fn rows_world_twin(config: &Config) -> Option<Config> {
    let mut twin = config.clone();
    for plugin in &mut twin.plugins {
        let file = plugin.path.file_name()?.to_str()?;
        let path = plugin.path.with_file_name(format!("fixture_rows_{file}"));
        if !path.exists() {
            tracing::warn!(path = %path.display(), "no transform-world twin: wasm_rows not measured");
            return None;
        }
        plugin.path = path;
    }
    Some(twin)
}

/// Rounds of the consumers-alone runs, wasm and native in turn.
const CONSUMER_ROUNDS: usize = 3;

fn median(values: &mut [f64]) -> f64 {
    percentile(values, 50.0)
}

/// Positions of the preloaded rows, to start a run before the last `n`.
pub struct Preloaded {
    /// Every row's position, in order.
    pub all: Vec<Position>,
    pub last: Position,
}

impl Preloaded {
    /// The position just before the last `n` rows (so a producer reads `n`).
    pub fn before_last(&self, n: usize) -> Option<Position> {
        let index = self.all.len().checked_sub(n + 1)?;
        self.all.get(index).cloned()
    }
}

async fn preload(pool: &Pool, config: &Config, rows: usize) -> Result<Preloaded> {
    let mut conn = pool.get_conn().await?;
    conn.query_drop(format!(
        "DROP TABLE IF EXISTS {}",
        pipeline::source::mysql::quote_identifier(&config.source.table)
    ))
    .await?;
    drop(conn);
    let rows_i32 = i32::try_from(rows).context("--rows: too many rows")?;
    bulk_upsert(pool, &config.source.table, 1, rows_i32).await?;
    let mut conn = pool.get_conn().await?;
    let all: Vec<(mysql_async::Value, i64)> = conn
        .query(format!(
            "SELECT last_updated, id FROM {} ORDER BY last_updated, id",
            pipeline::source::mysql::quote_identifier(&config.source.table)
        ))
        .await?;
    let all: Vec<Position> = all
        .into_iter()
        .filter_map(|(stamp, id)| {
            Some(Position {
                timestamp: Timestamp::from_mysql(&stamp)?,
                key: vec![pipeline::source::KeyPart::Int(id)],
            })
        })
        .collect();
    let last = all
        .last()
        .cloned()
        .ok_or_else(|| anyhow!("the preload wrote no rows"))?;
    Ok(Preloaded { all, last })
}

/// Waits for the producer's saved position to reach `target`; returns the
/// producer's peak RSS.
fn wait_for_position(
    deployment: &mut Deployment,
    target: Position,
    timeout: Duration,
) -> Result<f64> {
    let file = PositionFile::new(&deployment.config.source.position_file);
    let deadline = Instant::now() + timeout;
    let mut rss = 0.0f64;
    while Instant::now() < deadline {
        for (_, peak) in deployment.peak_rss_mib() {
            rss = rss.max(peak);
        }
        if matches!(file.load(), Ok(Some(position)) if position >= target) {
            return Ok(rss);
        }
        if let Some(status) = deployment.exited("producer") {
            bail!(
                "the bench producer exited ({status}); see {}",
                deployment.dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("the producer did not reach {target:?} within {timeout:?}")
}

/// Five members from a full topic to flushed logs: records/s (first line to
/// last), the largest peak RSS of a member, and the members' CPU ms per
/// 1,000 records from their first line to their last (startup, plugin
/// compilation included, is not a per-record cost).
fn consumers_alone(
    config: &Config,
    options: &BenchOptions,
    topic: &str,
    rows: usize,
    native: bool,
    name: &str,
) -> Result<(f64, f64, Option<f64>)> {
    let mut deployment = Deployment::new(config, &options.work_dir, name, config.topic.partitions)?;
    deployment.retarget(topic)?;
    if native {
        deployment.start_native_consumers(5)?;
    } else {
        deployment.start_consumers(5)?;
    }
    let log_dir = deployment.config.consumer.log_dir.clone();
    let (first, _) = deployment::wait_for_lines(&log_dir, 1, TIMEOUT)?;
    let meter = cpu::Meter::start(&deployment.child_pids());
    let before = deployment::LineCounter::default().count(&log_dir);
    let (_, last) = deployment::wait_for_lines(&log_dir, rows, TIMEOUT)?;
    let cpu_ms_per_1k = meter
        .finish(&deployment.child_pids())
        .ms_per_1k_rows(cpu::Part::Consumers, rows.saturating_sub(before));
    let rss = deployment
        .peak_rss_mib()
        .into_iter()
        .map(|(_, mib)| mib)
        .fold(0.0, f64::max);
    deployment.stop();
    Ok((
        rows as f64 / last.duration_since(first).as_secs_f64().max(1e-3),
        rss,
        cpu_ms_per_1k,
    ))
}

/// Producer and `members` members together, from the preloaded state until
/// the last row is in a log: rows/s, and the CPU each part used meanwhile.
fn catch_up(
    config: &Config,
    options: &BenchOptions,
    positions: &Preloaded,
    rows: usize,
    members: u32,
    partitions: i32,
    name: &str,
) -> Result<(f64, cpu::Usage)> {
    let mut deployment = Deployment::new(config, &options.work_dir, name, partitions)?;
    PositionFile::new(&deployment.config.source.position_file)
        .save(positions.before_last(rows).as_ref())?;
    deployment.start_consumers(members)?;
    deployment.wait_for_group(members, Duration::from_secs(60))?;
    let meter = cpu::Meter::start(&deployment.child_pids());
    let started = Instant::now();
    deployment.spawn("producer", &["produce"])?;
    let (_, last) = deployment::wait_for_lines(&deployment.config.consumer.log_dir, rows, TIMEOUT)?;
    let usage = meter.finish(&deployment.child_pids());
    deployment.stop();
    Ok((
        rows as f64 / last.duration_since(started).as_secs_f64(),
        usage,
    ))
}

/// A catch-up run's CPU per 1,000 rows by part, how busy the machine was,
/// and the broker's busiest half second in cores.
pub fn cpu_use(usage: &cpu::Usage, rows: usize) -> CpuUse {
    let part = |part: cpu::Part| {
        let ms = usage.ms_per_1k_rows(part, rows)?;
        measured(&format!("CPU ms per 1k rows, {part:?}"), ms)
    };
    CpuUse {
        broker_ms_per_1k_rows: part(cpu::Part::Broker),
        mysql_ms_per_1k_rows: part(cpu::Part::Mysql),
        producer_ms_per_1k_rows: part(cpu::Part::Producer),
        consumers_ms_per_1k_rows: part(cpu::Part::Consumers),
        machine_busy_percent: usage
            .machine_busy_percent
            .and_then(|busy| measured("machine busy %", busy)),
        broker_peak_cores: usage
            .broker_peak_cores
            .and_then(|cores| measured("broker peak cores", cores)),
    }
}

/// Runs the updater at the offered rate for the configured duration, over
/// all preloaded products in turn (no row changes twice within a poll).
pub async fn offered_updates(pool: &Pool, config: &Config, options: &BenchOptions) -> Result<u64> {
    offered_updates_over(pool, config, options, options.rows).await
}

/// Connections the offered updates are spread over: one connection's
/// round trips alone fell short of 2,000 updates/s on a loaded 2-core
/// machine (about 500/s), so the run measured a lighter load than it named.
const WRITERS: usize = 4;

/// [`offered_updates`] over products 1..=`products`, split into
/// [`WRITERS`] disjoint ranges, each updated in turn on its own connection
/// at its share of the rate.
pub async fn offered_updates_over(
    pool: &Pool,
    config: &Config,
    options: &BenchOptions,
    products: usize,
) -> Result<u64> {
    let total = (options.rate * options.duration.as_secs_f64()) as u64;
    let writers = WRITERS.min(products.max(1));
    let per_writer = products / writers;
    let mut tasks = Vec::with_capacity(writers);
    for writer in 0..writers {
        let rate = options.rate / writers as f64;
        let plan = UpdatePlan {
            count: Some(
                total / writers as u64 + u64::from(writer < (total % writers as u64) as usize),
            ),
            rate,
            burst: (rate / 100.0).ceil().max(1.0) as u64,
            first_product: i32::try_from(1 + writer * per_writer).unwrap_or(i32::MAX),
            products: i32::try_from(per_writer.max(1)).unwrap_or(i32::MAX),
            round_robin: true,
            seed: 11 + writer as u64,
            delete_every: 0,
        };
        let (pool, table) = (pool.clone(), config.source.table.clone());
        tasks.push(tokio::spawn(async move {
            let (_never, shutdown) = tokio::sync::watch::channel(false);
            run_updates(&pool, &table, &plan, shutdown).await
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task
            .await
            .map_err(|error| anyhow!("an update writer: {error}"))??;
    }
    Ok(done)
}

/// The newest position in the table now.
pub async fn current_end(pool: &Pool, config: &Config, positions: &Preloaded) -> Result<Position> {
    let mut conn = pool.get_conn().await?;
    let newest: Option<(mysql_async::Value, i64)> = conn
        .query_first(format!(
            "SELECT last_updated, id FROM {} ORDER BY last_updated DESC, id DESC LIMIT 1",
            pipeline::source::mysql::quote_identifier(&config.source.table)
        ))
        .await?;
    Ok(newest
        .and_then(|(stamp, id)| {
            Some(Position {
                timestamp: Timestamp::from_mysql(&stamp)?,
                key: vec![pipeline::source::KeyPart::Int(id)],
            })
        })
        .unwrap_or_else(|| positions.last.clone()))
}

pub fn with_database(url: &str, database: &str) -> Result<String> {
    let without_query = url.split('?').next().unwrap_or(url);
    let authority_end = without_query
        .strip_prefix("mysql://")
        .and_then(|rest| rest.find('/').map(|i| i + "mysql://".len()))
        .unwrap_or(without_query.len());
    Ok(format!("{}/{database}", &without_query[..authority_end]))
}

/// Starts the project's registry for the bench when none answers locally.
fn ensure_registry(config: &Config, options: &BenchOptions) -> Result<Option<Deployment>> {
    let Some(address) = pipeline::commands::up::local_registry_address(config) else {
        return Ok(None);
    };
    if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_ok() {
        return Ok(None);
    }
    let mut registry = Deployment::new(
        config,
        &options.work_dir,
        "registry",
        config.topic.partitions,
    )?;
    registry.spawn("registry", &["registry"])?;
    for _ in 0..100 {
        if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok() {
            return Ok(Some(registry));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the bench's registry did not start on {address}")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_the_url() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test", "b").unwrap(),
            "mysql://root@127.0.0.1:3306/b"
        );
        assert_eq!(
            with_database("mysql://u:p@h:1", "b").unwrap(),
            "mysql://u:p@h:1/b"
        );
    }
}
