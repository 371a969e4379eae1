//! `pipeline update`.

use clap::Args;

use crate::config::Config;
use crate::error::Result;
use crate::source::mysql::connect;
use crate::updater::{self, UpdatePlan, load_seed, read_seed};

/// `pipeline update`'s command line.
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// Updates to make (default: until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
    /// Updates per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Send updates in bursts of this many (bursty load at the same average rate).
    #[arg(long, default_value_t = 1)]
    burst: u64,
    /// Update products 1..=N.
    #[arg(long, default_value_t = 50)]
    products: i32,
    /// Touch products in order rather than at random.
    #[arg(long)]
    round_robin: bool,
    /// Seed of the update generator (same seed, same updates).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Every Nth change deletes the product and inserts it again (0: never).
    #[arg(long, default_value_t = 0)]
    delete_every: u64,
    /// Don't load data/ first.
    #[arg(long)]
    skip_seed: bool,
    /// Create or change N distinct products at once instead (benchmark preload).
    #[arg(long)]
    bulk_rows: Option<i32>,
}

impl From<&UpdateArgs> for UpdateCommand {
    fn from(args: &UpdateArgs) -> Self {
        UpdateCommand {
            plan: UpdatePlan {
                count: args.count,
                rate: args.rate,
                burst: args.burst,
                first_product: 1,
                products: args.products,
                round_robin: args.round_robin,
                seed: args.seed,
                delete_every: args.delete_every,
            },
            skip_seed: args.skip_seed,
            bulk_rows: args.bulk_rows,
        }
    }
}

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
