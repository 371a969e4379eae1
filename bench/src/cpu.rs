//! Where the CPU goes during a catch-up run.
//!
//! On a two-core machine the producer, the consumers, MariaDB and the broker
//! all compete for the same CPU, so a rows/s figure alone cannot say which of
//! them sets it. The bench reads each process's CPU time (user + system from
//! `/proc/<pid>/stat`) and the machine's busy time (`/proc/stat`) when a run
//! starts and when its last row is in a log, and reports CPU milliseconds per
//! 1,000 rows for each part and how busy the machine was. A part whose
//! process is not on this machine (a remote Kafka or MySQL) or a system
//! without `/proc` simply leaves its figure out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// The one broker process this run measures (0: every local nisshi counts).
static BROKER_PID: AtomicU32 = AtomicU32::new(0);

/// Counts only `pid` as the broker (see `engine`): other nisshi instances
/// on the machine serve other work.
pub fn set_broker_pid(pid: Option<u32>) {
    BROKER_PID.store(pid.unwrap_or(0), Ordering::Relaxed);
}

fn is_counted_broker(pid: u32) -> bool {
    let only = BROKER_PID.load(Ordering::Relaxed);
    only == 0 || only == pid
}

/// The parts a run's CPU time is split into.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Part {
    Broker,
    Mysql,
    Producer,
    Consumers,
}

impl Part {
    /// The part a bench child belongs to, by the name it was started under
    /// (`producer`, `consumer_3`, `baseline_consumer_2`, ...).
    fn of_child(name: &str) -> Option<Part> {
        if name.contains("producer") {
            Some(Part::Producer)
        } else if name.contains("consumer") {
            Some(Part::Consumers)
        } else {
            None
        }
    }

    /// The part a process outside the bench belongs to, by its program name.
    fn of_program(comm: &str) -> Option<Part> {
        match comm {
            "nisshi" => Some(Part::Broker),
            "mariadbd" | "mysqld" => Some(Part::Mysql),
            _ => None,
        }
    }
}

/// Measures one run: the CPU each part used from `start` to `finish`, and
/// the broker's busiest half second in between.
pub struct Meter {
    before: Snapshot,
    broker_peak: BrokerPeak,
}

impl Meter {
    /// Starts measuring the broker's and MariaDB's processes (found by
    /// program name) and the bench's `children` (name and pid).
    pub fn start(children: &[(String, u32)]) -> Self {
        let before = Snapshot::take(children);
        let broker_peak = BrokerPeak::start(before.pids_of(Part::Broker));
        Self {
            before,
            broker_peak,
        }
    }

    /// What each part used since `start`; `children` as running now (a
    /// child started meanwhile counts from zero).
    pub fn finish(self, children: &[(String, u32)]) -> Usage {
        Usage {
            broker_peak_cores: self.broker_peak.finish(),
            ..Snapshot::take(children).since(&self.before)
        }
    }
}

/// CPU times at one moment: the machine's, and each counted process's.
#[derive(Debug)]
struct Snapshot {
    machine: Option<MachineTicks>,
    processes: HashMap<u32, (Part, u64)>,
}

/// CPU used during a run.
#[derive(Debug)]
pub struct Usage {
    /// CPU seconds of each part found on this machine.
    pub seconds: HashMap<Part, f64>,
    /// How busy the whole machine was, in percent of all its cores.
    pub machine_busy_percent: Option<f64>,
    /// The broker's busiest half second, in cores (see [`BrokerPeak`]).
    pub broker_peak_cores: Option<f64>,
}

impl Snapshot {
    fn take(children: &[(String, u32)]) -> Self {
        let mut processes = HashMap::new();
        for (pid, comm) in programs() {
            // A JVM is the broker only when it is this run's Kafka (the
            // pid `engine` found on the broker's port): a Kafka Connect
            // worker is a JVM too.
            let part = Part::of_program(&comm).or_else(|| {
                (comm == "java" && BROKER_PID.load(Ordering::Relaxed) == pid)
                    .then_some(Part::Broker)
            });
            if let (Some(part), Some(ticks)) = (part, process_ticks(pid)) {
                if part == Part::Broker && !is_counted_broker(pid) {
                    continue;
                }
                processes.insert(pid, (part, ticks));
            }
        }
        for (name, pid) in children {
            if let (Some(part), Some(ticks)) = (Part::of_child(name), process_ticks(*pid)) {
                processes.insert(*pid, (part, ticks));
            }
        }
        Self {
            machine: machine_ticks(),
            processes,
        }
    }

    fn pids_of(&self, wanted: Part) -> Vec<u32> {
        self.processes
            .iter()
            .filter(|(_, (part, _))| *part == wanted)
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// What each part used since `earlier`. A process that was not running
    /// then counts from zero (it started during the run).
    fn since(&self, earlier: &Snapshot) -> Usage {
        let per_second = ticks_per_second();
        let mut seconds = HashMap::new();
        for (pid, (part, ticks)) in &self.processes {
            let before = earlier.processes.get(pid).map_or(0, |(_, ticks)| *ticks);
            *seconds.entry(*part).or_insert(0.0) +=
                ticks.saturating_sub(before) as f64 / per_second;
        }
        let machine_busy_percent = match (&earlier.machine, &self.machine) {
            (Some(before), Some(after)) => after.busy_percent_since(before),
            _ => None,
        };
        Usage {
            seconds,
            machine_busy_percent,
            broker_peak_cores: None,
        }
    }
}

impl Usage {
    /// CPU milliseconds of `part` per 1,000 rows.
    pub fn ms_per_1k_rows(&self, part: Part, rows: usize) -> Option<f64> {
        let seconds = self.seconds.get(&part)?;
        Some(seconds * 1_000.0 * 1_000.0 / rows.max(1) as f64)
    }
}

/// Samples the broker's CPU every half second on a thread of its own, for
/// the busiest half second of a run: an average hides whether the broker
/// ever got past one core.
struct BrokerPeak {
    stop: std::sync::mpsc::Sender<()>,
    sampler: std::thread::JoinHandle<Option<f64>>,
}

impl BrokerPeak {
    const INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

