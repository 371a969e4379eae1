//! The MariaDB of the side-by-side runs: the bench's own server, so both CDC
//! processes read a binary log that holds the bench's changes only (the
//! shared servers' logs also carry every other test's writes) and a million
//! rows never load a server someone else is testing against.
//!
//! The rule that keeps it from touching anyone else's server: it only ever
//! signals the process it started, or the one whose pid file lies in its own
//! data directory's place (a leftover of an earlier bench run).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const MARIADBD: &str = "/usr/sbin/mariadbd";

/// The port of the bench's own server (`BENCH_PEERS_MYSQL_PORT` overrides).
const DEFAULT_PORT: u16 = 3330;

/// A `mariadbd` the bench started, stopped when dropped.
pub struct OwnServer {
    pub port: u16,
    child: Child,
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl OwnServer {
    /// Starts the server, data under `root` (installed on first use), with a
    /// row-based binary log and a buffer pool that holds a million rows.
    pub fn start(root: &Path) -> Result<Self> {
        let port = std::env::var("BENCH_PEERS_MYSQL_PORT")
            .ok()
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or(DEFAULT_PORT);
        if !Path::new(MARIADBD).exists() {
            bail!(
                "{MARIADBD} is missing (apt-get install mariadb-server), or give --peers-mysql-url"
            );
        }
        std::fs::create_dir_all(root).with_context(|| root.display().to_string())?;
        let root = root.canonicalize()?;
        let data = root.join("data");
        let pid_file = root.join("mariadb.pid");
        stop_leftover(port, &pid_file)?;
        if !data.join("mysql").is_dir() {
            install(&root, &data)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("mariadb.log"))?;
        let child = Command::new(MARIADBD)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={}", user()))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", root.join("mariadb.sock").display()))
            .arg(format!("--pid-file={}", pid_file.display()))
            .arg(format!("--log-bin={}", data.join("binlog").display()))
            .arg("--binlog-format=ROW")
            .arg(format!("--server-id={port}"))
            .arg("--innodb-buffer-pool-size=512M")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting the bench's MariaDB")?;
        let mut server = Self { port, child };
        if !wait_for(Duration::from_secs(60), || port_open(port)) {
            server.stop();
            bail!(
                "the bench's MariaDB did not listen on {port} within 60 s; see {}",
                root.join("mariadb.log").display()
            );
        }
        tracing::info!(port, "the bench's own MariaDB started");
        Ok(server)
    }

    /// `mysql://root@127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        // SAFETY: kill only signals the child this bench started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|_| "root".into())
}

fn install(root: &Path, data: &Path) -> Result<()> {
    let log: PathBuf = root.join("install.log");
    let status = Command::new("mariadb-install-db")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--user={}", user()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::from(std::fs::File::create(
            root.join("install.err"),
        )?))
        .status()
        .context("mariadb-install-db (apt-get install mariadb-server)")?;
    if !status.success() {
        bail!("mariadb-install-db failed; see {}", log.display());
    }
    Ok(())
}

/// A server of an earlier bench run still on the port: stopped through its
/// pid file; anything else on the port is someone else's.
fn stop_leftover(port: u16, pid_file: &Path) -> Result<()> {
    if !port_open(port) {
        return Ok(());
    }
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .with_context(|| {
            format!(
                "127.0.0.1:{port} is taken by something without the pid file {}: \
                 set BENCH_PEERS_MYSQL_PORT to a free port",
                pid_file.display()
            )
        })?;
    // SAFETY: the pid comes from this bench's own pid file.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    if !wait_for(Duration::from_secs(60), || !port_open(port)) {
        bail!("the leftover bench MariaDB (pid {pid}) on {port} did not stop");
    }
    Ok(())
}
