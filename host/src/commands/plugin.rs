//! `pipeline plugin check FILE.wasm` and `pipeline plugin new NAME`: the
//! plugin author's kit (the work is in `crate::plugin`'s `check`,
//! `check_files` and `scaffold`).

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::{Config, PluginConfig};
use crate::error::Result;
use crate::plugin::{
    Language, SchemaFields, check_records, new_plugin_in, read_expected, read_records,
    sample_records, write_expected, write_records,
};

/// How many sample records `check` runs without `--records`.
const SAMPLES: usize = 5;

/// Plugin kit: check a `.wasm` against the schema, or start a new plugin crate.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Load FILE.wasm as the chain would and run it on records: sample ones
    /// made up from the schema, or those of --records.
    #[command(after_help = "\
Exit status:
  0  every record came out as it should: none failed (none was dropped, with
     --expect-keep), and each outcome is the expected one (with --expect)
  1  a record failed, was dropped with --expect-keep, or differs from --expect
  2  the check could not run: the plugin does not load or does not fit the
     schema, or a --records or --expect file is not valid

A records file has one JSON object a line: a line of a consumer log, or a
record alone ({\"id\": 7, ...}) with every field of the schema. An expect
file has one line per record, in order: {\"keep\": {record}}, {\"drop\":
\"text\"} or {\"fail\": \"text\"} (the reason must contain the text).
--write-expect writes the outcomes there instead of comparing them.")]
    Check {
        /// The plugin component.
        file: PathBuf,
        /// Its memory limit (give a Python or JavaScript plugin 32).
        #[arg(long, default_value_t = PluginConfig::at("").memory_limit_mib)]
        memory_limit_mib: u64,
        /// Its CPU budget per record, in milliseconds.
        #[arg(long, default_value_t = PluginConfig::at("").time_limit_ms)]
        time_limit_ms: u64,
        /// Run the plugin on these records (JSON lines) instead of samples.
        #[arg(long, value_name = "FILE")]
        records: Option<PathBuf>,
        /// Compare each record's outcome with this file's line (JSON lines).
        #[arg(long, value_name = "FILE", conflicts_with = "expect_keep")]
        expect: Option<PathBuf>,
        /// Write the outcomes to the --expect file instead of comparing
        /// (review the result before you commit it).
        #[arg(long, requires = "expect")]
        write_expect: bool,
        /// A dropped record fails the check too.
        #[arg(long)]
        expect_keep: bool,
    },
    /// Write a new plugin that builds as it is (it passes records through),
    /// with a test: records.jsonl, expected.jsonl and test.sh, which builds
    /// the plugin and checks it on them.
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

/// What a subcommand prints, and the process's exit status.
#[derive(Debug)]
pub struct Printed {
    pub text: String,
    pub status: u8,
}

impl From<String> for Printed {
    fn from(text: String) -> Self {
        Self { text, status: 0 }
    }
}

/// Runs the subcommand; returns what it prints and the exit status.
pub async fn run(config: &Config, command: &PluginCommand) -> Result<Printed> {
    match command {
        PluginCommand::Check {
            file,
            memory_limit_mib,
            time_limit_ms,
            records,
            expect,
            write_expect,
            expect_keep,
        } => {
            let plugin = PluginConfig {
                memory_limit_mib: *memory_limit_mib,
                time_limit_ms: *time_limit_ms,
                ..PluginConfig::at(file)
            };
            let fields = schema(config).await?;
            let records = match records {
                Some(path) => read_records(path, &fields)?,
                None => sample_records(&fields, SAMPLES),
            };
            let expected = match expect {
                Some(path) if !write_expect => Some(read_expected(path)?),
                _ => None,
            };
            let mut report = check_records(&plugin, &fields, records)?;
            if let Some(expected) = expected {
                report.expect(expected);
            }
            if *expect_keep {
                report.expect_keep();
            }
            if let (Some(path), true) = (expect, write_expect) {
                write_expected(path, &report.outcomes())?;
                return Ok(format!("{report}\nwrote the outcomes to {}", path.display()).into());
            }
            Ok(Printed {
                status: report.status(),
                text: report.to_string(),
            })
        }
        PluginCommand::New { name, lang, dir } => {
            let plugin_dir = new_plugin_in(dir, name, *lang)?;
            // The test's records are samples of the configured schema; with
            // none at hand the author writes their own.
            let note = match schema(config).await {
                Ok(fields) => {
                    let records = sample_records(&fields, SAMPLES);
                    write_records(&plugin_dir.join("records.jsonl"), &records)?;
                    let kept: Vec<_> = records
                        .into_iter()
                        .map(|record| crate::plugin::Expected::Keep(record.to_json()))
                        .collect();
                    write_expected(&plugin_dir.join("expected.jsonl"), &kept)?;
                    String::new()
                }
                Err(error) => format!(
                    "\nno schema to make test records from ({error}): write records.jsonl and expected.jsonl yourself"
                ),
            };
            Ok(format!(
                "created {dir}\nbuild it with `scripts/build-plugins.sh {}` (or `just plugins`); \
                 it lands in plugins/wasm/{}\ntest it with `{dir}/test.sh` (it builds the plugin \
                 and checks it on records.jsonl against expected.jsonl){note}",
                lang.folder(name),
                lang.wasm_file(name),
                dir = plugin_dir.display(),
            )
            .into())
        }
    }
}

/// The configured value schema's fields and key, as plugins see them.
async fn schema(config: &Config) -> Result<SchemaFields> {
    let (schema, key) = crate::source::catalog::plugin_view(config).await?;
    Ok(SchemaFields::from_avro(&schema.schema)?.with_keys(key))
}
