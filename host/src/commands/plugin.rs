//! `pipeline plugin check FILE.wasm` and `pipeline plugin new NAME`: the
//! plugin author's kit (the work is in `crate::plugin`'s `check` and
//! `scaffold`).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::config::Config;
use crate::error::Result;
use crate::plugin::{SchemaFields, check_plugin, new_plugin};

/// Plugin kit: check a `.wasm` against the schema, or start a new plugin crate.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
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

/// Runs the subcommand; returns what it prints.
pub async fn run(config: &Config, command: &PluginCommand) -> Result<String> {
    match command {
        PluginCommand::Check { file } => check(config, file).await,
        PluginCommand::New { name, dir } => {
            let crate_dir = new_plugin(dir, name)?;
            Ok(format!(
                "created {}\nbuild it with `just plugins` (or scripts/build-plugins.sh); \
                 it lands in plugins/wasm/{}.wasm",
                crate_dir.display(),
                name.replace('-', "_")
            ))
        }
    }
}

async fn check(config: &Config, file: &Path) -> Result<String> {
    let (schema, key) = crate::source::catalog::plugin_view(config).await?;
    let fields = SchemaFields::from_avro(&schema.schema)?.with_keys(key);
    Ok(check_plugin(file, &fields)?.to_string())
}
