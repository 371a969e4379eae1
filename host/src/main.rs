//! `pipeline`: the command line over the `pipeline` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pipeline::commands::{self, supervise::UpCommand, update::UpdateCommand};
use pipeline::config::Config;
use pipeline::updater::UpdatePlan;

/// A change-data-capture pipeline: MySQL → Avro on Kafka → wasm transforms → JSON logs.
#[derive(Debug, Parser)]
#[command(name = "pipeline", version)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes (and `up` passes on to its children).
#[derive(Debug, Clone, Args)]
struct GlobalArgs {
    /// Configuration file [default: pipeline.toml if it exists].
    #[arg(long, global = true, env = "PIPELINE_CONFIG")]
    config: Option<PathBuf>,
    /// Override one setting, e.g. `--set topic.partitions=30` or
    /// `--set kafka.security.protocol=SASL_SSL` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    sets: Vec<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true, env = "PIPELINE_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load the seed products into MySQL, then update them at a chosen rate.
    Update(UpdateArgs),
    /// Tail the product table and produce every change to Kafka.
    Produce,
    /// Run one consumer-group member.
    Consume {
        /// Member number, from 1; it writes consumer_logs/consumer_N/consumer_log.json.
        #[arg(long)]
        member: u32,
    },
    /// Run the Confluent-compatible Schema Registry.
    Registry,
    /// Run the whole pipeline: registry (if none is running), producer, members, updater.
    Up(UpArgs),
    /// Measure capacity, latency and memory side by side with the Python baseline.
    Bench(BenchArgs),
    /// Show the consumer group, committed offsets and lag, the producer's position and the registry's subjects.
    Status,
    /// Print the effective configuration (after file, environment and --set).
    Config,
    /// Plugin kit: check a `.wasm` against the schema, or start a new plugin crate.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Load FILE.wasm as the chain would and run it on sample records.
    Check {
        /// The plugin component.
        file: PathBuf,
    },
    /// Write a new plugin crate that builds as it is (it passes records through).
    New {
        /// Crate name, lower-case kebab-case (e.g. `round-prices`).
        name: String,
        /// Where plugin crates live.
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Args)]
struct UpdateArgs {
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
    /// Don't load data/ first.
    #[arg(long)]
    skip_seed: bool,
    /// Create or change N distinct products at once instead (benchmark preload).
    #[arg(long)]
    bulk_rows: Option<i32>,
}

#[derive(Debug, Clone, Args)]
struct BenchArgs {
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
    /// Where the JSON report goes.
    #[arg(long, default_value = "target/bench/report.json")]
    out: PathBuf,
}

#[derive(Debug, Clone, Args)]
struct UpArgs {
    /// Run no updater.
    #[arg(long)]
    no_updates: bool,
    /// Updater: updates per second.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Updater: updates to make (default: until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            // Bad input (config, files, data shape) exits 2: `up` does not
            // restart a child that would only fail the same way again.
            let bad_input = error
                .downcast_ref::<pipeline::Error>()
                .is_some_and(|error| !error.is_transient());
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.global.config.as_deref(), &cli.global.sets)?;
    match cli.command {
        Command::Update(args) => commands::update::run(&config, &update_command(&args)).await?,
        Command::Produce => commands::produce::run(&config).await?,
        Command::Consume { member } => commands::consume::run(config, member).await?,
        Command::Registry => {
            pipeline::registry::serve_until_signal(&config.registry, commands::shutdown_signal())
                .await?
        }
        Command::Up(args) => {
            let update_args = (!args.no_updates).then(|| {
                let mut update = vec!["--rate".to_owned(), args.rate.to_string()];
                if let Some(count) = args.count {
                    update.extend(["--count".to_owned(), count.to_string()]);
                }
                update
            });
            let command = UpCommand {
                global_args: global_args(&cli.global),
                update_args,
            };
            commands::supervise::run(&config, &command).await?;
        }
        Command::Bench(args) => {
            let options = pipeline::bench::BenchOptions {
                rows: args.rows,
                rate: args.rate,
                duration: std::time::Duration::from_secs(args.duration),
                baseline: !args.no_baseline,
                scaling: !args.no_scaling,
                work_dir: args.out.with_file_name("runs"),
                out: args.out,
            };
            let report = pipeline::bench::run(&config, &options).await?;
            println!("{}", report.table());
            println!("report: {}", options.out.display());
        }
        Command::Status => print!("{}", commands::status::report(&config).await?),
        Command::Config => print!("{}", toml::to_string_pretty(&config)?),
        Command::Plugin(PluginCommand::Check { file }) => {
            let schema = pipeline::codec::ValueSchema::load(&config.source.value_schema_file)?;
            let fields = pipeline::plugin::SchemaFields::from_avro(&schema.schema)?
                .with_key(&config.source.id_column);
            println!("{}", pipeline::plugin::check_plugin(&file, &fields)?);
        }
        Command::Plugin(PluginCommand::New { name, dir }) => {
            let crate_dir = pipeline::plugin::new_plugin(&dir, &name)?;
            println!(
                "created {}\nbuild it with `just plugins` (or scripts/build-plugins.sh); \
                 it lands in plugins/wasm/{}.wasm",
                crate_dir.display(),
                name.replace('-', "_")
            );
        }
    }
    Ok(())
}

fn update_command(args: &UpdateArgs) -> UpdateCommand {
    UpdateCommand {
        plan: UpdatePlan {
            count: args.count,
            rate: args.rate,
            burst: args.burst,
            products: args.products,
            round_robin: args.round_robin,
            seed: args.seed,
        },
        skip_seed: args.skip_seed,
        bulk_rows: args.bulk_rows,
    }
}

/// The global options as arguments for a child process.
fn global_args(global: &GlobalArgs) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(config) = &global.config {
        args.extend(["--config".to_owned(), config.display().to_string()]);
    }
    for set in &global.sets {
        args.extend(["--set".to_owned(), set.clone()]);
    }
    if matches!(global.log_format, LogFormat::Json) {
        args.extend(["--log-format".to_owned(), "json".to_owned()]);
    }
    args
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rdkafka=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
