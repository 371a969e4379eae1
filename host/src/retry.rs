//! Waiting out an unavailable dependency (MySQL, the broker, the registry)
//! with capped exponential backoff, saying what is being waited for.
//!
//! The rule: only what [`Error::disposition`] calls `Retry` is waited out;
//! everything else returns at once, and a shutdown ends any wait.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result};

/// Runs `run` until it succeeds, fails permanently or `shutdown` turns
/// true; a transient failure (a service away, a stream cut) is logged with
/// `what` and run again after a backoff. The producers' outer loop: each run
/// starts again from the saved position, so nothing is lost in between.
pub async fn until_permanent_failure(
    what: &str,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    mut run: impl AsyncFnMut(&mut tokio::sync::watch::Receiver<bool>) -> Result<()>,
) -> Result<()> {
    let mut backoff = Backoff::default();
    loop {
        match run(shutdown).await {
            Ok(()) | Err(Error::ShutDown { .. }) => return Ok(()),
            Err(error) if error.is_transient() => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "{what} interrupted; resuming from the saved position");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Backoff between attempts: 100 ms doubling to at most 5 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before the next attempt (and doubles the one after).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

impl Error {
    /// Whether waiting and trying again can help: the other side is down or
    /// busy (see [`Error::disposition`]). Bad configuration, a corrupt
    /// position file, a table of the wrong shape, a privilege missing or a
    /// record too large will not fix themselves.
    pub fn is_transient(&self) -> bool {
        self.disposition() == crate::error::Disposition::Retry
    }
}

/// The process's shutdown flag, once a command listens for it (see
/// `commands::shutdown_signal`): every wait in [`with_backoff`] ends when it
/// turns true. Process-wide because the signal is.
static SHUTDOWN: std::sync::OnceLock<tokio::sync::watch::Receiver<bool>> =
    std::sync::OnceLock::new();

/// Makes every [`with_backoff`] wait end when `shutdown` turns true (the
/// first call counts; a process has one shutdown signal).
pub fn stop_waiting_on(shutdown: &tokio::sync::watch::Receiver<bool>) {
    let _ = SHUTDOWN.set(shutdown.clone());
}

/// Resolves once shutdown is asked for; never when no signal is watched.
async fn shutdown_asked() {
    let Some(shutdown) = SHUTDOWN.get() else {
        return std::future::pending().await;
    };
    let mut shutdown = shutdown.clone();
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        // The signal's sender is gone: no shutdown can come any more.
        std::future::pending::<()>().await;
    }
}

/// Runs `attempt` until it succeeds or fails with a non-transient error,
/// logging what it waits for after each transient failure. Shutdown ends
/// the attempt under way or the wait between two with [`Error::ShutDown`]
/// (see [`stop_waiting_on`]), so a stop never waits for a service to come
/// back; nothing an attempt does here is left half-done by that (they read,
/// create topics or register schemas, each idempotent).
pub async fn with_backoff<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let shut_down = || Error::ShutDown {
        what: what.to_owned(),
    };
    let mut backoff = Backoff::default();
    let mut failures = 0u32;
    loop {
        let outcome = tokio::select! {
            outcome = attempt() => outcome,
            () = shutdown_asked() => return Err(shut_down()),
        };
        match outcome {
            Ok(value) => {
                if failures > 0 {
                    tracing::info!(what, failures, "available again");
                }
                return Ok(value);
            }
            Err(error) if error.is_transient() => {
                failures += 1;
                let delay = backoff.next_delay();
                tracing::warn!(what, %error, retry_in_ms = delay.as_millis() as u64, "waiting for {what}");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown_asked() => return Err(shut_down()),
                }
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..8).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let mut calls = 0;
        let result: Result<()> = with_backoff("nothing", || {
            calls += 1;
            async { Err(Error::config("test", "bad")) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
