//! `pipeline consume --member N`.

use std::sync::Arc;

use crate::config::Config;
use crate::consumer::{self, ConsumerCounters};
use crate::error::{Error, Result};
use crate::progress::{Snapshot, progress_dir, spawn_reporter};

/// Runs member `member` (1-based) until Ctrl-C/SIGTERM.
pub async fn run(config: Config, member: u32) -> Result<()> {
    if member == 0 {
        return Err(Error::config("--member", "members are numbered from 1"));
    }
    let chain = consumer::load_chain(&config)?;
    let counters = Arc::new(ConsumerCounters::default());
    let reported = Arc::clone(&counters);
    let reporter = spawn_reporter(
        progress_dir(&config.run.dir),
        format!("consumer_{member}"),
        Arc::new(move || Snapshot::of_consumer(member, &reported)),
    );
    let offset = u16::try_from(member).unwrap_or(u16::MAX);
    let metrics = match crate::metrics::address(&config.metrics.listen, offset)? {
        Some(address) => {
            let rendered = Arc::clone(&counters);
            Some(tokio::spawn(crate::metrics::serve(
                address,
                Arc::new(move || crate::metrics::render_consumer(member, &rendered)),
            )))
        }
        None => None,
    };
    let result = consumer::run(
        config,
        member,
        chain,
        Arc::clone(&counters),
        super::shutdown_signal(),
    )
    .await;
    reporter.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    tracing::info!(
        member,
        written = counters.written(),
        dead_lettered = counters.dead_lettered(),
        "consumer stopped"
    );
    result
}
