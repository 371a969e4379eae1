//! The pipeline side by side with Debezium (`bench --peers-only`, `just
//! bench-peers`): the same MariaDB, table, rows, broker and machine, one
//! system after the other in one run, measured by the same code.
//!
//! The rule that keeps it a comparison: only one CDC process runs while a
//! figure is taken, both read the same binary log from the same state, and
//! every figure comes from the topic (its watermarks, or the one probe
//! consumer), never from either system's own counters.
//!
//! In order: the snapshot of N rows by each; N changes made while both are
//! stopped, then each one's catch-up from where it stopped; latency at 2,000
//! and 10,000 changes/s for each (the backlog the other's runs left is
//! caught up before measuring); the correctness workload through both.

mod context;
mod correctness;
pub mod debezium;
mod history;
mod mariadb;
pub mod report;
mod topic;
mod workload;

use std::time::{Duration, Instant};

use anyhow::Result;
use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use pipeline::codec::WireDecoder;
use pipeline::config::{Config, SourceMode};
use pipeline::kafka::ensure_topic;
use pipeline::record::FieldValue;

use crate::cpu;
use crate::deployment::{Deployment, percentile};
use crate::measure::{BenchOptions, offered_updates_over, with_database};
use crate::report::measured;
use debezium::{Connect, Source};
use report::{CdcRun, DebeziumComparison, Pair, PeerLatency};
use topic::{Counter, Probe, Received};

/// The database both systems read (dropped and created again each run).
const DATABASE: &str = "pipeline_peers";
/// A snapshot or catch-up of a million rows takes minutes on two cores.
const RUN_TIMEOUT: Duration = Duration::from_secs(1800);
/// Rows of the correctness table and statements of its workload.
const HISTORY_KEYS: usize = 500;
const HISTORY_STATEMENTS: usize = 4000;

/// Which CDC process a deployment runs.
enum System<'a> {
    Pipeline,
    Debezium(&'a Connect),
}

impl System<'_> {
    fn start(&self, deployment: &mut Deployment) -> Result<()> {
        match self {
            System::Pipeline => deployment.spawn("producer", &["produce"]),
            System::Debezium(connect) => {
                let (program, args) = connect.command();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                // "producer" in the name: the CPU meter counts it as the
                // CDC process (`cpu::Part::Producer`).
                deployment.spawn_program("debezium_producer", program.as_ref(), &args)
            }
        }
    }

    fn child(&self) -> &'static str {
        match self {
            System::Pipeline => "producer",
            System::Debezium(_) => "debezium_producer",
        }
    }
}

/// One system on the main table: its deployment, topic and the number of
/// messages its topic should hold by now.
struct Side<'a> {
    system: System<'a>,
    deployment: Deployment,
    counter: Counter,
    expected: i64,
}

impl Side<'_> {
    /// Starts the process and times it until its topic holds `rows` more
    /// messages; leaves it running.
    fn timed_run(&mut self, rows: usize) -> Result<CdcRun> {
        let before = self.expected;
        let target = before + rows as i64;
        let started = Instant::now();
        self.system.start(&mut self.deployment)?;
        let meter = cpu::Meter::start(&self.deployment.child_pids());
        let deployment = &mut self.deployment;
        let name = self.system.child();
        let (first, last) =
            self.counter.wait_for(before, target, RUN_TIMEOUT, || {
                match deployment.exited(name) {
                    Some(status) => anyhow::bail!("{name} exited ({status})"),
                    None => Ok(()),
                }
            })?;
        let usage = meter.finish(&self.deployment.child_pids());
        let rss = self
            .deployment
            .peak_rss_mib()
            .into_iter()
            .map(|(_, mib)| mib)
            .fold(0.0, f64::max);
        self.expected = target;
        let seconds = last.duration_since(started).as_secs_f64();
        Ok(cdc_run(
            rows,
            seconds,
            first.duration_since(started),
            &usage,
            rss,
        ))
    }

    /// Starts the process and waits until its topic holds what it should.
    fn start_caught_up(&mut self) -> Result<()> {
        self.system.start(&mut self.deployment)?;
        let (expected, deployment, name) =
            (self.expected, &mut self.deployment, self.system.child());
        self.counter
            .wait_for(0, expected, RUN_TIMEOUT, || match deployment.exited(name) {
                Some(status) => anyhow::bail!("{name} exited ({status})"),
                None => Ok(()),
            })?;
        // Let a change still on its way land before the probe starts.
        std::thread::sleep(Duration::from_secs(2));
        self.check_count()
    }

    /// At-least-once delivery may add messages; the comparison counts on
    /// exact numbers, so more than expected stops it, naming the cause.
    fn check_count(&self) -> Result<()> {
        let count = self.counter.count()?;
        if count != self.expected {
            anyhow::bail!(
                "{} holds {count} messages where {} were expected (a re-sent snapshot or \
                 duplicates after a restart); see {}",
                self.system.child(),
                self.expected,
                self.deployment.dir.display()
            );
        }
        Ok(())
    }
}

fn load_average() -> Option<f64> {
    crate::producer::load_average()
}

