//! The producer alone, several variants side by side (`--producer-only`):
//! the same preloaded rows read from MySQL to the broker's acknowledgements
//! by each variant in turn, round after round, so a setting's or a build's
//! effect is measured under the same load.
//!
//! A variant is `LABEL[:KEY=VALUE[,KEY=VALUE…]][@BINARY]`: its settings
//! (`--set` syntax, e.g. `source.encoder_threads=1`) and optionally another
//! `pipeline` binary (an older commit's build). Each run starts from the
//! beginning of the table and is timed, and its CPU counted, from the start
//! of the process to the last row's saved position: rows/s, and CPU ms per
//! 1,000 rows of the producer, MariaDB and the broker, startup (schema
//! registration, topic creation, the same for every variant) included.
//! Not from the first saved position: the pipelined producer reads and
//! produces far ahead of its first acknowledgement, so that counted only the
//! tail. Not as the difference from a shorter run either: a run that starts
//! behind the last rows finds the rows before its position in the lookback
//! window unsent and sends them again (the late-change scan at start).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pipeline::config::Config;
use pipeline::source::PositionFile;
use serde::{Deserialize, Serialize};

use crate::cpu;
use crate::deployment::{Deployment, percentile};
use crate::measure::{BenchOptions, Preloaded, TIMEOUT};
use crate::report::measured;

/// One variant of the producer.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub label: String,
    /// `KEY=VALUE` settings, applied as `--set` would.
    pub sets: Vec<String>,
    /// Another `pipeline` binary.
    pub binary: Option<PathBuf>,
}

impl std::str::FromStr for Variant {
    type Err = String;

    /// `LABEL[:KEY=VALUE[,KEY=VALUE…]][@BINARY]`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (rest, binary) = match text.split_once('@') {
            Some((rest, binary)) => (rest, Some(PathBuf::from(binary))),
            None => (text, None),
        };
        let (label, sets) = rest.split_once(':').unwrap_or((rest, ""));
        if label.is_empty() {
            return Err(format!(
                "`{text}`: a variant is LABEL[:KEY=VALUE,...][@BINARY]"
            ));
        }
        let sets: Vec<String> = sets
            .split(',')
            .filter(|set| !set.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = sets.iter().find(|set| !set.contains('=')) {
            return Err(format!("`{text}`: `{bad}` is not KEY=VALUE"));
        }
        Ok(Self {
            label: label.to_owned(),
            sets,
            binary,
        })
    }
}

/// One variant's medians over the rounds.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProducerRun {
    pub label: String,
    pub settings: Vec<String>,
    pub binary: Option<String>,
    pub rows_per_s: Option<f64>,
    /// CPU ms per 1,000 rows.
    pub producer_cpu_ms_per_1k_rows: Option<f64>,
    pub mysql_cpu_ms_per_1k_rows: Option<f64>,
    pub broker_cpu_ms_per_1k_rows: Option<f64>,
    /// Percent of all cores.
    pub machine_busy_percent: Option<f64>,
    /// The machine's 1-minute load average after each round.
    pub load_average: Vec<f64>,
    /// Each round's rows/s, in order.
    pub rounds_rows_per_s: Vec<f64>,
    /// Each round's producer CPU ms per 1,000 rows.
    pub rounds_producer_cpu_ms_per_1k_rows: Vec<f64>,
}

/// `config` with `sets` applied as `--set` would.
fn with_sets(config: &Config, sets: &[String]) -> Result<Config> {
    let text = toml::to_string(config).context("the bench's configuration as TOML")?;
    let mut document: toml::Table = text.parse().context("the bench's configuration")?;
    for set in sets {
        pipeline::config::apply_override(&mut document, set, "--producer-variant")?;
    }
    Ok(toml::Value::Table(document).try_into()?)
}

