//! A MariaDB of the test's own, which the test may kill and restart (the
//! shared servers on 3306 and 3307 must never be): its own port, its own
//! data directory under `run/`, a row-based binary log, started like
//! `scripts/services.sh` starts the private one on 3307.
//!
//! The rule that keeps it from touching anyone else's server: it only ever
//! signals the process it started, or the one whose pid file lies in its
//! own data directory's place under `run/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::workspace_root;

const MARIADBD: &str = "/usr/sbin/mariadbd";

/// A `mariadbd` this test process started.
pub struct PrivateServer {
    pub port: u16,
    run_dir: PathBuf,
    child: Option<Child>,
    /// Server options beyond the usual ones (install and every start).
    options: Vec<String>,
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

impl PrivateServer {
    /// Starts the server on `port`, data in `run/mariadb-<port>` (created
    /// with `mariadb-install-db` on first use). `None`, with the reason
    /// printed, when MariaDB's binaries are not installed.
    pub fn start(port: u16) -> Option<Self> {
        Self::start_with(port, &[])
    }

    /// [`PrivateServer::start`] with more server options, e.g.
    /// `--lower-case-table-names=1` (given at install and at every start).
    pub fn start_with(port: u16, options: &[&str]) -> Option<Self> {
        let installed = std::path::Path::new(MARIADBD).exists()
            && Command::new("mariadb-install-db")
                .arg("--help")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok();
        if !installed {
            eprintln!("skipped: no {MARIADBD} or mariadb-install-db to run a private server");
            return None;
        }
        let run_dir = workspace_root().join("run");
        std::fs::create_dir_all(&run_dir).unwrap();
        let mut server = Self {
            port,
            run_dir,
            child: None,
            options: options.iter().map(|option| (*option).to_owned()).collect(),
        };
        server.stop_leftover();
        server.install();
        server.start_again();
        Some(server)
    }

    /// `mysql://root@127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.run_dir.join(format!("mariadb-{}", self.port))
    }

    fn pid_file(&self) -> PathBuf {
        self.run_dir.join(format!("mariadb-{}.pid", self.port))
    }

    fn log_file(&self) -> PathBuf {
        self.run_dir.join(format!("mariadb-{}.log", self.port))
    }

    fn user() -> String {
        let output = Command::new("id").arg("-un").output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// A server left running on this port by an earlier run of a test
    /// that did not finish: stopped through the pid file in `run/`.
    fn stop_leftover(&self) {
        if !port_open(self.port) {
            return;
        }
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "127.0.0.1:{} is taken by something without a pid file at {}: \
                     this test's private MariaDB needs the port",
                    self.port,
                    self.pid_file().display()
                )
            });
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        assert!(
            wait_for(Duration::from_secs(60), || !port_open(self.port)),
            "the leftover server (pid {pid}) on {} did not stop",
            self.port
        );
    }

    fn install(&self) {
        if self.data_dir().join("mysql").is_dir() {
            return;
        }
        let log = self
            .run_dir
            .join(format!("mariadb-{}-install.log", self.port));
        let status = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--user={}", Self::user()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(&self.options)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mariadb-install-db failed; see {}",
            log.display()
        );
    }

    /// Starts `mariadbd` (after a stop or a kill) and waits until it listens.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the private server is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .unwrap();
        let data = self.data_dir();
        let child = Command::new(MARIADBD)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={}", Self::user()))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg(format!(
                "--socket={}",
                self.run_dir
                    .join(format!("mariadb-{}.sock", self.port))
                    .display()
            ))
            .arg(format!("--pid-file={}", self.pid_file().display()))
            .arg(format!("--log-bin={}", data.join("binlog").display()))
            .arg("--binlog-format=ROW")
            .arg(format!("--server-id={}", self.port))
            .arg("--innodb-buffer-pool-size=64M")
            .args(&self.options)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        assert!(
            wait_for(Duration::from_secs(60), || port_open(self.port)),
            "the private MariaDB did not listen on {} within 60 s; see {}",
            self.port,
            self.log_file().display()
        );
    }

    /// Sends `signal` (SIGTERM: a clean shutdown; SIGKILL: a crash) and
    /// waits for the server to exit.
    pub fn stop(&mut self, signal: i32) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the private MariaDB did not exit within 60 s of signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        wait_for(Duration::from_secs(10), || !port_open(self.port));
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }
}
