//! The `pipeline` subcommands, one file each, as library functions:
//! `main.rs` only parses the command line and calls these.

pub mod config;
pub mod consume;
pub mod plugin;
pub mod produce;
pub mod registry;
pub mod status;
pub mod up;
pub mod update;

use tokio::sync::watch;

/// A flag that turns true on Ctrl-C or SIGTERM: every long-running command
/// finishes its in-flight work and saves its position when it does.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM; Ctrl-C still works");
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = sender.send(true);
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight records (signal again to stop now)");
        let _ = sender.send(true);
        // A process still waiting for a service has nothing in flight; a
        // second signal must not have to wait for that service.
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::warn!("second signal: stopping now");
        std::process::exit(130);
    });
    crate::retry::stop_waiting_on(&receiver);
    receiver
}
