//! Starting, watching and stopping the pipeline's processes. `pipeline up`'s
//! children, the bench's runs and the tests' deployments all go through
//! here, so they start, stop and clean up the same way.
//!
//! The rule that makes a stop clean: a process is asked first (SIGTERM: it
//! finishes its in-flight records and saves its position), killed (SIGKILL)
//! only once its deadline has passed, and always reaped, so no process
//! outlives the code that started it (a dropped [`Processes`] stops its own).

mod isolated;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub use isolated::IsolatedDeployment;

/// How often a wait looks at a process again.
const POLL: Duration = Duration::from_millis(20);

/// One running child process, its output appended to a log file.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

/// How a stopped process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It exited on its own (after the signal, or before).
    Exited(ExitStatus),
    /// It was still running at its deadline and was killed.
    Killed,
}

impl Process {
    /// Starts `command` as `name`, its stdin closed and its stdout and stderr
    /// appended to `log`.
    pub fn start(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|error| Error::io(log, error))?;
        let stderr = file.try_clone().map_err(|error| Error::io(log, error))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .map_err(|error| Error::io(format!("starting {name}"), error))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Where its output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// How it exited, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` (`libc::SIGTERM`, `libc::SIGKILL`, …).
    pub fn signal(&self, signal: i32) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling a child we spawned and have not reaped yet
            // (a reaped pid is never signalled: `wait_or_kill` consumes it).
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Asks it to finish (SIGTERM).
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Waits up to `timeout` for it to exit on its own; `None` if it has not.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.wait_until(Instant::now() + timeout)
    }

    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits up to `timeout` for it to exit (it was signalled already), then
    /// kills it. Blocking: async callers run it with `spawn_blocking`.
    pub fn wait_or_kill(mut self, timeout: Duration) -> Stopped {
        self.stop_by(Instant::now() + timeout)
    }

    fn stop_by(&mut self, deadline: Instant) -> Stopped {
        if let Some(status) = self.wait_until(deadline) {
            return Stopped::Exited(status);
        }
        tracing::warn!(child = self.name, "did not stop in time; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
        Stopped::Killed
    }

    /// SIGTERM, then SIGKILL after `timeout`.
    pub fn stop(self, timeout: Duration) -> Stopped {
        self.terminate();
        self.wait_or_kill(timeout)
    }
}

/// The processes of one deployment, by name. Dropping it stops them all.
#[derive(Debug, Default)]
pub struct Processes {
    list: Vec<Process>,
}

impl Processes {
    /// How long a stop waits for the processes to finish before killing them.
    pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

    /// Starts `command` as `name` (see [`Process::start`]).
    pub fn start(&mut self, name: &str, command: Command, log: &Path) -> Result<()> {
        self.list.push(Process::start(name, command, log)?);
        Ok(())
    }

    /// Adds a process started elsewhere.
    pub fn push(&mut self, process: Process) {
        self.list.push(process);
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Process> {
        self.list.iter_mut().find(|process| process.name == name)
    }

    /// Takes the named process out (to stop or wait for it alone).
    pub fn remove(&mut self, name: &str) -> Option<Process> {
        let index = self.list.iter().position(|process| process.name == name)?;
        Some(self.list.remove(index))
    }

    /// Each process's name and pid.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.list
            .iter()
            .map(|process| (process.name.clone(), process.id()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Stops them all: SIGTERM to each at once, then each is killed if it
    /// is still running `timeout` after the signal.
    pub fn stop_all(&mut self, timeout: Duration) {
        for process in &self.list {
            process.terminate();
        }
        let deadline = Instant::now() + timeout;
        for mut process in self.list.drain(..) {
            process.stop_by(deadline);
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop_all(Self::STOP_TIMEOUT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_process_that_honours_sigterm_exits_and_one_that_ignores_it_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let polite = Process::start("polite", sh("sleep 30"), &dir.path().join("p.log")).unwrap();
        assert!(matches!(
            polite.stop(Duration::from_secs(10)),
            Stopped::Exited(_)
        ));
        let stubborn = Process::start(
            "stubborn",
            sh("trap '' TERM; echo ready; while true; do sleep 1; done"),
            &dir.path().join("s.log"),
        )
        .unwrap();
        let log = stubborn.log().to_path_buf();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&log).unwrap_or_default().is_empty()
            && Instant::now() < deadline
        {
            std::thread::sleep(POLL);
        }
        assert_eq!(stubborn.stop(Duration::from_millis(300)), Stopped::Killed);
    }

    #[test]
    fn output_is_appended_and_exits_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("out.log");
        let mut processes = Processes::default();
        processes.start("a", sh("echo one"), &log).unwrap();
        let status = processes
            .get_mut("a")
            .unwrap()
            .wait_for_exit(Duration::from_secs(10));
        assert!(status.is_some_and(|status| status.success()));
        processes.remove("a").unwrap();
        processes.start("b", sh("echo two"), &log).unwrap();
        processes
            .get_mut("b")
            .unwrap()
            .wait_for_exit(Duration::from_secs(10));
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        assert_eq!(processes.pids().len(), 1);
        processes.stop_all(Duration::from_secs(1));
        assert!(processes.is_empty());
    }
}
