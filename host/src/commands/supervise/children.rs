//! Child processes of `pipeline up`.

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::retry::Backoff;

/// Exit code of a command that failed on its configuration or input: a
/// restart cannot help.
pub const EXIT_BAD_INPUT: i32 = 2;

/// How to start one child: `pipeline <global args> <args>`.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    pub name: String,
    args: Vec<String>,
    /// Finishing with exit code 0 is the job done (the updater with a count).
    once: bool,
}

impl ChildSpec {
    pub fn new(name: &str, global_args: &[String], args: &[&str]) -> Self {
        let mut all = global_args.to_vec();
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        Self {
            name: name.to_owned(),
            args: all,
            once: false,
        }
    }

    pub fn run_once(mut self) -> Self {
        self.once = true;
        self
    }
}

/// A running (or finished) child.
pub struct Child {
    pub spec: ChildSpec,
    process: Option<std::process::Child>,
    log_file: std::path::PathBuf,
    backoff: Backoff,
    restart_at: Option<Instant>,
    pub restarts: u32,
    pub finished: bool,
}

impl Child {
    pub fn start(spec: ChildSpec, log_dir: &Path) -> Result<Self> {
        let mut child = Self {
            log_file: log_dir.join(format!("{}.log", spec.name)),
            spec,
            process: None,
            backoff: Backoff::default(),
            restart_at: None,
            restarts: 0,
            finished: false,
        };
        child.spawn()?;
        Ok(child)
    }

    fn spawn(&mut self) -> Result<()> {
        let exe =
            std::env::current_exe().map_err(|error| Error::io("current executable", error))?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .map_err(|error| Error::io(&self.log_file, error))?;
        let log_err = log
            .try_clone()
            .map_err(|error| Error::io(&self.log_file, error))?;
        let mut command = Command::new(exe);
        command
            .args(&self.spec.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // Its own process group: Ctrl-C in the terminal reaches only `up`,
        // which then stops the children in order.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let process = command
            .spawn()
            .map_err(|error| Error::io("spawning a child process", error))?;
        tracing::info!(child = self.spec.name, pid = process.id(), log = %self.log_file.display(), "started");
        self.process = Some(process);
        Ok(())
    }

    /// Checks on the child: restarts it (with backoff) if it died. Fails if
    /// it exited on bad input.
    pub fn supervise(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        if let Some(at) = self.restart_at {
            if Instant::now() >= at {
                self.restart_at = None;
                self.restarts += 1;
                self.spawn()?;
            }
            return Ok(());
        }
        let Some(process) = self.process.as_mut() else {
            return Ok(());
        };
        let Ok(Some(status)) = process.try_wait() else {
            return Ok(());
        };
        self.process = None;
        match status.code() {
            Some(0) if self.spec.once => {
                self.finished = true;
                tracing::info!(child = self.spec.name, "finished");
                Ok(())
            }
            Some(EXIT_BAD_INPUT) => Err(Error::config(
                &self.spec.name,
                format!("exited on bad input; see {}", self.log_file.display()),
            )),
            _ => {
                let delay = self.backoff.next_delay();
                tracing::warn!(child = self.spec.name, %status, restart_in_ms = delay.as_millis() as u64, log = %self.log_file.display(), "child died; restarting");
                self.restart_at = Some(Instant::now() + delay);
                Ok(())
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Asks the child to finish (SIGTERM).
    pub fn terminate(&self) {
        if let Some(process) = &self.process
            && let Ok(pid) = i32::try_from(process.id())
        {
            // SAFETY: sending a signal to a pid we spawned and still own.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }

    /// Waits up to `timeout` for the child to exit, then kills it.
    pub async fn wait_or_kill(&mut self, timeout: Duration) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = process.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!(child = self.spec.name, "did not stop in time; killing it");
        let _ = process.kill();
        let _ = process.wait();
    }
}
