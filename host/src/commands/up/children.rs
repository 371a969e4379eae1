//! Child processes of `pipeline up`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::process::Process;
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
    process: Option<Process>,
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
        let mut command = Command::new(exe);
        command.args(&self.spec.args);
        // Its own process group: Ctrl-C in the terminal reaches only `up`,
        // which then stops the children in order.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let process = Process::start(&self.spec.name, command, &self.log_file)?;
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
        let Some(status) = process.exit_status() else {
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

    /// Takes the running process out, to be stopped (see `stop_in_order`).
    pub fn take_process(&mut self) -> Option<Process> {
        self.process.take()
    }
}
