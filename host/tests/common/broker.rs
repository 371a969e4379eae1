//! The broker the tests run against, and restarting it in the middle of a
//! test.
//!
//! The rule that keeps a restart from touching anyone else's broker: only
//! the process that owns the listening socket on the test broker's port
//! (found through `/proc/net/tcp*` and the owners' `/proc/<pid>/fd`) is
//! stopped, and it is started again exactly as it was (its own command
//! line, environment, working directory and output file), so it reopens
//! the same storage. Other brokers on the machine are never looked at.
//! The broker is Apache Kafka (a JVM running `kafka.Kafka`, as
//! `scripts/services.sh` starts it) or nisshi.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::wait_until;

/// The broker every test talks to unless told otherwise: the shared one
/// `scripts/services.sh` starts.
pub const DEFAULT_BROKER: &str = "127.0.0.1:9092";

/// The environment variable that points every test at another broker,
/// e.g. `PIPELINE_TEST_BROKER=127.0.0.1:19130` (a nisshi on another storage
/// engine): `just test-faults-on 127.0.0.1:19130` runs the fault suite
/// against it, its broker-restart test restarting that broker only.
pub const BROKER_VARIABLE: &str = "PIPELINE_TEST_BROKER";

/// `host:port` of the tests' broker: `$PIPELINE_TEST_BROKER`, else
/// [`DEFAULT_BROKER`].
pub fn broker() -> String {
    std::env::var(BROKER_VARIABLE)
        .ok()
        .map(|address| address.trim().to_owned())
        .filter(|address| !address.is_empty())
        .unwrap_or_else(|| DEFAULT_BROKER.to_owned())
}

/// The port of [`broker`].
pub fn broker_port() -> u16 {
    let address = broker();
    address
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("${BROKER_VARIABLE} must be host:port, not {address:?}"))
}

/// The inodes of the sockets listening on `port` in a `/proc/net/tcp` or
/// `/proc/net/tcp6` table (any local address).
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    /// `st` of a socket in the LISTEN state.
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when
            // retrnsmt uid timeout inode ...
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            let listening = *fields.get(3)? == LISTEN;
            (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                .then(|| fields.get(9)?.parse().ok())?
        })
        .filter(|&inode| inode != 0)
        .collect()
}

/// The pid of the process holding the socket that listens on `port`, if
/// this user can see it.
pub fn listener_pid(port: u16) -> Option<u32> {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let fds = std::fs::read_dir(entry.path().join("fd")).ok()?;
            fds.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .any(|target| wanted.iter().any(|socket| target == Path::new(socket)))
                .then_some(pid)
        })
}

/// How a running process was started: enough to start it again.
#[derive(Debug)]
pub struct Launch {
    /// The binary it runs (`/proc/<pid>/exe`), so a restart does not depend
    /// on a `PATH` that found it then.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// The regular file its standard output went to, if any.
    pub output: Option<PathBuf>,
}

/// NUL-separated strings, as `/proc/<pid>/cmdline` and `environ` hold them.
fn nul_separated(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&byte| byte == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

impl Launch {
    /// Reads `pid`'s command line, environment, working directory and
    /// standard output from `/proc`.
    pub fn of(pid: u32) -> std::io::Result<Self> {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let args = nul_separated(&std::fs::read(proc.join("cmdline"))?);
        let env = nul_separated(&std::fs::read(proc.join("environ"))?)
            .into_iter()
            .filter_map(|pair| {
                pair.split_once('=')
                    .map(|(key, value)| (key.to_owned(), value.to_owned()))
            })
            .collect();
        let cwd = std::fs::read_link(proc.join("cwd"))?;
        let program = std::fs::read_link(proc.join("exe"))
            .ok()
            .filter(|exe| exe.is_file())
            .or_else(|| args.first().map(PathBuf::from))
            .unwrap_or_default();
        let output = std::fs::read_link(proc.join("fd/1"))
            .ok()
            .filter(|path| path.is_file());
        Ok(Self {
            program,
            args,
            env,
            cwd,
            output,
        })
    }

    /// Which broker this launch runs: `Some("kafka")` for a JVM whose main
    /// class is `kafka.Kafka`, `Some("nisshi")`, or `None` for anything else.
    pub fn broker_kind(&self) -> Option<&'static str> {
        if self.name() == "nisshi" {
            Some("nisshi")
        } else if self.args.iter().any(|arg| arg == "kafka.Kafka") {
            Some("kafka")
        } else {
            None
        }
    }

    /// The program's file name as it was started (`nisshi`).
    pub fn name(&self) -> &str {
        self.args
            .first()
            .and_then(|program| Path::new(program).file_name())
            .and_then(|name| name.to_str())
            .unwrap_or_default()
    }
}

/// Stops the broker listening on `port` (SIGTERM: Kafka's controlled
/// shutdown) and starts it again as it was started, detached (it outlives
/// the test, as a service does); waits until it listens again. Returns the
/// new pid. Panics when the process on that port is neither Kafka nor
/// nisshi, or when its working directory is gone (its storage could not be
/// reopened).
pub fn restart_broker_on(port: u16) -> u32 {
    let pid = listener_pid(port).unwrap_or_else(|| {
        panic!("no process of this user listens on 127.0.0.1:{port} (is the broker running?)")
    });
    let launch = Launch::of(pid).unwrap();
    let kind = launch.broker_kind().unwrap_or_else(|| {
        panic!(
            "the process on port {port} (pid {pid}) is neither Kafka nor nisshi: {:?}",
            launch.args
        )
    });
    assert!(
        launch.cwd.is_dir(),
        "the broker's working directory {} is gone, so its storage could not be \
         reopened after a restart; run scripts/services.sh, which replaces such a broker",
        launch.cwd.display()
    );
    // SAFETY: a plain signal to a pid read just above.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let address = ("127.0.0.1", port);
    wait_until(Duration::from_secs(90), "the broker to stop", || {
        std::net::TcpStream::connect(address).is_err()
    });
    std::thread::sleep(Duration::from_secs(3));
    let output = launch
        .output
        .as_deref()
        .unwrap_or_else(|| Path::new("/dev/null"));
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(output)
        .unwrap();
    // setsid -f: the broker outlives this test process, as before.
    let setsid = ["/usr/bin/setsid", "/bin/setsid"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("setsid");
    let status = std::process::Command::new(setsid)
        .arg("-f")
        .arg(&launch.program)
        .args(launch.args.iter().skip(1))
        .env_clear()
        .envs(launch.env.iter().map(|(key, value)| (key, value)))
        .current_dir(&launch.cwd)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    assert!(status.success(), "restarting the broker: {:?}", launch.args);
    // Kafka loads every partition's log before it listens again: with the
    // thousands of partitions a suite's topics leave, that took 94 s on a
    // loaded 2-core machine (5 s when the broker is new).
    wait_until(Duration::from_secs(300), "the broker to come back", || {
        std::net::TcpStream::connect(address).is_ok()
    });
    let new_pid = listener_pid(port).expect("the restarted broker's pid");
    // scripts/services.sh's pid file (`just stop-services`) follows it.
    let pid_file = launch.cwd.join(format!("run/{kind}.pid"));
    if std::fs::read_to_string(&pid_file).is_ok_and(|saved| saved.trim() == pid.to_string()) {
        let _ = std::fs::write(&pid_file, format!("{new_pid}\n"));
    }
    new_pid
}
