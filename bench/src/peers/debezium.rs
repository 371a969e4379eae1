//! Debezium's MariaDB connector on a Kafka Connect standalone worker, as a
//! user following their documentation would run it: the jars pinned by
//! `bench/debezium/install.sh`, the worker's and the connector's properties
//! written here, the JVM started by that script (Kafka's
//! `connect-standalone.sh` heap and options).
//!
//! The rule for the settings: nothing beyond what Debezium's and Kafka's
//! documentation recommend to a user. Debezium 3.5's documentation gives no
//! throughput values for this connector, only that `max.queue.size` must be
//! larger than `max.batch.size`, so both stay at its defaults; the worker's
//! producer gets Kafka's documented defaults (`linger.ms` 5, `batch.size`
//! 16384), written out so the report says what ran. Every setting goes into
//! the report ([`Connect::settings`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use pipeline::config::Config;

/// The script that installs and runs the worker.
const INSTALL_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/debezium/install.sh");

/// The pinned versions (`bench/debezium/*/pom.xml`).
pub const DEBEZIUM_VERSION: &str = "3.5.0.Final";
pub const CONNECT_VERSION: &str = "4.1.1";
/// The value and key converter (no Confluent-compatible Avro converter is
/// on Maven Central: Confluent's is served from its own repository only).
pub const CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter, schemas.enable=false";

/// Where the bench finds the MariaDB the connector reads.
#[derive(Debug, Clone)]
pub struct Source {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    pub table: String,
}

impl Source {
    /// From a `mysql://user[:password]@host:port` URL.
    pub fn from_url(url: &str, database: &str, table: &str) -> Result<Self> {
        let opts = mysql_async::Opts::from_url(url).with_context(|| format!("`{url}`"))?;
        Ok(Self {
            host: opts.ip_or_hostname().to_owned(),
            port: opts.tcp_port(),
            user: opts.user().unwrap_or("root").to_owned(),
            password: opts.pass().unwrap_or("").to_owned(),
            database: database.to_owned(),
            table: table.to_owned(),
        })
    }
}

/// Installs the worker and the connector (outside any timing) and returns
/// the worker's `plugin.path`; fails with the script's own message.
pub fn install() -> Result<PathBuf> {
    let output = Command::new("bash")
        .args([INSTALL_SCRIPT, "paths"])
        .output()
        .context("running bench/debezium/install.sh")?;
    if !output.status.success() {
        bail!(
            "bench/debezium/install.sh failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .map(PathBuf::from)
        .context("bench/debezium/install.sh paths printed no plugin path")
}

/// One connector instance: its files under `dir`, its topic.
pub struct Connect {
    pub worker_file: PathBuf,
    pub connector_file: PathBuf,
    /// `<prefix>.<database>.<table>`, the topic Debezium writes.
    pub topic: String,
    worker: BTreeMap<String, String>,
    connector: BTreeMap<String, String>,
}

impl Connect {
    /// Writes the worker's and the connector's properties under `dir` (a
    /// fresh directory: no offsets, so the connector starts with a snapshot).
    pub fn new(
        config: &Config,
        dir: &Path,
        source: &Source,
        name: &str,
        plugin_path: &Path,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        let dir = dir.canonicalize()?;
        // A topic of its own each run, as the pipeline's deployments have.
        let prefix = format!(
            "bench_debezium_{name}_{}",
            pipeline::timestamp::Timestamp::now().micros()
        );
        let rest_port = free_port()?;
        let mut worker = BTreeMap::new();
        for (key, value) in [
            ("bootstrap.servers", config.bootstrap_servers().to_owned()),
            (
                "key.converter",
                "org.apache.kafka.connect.json.JsonConverter".into(),
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter".into(),
            ),
            ("key.converter.schemas.enable", "false".into()),
            ("value.converter.schemas.enable", "false".into()),
            (
                "offset.storage.file.filename",
                dir.join("offsets.dat").display().to_string(),
            ),
            ("plugin.path", plugin_path.display().to_string()),
            // The worker's own advice at start: every plugin here has
            // ServiceLoader manifests (it saves ~10 s of class scanning).
            ("plugin.discovery", "service_load".into()),
            ("listeners", format!("http://127.0.0.1:{rest_port}")),
            ("producer.linger.ms", "5".into()),
            ("producer.batch.size", "16384".into()),
        ] {
            worker.insert(key.to_owned(), value);
        }
        let mut connector = BTreeMap::new();
        for (key, value) in [
            ("name", format!("bench_{name}")),
            (
                "connector.class",
                "io.debezium.connector.mariadb.MariaDbConnector".into(),
            ),
            ("tasks.max", "1".into()),
            ("database.hostname", source.host.clone()),
            ("database.port", source.port.to_string()),
            ("database.user", source.user.clone()),
            ("database.password", source.password.clone()),
            // A replica id of its own, apart from the pipeline's.
            ("database.server.id", (5400 + rest_port % 1000).to_string()),
            ("topic.prefix", prefix.clone()),
            ("database.include.list", source.database.clone()),
            (
                "table.include.list",
                format!("{}.{}", source.database, source.table),
            ),
            // The pipeline has no schema-change topic either; the broker
            // does not create topics on demand.
            ("include.schema.changes", "false".into()),
            (
                "schema.history.internal",
                "io.debezium.storage.file.history.FileSchemaHistory".into(),
            ),
            (
                "schema.history.internal.file.filename",
                dir.join("schema_history.dat").display().to_string(),
            ),
            ("max.batch.size", "2048".into()),
            ("max.queue.size", "8192".into()),
        ] {
            connector.insert(key.to_owned(), value);
        }
        let connect = Self {
            worker_file: dir.join("worker.properties"),
            connector_file: dir.join("connector.properties"),
            topic: format!("{prefix}.{}.{}", source.database, source.table),
            worker,
            connector,
        };
        std::fs::write(&connect.worker_file, properties(&connect.worker))?;
        std::fs::write(&connect.connector_file, properties(&connect.connector))?;
        Ok(connect)
    }

    /// The program and arguments that run the worker (the JVM replaces the
    /// script's shell, so the child's pid is the JVM's).
    pub fn command(&self) -> (String, Vec<String>) {
        (
            "bash".into(),
            vec![
                INSTALL_SCRIPT.into(),
                "run".into(),
                self.worker_file.display().to_string(),
                self.connector_file.display().to_string(),
            ],
        )
    }

    /// The settings that shape throughput and latency, for the report (the
    /// paths and ports left out).
    pub fn settings(&self) -> BTreeMap<String, String> {
        let mut settings = BTreeMap::new();
        for (key, value) in &self.worker {
            if key.contains("converter")
                || key.starts_with("producer.")
                || key == "plugin.discovery"
            {
                settings.insert(format!("worker: {key}"), value.clone());
            }
        }
        for key in ["max.batch.size", "max.queue.size", "include.schema.changes"] {
            if let Some(value) = self.connector.get(key) {
                settings.insert(format!("connector: {key}"), value.clone());
            }
        }
        settings.insert("connector: poll.interval.ms".into(), "500 (default)".into());
        settings.insert(
            "jvm".into(),
            "-Xms256M -Xmx2G G1 (connect-standalone.sh)".into(),
        );
        settings
    }
}

fn properties(map: &BTreeMap<String, String>) -> String {
    let mut text = String::from("# Written by the bench (bench/src/peers/debezium.rs).\n");
    for (key, value) in map {
        text.push_str(&format!("{key}={value}\n"));
    }
    text
}

/// A free loopback port for the worker's REST listener.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
