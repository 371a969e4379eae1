//! Configuration: one TOML file, overridable by environment variables and
//! `--set` flags.
//!
//! Precedence, lowest first: built-in defaults, the file (`pipeline.toml`, or
//! `--config PATH`), `PIPELINE__SECTION__KEY=value` environment variables, then
//! `--set section.key=value` flags. Every layer goes through the same typed
//! deserialisation with unknown keys refused, so a typo fails at start with
//! the key's name instead of being silently ignored.

mod overrides;
mod tables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use overrides::{apply_env_overrides, apply_override};
pub use tables::{TABLE_PLACEHOLDER, TableEntry, TableSpec};

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub mysql: MysqlConfig,
    pub source: SourceConfig,
    pub topic: TopicConfig,
    /// Free-form librdkafka properties (`bootstrap.servers`, `security.protocol`,
    /// `sasl.mechanisms`, …), passed unchanged to every Kafka client. Numbers
    /// and booleans are accepted and passed as text, as librdkafka takes them.
    #[serde(deserialize_with = "librdkafka_properties")]
    pub kafka: BTreeMap<String, String>,
    pub schema_registry: SchemaRegistryConfig,
    pub consumer: ConsumerConfig,
    /// The transform chain, applied in this order.
    pub plugins: Vec<PluginConfig>,
    pub dead_letter: DeadLetterConfig,
    pub registry: RegistryServerConfig,
    pub updater: UpdaterConfig,
    pub metrics: MetricsConfig,
    pub run: RunConfig,
}

/// Where `pipeline up` keeps its runtime state.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Progress snapshots of each process (`progress/*.json`) and the child
    /// processes' logs (`logs/*.log`).
    pub dir: PathBuf,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self { dir: "run".into() }
    }
}

/// Where the source table lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database`; the database is created if missing.
    pub url: String,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        Self {
            url: "mysql://root@127.0.0.1:3306/test".into(),
        }
    }
}

/// How the producer tails the table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    pub table: String,
    /// The record key's columns (composite keys, any type), also the
    /// tie-breaker between equal timestamps. Empty: the table's PRIMARY KEY,
    /// read from the catalog.
    pub key_columns: Vec<String>,
    /// The earlier single-column form of `key_columns` (still honoured when
    /// `key_columns` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_column: Option<String>,
    /// A `DATETIME(6)` column stamped on every change.
    pub timestamp_column: String,
    /// How long to wait between polls that found nothing.
    pub poll_interval_ms: u64,
    /// The producer reads no row stamped later than this long before MySQL's
    /// clock. Changes still in flight are found by the dirty read (see
    /// `source::uncommitted`); the grace period only covers the moment between
    /// the trigger stamping a row and InnoDB holding it, microseconds unless
    /// the server thread is descheduled right there. A change that misses it
    /// is not lost: it lands behind the position and late-change recovery
    /// (`source::late`) produces it within `lookback_interval_ms`, which the
    /// test `writers_descheduled_between_stamp_and_write_lose_nothing_at_the_default_grace`
    /// holds at this default. So the default is short: it is added to every
    /// change's latency.
    pub grace_period_ms: u64,
    /// Rows read per query (keyset pagination).
    pub batch_size: usize,
    /// Threads that encode a batch (Avro, wire format, message key), the
    /// reading task's own included: 1 encodes on the reading task. The
    /// batch is cut into consecutive chunks and handed on in read order
    /// (`producer::encode`), so order per key and per partition is the same
    /// whatever the count. A fixed number, not the core count (`resources`).
    pub encoder_threads: usize,
    /// Late-change recovery (`source::late`): changes committed up to this
    /// long behind the position (an INSERT that waited for a lock, a clock
    /// step back) are still found and produced. Keep it above the server's
    /// `innodb_lock_wait_timeout` (50 s by default; warned at start if not).
    pub lookback_ms: u64,
    /// How often the producer scans the lookback window's keys.
    pub lookback_interval_ms: u64,
    /// The producer's saved position.
    pub position_file: PathBuf,
    /// An Avro value schema file to use instead of the one derived from the
    /// catalog (`source::catalog`); columns the table gains are still added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_schema_file: Option<PathBuf>,
    /// How DECIMAL columns are written (Debezium's `decimal.handling.mode`):
    /// `precise` (Avro `decimal`), `double` or `string`.
    pub decimal_handling: DecimalHandling,
    /// `timestamp` (poll the table by its stamp column, the default) or
    /// `binlog` (read the server's row-based binary log, see `source::binlog`).
    pub mode: SourceMode,
    /// Binlog mode: the replica server id the producer registers with; must
    /// differ from every other replica's and the server's. 0 draws one at
    /// random on first start and keeps it beside the position file
    /// (`<binlog_position_file>.server_id`, see `source::binlog::replica_id`).
    pub server_id: u32,
    /// Binlog mode: the value field that says which operation produced the
    /// record: "c" insert, "u" update, "d" delete, "r" read by the snapshot,
    /// "t" a truncate (a record of its own schema, see
    /// `source::binlog::events`).
    pub operation_field: String,
    /// Binlog mode: the value field holding the change's place in the binary
    /// log (file number × 2^40 + offset), strictly increasing per key: the
    /// consumers' duplicate rule keys on it instead of `timestamp_column`.
    pub sequence_field: String,
    /// Binlog mode: the saved binary-log position (file and offset, and the
    /// GTID position when the server has one).
    pub binlog_position_file: PathBuf,
    /// Tables served besides `table`, each with its own key, stamp column,
    /// topic and position file (see `config::tables`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableEntry>,
    /// Binlog mode: how a saved position is resumed: `auto` (by GTID when it
    /// carries one, else by file and offset), `gtid` (by GTID only; refuses
    /// a position without one) or `file` (by file and offset only).
    pub binlog_position: BinlogResume,
    /// Binlog mode: what becomes of a record the broker refuses as larger
    /// than its maximum message size: `dead_letter` (its key and the reason
    /// go to the dead-letter destination, and the stream goes on) or `stop`
    /// (exit code 2, naming the record).
    pub oversized_records: OversizedRecords,
}