fn cdc_run(rows: usize, seconds: f64, first: Duration, usage: &cpu::Usage, rss: f64) -> CdcRun {
    let cdc_ms = usage.ms_per_1k_rows(cpu::Part::Producer, rows);
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let machine_ms = usage
        .machine_busy_percent
        .map(|busy| busy / 100.0 * cores * seconds * 1000.0 * 1000.0 / rows.max(1) as f64);
    CdcRun {
        rows: Some(rows as f64),
        seconds: measured("peers seconds", seconds),
        rows_per_s: measured("peers rows/s", rows as f64 / seconds.max(1e-3)),
        first_message_s: measured("peers first message s", first.as_secs_f64()),
        cdc_cpu_ms_per_1k_rows: cdc_ms.and_then(|ms| measured("peers CDC CPU ms/1k", ms)),
        cdc_peak_rss_mib: measured("peers CDC peak RSS MiB", rss),
        rows_per_cdc_core_s: cdc_ms
            .filter(|ms| *ms > 0.0)
            .and_then(|ms| measured("peers rows per CDC CPU-second", 1e6 / ms)),
        machine_cpu_ms_per_1k_rows: machine_ms
            .and_then(|ms| measured("peers machine CPU ms/1k", ms)),
        machine_busy_percent: usage
            .machine_busy_percent
            .and_then(|busy| measured("peers machine busy %", busy)),
        write_s: None,
        load_average: load_average(),
    }
}

/// Runs the whole comparison.
pub async fn measure(base: &Config, options: &BenchOptions) -> Result<DebeziumComparison> {
    let started = Instant::now();
    let plugin_path = debezium::install()?;
    let mut machine = context::machine();
    machine.insert(
        "load average at start".into(),
        format!("{:.2}", load_average().unwrap_or(f64::NAN)),
    );
    let own_server;
    let server_url = match &options.peers_mysql_url {
        Some(url) => url.clone(),
        None => {
            own_server = mariadb::OwnServer::start(&options.work_dir.join("peers-mariadb"))?;
            own_server.url()
        }
    };
    let mut config = base.clone();
    config.source.mode = SourceMode::Binlog;
    config.mysql.url = with_database(&server_url, DATABASE)?;
    let pool = reset_database(&server_url, &config, options.peers_mysql_url.is_none()).await?;
    let rows = options.rows;
    let table = config.source.table.clone();
    tracing::info!(rows, "peers: filling the table");
    pipeline::updater::bulk_upsert(&pool, &table, 1, rows as i32).await?;

    let partitions = config.topic.partitions;
    let ours = Deployment::new(&config, &options.work_dir, "peers_pipeline", partitions)?;
    ensure_topic(&ours.config, &ours.config.topic.name, partitions).await?;
    let mut ours = Side {
        counter: Counter::new(&config, &ours.config.topic.name)?,
        deployment: ours,
        system: System::Pipeline,
        expected: 0,
    };
    let theirs = Deployment::new(&config, &options.work_dir, "peers_debezium", partitions)?;
    let source = Source::from_url(&server_url, DATABASE, &table)?;
    let connect = Connect::new(
        &config,
        &theirs.dir.join("connect"),
        &source,
        "main",
        &plugin_path,
    )?;
    ensure_topic(&config, &connect.topic, partitions).await?;
    let mut theirs = Side {
        counter: Counter::new(&config, &connect.topic)?,
        deployment: theirs,
        system: System::Debezium(&connect),
        expected: 0,
    };

    let mut comparison = DebeziumComparison {
        rows: Some(rows as f64),
        versions: context::versions(&pool).await,
        debezium_settings: connect.settings(),
        pipeline_settings: context::pipeline_settings(&ours.deployment.config),
        ..DebeziumComparison::default()
    };
    let mut snapshot = Pair::<CdcRun>::default();
    for (side, run) in [
        (&mut ours, &mut snapshot.pipeline),
        (&mut theirs, &mut snapshot.debezium),
    ] {
        tracing::info!(system = side.system.child(), "peers: snapshot");
        *run = side.timed_run(rows)?;
        side.deployment.stop();
        tracing::info!(
            system = side.system.child(),
            rows_per_s = run.rows_per_s,
            "peers: snapshot done"
        );
    }
    comparison.snapshot = snapshot;

    tracing::info!(rows, "peers: changing every row while both are stopped");
    let written = Instant::now();
    pipeline::updater::bulk_upsert(&pool, &table, 1, rows as i32).await?;
    let write_s = written.elapsed().as_secs_f64();
    let mut catch_up = Pair::<CdcRun>::default();
    for (side, run) in [
        (&mut ours, &mut catch_up.pipeline),
        (&mut theirs, &mut catch_up.debezium),
    ] {
        tracing::info!(system = side.system.child(), "peers: catch-up");
        *run = side.timed_run(rows)?;
        run.write_s = measured("peers catch-up write s", write_s);
        side.check_count()?;
        side.deployment.stop();
        tracing::info!(
            system = side.system.child(),
            rows_per_s = run.rows_per_s,
            "peers: catch-up done"
        );
    }
    comparison.catch_up = catch_up;

    let decoder = WireDecoder::new(&config.schema_registry)?;
    // Every change is one message in both topics: while one system runs
    // its latency runs, the other's backlog grows by as much.
    let mut made = ours.expected;
    for side in [&mut ours, &mut theirs] {
        side.expected = made;
        side.start_caught_up()?;
        for rate in [2000.0, 10000.0] {
            let latency = latency_run(side, &pool, &config, options, rate, &decoder).await?;
            made = side.expected;
            let pair = if rate < 5000.0 {
                &mut comparison.latency_2000
            } else {
                &mut comparison.latency_10000
            };
            match side.system {
                System::Pipeline => pair.pipeline = latency,
                System::Debezium(_) => pair.debezium = latency,
            }
        }
        side.deployment.stop();
    }

    comparison.correctness =
        correctness::run(&config, options, &pool, &server_url, &plugin_path, &decoder).await?;
    pool.disconnect().await?;
    machine.insert(
        "load average at end".into(),
        format!("{:.2}", load_average().unwrap_or(f64::NAN)),
    );
    comparison.machine = machine;
    comparison.duration_s = measured("peers duration s", started.elapsed().as_secs_f64());
    Ok(comparison)
}

