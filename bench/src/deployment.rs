//! One benchmark run's deployment: its own topic, consumer group, position
//! file and log directory (the library's [`IsolatedDeployment`]), and the
//! processes that run in it (the library's [`Processes`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pipeline::config::Config;
use pipeline::process::{IsolatedDeployment, Processes};
use pipeline::sink::LogLine;

/// A run's configuration and its running processes.
pub struct Deployment {
    pub config: Config,
    pub dir: PathBuf,
    isolated: IsolatedDeployment,
    processes: Processes,
    /// Whether the processes write the latency trace (`trace_dir`).
    traced: bool,
}

impl Deployment {
    /// A deployment named `name` under `root`, derived from `base` with a
    /// fresh topic (`partitions`), group, position and logs.
    pub fn new(base: &Config, root: &Path, name: &str, partitions: i32) -> Result<Self> {
        let dir = root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let stamp = pipeline::timestamp::Timestamp::now().micros();
        let mut base = base.clone();
        base.topic.partitions = partitions;
        base.metrics.listen = String::new();
        let isolated = IsolatedDeployment::new(&base, &dir, &format!("bench_{name}_{stamp}"))?;
        Ok(Self {
            config: isolated.config.clone(),
            dir,
            isolated,
            processes: Processes::default(),
            traced: false,
        })
    }

    /// Points the run at an existing topic (consumers reading what an earlier
    /// run produced).
    pub fn retarget(&mut self, topic: &str) -> Result<()> {
        self.config.topic.name = topic.to_owned();
        self.isolated.config = self.config.clone();
        Ok(self.isolated.write_config()?)
    }

    /// Starts `pipeline --config <run> <args>` as a child named `name`.
    pub fn spawn(&mut self, name: &str, args: &[&str]) -> Result<()> {
        self.spawn_with(&pipeline_binary()?, name, args)
    }

    /// Starts another `pipeline` binary (an older build) the same way.
    pub fn spawn_binary(&mut self, program: &Path, name: &str, args: &[&str]) -> Result<()> {
        self.spawn_with(program, name, args)
    }

    /// Starts `<program> --config <run> <args>` as a child named `name`.
    fn spawn_with(&mut self, program: &Path, name: &str, args: &[&str]) -> Result<()> {
        let command = self.isolated.command(program, args);
        self.start(name, command)
    }

    /// Starts any program as a child named `name`, its output in `<dir>/<name>.log`.
    pub fn spawn_program(
        &mut self,
        name: &str,
        program: &std::ffi::OsStr,
        args: &[&str],
    ) -> Result<()> {
        let mut command = std::process::Command::new(program);
        command.args(args);
        self.start(name, command)
    }

    /// Processes started from now on write the per-record latency trace
    /// (`pipeline::latency_trace`) under [`Self::trace_dir`].
    pub fn trace_latency(&mut self) {
        self.traced = true;
    }

    /// Where the latency trace goes.
    pub fn trace_dir(&self) -> PathBuf {
        self.dir.join("trace")
    }

    fn start(&mut self, name: &str, mut command: std::process::Command) -> Result<()> {
        command.env("RUST_LOG", "warn");
        if self.traced {
            command.env(pipeline::latency_trace::TRACE_DIR_ENV, self.trace_dir());
        }
        let log = self.dir.join(format!("{name}.log"));
        Ok(self.processes.start(name, command, &log)?)
    }

    /// Starts members 1..=n.
    pub fn start_consumers(&mut self, n: u32) -> Result<()> {
        for member in 1..=n {
            self.spawn(
                &format!("consumer_{member}"),
                &["consume", "--member", &member.to_string()],
            )?;
        }
        Ok(())
    }

    /// Starts members 1..=n with the seed transforms as native Rust
    /// (`bench consume-native`) instead of the configured wasm chain.
    pub fn start_native_consumers(&mut self, n: u32) -> Result<()> {
        let bench = std::env::current_exe().context("the bench's own executable")?;
        for member in 1..=n {
            self.spawn_with(
                &bench,
                &format!("consumer_{member}"),
                &["consume-native", "--member", &member.to_string()],
            )?;
        }
        Ok(())
    }

