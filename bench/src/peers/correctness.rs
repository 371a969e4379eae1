//! The correctness run: the workload of [`super::workload`] through both
//! systems at once, on a table of its own, each topic read back and
//! compared ([`super::history`]).

use std::time::Duration;

use anyhow::{Context, Result};
use mysql_async::Pool;
use pipeline::codec::WireDecoder;
use pipeline::config::Config;
use pipeline::kafka::ensure_topic;

use super::debezium::{Connect, Source};
use super::report::Correctness;
use super::topic::Counter;
use super::{DATABASE, HISTORY_KEYS, HISTORY_STATEMENTS, RUN_TIMEOUT, System, history, workload};
use crate::deployment::Deployment;
use crate::measure::BenchOptions;

/// The correctness workload through both systems at once, on a table of
/// its own.
pub async fn run(
    config: &Config,
    options: &BenchOptions,
    pool: &Pool,
    server_url: &str,
    plugin_path: &std::path::Path,
    decoder: &WireDecoder,
) -> Result<Correctness> {
    tracing::info!("peers: correctness workload");
    let mut config = config.clone();
    config.source.table = format!("{}_history", config.source.table);
    let snapshot = workload::fill(pool, &config.source.table, HISTORY_KEYS).await?;
    let partitions = config.topic.partitions;
    let mut ours = Deployment::new(
        &config,
        &options.work_dir,
        "peers_history_pipeline",
        partitions,
    )?;
    let our_topic = ours.config.topic.name.clone();
    ensure_topic(&ours.config, &our_topic, partitions).await?;
    let mut theirs = Deployment::new(
        &config,
        &options.work_dir,
        "peers_history_debezium",
        partitions,
    )?;
    let source = Source::from_url(server_url, DATABASE, &config.source.table)?;
    let connect = Connect::new(
        &config,
        &theirs.dir.join("connect"),
        &source,
        "history",
        plugin_path,
    )?;
    ensure_topic(&config, &connect.topic, partitions).await?;
    System::Pipeline.start(&mut ours)?;
    System::Debezium(&connect).start(&mut theirs)?;
    let counters = [
        Counter::new(&config, &our_topic)?,
        Counter::new(&config, &connect.topic)?,
    ];
    let snapshot_messages = history::expected_messages(&snapshot);
    for counter in &counters {
        counter.wait_for(0, snapshot_messages, RUN_TIMEOUT, || Ok(()))?;
    }
    let written = workload::run_workload(pool, &config.source.table, snapshot, HISTORY_STATEMENTS)
        .await
        .context("the correctness workload")?;
    let expected = history::expected_messages(&written.history);
    for counter in &counters {
        counter.wait_for(0, expected, RUN_TIMEOUT, || Ok(()))?;
    }
    std::thread::sleep(Duration::from_secs(2));
    let ours_read = history::pipeline_history(
        &counters[0].read_all(&config)?,
        decoder,
        &config.source.operation_field,
    )
    .await?;
    let theirs_read = history::debezium_history(&counters[1].read_all(&config)?)?;
    ours.stop();
    theirs.stop();
    let (ours_matching, ours_first) = history::matching(&written.history, &ours_read);
    let (theirs_matching, theirs_first) = history::matching(&written.history, &theirs_read);
    let (differing, differing_first) = history::differing(&ours_read, &theirs_read);
    Ok(Correctness {
        keys: Some(written.history.len() as f64),
        changes: Some(written.changes as f64),
        transactions: Some(written.transactions as f64),
        model_matches_table: Some(true),
        pipeline_keys_matching: Some(ours_matching as f64),
        debezium_keys_matching: Some(theirs_matching as f64),
        keys_differing_between_topics: Some(differing as f64),
        first_difference: ours_first
            .map(|text| format!("pipeline: {text}"))
            .or(theirs_first.map(|text| format!("Debezium: {text}")))
            .or(differing_first),
    })
}
