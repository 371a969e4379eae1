//! `pipeline update`.

use crate::config::Config;
use crate::error::Result;
use crate::source::mysql::connect;
use crate::updater::{self, UpdatePlan, load_seed, read_seed};

/// What `pipeline update` was asked to do.
#[derive(Debug, Clone)]
pub struct UpdateCommand {
    pub plan: UpdatePlan,
    /// Skip loading `data/` first.
    pub skip_seed: bool,
    /// Instead of updates: create or change this many distinct products at once.
    pub bulk_rows: Option<i32>,
}

pub async fn run(config: &Config, command: &UpdateCommand) -> Result<()> {
    let pool = connect(&config.mysql.url).await?;
    let table = &config.source.table;
    if !command.skip_seed {
        let products = read_seed(&config.updater.seed_file)?;
        let inserted = load_seed(&pool, table, &products).await?;
        tracing::info!(inserted, seed = %config.updater.seed_file.display(), "seed products loaded");
    }
    if let Some(rows) = command.bulk_rows {
        updater::bulk_upsert(&pool, table, 1, rows).await?;
        tracing::info!(rows, "bulk change done");
    } else if command.plan.count != Some(0) {
        let done =
            updater::run_updates(&pool, table, &command.plan, super::shutdown_signal()).await?;
        tracing::info!(updates = done, "updates done");
    }
    pool.disconnect().await?;
    Ok(())
}
