//! `pipeline`: the command line over the `pipeline` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pipeline::commands::plugin::PluginCommand;
use pipeline::commands::up::{Up, UpArgs};
use pipeline::commands::{self, update::UpdateArgs};
use pipeline::config::Config;

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
    /// Show the consumer group, committed offsets and lag, the producer's position and the registry's subjects.
    Status,
    /// Print the effective configuration (after file, environment and --set).
    Config,
    /// Plugin kit: check a `.wasm` against the schema, or start a new plugin crate.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    pipeline::resources::cap_malloc_arenas();
    init_tracing(cli.global.log_format);
    let runtime = match pipeline::resources::runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(status) => status,
        // Asked to stop while waiting for a service: stopped as asked.
        Err(error)
            if matches!(
                error.downcast_ref::<pipeline::Error>(),
                Some(pipeline::Error::ShutDown { .. })
            ) =>
        {
            tracing::info!("{error:#}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!("{error:#}");
            // Bad input (config, files, data shape) exits 2: `up` does not
            // restart a child that would only fail the same way again.
            let bad_input = error
                .downcast_ref::<pipeline::Error>()
                .is_some_and(pipeline::Error::is_bad_input);
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.global.config.as_deref(), &cli.global.sets)?;
    match cli.command {
        Command::Update(args) => commands::update::run(&config, &(&args).into()).await?,
        Command::Produce => commands::produce::run(&config).await?,
        Command::Consume { member } => commands::consume::run(config, member).await?,
        Command::Registry => commands::registry::run(&config).await?,
        Command::Up(args) => {
            let up = Up::new(global_args(&cli.global), &args);
            commands::up::run(&config, &up).await?;
        }
        Command::Status => print!("{}", commands::status::report(&config).await?),
        Command::Config => print!("{}", commands::config::render(&config)?),
        Command::Plugin(command) => {
            // `plugin check`'s status is its verdict (see its --help): 1 for
            // records that failed, 2 whenever the check could not run.
            match commands::plugin::run(&config, &command).await {
                Ok(printed) => {
                    println!("{}", printed.text);
                    return Ok(ExitCode::from(printed.status));
                }
                Err(error) => {
                    tracing::error!("{error:#}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
