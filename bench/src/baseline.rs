//! The seed's design in Python (`bench/baseline/`), run on the same data,
//! broker and registry as the pipeline, measured the same way.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use mysql_async::Pool;

use anyhow::{Context, Result, bail};
use pipeline::config::Config;
use pipeline::kafka::ensure_topic;

use crate::cpu;
use crate::deployment::{self, Deployment, percentile};
use crate::measure::{BenchOptions, Preloaded, TIMEOUT, current_end, offered_updates};
use crate::report::{self, measured};

fn baseline_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("baseline")
}

/// Makes the baseline's venv (bench/baseline/setup.sh) and returns its python.
fn python() -> Result<PathBuf> {
    let setup = baseline_dir().join("setup.sh");
    let output = Command::new("bash")
        .arg(&setup)
        .output()
        .with_context(|| setup.display().to_string())?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            setup.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let python = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    Ok(PathBuf::from(python))
}

struct Baseline<'a> {
    python: PathBuf,
    config: &'a Config,
}

impl Baseline<'_> {
    fn producer_args(&self, run: &Deployment, stop_after: Option<usize>) -> Vec<String> {
        let mut args = vec![
            script("producer.py"),
            "--mysql-url".into(),
            self.config.mysql.url.clone(),
            "--table".into(),
            self.config.source.table.clone(),
            "--topic".into(),
            run.config.topic.name.clone(),
            "--bootstrap".into(),
            self.config.bootstrap_servers().to_owned(),
            "--registry".into(),
            self.config.schema_registry.url.clone(),
            "--schema".into(),
            self.config
                .source
                .value_schema_file
                .clone()
                .unwrap_or_else(|| "schemas/product_value_avro_schema.json".into())
                .display()
                .to_string(),
            "--position-file".into(),
            run.dir.join("baseline_position.json").display().to_string(),
        ];
        if let Some(rows) = stop_after {
            args.extend(["--stop-after-rows".into(), rows.to_string()]);
        }
        args
    }

    fn start_consumers(&self, run: &mut Deployment, members: u32) -> Result<()> {
        for member in 1..=members {
            let args = [
                script("consumer.py"),
                "--member".into(),
                member.to_string(),
                "--topic".into(),
                run.config.topic.name.clone(),
                "--group".into(),
                run.config.consumer.group_id.clone(),
                "--bootstrap".into(),
                self.config.bootstrap_servers().to_owned(),
                "--registry".into(),
                self.config.schema_registry.url.clone(),
                "--log-dir".into(),
                run.config.consumer.log_dir.display().to_string(),
            ];
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run.spawn_program(
                &format!("baseline_consumer_{member}"),
                self.python.as_os_str(),
                &args,
            )?;
        }
        Ok(())
    }

    fn save_position(run: &Deployment, position: Option<pipeline::source::Position>) -> Result<()> {
        let text = match position {
            Some(position) => format!("{{\"last_read_timestamp\": \"{}\"}}", position.timestamp),
            None => "{\"last_read_timestamp\": null}".to_owned(),
        };
        let path = run.dir.join("baseline_position.json");
        std::fs::write(&path, text).with_context(|| path.display().to_string())
    }
}

fn script(name: &str) -> String {
    baseline_dir().join(name).display().to_string()
}

