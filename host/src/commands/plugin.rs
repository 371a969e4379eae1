//! `pipeline plugin check FILE.wasm` and `pipeline plugin new NAME`: the
//! plugin author's kit (the work is in `crate::plugin`'s `check` and
//! `scaffold`).

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::{Config, PluginConfig};
use crate::error::Result;
use crate::plugin::{Language, SchemaFields, check_plugin_with, new_plugin_in};

/// Plugin kit: check a `.wasm` against the schema, or start a new plugin crate.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Load FILE.wasm as the chain would and run it on sample records.
    Check {
        /// The plugin component.
        file: PathBuf,
        /// Its memory limit (give a Python or JavaScript plugin 32).
        #[arg(long, default_value_t = PluginConfig::at("").memory_limit_mib)]
        memory_limit_mib: u64,
    },
    /// Write a new plugin that builds as it is (it passes records through).
    New {
        /// Plugin name, lower-case kebab-case (e.g. `round-prices`).
        name: String,
        /// The language: a Rust crate in plugins/NAME, or a Python or
        /// JavaScript module in plugins/python/NAME or plugins/js/NAME.
        #[arg(long, value_enum, default_value_t = Language::Rust)]
        lang: Language,
        /// Where plugin crates live.
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
    },
}

/// Runs the subcommand; returns what it prints.
pub async fn run(config: &Config, command: &PluginCommand) -> Result<String> {
    match command {
        PluginCommand::Check {
            file,
            memory_limit_mib,
        } => {
            check(
                config,
                &PluginConfig {
                    memory_limit_mib: *memory_limit_mib,
                    ..PluginConfig::at(file)
                },
            )
            .await
        }
        PluginCommand::New { name, lang, dir } => {
            let plugin_dir = new_plugin_in(dir, name, *lang)?;
            Ok(format!(
                "created {}\nbuild it with `scripts/build-plugins.sh {}` (or `just plugins`); \
                 it lands in plugins/wasm/{}",
                plugin_dir.display(),
                lang.folder(name),
                lang.wasm_file(name)
            ))
        }
    }
}

async fn check(config: &Config, plugin: &PluginConfig) -> Result<String> {
    let (schema, key) = crate::source::catalog::plugin_view(config).await?;
    let fields = SchemaFields::from_avro(&schema.schema)?.with_keys(key);
    Ok(check_plugin_with(plugin, &fields)?.to_string())
}
