//! `pipeline consume --member N`.

use std::sync::Arc;

use crate::config::Config;
use crate::consumer::{self, ConsumerCounters};
use crate::error::{Error, Result};
use crate::plugin::PluginChain;
use crate::progress::{Snapshot, progress_dir, spawn_reporter};

/// Runs member `member` (1-based) with the configured plugin chain until
/// Ctrl-C/SIGTERM.
pub async fn run(config: Config, member: u32) -> Result<()> {
    check_member(member)?;
    let chains = consumer::load_chains(&config).await?;
    run_with_chains(config, member, chains).await
}

fn check_member(member: u32) -> Result<()> {
    if member == 0 {
        return Err(Error::config("--member", "members are numbered from 1"));
    }
    Ok(())
}

/// Runs member `member` with `chain` (the bench's native reference runs the
/// seed transforms compiled in) for the one configured table.
pub async fn run_with_chain(config: Config, member: u32, chain: PluginChain) -> Result<()> {
    run_with_chains(config, member, vec![chain]).await
}

/// Runs member `member` with one chain per configured table, in order.
pub async fn run_with_chains(config: Config, member: u32, chains: Vec<PluginChain>) -> Result<()> {
    check_member(member)?;
    crate::kafka::check_login(&config).await?;
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
        chains,
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