/// Baseline producer alone, consumers alone, both together, and latency.
pub async fn measure(
    config: &Config,
    options: &BenchOptions,
    pool: &Pool,
    positions: &Preloaded,
) -> Result<report::Baseline> {
    let mut report = report::Baseline::default();
    let baseline = Baseline {
        python: python()?,
        config,
    };
    let rows = options.rows;

    // Producer alone (it exits after producing and flushing `rows`).
    let mut produced = Deployment::new(
        config,
        &options.work_dir,
        "baseline_producer",
        config.topic.partitions,
    )?;
    ensure_topic(config, &produced.config.topic.name, config.topic.partitions).await?;
    Baseline::save_position(&produced, None)?;
    let args = baseline.producer_args(&produced, Some(rows));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    produced.spawn_program("baseline_producer", baseline.python.as_os_str(), &args)?;
    wait_for_exit(&mut produced, "baseline_producer", TIMEOUT)?;
    report.producer_rows_per_s = measured(
        "baseline_producer_rows_per_s",
        rows as f64 / started.elapsed().as_secs_f64(),
    );

    // Consumers alone from the full topic.
    let mut consumers = Deployment::new(
        config,
        &options.work_dir,
        "baseline_consumers",
        config.topic.partitions,
    )?;
    consumers.retarget(&produced.config.topic.name)?;
    baseline.start_consumers(&mut consumers, 5)?;
    let (first, last) =
        deployment::wait_for_lines(&consumers.config.consumer.log_dir, rows, TIMEOUT)?;
    report.consumers_records_per_s = measured(
        "baseline_consumers_records_per_s",
        rows as f64 / last.duration_since(first).as_secs_f64().max(1e-3),
    );
    consumers.stop();

    // Both together from the preloaded state.
    let mut together = Deployment::new(
        config,
        &options.work_dir,
        "baseline_catchup",
        config.topic.partitions,
    )?;
    ensure_topic(config, &together.config.topic.name, config.topic.partitions).await?;
    Baseline::save_position(&together, None)?;
    baseline.start_consumers(&mut together, 5)?;
    tokio::time::sleep(Duration::from_secs(8)).await; // the group forms (no progress files in the baseline)
    let args = baseline.producer_args(&together, None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let meter = cpu::Meter::start(&together.child_pids());
    let started = Instant::now();
    together.spawn_program("baseline_producer", baseline.python.as_os_str(), &args)?;
    let (_, last) = deployment::wait_for_lines(&together.config.consumer.log_dir, rows, TIMEOUT)?;
    let usage = meter.finish(&together.child_pids());
    report.catchup_rows_per_s = measured(
        "baseline_catchup_rows_per_s",
        rows as f64 / last.duration_since(started).as_secs_f64(),
    );
    report.catchup_cpu = crate::measure::cpu_use(&usage, rows);
    together.stop();

    // Latency at the same offered load.
    let mut latency = Deployment::new(
        config,
        &options.work_dir,
        "baseline_latency",
        config.topic.partitions,
    )?;
    ensure_topic(config, &latency.config.topic.name, config.topic.partitions).await?;
    Baseline::save_position(&latency, Some(current_end(pool, config, positions).await?))?;
    baseline.start_consumers(&mut latency, 5)?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let args = baseline.producer_args(&latency, None);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    latency.spawn_program("baseline_producer", baseline.python.as_os_str(), &args)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let count = offered_updates(pool, config, options).await?;
    let logged = deployment::wait_for_lines_or_stall(
        &latency.config.consumer.log_dir,
        count as usize,
        Duration::from_secs(30),
        TIMEOUT,
    )?;
    latency.stop();
    let missing = (count as usize).saturating_sub(logged);
    if missing > 0 {
        tracing::warn!(
            missing,
            offered = count,
            "the baseline lost changes in its latency run (its polling skips a change that shares a stamp with one already read)"
        );
    }
    report.latency_missing = measured("baseline_latency_missing", missing as f64);
    let mut latencies = deployment::latencies_ms(
        &latency.config.consumer.log_dir,
        &latency.config.source.operation_field,
        i64::MIN,
    );
    report.latency_p50_ms = measured("baseline_latency_p50_ms", percentile(&mut latencies, 50.0));
    report.latency_p99_ms = measured("baseline_latency_p99_ms", percentile(&mut latencies, 99.0));
    Ok(report)
}

fn wait_for_exit(run: &mut Deployment, name: &str, timeout: Duration) -> Result<()> {
    match run.wait_for_exit(name, timeout) {
        Some(status) if status.success() => Ok(()),
        Some(status) => bail!(
            "{name} failed ({status}); see {}",
            run.dir.join(format!("{name}.log")).display()
        ),
        None => bail!("{name} did not finish within {timeout:?}"),
    }
}