/// Every variant, `rounds` times in turn, over the last `rows` preloaded rows.
pub fn measure(
    config: &Config,
    options: &BenchOptions,
    positions: &Preloaded,
    variants: &[Variant],
    rounds: usize,
) -> Result<Vec<ProducerRun>> {
    let rows = options.rows;
    let mut runs: Vec<ProducerRun> = variants
        .iter()
        .map(|variant| ProducerRun {
            label: variant.label.clone(),
            settings: variant.sets.clone(),
            binary: variant
                .binary
                .as_ref()
                .map(|path| path.display().to_string()),
            ..ProducerRun::default()
        })
        .collect();
    let mut samples: Vec<[Vec<f64>; 3]> = variants.iter().map(|_| Default::default()).collect();
    for round in 0..rounds {
        for (index, variant) in variants.iter().enumerate() {
            let variant_config = with_sets(config, &variant.sets)?;
            let name = format!("producer_{}_{round}", variant.label);
            let (seconds, usage) =
                one_run(&variant_config, options, positions, rows, variant, &name)?;
            let rate = rows as f64 / seconds.max(1e-3);
            let part = |part| usage.ms_per_1k_rows(part, rows).unwrap_or(f64::NAN);
            let producer_ms = part(cpu::Part::Producer);
            tracing::info!(
                variant = variant.label,
                round,
                rate,
                producer_ms,
                mysql_ms = part(cpu::Part::Mysql),
                broker_ms = part(cpu::Part::Broker),
                "producer alone"
            );
            let run = &mut runs[index];
            run.rounds_rows_per_s.push(rate);
            run.rounds_producer_cpu_ms_per_1k_rows.push(producer_ms);
            run.load_average.push(load_average().unwrap_or(f64::NAN));
            let sample = &mut samples[index];
            sample[0].push(part(cpu::Part::Mysql));
            sample[1].push(part(cpu::Part::Broker));
            sample[2].push(usage.machine_busy_percent.unwrap_or(f64::NAN));
        }
    }
    for (run, sample) in runs.iter_mut().zip(&mut samples) {
        let label = run.label.clone();
        let median = |values: &mut Vec<f64>| {
            values.retain(|value| value.is_finite());
            percentile(values, 50.0)
        };
        let mut rates = run.rounds_rows_per_s.clone();
        let mut producer = run.rounds_producer_cpu_ms_per_1k_rows.clone();
        run.rows_per_s = measured(&format!("{label}: rows/s"), median(&mut rates));
        run.producer_cpu_ms_per_1k_rows = measured(
            &format!("{label}: producer CPU ms/1k"),
            median(&mut producer),
        );
        run.mysql_cpu_ms_per_1k_rows = measured(
            &format!("{label}: MariaDB CPU ms/1k"),
            median(&mut sample[0]),
        );
        run.broker_cpu_ms_per_1k_rows = measured(
            &format!("{label}: broker CPU ms/1k"),
            median(&mut sample[1]),
        );
        run.machine_busy_percent =
            measured(&format!("{label}: machine busy %"), median(&mut sample[2]));
    }
    Ok(runs)
}

/// One producer from the position before the last `rows` rows (the
/// beginning, when they are all the preloaded rows) to the last:
/// seconds from its start to the last row's saved position, and the CPU
/// used meanwhile.
fn one_run(
    config: &Config,
    options: &BenchOptions,
    positions: &Preloaded,
    rows: usize,
    variant: &Variant,
    name: &str,
) -> Result<(f64, cpu::Usage)> {
    let mut deployment = Deployment::new(config, &options.work_dir, name, config.topic.partitions)?;
    let file = PositionFile::new(&deployment.config.source.position_file);
    let start = positions.before_last(rows);
    file.save(start.as_ref())?;
    match &variant.binary {
        Some(binary) => deployment.spawn_binary(binary, "producer", &["produce"])?,
        None => deployment.spawn("producer", &["produce"])?,
    }
    // A child started just now counts from zero.
    let (meter, started) = (cpu::Meter::start(&deployment.child_pids()), Instant::now());
    let deadline = started + TIMEOUT;
    let last = positions.last.clone();
    loop {
        if matches!(file.load(), Ok(Some(ref position)) if *position >= last) {
            break;
        }
        check_running(&mut deployment, deadline)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed();
    let usage = meter.finish(&deployment.child_pids());
    deployment.stop();
    Ok((elapsed.as_secs_f64(), usage))
}

fn check_running(deployment: &mut Deployment, deadline: Instant) -> Result<()> {
    if let Some(status) = deployment.exited("producer") {
        bail!(
            "the bench producer exited ({status}); see {}",
            deployment.dir.display()
        );
    }
    if Instant::now() > deadline {
        bail!("the producer did not finish within {TIMEOUT:?}");
    }
    Ok(())
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_is_a_label_settings_and_maybe_a_binary() {
        let variant: Variant = "one:source.encoder_threads=1,kafka.linger.ms=5@/tmp/old"
            .parse()
            .unwrap();
        assert_eq!(variant.label, "one");
        assert_eq!(
            variant.sets,
            ["source.encoder_threads=1", "kafka.linger.ms=5"]
        );
        assert_eq!(variant.binary, Some(PathBuf::from("/tmp/old")));
        let plain: Variant = "new".parse().unwrap();
        assert!(plain.sets.is_empty() && plain.binary.is_none());
        assert!("x:nokey".parse::<Variant>().is_err());
        assert!(":a=1".parse::<Variant>().is_err());
    }

    #[test]
    fn settings_apply_as_set_does() {
        let config = with_sets(&Config::default(), &["source.encoder_threads=3".into()]).unwrap();
        assert_eq!(config.source.encoder_threads, 3);
    }
}