    /// Waits until each of `n` members owns partitions (the group is formed).
    pub fn wait_for_group(&self, n: u32, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let per_member = (self.config.topic.partitions as usize) / n as usize;
        while Instant::now() < deadline {
            if self.isolated.group_formed(n, per_member) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "the bench's consumer group did not form within {timeout:?}; see {}",
            self.dir.display()
        )
    }

    /// Peak resident memory (VmHWM) of each running child, in MiB.
    pub fn peak_rss_mib(&self) -> Vec<(String, f64)> {
        self.child_pids()
            .into_iter()
            .filter_map(|(name, pid)| Some((name, peak_rss_mib(pid)?)))
            .collect()
    }

    /// Each running child's name and pid.
    pub fn child_pids(&self) -> Vec<(String, u32)> {
        self.processes.pids()
    }

    /// Whether the named child has exited (and how).
    pub fn exited(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        self.processes.get_mut(name)?.exit_status()
    }

    /// Waits up to `timeout` for the named child to exit on its own.
    pub fn wait_for_exit(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        self.processes.get_mut(name)?.wait_for_exit(timeout)
    }

    /// Stops every child: SIGTERM, then SIGKILL after 15 s.
    pub fn stop(&mut self) {
        self.processes.stop_all(Processes::STOP_TIMEOUT);
    }
}

