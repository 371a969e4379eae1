//! What the report says ran: versions, settings, the machine.

use std::collections::BTreeMap;

use mysql_async::Pool;
use mysql_async::prelude::Queryable;
use pipeline::config::Config;
use pipeline::kafka::{ClientRole, client_config};

use super::debezium;

pub async fn versions(pool: &Pool) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    versions.insert(
        "Debezium".into(),
        format!(
            "{} (debezium-connector-mariadb)",
            debezium::DEBEZIUM_VERSION
        ),
    );
    versions.insert(
        "Kafka Connect".into(),
        format!("{} standalone", debezium::CONNECT_VERSION),
    );
    versions.insert("Debezium's converter".into(), debezium::CONVERTER.into());
    versions.insert("pipeline".into(), pipeline_version());
    if let Ok(mut conn) = pool.get_conn().await
        && let Ok(Some(version)) = conn.query_first::<String, _>("SELECT VERSION()").await
    {
        versions.insert("MariaDB".into(), version);
    }
    versions.insert("broker".into(), kafka_version());
    if let Ok(output) = std::process::Command::new("java").arg("-version").output() {
        let text = String::from_utf8_lossy(&output.stderr);
        if let Some(line) = text.lines().next() {
            versions.insert("Java".into(), line.to_owned());
        }
    }
    versions
}

fn pipeline_version() -> String {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{} at {commit} (`pipeline produce`, binlog mode, Avro)",
        env!("CARGO_PKG_VERSION")
    )
}

fn kafka_version() -> String {
    let pom = include_str!("../../../scripts/kafka/pom.xml");
    let version = pom
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("<version>")?
                .strip_suffix("</version>")
        })
        .unwrap_or("?");
    format!("Apache Kafka {version} (KRaft, one node)")
}

pub fn pipeline_settings(config: &Config) -> BTreeMap<String, String> {
    let client = client_config(config, ClientRole::Producer);
    [
        "linger.ms",
        "batch.size",
        "compression.type",
        "acks",
        "enable.idempotence",
    ]
    .into_iter()
    .filter_map(|key| Some((format!("producer: {key}"), client.get(key)?.to_owned())))
    .collect()
}

pub fn machine() -> BTreeMap<String, String> {
    let mut machine = BTreeMap::new();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    machine.insert("cores".into(), cores.to_string());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if let Some(model) = cpuinfo.lines().find_map(|line| {
        line.strip_prefix("model name")?
            .split_once(':')
            .map(|(_, m)| m.trim().to_owned())
    }) {
        machine.insert("CPU".into(), model);
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(kib) = meminfo.lines().find_map(|line| {
        line.strip_prefix("MemTotal:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse::<f64>()
            .ok()
    }) {
        machine.insert("memory".into(), format!("{:.0} GiB", kib / 1024.0 / 1024.0));
    }
    machine
}
