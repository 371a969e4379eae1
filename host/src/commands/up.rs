//! `pipeline up`: the whole pipeline as a tree of child processes (the
//! registry if none is reachable, the producer, the members, the updater),
//! with a live status and an orderly shutdown.
//!
//! Children are separate processes, as they would be in production, so one
//! crashing (or being killed in a fault test) does not take the others down;
//! a child that dies is restarted with backoff unless it failed on its
//! configuration (exit code 2), which a restart cannot fix. On Ctrl-C the
//! children are stopped in data-flow order — updater, producer, members,
//! registry — each finishing its in-flight records and saving its position.

mod children;
mod render;

use std::io::IsTerminal;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use clap::Args;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::process::Processes;
use crate::progress::{progress_dir, read_all};

pub use children::{Child, ChildSpec};

/// `pipeline up`'s command line.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Run no updater.
    #[arg(long)]
    no_updates: bool,
    /// Updater: updates per second.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Updater: updates to make (default: until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
}

/// What `pipeline up` runs.
#[derive(Debug, Clone)]
pub struct Up {
    /// Global arguments (`--config`, `--set`, …) passed on to every child.
    pub global_args: Vec<String>,
    /// Arguments for the `update` child; `None` runs no updater.
    pub update_args: Option<Vec<String>>,
}

impl Up {
    /// `up` as asked on the command line; `global_args` go to every child.
    pub fn new(global_args: Vec<String>, args: &UpArgs) -> Self {
        let update_args = (!args.no_updates).then(|| {
            let mut update = vec!["--rate".to_owned(), args.rate.to_string()];
            if let Some(count) = args.count {
                update.extend(["--count".to_owned(), count.to_string()]);
            }
            update
        });
        Self {
            global_args,
            update_args,
        }
    }
}

/// Runs the pipeline until Ctrl-C/SIGTERM.
pub async fn run(config: &Config, command: &Up) -> Result<()> {
    let logs = config.run.dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|error| Error::io(&logs, error))?;
    let progress = progress_dir(&config.run.dir);
    let _ = std::fs::remove_dir_all(&progress);

    let mut specs = Vec::new();
    if let Some(address) = local_registry_address(config) {
        if TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_err() {
            specs.push(ChildSpec::new(
                "registry",
                &command.global_args,
                &["registry"],
            ));
        } else {
            tracing::info!(
                url = config.schema_registry.url,
                "using the schema registry already running"
            );
        }
    }
    specs.push(ChildSpec::new(
        "producer",
        &command.global_args,
        &["produce"],
    ));
    for member in 1..=config.consumer.members {
        let member = member.to_string();
        specs.push(ChildSpec::new(
            &format!("consumer_{member}"),
            &command.global_args,
            &["consume", "--member", &member],
        ));
    }
    if let Some(update_args) = &command.update_args {
        let mut args = vec!["update".to_owned()];
        args.extend(update_args.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        specs.push(ChildSpec::new("updater", &command.global_args, &args).run_once());
    }

    let mut children = Vec::new();
    for spec in specs {
        let is_registry = spec.name == "registry";
        children.push(Child::start(spec, &logs)?);
        if is_registry {
            wait_for_registry(config).await;
        }
    }
    tracing::info!(logs = %logs.display(), "pipeline up; Ctrl-C stops it cleanly");

    let mut shutdown = super::shutdown_signal();
    let interactive = std::io::stdout().is_terminal();
    let mut last_plain_line = Instant::now();
    let failure = loop {
        tokio::select! {
            _ = shutdown.changed() => break None,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let mut failure = None;
        for child in &mut children {
            if let Err(error) = child.supervise() {
                failure = Some(error);
            }
        }
        if failure.is_some() {
            break failure;
        }
        let snapshots = read_all(&progress);
        if interactive {
            render::table(&snapshots, &children);
        } else if last_plain_line.elapsed() >= Duration::from_secs(5) {
            render::plain_lines(&snapshots);
            last_plain_line = Instant::now();
        }
    };
    stop_in_order(&mut children).await;
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Updater first (no new changes), then the producer (its last records are
/// acknowledged and its position saved), then the members (their last
/// batches are written and committed), the registry last.
async fn stop_in_order(children: &mut [Child]) {
    for stage in ["updater", "producer", "consumer", "registry"] {
        let mut stopping = Processes::default();
        for child in children
            .iter_mut()
            .filter(|child| child.spec.name.starts_with(stage))
        {
            if let Some(process) = child.take_process() {
                stopping.push(process);
            }
        }
        let stopped = tokio::task::spawn_blocking(move || {
            stopping.stop_all(Duration::from_secs(30));
        });
        if let Err(error) = stopped.await {
            tracing::warn!(%error, stage, "stopping the children failed");
        }
    }
}

/// The address of a registry on this machine that `up` may start itself.
pub fn local_registry_address(config: &Config) -> Option<SocketAddr> {
    let url = config.schema_registry.url.strip_prefix("http://")?;
    let host_port = url.split('/').next()?;
    let address = host_port.to_socket_addrs().ok()?.next()?;
    address.ip().is_loopback().then_some(address)
}

async fn wait_for_registry(config: &Config) {
    let Some(address) = local_registry_address(config) else {
        return;
    };
    for _ in 0..100 {
        if TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!(%address, "the registry has not started listening after 10 s");
}