/// What binlog mode does with a record too large for the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OversizedRecords {
    /// Its key and the reason to the dead letters; the stream goes on.
    #[default]
    DeadLetter,
    /// Stop with exit code 2.
    Stop,
}

/// How binlog mode resumes from its saved position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BinlogResume {
    /// By GTID when the saved position carries one, else by file and offset.
    #[default]
    Auto,
    /// By GTID only (MariaDB `@slave_connect_state`).
    Gtid,
    /// By file and offset only.
    File,
}

/// How DECIMAL columns reach Avro.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalHandling {
    /// `bytes` with logical type `decimal(precision, scale)`: exact.
    #[default]
    Precise,
    /// `double`: what the seed's plugins compute with; loses digits beyond 15-17.
    Double,
    /// `string`: the decimal's text.
    String,
}

/// How the producer finds changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceMode {
    #[default]
    Timestamp,
    Binlog,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            table: "product".into(),
            key_columns: Vec::new(),
            id_column: None,
            timestamp_column: "last_updated".into(),
            poll_interval_ms: 20,
            grace_period_ms: 5,
            batch_size: 5000,
            encoder_threads: 2,
            lookback_ms: 60_000,
            lookback_interval_ms: 1000,
            position_file: "time_track/last_read_timestamp.json".into(),
            value_schema_file: None,
            decimal_handling: DecimalHandling::default(),
            mode: SourceMode::Timestamp,
            server_id: 0,
            operation_field: "__op".into(),
            sequence_field: "__seq".into(),
            binlog_position_file: "time_track/binlog_position.json".into(),
            tables: Vec::new(),
            binlog_position: BinlogResume::Auto,
            oversized_records: OversizedRecords::DeadLetter,
        }
    }
}

impl SourceConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn grace_period(&self) -> Duration {
        Duration::from_millis(self.grace_period_ms)
    }

    pub fn lookback(&self) -> Duration {
        Duration::from_millis(self.lookback_ms)
    }

    pub fn lookback_interval(&self) -> Duration {
        Duration::from_millis(self.lookback_interval_ms)
    }

    /// The configured key columns (`key_columns`, else `id_column`); empty
    /// means the table's primary key.
    pub fn configured_key(&self) -> Vec<String> {
        if self.key_columns.is_empty() {
            self.id_column.iter().cloned().collect()
        } else {
            self.key_columns.clone()
        }
    }
}