/// Drops and creates the database; on the bench's own server also drops
/// the old binary logs (nobody else reads them).
async fn reset_database(server_url: &str, config: &Config, own: bool) -> Result<Pool> {
    let server = pipeline::source::mysql::connect(server_url).await?;
    let mut conn = server.get_conn().await?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS {DATABASE}"))
        .await?;
    if own {
        conn.query_drop("RESET MASTER").await?;
    }
    let format: Option<(String, String)> = conn
        .query_first("SHOW VARIABLES LIKE 'binlog_format'")
        .await?;
    if !format.is_some_and(|(_, value)| value.eq_ignore_ascii_case("ROW")) {
        anyhow::bail!("{server_url} has no ROW binary log (both systems read it)");
    }
    drop(conn);
    server.disconnect().await?;
    Ok(pipeline::source::mysql::connect(&config.mysql.url).await?)
}

/// The offered load at `rate` for the configured duration, the probe on
/// the side's topic meanwhile: commit (the row's stamp) to readable.
async fn latency_run(
    side: &mut Side<'_>,
    pool: &Pool,
    config: &Config,
    options: &BenchOptions,
    rate: f64,
    decoder: &WireDecoder,
) -> Result<PeerLatency> {
    tracing::info!(system = side.system.child(), rate, "peers: latency");
    let probe = Probe::start(config, &side.counter)?;
    let meter = cpu::Meter::start(&side.deployment.child_pids());
    let mut offered = options.clone();
    offered.rate = rate;
    let started = Instant::now();
    let count = offered_updates_over(pool, config, &offered, options.rows).await?;
    let achieved = count as f64 / started.elapsed().as_secs_f64();
    let before = side.expected;
    side.expected += count as i64;
    let (expected, deployment, name) = (side.expected, &mut side.deployment, side.system.child());
    let waited = side.counter.wait_for(before, expected, RUN_TIMEOUT, || {
        match deployment.exited(name) {
            Some(status) => anyhow::bail!("{name} exited ({status})"),
            None => Ok(()),
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let usage = meter.finish(&side.deployment.child_pids());
    let received = probe.finish()?;
    waited?;
    side.check_count()?;
    let mut latencies = Vec::with_capacity(received.len());
    for message in &received {
        if let Some(stamp) = stamp_of(&side.system, message, decoder).await? {
            latencies.push((message.received_us - stamp) as f64 / 1000.0);
        }
    }
    let key = |what: &str| format!("peers {} latency {rate}/s {what}", side.system.child());
    Ok(PeerLatency {
        offered_rate_per_s: Some(rate),
        achieved_rate_per_s: measured(&key("achieved"), achieved),
        changes: Some(count as f64),
        received: Some(latencies.len() as f64),
        p50_ms: measured(&key("p50"), percentile(&mut latencies, 50.0)),
        p99_ms: measured(&key("p99"), percentile(&mut latencies, 99.0)),
        max_ms: measured(&key("max"), percentile(&mut latencies, 100.0)),
        cdc_cpu_ms_per_1k_rows: usage
            .ms_per_1k_rows(cpu::Part::Producer, count as usize)
            .and_then(|ms| measured(&key("CDC CPU ms/1k"), ms)),
        load_average: load_average(),
    })
}

/// The row's stamp (µs) of one received change; `None` for a tombstone.
async fn stamp_of(
    system: &System<'_>,
    message: &Received,
    decoder: &WireDecoder,
) -> Result<Option<i64>> {
    let Some(payload) = &message.payload else {
        return Ok(None);
    };
    Ok(match system {
        System::Pipeline => match decoder.decode(Some(payload)).await?.get("last_updated") {
            Some(FieldValue::Long(micros)) => Some(*micros),
            _ => None,
        },
        System::Debezium(_) => {
            let value: serde_json::Value = serde_json::from_slice(payload)?;
            value["after"]["last_updated"].as_i64()
        }
    })
}
