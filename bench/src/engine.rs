//! The broker a run measures and its storage engine, recorded in the report.
//!
//! With `--broker-engine URL` the bench starts a nisshi of its own on a free
//! port (19092-19099, or `BENCH_BROKER_PORT`; quiet logging) with that engine (`memory://`, `sqlite://bench.db?mode=direct`,
//! `postgres://postgres@127.0.0.1:5432/...`), points every client at it and
//! stops it at the end; a relative SQLite path lands in the run's working
//! directory. Without it, the configured broker is used and its engine is
//! read from the command line of the local process listening on that port:
//! Apache Kafka (a JVM running `kafka.Kafka`, its release from the class
//! path) or nisshi (its storage engine).
//! Either way only that broker process counts as the broker in the CPU
//! figures (other nisshi instances on the machine are not this run's).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use pipeline::config::Config;

/// The broker of this run.
pub struct Broker {
    /// The storage engine URL, or a description when it cannot be known.
    pub engine: String,
    own: Option<Child>,
}

impl Broker {
    /// Starts a nisshi with `engine` (and points `config` at it), or finds
    /// the configured one.
    pub fn start_or_find(config: &mut Config, engine: Option<&str>, dir: &Path) -> Result<Self> {
        let Some(engine) = engine else {
            let port = config
                .bootstrap_servers()
                .split(',')
                .next()
                .and_then(|server| server.rsplit(':').next())
                .unwrap_or("9092")
                .to_owned();
            let (pid, engine) = local_broker(&port).map_or_else(
                || {
                    (
                        None,
                        format!("not a local broker ({})", config.bootstrap_servers()),
                    )
                },
                |(pid, engine)| (Some(pid), engine),
            );
            crate::cpu::set_broker_pid(pid);
            return Ok(Self { engine, own: None });
        };
        let port = free_port()?;
        let listener = format!("tcp://127.0.0.1:{port}");
        let dir = dir.join("broker");
        std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
        let log = std::fs::File::create(dir.join("nisshi.log"))?;
        let child = Command::new("nisshi")
            .args(["broker", "--storage-engine", engine])
            .args(["--listener-url", &listener])
            .args(["--advertised-listener-url", &listener])
            .args(["--group-initial-rebalance-delay", "1s"])
            // At info level a `memory://` nisshi logs about 100 MB/s under
            // load: the disk and the CPU it costs would be measured too.
            .env("RUST_LOG", "warn")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting nisshi (is it on PATH? scripts/install.sh installs it)")?;
        crate::cpu::set_broker_pid(Some(child.id()));
        let mut broker = Self {
            engine: engine.to_owned(),
            own: Some(child),
        };
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "the bench's nisshi ({engine}) did not listen on {address}; see {}",
                    dir.join("nisshi.log").display()
                );
            }
            if let Some(child) = &mut broker.own
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "the bench's nisshi ({engine}) exited ({status}); see {}",
                    dir.join("nisshi.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        config
            .kafka
            .insert("bootstrap.servers".into(), format!("127.0.0.1:{port}"));
        tracing::info!(engine, port, "bench broker started");
        Ok(broker)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.own {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The bench's brokers listen on the first free port of this range (kept
/// apart from the services' 9092 and from the ports tests pick).
const PORTS: std::ops::RangeInclusive<u16> = 19092..=19099;

fn free_port() -> Result<u16> {
    // A session sharing the machine gives its own port.
    if let Some(port) = std::env::var("BENCH_BROKER_PORT")
        .ok()
        .and_then(|port| port.trim().parse().ok())
    {
        return Ok(port);
    }
    PORTS
        .clone()
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .with_context(|| format!("no free port for the bench's broker in {PORTS:?}"))
}

/// The pid and description of the local broker listening on `port`:
/// `apache-kafka <release>` or nisshi's storage engine URL.
fn local_broker(port: &str) -> Option<(u32, String)> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&byte| byte == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        if let Some(engine) = nisshi_engine(&args, port).or_else(|| kafka_engine(pid, &args, port))
        {
            return Some((pid, engine));
        }
    }
    None
}

/// `apache-kafka <release>` for a JVM running `kafka.Kafka` whose
/// configuration (the last argument) listens on `port`.
fn kafka_engine(pid: u32, args: &[String], port: &str) -> Option<String> {
    let main = args.iter().position(|arg| arg == "kafka.Kafka")?;
    let properties = std::fs::read_to_string(args.get(main + 1)?).ok()?;
    let listens = properties
        .lines()
        .find_map(|line| line.strip_prefix("listeners="))
        .is_some_and(|listeners| {
            listeners
                .split(',')
                .any(|l| l.ends_with(&format!(":{port}")))
        });
    if !listens {
        return None;
    }
    // The release is in the class path's kafka-clients jar name.
    let class_path = args
        .iter()
        .position(|arg| arg == "-cp")
        .and_then(|index| args.get(index + 1))?;
    let folder = Path::new(class_path.trim_end_matches('*'));
    let release = std::fs::read_dir(folder)
        .ok()?
        .flatten()
        .find_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            Some(
                name.strip_prefix("kafka-clients-")?
                    .strip_suffix(".jar")?
                    .to_owned(),
            )
        })
        .unwrap_or_else(|| format!("(pid {pid})"));
    Some(format!("apache-kafka {release}"))
}

/// The engine of a nisshi command line whose listener is on `port`.
fn nisshi_engine(args: &[String], port: &str) -> Option<String> {
    let program = Path::new(args.first()?).file_name()?.to_str()?;
    if program != "nisshi" {
        return None;
    }
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|index| args.get(index + 1))
            .cloned()
            .or_else(|| {
                args.iter()
                    .find_map(|arg| arg.strip_prefix(&format!("{flag}=")).map(str::to_owned))
            })
    };
    let listener = value("--listener-url").unwrap_or_else(|| "tcp://[::]:9092".into());
    if !listener.ends_with(&format!(":{port}")) {
        return None;
    }
    Some(value("--storage-engine").unwrap_or_else(|| "memory://nisshi/ (nisshi's default)".into()))
}

#[cfg(test)]
mod tests {
    use super::nisshi_engine;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn the_engine_is_read_from_the_nisshi_on_the_port() {
        let line = "/root/.cargo/bin/nisshi broker --storage-engine sqlite://run/nisshi.db \
                    --listener-url tcp://127.0.0.1:9092";
        assert_eq!(
            nisshi_engine(&args(line), "9092").as_deref(),
            Some("sqlite://run/nisshi.db")
        );
        assert_eq!(nisshi_engine(&args(line), "19092"), None);
        assert_eq!(nisshi_engine(&args("mariadbd --port 9092"), "9092"), None);
        assert!(
            nisshi_engine(&args("nisshi broker"), "9092")
                .is_some_and(|engine| engine.starts_with("memory://"))
        );
    }
}