/// The topic records are produced to.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicConfig {
    /// The topic of `[source] table`.
    pub name: String,
    /// The topic of each `[[source.tables]]` entry without a `topic` of
    /// its own: `{table}` is replaced by the table's name.
    pub name_pattern: String,
    /// Used when the pipeline creates the topic; an existing topic is left as it is.
    pub partitions: i32,
    pub replication_factor: i32,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            name: "product_updates".into(),
            name_pattern: "{table}_updates".into(),
            partitions: 10,
            replication_factor: 1,
        }
    }
}

/// How to reach the Schema Registry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    pub url: String,
    /// Basic auth, as `user:password` (Confluent Cloud: API key and secret).
    pub basic_auth: Option<String>,
    /// How long a member keeps asking for a schema id the registry says does
    /// not exist (404, error code 40403) before the record is a dead letter:
    /// a lagging replica can deny an id registered a moment ago.
    pub missing_schema_wait_ms: u64,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8081".into(),
            basic_auth: None,
            missing_schema_wait_ms: 30_000,
        }
    }
}

/// The consumer group.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerConfig {
    pub group_id: String,
    /// How many members `pipeline up` starts.
    pub members: u32,
    /// Member N appends to `<log_dir>/consumer_N/consumer_log.json`.
    pub log_dir: PathBuf,
    /// Records handed to the plugin chain per call.
    pub batch_size: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            group_id: "product_updates_consumers".into(),
            members: 5,
            log_dir: "consumer_logs".into(),
            batch_size: 500,
        }
    }
}

/// One transform in the chain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// A `.wasm` component; watched and hot-swapped when it changes.
    pub path: PathBuf,
    /// CPU budget per record, in milliseconds of wall time (epoch interruption).
    #[serde(default = "PluginConfig::default_time_limit_ms")]
    pub time_limit_ms: u64,
    /// Linear memory limit, in MiB.
    #[serde(default = "PluginConfig::default_memory_limit_mib")]
    pub memory_limit_mib: u64,
    /// Grant the plugin a real wall clock (default: a frozen one).
    #[serde(default)]
    pub allow_clock: bool,
    /// Grant the plugin real random numbers (default: the same replayed
    /// numbers at every call, so a retried batch comes out the same).
    #[serde(default)]
    pub allow_random: bool,
    /// Most bytes a call may return, as a multiple of the bytes it was given
    /// (plus a constant 256 KiB): bounds what a plugin makes the host copy.
    #[serde(default = "PluginConfig::default_output_ratio")]
    pub output_ratio: u64,
    /// The tables whose records this plugin transforms; empty: every table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
}

impl PluginConfig {
    fn default_time_limit_ms() -> u64 {
        10
    }

    fn default_memory_limit_mib() -> u64 {
        16
    }

    fn default_output_ratio() -> u64 {
        4
    }

    /// A plugin at `path` with the default limits.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            time_limit_ms: Self::default_time_limit_ms(),
            memory_limit_mib: Self::default_memory_limit_mib(),
            allow_clock: false,
            allow_random: false,
            output_ratio: Self::default_output_ratio(),
            tables: Vec::new(),
        }
    }
}

/// Where records that a plugin could not handle go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeadLetterConfig {
    /// A Kafka topic (created like the main topic).
    Kafka { topic: String },
    /// A JSON-lines file per member, under this directory.
    File { dir: PathBuf },
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig::Kafka {
            topic: "product_updates.dlq".into(),
        }
    }
}

/// The built-in Schema Registry server (`pipeline registry`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryServerConfig {
    pub listen: String,
    /// Schemas, versions and config, written atomically on every change.
    pub storage_file: PathBuf,
    /// Require basic auth as `user:password`.
    pub basic_auth: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most subjects held (soft-deleted ones count until deleted permanently).
    pub max_subjects: usize,
    /// Most versions one subject holds (soft-deleted ones count too).
    pub max_versions_per_subject: usize,
    /// Largest schema text accepted, in bytes.
    pub max_schema_bytes: usize,
}

impl Default for RegistryServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8081".into(),
            storage_file: "time_track/schema_registry.json".into(),
            basic_auth: None,
            max_body_bytes: 1024 * 1024,
            max_subjects: 1000,
            max_versions_per_subject: 100,
            max_schema_bytes: 64 * 1024,
        }
    }
}