/// The release `pipeline` binary, built next to this one (`cargo build
/// --release -p host`; `just bench` does it).
fn pipeline_binary() -> Result<PathBuf> {
    // Another build of the pipeline (an older commit's, to compare).
    if let Some(path) = std::env::var_os("BENCH_PIPELINE_BINARY") {
        return Ok(PathBuf::from(path));
    }
    let bench = std::env::current_exe().context("the bench's own executable")?;
    let pipeline = bench.with_file_name("pipeline");
    if !pipeline.exists() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p host` (`just bench` does)",
            pipeline.display()
        );
    }
    Ok(pipeline)
}

/// VmHWM of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Counts the lines of the member logs under `log_dir`, incrementally.
#[derive(Debug, Default)]
pub struct LineCounter {
    seen: std::collections::HashMap<PathBuf, (u64, usize)>,
}

impl LineCounter {
    /// Total complete lines of the members' logs now.
    pub fn count(&mut self, log_dir: &Path) -> usize {
        self.count_files(log_dir, "consumer_log.json")
    }

    /// Total complete lines of every `<dir>/*/<file_name>` now.
    fn count_files(&mut self, dir: &Path, file_name: &str) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(entries) = std::fs::read_dir(dir) else {
            return self.total_under(dir);
        };
        for entry in entries.flatten() {
            let path = entry.path().join(file_name);
            let Ok(mut file) = std::fs::File::open(&path) else {
                continue;
            };
            let (offset, lines) = self.seen.entry(path).or_default();
            if file.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut buffer = Vec::new();
            if file.read_to_end(&mut buffer).is_err() {
                continue;
            }
            // Count only complete lines; a partial tail is read again next time.
            if let Some(last_newline) = buffer.iter().rposition(|&b| b == b'\n') {
                *lines += buffer[..=last_newline]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                *offset += last_newline as u64 + 1;
            }
        }
        self.total_under(dir)
    }

    fn total_under(&self, dir: &Path) -> usize {
        self.seen
            .iter()
            .filter(|(path, _)| path.starts_with(dir))
            .map(|(_, (_, lines))| lines)
            .sum()
    }
}

/// Waits until the logs under `log_dir` hold `target` lines. Returns when the
/// first line appeared and when the target was reached. Fails as soon as the
/// records not in the logs are all in the run's dead letters (a run where a
/// plugin failed records measures nothing comparable), naming where they are.
pub fn wait_for_lines(
    log_dir: &Path,
    target: usize,
    timeout: Duration,
) -> Result<(Instant, Instant)> {
    let mut counter = LineCounter::default();
    let dead_letters = log_dir.with_file_name("dead_letters");
    let deadline = Instant::now() + timeout;
    let mut first = None;
    let mut previous = 0;
    while Instant::now() < deadline {
        let count = counter.count(log_dir);
        if count > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if count >= target {
            let now = Instant::now();
            return Ok((first.unwrap_or(now), now));
        }
        // Only a stalled count can mean the rest went to the dead letters;
        // while lines flow, reading those files too would only load the
        // machine being measured.
        let stalled = count == previous;
        previous = count;
        let letters = if stalled {
            counter.count_files(&dead_letters, "dead_letters.json")
        } else {
            0
        };
        if letters > 0 && count + letters >= target {
            bail!(
                "{letters} of {target} records went to the dead letters instead of {}; \
                 their reasons are in {}",
                log_dir.display(),
                dead_letters.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!(
        "only {} of {target} records reached {} within {timeout:?}",
        counter.count(log_dir),
        log_dir.display()
    )
}

/// Waits until the logs under `log_dir` hold `target` lines or their count
/// has not grown for `stall`; returns the count reached. For the Python
/// baseline, whose design (the seed's: a `>` on the last stamp seen) can
/// skip a change that shares its stamp with one already read: its loss is
/// a finding to report, not a reason to throw the whole run away.
pub fn wait_for_lines_or_stall(
    log_dir: &Path,
    target: usize,
    stall: Duration,
    timeout: Duration,
) -> Result<usize> {
    let mut counter = LineCounter::default();
    let deadline = Instant::now() + timeout;
    let (mut previous, mut grew_at) = (0, Instant::now());
    while Instant::now() < deadline {
        let count = counter.count(log_dir);
        if count >= target {
            return Ok(count);
        }
        if count != previous {
            (previous, grew_at) = (count, Instant::now());
        } else if count > 0 && grew_at.elapsed() >= stall {
            return Ok(count);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "only {} of {target} records reached {} within {timeout:?}",
        counter.count(log_dir),
        log_dir.display()
    )
}

/// Whether a line is a change made during the run: not a row the binlog
/// producer's snapshot read (operation "r" in `operation_field`).
pub fn is_live_change(line: &LogLine, operation_field: &str) -> bool {
    line.record
        .get(operation_field)
        .and_then(serde_json::Value::as_str)
        != Some("r")
}

/// Commit-to-log latencies (ms) of every line under `log_dir` stamped at or
/// after `since_us` (the changes only, see [`is_live_change`]).
pub fn latencies_ms(log_dir: &Path, operation_field: &str, since_us: i64) -> Vec<f64> {
    let mut latencies = Vec::new();
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return latencies;
    };
    for entry in entries.flatten() {
        let text =
            std::fs::read_to_string(entry.path().join("consumer_log.json")).unwrap_or_default();
        for line in text.lines() {
            if let Ok(line) = serde_json::from_str::<LogLine>(line)
                && is_live_change(&line, operation_field)
                && let Some(stamp) = line
                    .record
                    .get("last_updated")
                    .and_then(serde_json::Value::as_i64)
                && stamp >= since_us
            {
                latencies.push((line.logged_at_us - stamp) as f64 / 1000.0);
            }
        }
    }
    latencies
}

/// The `p`-th percentile (0–100) of `values`, nearest rank.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut values, 50.0), 50.0);
        assert_eq!(percentile(&mut values, 99.0), 99.0);
        assert_eq!(percentile(&mut values, 100.0), 100.0);
        assert!(percentile(&mut [], 50.0).is_nan());
    }

    #[test]
    fn line_counter_counts_only_complete_lines_incrementally() {
        let dir = tempfile::tempdir().unwrap();
        let path = pipeline::sink::log_path(dir.path(), 1);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "a\nb\nc").unwrap();
        let mut counter = LineCounter::default();
        assert_eq!(counter.count(dir.path()), 2);
        std::fs::write(&path, "a\nb\nc\nd\n").unwrap();
        assert_eq!(counter.count(dir.path()), 4);
    }

    #[test]
    fn own_process_has_a_peak_rss() {
        assert!(peak_rss_mib(std::process::id()).unwrap() > 1.0);
    }
}
