//! One tail per configured table, all in this process.
//!
//! The rule: **each table's position is saved only after the broker
//! acknowledged every record of that table before it**. Each table runs the
//! single-table producer on its own view of the configuration (its own
//! position file, topic, schema subject `<topic>-value`, acknowledgement
//! task and librdkafka producer), so one table's acknowledgements never move
//! another's position. A table that fails for good stops the others (each
//! saves what the broker acknowledged) and its error is the process's.

use std::sync::Arc;

use futures::future::join_all;
use tokio::sync::watch;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::producer::ProducerCounters;

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
    let tails = join_all(views.iter().enumerate().map(|(index, view)| {
        let (counters, stopped, stop) = (Arc::clone(&counters), stopped.clone(), &stop);
        async move {
            tracing::info!(table = %view.source.table, topic = %view.topic.name, position = %view.source.position_file.display(), "tailing table");
            let result = super::run_table(view, counters, stopped, index == 0)
                .await
                .map_err(|error| match error {
                    // The table's checks name `source.…` keys; say which entry.
                    Error::Source(message) if index > 0 => Error::Source(format!(
                        "table `{}` (source.tables[{}]): {message}",
                        view.source.table,
                        index - 1
                    )),
                    other => other,
                });
            if let Err(error) = &result {
                tracing::error!(table = %view.source.table, %error, "table stopped; stopping the others");
                let _ = stop.send(true);
            }
            result
        }
    }));
    let forward = async {
        if shutdown.wait_for(|stop| *stop).await.is_ok() {
            let _ = stop.send(true);
        }
    };
    tokio::pin!(tails);
    let finished = tokio::select! {
        results = &mut tails => Some(results),
        () = forward => None,
    };
    // Shutdown asked for (or none can come): each tail stops and saves what
    // the broker acknowledged.
    let results = match finished {
        Some(results) => results,
        None => tails.await,
    };
    results.into_iter().collect::<Result<Vec<()>>>().map(drop)
}
