//! One tail per configured table, all in this process.
//!
//! The rule: **each table's position is saved only after the broker
//! acknowledged every record of that table before it**. Each table runs the
//! single-table producer on its own view of the configuration (its own
//! position file, topic, schema subject `<topic>-value`, acknowledgement
//! task and librdkafka producer), so one table's acknowledgements never move
//! another's position. A table that fails for good stops the others (each
//! saves what the broker acknowledged) and its error is the process's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::watch;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::producer::ProducerCounters;

/// How long the other tables may take to stop once one failed for good.
const FAILED_STOP_BOUND: Duration = Duration::from_secs(10);

/// Runs [`super::run_table`] for every table until `shutdown` turns true or
/// one of them fails permanently.
pub async fn run_each(
    config: &Config,
    counters: Arc<ProducerCounters>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let views = config.table_views();
    if let [only] = views.as_slice() {
        return super::run_table(only, counters, shutdown, true).await;
    }
    let (stop, stopped) = watch::channel(false);
    let (fail, failed) = watch::channel(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let tails = join_all(views.iter().enumerate().map(|(index, view)| {
        let (counters, stopped) = (Arc::clone(&counters), stopped.clone());
        let (stop, fail, first_error) = (&stop, &fail, &first_error);
        async move {
            tracing::info!(table = %view.source.table, topic = %view.topic.name, position = %view.source.position_file.display(), "tailing table");
            let result = super::run_table(view, counters, stopped, index == 0).await;
            if let Err(error) = result {
                tracing::error!(table = %view.source.table, %error, "table stopped; stopping the others");
                let error = match error {
                    // The table's checks name `source.…` keys; say which entry.
                    Error::Source(message) if index > 0 => Error::Source(format!(
                        "table `{}` (source.tables[{}]): {message}",
                        view.source.table,
                        index - 1
                    )),
                    other => other,
                };
                if let Ok(mut first) = first_error.lock() {
                    first.get_or_insert(error);
                }
                let _ = stop.send(true);
                let _ = fail.send(true);
            }
        }
    }));
    let mut failed = failed;
    let forward = async {
        tokio::select! {
            asked = shutdown.wait_for(|stop| *stop) => {
                if asked.is_ok() {
                    let _ = stop.send(true);
                }
            }
            _ = failed.wait_for(|failed| *failed) => {}
        }
    };
    tokio::pin!(tails);
    let finished = tokio::select! {
        _ = &mut tails => true,
        () = forward => false,
    };
    if !finished {
        // Shutdown asked for, or a table failed: each tail stops and saves
        // what the broker acknowledged. One still waiting for a service
        // (the registry, the broker) has produced nothing to save: after a
        // failure it is not waited for longer than `FAILED_STOP_BOUND`.
        if *fail.borrow() {
            let _ = tokio::time::timeout(FAILED_STOP_BOUND, &mut tails).await;
        } else {
            tails.await;
        }
    }
    match first_error.lock().ok().and_then(|mut first| first.take()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
