//! `pipeline produce`.

use std::sync::Arc;

use crate::config::Config;
use crate::error::Result;
use crate::producer::{self, ProducerCounters};
use crate::progress::{Snapshot, progress_dir, spawn_reporter};

/// Runs the producer until Ctrl-C/SIGTERM.
pub async fn run(config: &Config) -> Result<()> {
    crate::kafka::check_login(config).await?;
    let counters = Arc::new(ProducerCounters::default());
    let reported = Arc::clone(&counters);
    let reporter = spawn_reporter(
        progress_dir(&config.run.dir),
        "producer".into(),
        Arc::new(move || Snapshot::of_producer(&reported)),
    );
    let metrics = match crate::metrics::address(&config.metrics.listen, 0)? {
        Some(address) => {
            let rendered = Arc::clone(&counters);
            Some(tokio::spawn(crate::metrics::serve(
                address,
                Arc::new(move || crate::metrics::render_producer(&rendered)),
            )))
        }
        None => None,
    };
    let result = producer::run(config, Arc::clone(&counters), super::shutdown_signal()).await;
    reporter.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    tracing::info!(rows_acked = counters.rows_acked(), position = ?counters.position(), "producer stopped");
    result
}