/// The demo/benchmark updater.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdaterConfig {
    /// The seed products loaded before updating.
    pub seed_file: PathBuf,
}

impl Default for UpdaterConfig {
    fn default() -> Self {
        Self {
            seed_file: "data/products.csv".into(),
        }
    }
}

/// The Prometheus `/metrics` and `/health` endpoint of each process.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Listen address; `""` turns it off. Each process takes the next free port
    /// from here: the producer the port itself, member N port + N.
    pub listen: String,
}

impl Config {
    /// Loads the configuration: the file if it exists (an explicitly named file
    /// must exist), then environment overrides, then `--set` overrides.
    pub fn load(file: Option<&Path>, sets: &[String]) -> Result<Self> {
        let mut document = match file {
            Some(path) => read_document(path)?,
            None if Path::new("pipeline.toml").exists() => {
                read_document(Path::new("pipeline.toml"))?
            }
            None => toml::Table::new(),
        };
        apply_env_overrides(&mut document, std::env::vars())?;
        for set in sets {
            apply_override(&mut document, set, "--set")?;
        }
        let origin = file.map_or_else(|| "pipeline.toml".to_owned(), |p| p.display().to_string());
        let config: Config = toml::Value::Table(document)
            .try_into()
            .map_err(|error: toml::de::Error| Error::config(&origin, error.message().to_owned()))?;
        config.validate(&origin)?;
        Ok(config)
    }

    /// Parses a configuration from TOML text (tests, `pipeline config check`).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let config: Config =
            toml::from_str(text).map_err(|error| Error::config(origin, error.to_string()))?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let fail =
            |key: &str, message: &str| Err(Error::config(origin, format!("`{key}` {message}")));
        if self.topic.partitions < 1 {
            return fail("topic.partitions", "must be at least 1");
        }
        if self.consumer.members < 1 {
            return fail("consumer.members", "must be at least 1");
        }
        if self.consumer.batch_size < 1 {
            return fail("consumer.batch_size", "must be at least 1");
        }
        if self.source.lookback_interval_ms < 1 {
            return fail("source.lookback_interval_ms", "must be at least 1");
        }
        if self.source.batch_size < 1 {
            return fail("source.batch_size", "must be at least 1");
        }
        if !(1..=64).contains(&self.source.encoder_threads) {
            return fail("source.encoder_threads", "must be from 1 to 64");
        }
        if !self.mysql.url.starts_with("mysql://") {
            return fail(
                "mysql.url",
                "must start with mysql:// (e.g. mysql://root@127.0.0.1:3306/test)",
            );
        }
        for (index, plugin) in self.plugins.iter().enumerate() {
            if plugin.time_limit_ms == 0 || plugin.memory_limit_mib == 0 || plugin.output_ratio == 0
            {
                return fail(
                    &format!("plugins[{index}]"),
                    "time_limit_ms, memory_limit_mib and output_ratio must be positive",
                );
            }
        }
        self.validate_tables(origin)
    }

    /// The librdkafka bootstrap servers, defaulting to the local broker.
    pub fn bootstrap_servers(&self) -> &str {
        self.kafka
            .get("bootstrap.servers")
            .map_or("127.0.0.1:9092", String::as_str)
    }

    /// The plugin chain the seed project runs: upper-case the category, then
    /// add the CAT_5 discount.
    pub fn seed_plugins(wasm_dir: &Path) -> Vec<PluginConfig> {
        ["uppercase_category.wasm", "cat5_discount.wasm"]
            .iter()
            .map(|file| PluginConfig::at(wasm_dir.join(file)))
            .collect()
    }
}

/// The `[kafka]` table: every value a string, number or boolean.
fn librdkafka_properties<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let table = BTreeMap::<String, toml::Value>::deserialize(deserializer)?;
    table
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Float(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "kafka.\"{key}\": expected a string, number or boolean, found {}",
                        other.type_str()
                    )));
                }
            };
            Ok((key, text))
        })
        .collect()
}

fn read_document(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|error| Error::io(path, error))?;
    text.parse::<toml::Table>()
        .map_err(|error| Error::config(path.display().to_string(), error.to_string()))
}

#[cfg(test)]
mod tests;
