//! `bench`: capacity, latency and memory of the pipeline, measured end to
//! end side by side with the seed's design in Python (`bench/baseline/`), on
//! the same data, broker and registry, in one run.
//!
//! It is not part of the product: it runs the release `pipeline` binary
//! (built next to this one) as separate processes, exactly as `pipeline up`
//! does, and only the wasm-vs-native comparison runs members of its own
//! (`bench consume-native`, the library's consumer with the seed transforms
//! compiled in), so the product carries no bench-only configuration.
//!
//! `just bench` (or `cargo build --release -p host && cargo run --release -p
//! bench`) prints the table and writes `target/bench/report.json`; `bench
//! readme --write` renders that report into the README's Performance table.

mod baseline;
mod breakdown;
mod broker;
mod cpu;
mod deployment;
mod engine;
mod latency;
mod measure;
mod peers;
mod producer;
mod report;
mod stages;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pipeline::config::Config;

/// Measure the pipeline end to end against the Python baseline.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    /// The pipeline's configuration file [default: pipeline.toml if it exists].
    #[arg(long, global = true, env = "PIPELINE_CONFIG")]
    config: Option<PathBuf>,
    /// Override one setting, as `pipeline --set` does (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    sets: Vec<String>,
    #[command(flatten)]
    run: RunArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render the last report as the README's Performance table (printed,
    /// or written between the README's bench markers with --write).
    Readme {
        /// Replace the table in docs/performance.md (between its bench markers).
        #[arg(long)]
        write: bool,
        /// The README to update.
        #[arg(long, default_value = "docs/performance.md")]
        readme: PathBuf,
    },
    /// One consumer-group member running the seed transforms as native Rust
    /// instead of the wasm chain (the bench's reference for the sandbox's
    /// cost; the bench starts these itself).
    #[command(hide = true)]
    ConsumeNative {
        /// Member number, from 1.
        #[arg(long)]
        member: u32,
    },
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Distinct changed rows for the capacity runs.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Offered load of the latency run, updates/s.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Skip the Python baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Skip the 1/2/5-consumer and 30-partition runs.
    #[arg(long)]
    no_scaling: bool,
    /// Start a nisshi of the bench's own with this storage engine
    /// (`memory://`, `sqlite://bench.db?mode=direct`,
    /// `postgres://postgres@127.0.0.1:5432/postgres`) instead of using the
    /// configured broker; the report records the engine either way.
    #[arg(long)]
    broker_engine: Option<String>,
    /// Measure only the broker alone (produce and consume ceilings).
    #[arg(long)]
    broker_only: bool,
    /// Measure only the latency runs (no capacity, scaling or baseline).
    #[arg(long)]
    latency_only: bool,
    /// Which source modes the latency runs measure.
    #[arg(long, value_enum, default_value_t = latency::Modes::Both)]
    source_mode: latency::Modes,
    /// The MySQL server of the binlog-mode latency run (it needs a ROW
    /// binary log; the database `pipeline_bench` is created there).
    #[arg(long, default_value = "mysql://root@127.0.0.1:3307")]
    binlog_url: String,
    /// Measure only the members where they are CPU-bound (wasm, native and
    /// the first plugin interface), after the producer fills the topic.
    #[arg(long)]
    cpu_bound_only: bool,
    /// Measure only the producer alone, each `--producer-variant` in turn
    /// for `--producer-rounds` rounds (the CPU per row of the producer,
    /// MariaDB and the broker, from the first saved position on).
    #[arg(long)]
    producer_only: bool,
    /// A producer variant for `--producer-only`:
    /// `LABEL[:KEY=VALUE[,KEY=VALUE...]][@BINARY]` (repeatable; default: the
    /// configuration as it is, labelled `configured`).
    #[arg(long = "producer-variant", value_name = "VARIANT")]
    producer_variants: Vec<producer::Variant>,
    /// Rounds of `--producer-only` (each runs every variant once).
    #[arg(long, default_value_t = 3)]
    producer_rounds: usize,
    /// Measure only the pipeline's producer side by side with Debezium on
    /// Kafka Connect (snapshot, catch-up, latency, CPU, memory,
    /// correctness; `just bench-peers`), into the existing report's
    /// `peers.debezium`.
    #[arg(long)]
    peers_only: bool,
    /// The MariaDB (row binary log) of `--peers-only` [default: a server of
    /// the bench's own on 127.0.0.1:3330, data under target/bench/runs].
    #[arg(long)]
    peers_mysql_url: Option<String>,
    /// The MySQL database the bench fills (dropped and created again):
    /// give runs that share a server a database each.
    #[arg(long, default_value = "pipeline_bench")]
    database: String,
    /// Where the JSON report goes (and where `readme` reads it).
    #[arg(long, global = true, default_value = "target/bench/report.json")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run(cli).await {
        tracing::error!("{error:#}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let load = || Config::load(cli.config.as_deref(), &cli.sets);
    match &cli.command {
        Some(Command::Readme { write, readme }) => readme_table(&cli.run.out, *write, readme)?,
        Some(Command::ConsumeNative { member }) => {
            let chain = pipeline::plugin::PluginChain::native_seed();
            pipeline::commands::consume::run_with_chain(load()?, *member, chain).await?;
        }
        None => {
            let args = &cli.run;
            let options = measure::BenchOptions {
                rows: args.rows,
                rate: args.rate,
                duration: Duration::from_secs(args.duration),
                baseline: !args.no_baseline,
                scaling: !args.no_scaling,
                work_dir: args.out.with_file_name("runs"),
                out: args.out.clone(),
                broker_engine: args.broker_engine.clone(),
                broker_only: args.broker_only,
                latency_only: args.latency_only,
                source_mode: args.source_mode,
                binlog_url: args.binlog_url.clone(),
                cpu_bound_only: args.cpu_bound_only,
                producer_only: args.producer_only,
                producer_variants: args.producer_variants.clone(),
                producer_rounds: args.producer_rounds,
                database: args.database.clone(),
                peers_only: args.peers_only,
                peers_mysql_url: args.peers_mysql_url.clone(),
            };
            let report = measure::run(&load()?, &options).await?;
            match &report.peers.debezium {
                Some(comparison) if options.peers_only => {
                    println!("{}", comparison.markdown(&report.baseline, &report.latency));
                }
                _ => println!("{}", report.table()),
            }
            println!("report: {}", options.out.display());
        }
    }
    Ok(())
}

/// Prints the report at `report` as the README's table, or writes it there.
fn readme_table(report: &Path, write: bool, readme: &Path) -> anyhow::Result<()> {
    let report = report::Report::read_json(report)?;
    let table = report.markdown();
    let peers = report.peers.debezium.as_ref().map(|comparison| {
        format!(
            "{}\n{}",
            comparison.markdown(&report.baseline, &report.latency),
            comparison.notes()
        )
    });
    if write {
        let mut text =
            std::fs::read_to_string(readme).with_context(|| readme.display().to_string())?;
        text = report::replace_readme_table(&text, &table)?;
        if let Some(peers) = &peers {
            text = report::replace_between(&text, report::PEERS_START, report::PEERS_END, peers)?;
        }
        std::fs::write(readme, text).with_context(|| readme.display().to_string())?;
        println!("{}: Performance tables updated", readme.display());
    } else {
        if let Some(peers) = &peers {
            println!("{peers}");
        }
        print!("{table}");
    }
    Ok(())
}