    fn start(broker: Vec<u32>) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let sampler = std::thread::spawn(move || {
            let ticks = || {
                broker
                    .iter()
                    .filter_map(|pid| process_ticks(*pid))
                    .sum::<u64>()
            };
            let mut peak: Option<f64> = None;
            let (mut before, mut at) = (ticks(), std::time::Instant::now());
            while stopped.recv_timeout(Self::INTERVAL).is_err() {
                let (now, now_at) = (ticks(), std::time::Instant::now());
                let seconds = now.saturating_sub(before) as f64 / ticks_per_second();
                let cores = seconds / now_at.duration_since(at).as_secs_f64().max(1e-3);
                peak = Some(peak.map_or(cores, |peak: f64| peak.max(cores)));
                (before, at) = (now, now_at);
            }
            peak.filter(|_| !broker.is_empty())
        });
        Self { stop, sampler }
    }

    /// The broker's busiest half second, in cores (None without a local broker).
    fn finish(self) -> Option<f64> {
        let _ = self.stop.send(());
        self.sampler.join().ok().flatten()
    }
}

/// The machine's busy and total CPU ticks over all cores.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MachineTicks {
    busy: u64,
    total: u64,
}

impl MachineTicks {
    /// Parses the `cpu` line of `/proc/stat`: user nice system idle iowait
    /// irq softirq steal (guest time is already in user).
    fn parse(proc_stat: &str) -> Option<Self> {
        let line = proc_stat.lines().find(|line| line.starts_with("cpu "))?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        let total: u64 = fields.iter().sum();
        let idle = fields.get(3)? + fields.get(4)?;
        Some(Self {
            busy: total - idle,
            total,
        })
    }

    fn busy_percent_since(&self, earlier: &MachineTicks) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let busy = self.busy.checked_sub(earlier.busy)?;
        (total > 0).then(|| busy as f64 * 100.0 / total as f64)
    }
}

fn machine_ticks() -> Option<MachineTicks> {
    MachineTicks::parse(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// User + system CPU ticks of a process (all its threads).
fn process_ticks(pid: u32) -> Option<u64> {
    parse_process_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Fields 14 and 15 of `/proc/<pid>/stat`, counted after the program name,
/// which is in parentheses and may itself hold spaces or parentheses.
fn parse_process_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// Every process's pid and program name.
fn programs() -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((pid, comm.trim_end().to_owned()))
        })
        .collect()
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ticks_are_user_plus_system_after_an_awkward_name() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 9 0 5 0 0";
        assert_eq!(parse_process_ticks(stat), Some(280));
    }

    #[test]
    fn machine_busy_excludes_idle_and_iowait() {
        let before = MachineTicks::parse("cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        let after = MachineTicks::parse("cpu  40 0 20 100 20 0 0 0 0 0\n").unwrap();
        // 40 busy ticks out of 80.
        assert_eq!(after.busy_percent_since(&before), Some(50.0));
    }

    #[test]
    fn children_are_sorted_into_parts_by_name() {
        assert_eq!(Part::of_child("producer"), Some(Part::Producer));
        assert_eq!(Part::of_child("baseline_producer"), Some(Part::Producer));
        assert_eq!(Part::of_child("consumer_4"), Some(Part::Consumers));
        assert_eq!(Part::of_child("baseline_consumer_1"), Some(Part::Consumers));
        assert_eq!(Part::of_child("registry"), None);
    }

    #[test]
    fn this_process_uses_some_cpu_and_its_machine_is_busy() {
        let me = std::process::id();
        let children = [("consumer_1".to_owned(), me)];
        let meter = Meter::start(&children);
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(100) {
            std::hint::black_box(spin.elapsed());
        }
        let usage = meter.finish(&children);
        let seconds = usage.seconds.get(&Part::Consumers).copied().unwrap_or(0.0);
        assert!(seconds > 0.0, "{usage:?}");
        assert!(usage.machine_busy_percent.is_some_and(|busy| busy > 0.0));
        assert!(usage.ms_per_1k_rows(Part::Consumers, 1000).is_some());
    }

    #[test]
    fn the_broker_peak_is_a_share_of_the_machine_or_absent() {
        let peak = BrokerPeak::start(Snapshot::take(&[]).pids_of(Part::Broker));
        std::thread::sleep(BrokerPeak::INTERVAL * 2);
        let cores = std::thread::available_parallelism().map_or(64, usize::from) as f64;
        // The broker runs only where the services were started.
        if let Some(peak) = peak.finish() {
            assert!((0.0..=cores + 0.5).contains(&peak), "{peak}");
        }
    }
}
