//! Issue 12, "any table": a table of another shape than the seed's, its
//! value schema derived from the catalog, through the whole pipeline, and
//! its topic decoded by an unmodified third-party client (Python's
//! `confluent-kafka` AvroDeserializer against the registry).
//!
//! The venv is the one `registry_interop.rs` makes (`interop-venv` beside
//! the build cache, pinned `tests/interop/requirements.txt`); without python3
//! or PyPI the test fails with the reason, it never passes silently.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Harness, workspace_root};
use mysql_async::prelude::Queryable;
use pipeline::config::DecimalHandling;
use pipeline::source::catalog::TableDescription;
use pipeline::timestamp::Timestamp;
use serde_json::{Value, json};

/// The seed's `schemas/` file is what the catalog gives for the seed table
/// (with the seed configuration's `decimal_handling = "double"`).
#[tokio::test(flavor = "multi_thread")]
async fn the_seed_schema_file_is_what_the_catalog_gives() {
    let harness = Harness::new("seed_schema", "");
    let pool = harness.create_table_with_history().await;
    let mut conn = pool.get_conn().await.unwrap();
    let description = TableDescription::read(&mut conn, "product").await.unwrap();
    drop(conn);
    let derived = description.value_schema_json(DecimalHandling::Double);
    let derived = apache_avro::Schema::parse(&derived).unwrap();
    let file =
        std::fs::read_to_string(workspace_root().join("schemas/product_value_avro_schema.json"))
            .unwrap();
    let file = apache_avro::Schema::parse_str(&file).unwrap();
    assert_eq!(derived.canonical_form(), file.canonical_form());
    assert_eq!(description.key_columns(&[]).unwrap(), ["id"]);
    pool.disconnect().await.unwrap();
}

const SHIPMENT: &str = "CREATE TABLE shipment (
    region VARCHAR(8) NOT NULL,
    seq INT NOT NULL,
    amount DECIMAL(12,4) NOT NULL,
    shipped_at DATETIME(6) NULL,
    due DATE NULL,
    status ENUM('new','sent','lost') NOT NULL,
    doc JSON NULL,
    payload BLOB NULL,
    counter BIGINT UNSIGNED NOT NULL,
    note VARCHAR(32) NULL,
    changed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (region, seq),
    KEY position (changed_at, region, seq)
) ENGINE=InnoDB";

const ROWS: &str = "INSERT INTO shipment
    (region, seq, amount, shipped_at, due, status, doc, payload, counter, note) VALUES
    ('eu', 1, 1234.5678, '2026-11-29 10:11:12.123456', '2026-11-29', 'sent', '{\"a\": 1}', X'00FF10', 18446744073709551615, NULL),
    ('us', 2, -0.0001, NULL, NULL, 'new', NULL, NULL, 0, 'x'),
    ('eu', 2, 99999999.9999, NULL, '1969-12-31', 'lost', '[]', X'', 42, NULL)";

/// Every log line as JSON (with its `source`).
fn raw_lines(harness: &Harness) -> Vec<Value> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(harness.path("consumer_logs"))
        .unwrap()
        .flatten()
    {
        let text =
            std::fs::read_to_string(entry.path().join("consumer_log.json")).unwrap_or_default();
        lines.extend(
            text.lines()
                .filter_map(|line| serde_json::from_str(line).ok()),
        );
    }
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_of_another_shape_runs_end_to_end_and_python_decodes_it() {
    let mut harness = Harness::new(
        "any_table",
        "[source]\ntable = \"shipment\"\ntimestamp_column = \"changed_at\"\n",
    );
    harness.reconfigure(|config| {
        config.source.value_schema_file = None;
        config.plugins.clear();
    });
    let pool = harness.pool().await;
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop(SHIPMENT).await.unwrap();
    harness.start_registry();
    harness.start_consumers(5);
    harness.wait_for_stable_group(5, 2);
    harness.spawn("producer", &["produce"]);
    conn.query_drop(ROWS).await.unwrap();
    harness.wait_for_lines(3, Duration::from_secs(60));
    conn.query_drop(
        "UPDATE shipment SET amount = 0.5, note = 'again' WHERE region = 'eu' AND seq = 1",
    )
    .await
    .unwrap();
    harness.wait_for_lines(4, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    let stamps: Vec<(String, i32, mysql_async::Value)> = conn
        .query("SELECT region, seq, changed_at FROM shipment")
        .await
        .unwrap();
    drop(conn);

    let lines = raw_lines(&harness);
    assert_eq!(lines.len(), 4, "each change once: {lines:#?}");
    let stamp_of = |region: &str, seq: i32| {
        let (_, _, stamp) = stamps
            .iter()
            .find(|(r, s, _)| r == region && *s == seq)
            .unwrap();
        Timestamp::from_mysql(stamp).unwrap().micros()
    };
    let line_of = |region: &str, seq: i32, amount: &str| {
        lines
            .iter()
            .find(|line| {
                line["source"]["key"] == json!([region, seq]) && line["record"]["amount"] == amount
            })
            .unwrap_or_else(|| panic!("no line for ({region}, {seq}) amount {amount}: {lines:#?}"))
    };
    let first = line_of("eu", 1, "1234.5678");
    let shipped = Timestamp::from_civil(2026, 11, 29, 10, 11, 12, 123_456).micros();
    let due = Timestamp::from_civil(2026, 11, 29, 0, 0, 0, 0).micros() / 86_400_000_000;
    let record = &first["record"];
    assert_eq!(record["region"], "eu");
    assert_eq!(record["seq"], 1);
    assert_eq!(record["shipped_at"], shipped);
    assert_eq!(record["due"], due);
    assert_eq!(record["status"], "sent");
    assert_eq!(record["doc"], "{\"a\": 1}");
    assert_eq!(record["payload"], json!([0, 255, 16]));
    assert_eq!(record["counter"], "18446744073709551615");
    assert_eq!(record["note"], Value::Null);
    let updated = line_of("eu", 1, "0.5000");
    assert_eq!(updated["record"]["note"], "again");
    assert_eq!(updated["source"]["stamp"], stamp_of("eu", 1));
    assert_eq!(updated["record"]["changed_at"], stamp_of("eu", 1));
    let negative = line_of("us", 2, "-0.0001");
    assert_eq!(negative["record"]["shipped_at"], Value::Null);
    assert_eq!(negative["record"]["counter"], "0");
    let last = line_of("eu", 2, "99999999.9999");
    assert_eq!(last["record"]["due"], -1, "1969-12-31 is day -1");
    assert_eq!(last["record"]["payload"], json!([]));

    let python = interop_python().await;
    let output = std::process::Command::new(&python)
        .arg(workspace_root().join("tests/interop/decode_topic.py"))
        .args([
            common::broker().as_str(),
            &format!("http://127.0.0.1:{}", harness.registry_port),
            &harness.topic,
            "4",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "decode_topic.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decoded: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let python_first = decoded
        .iter()
        .find(|m| m["key"] == "[\"eu\",1]" && m["value"]["amount"] == "1234.5678")
        .unwrap_or_else(|| panic!("python did not see the first change: {decoded:#?}"));
    let value = &python_first["value"];
    assert_eq!(value["shipped_at"], "2026-11-29 10:11:12.123456+00:00");
    assert_eq!(value["due"], "2026-11-29");
    assert_eq!(value["counter"], "18446744073709551615");
    assert_eq!(value["payload"], json!([0, 255, 16]));
    assert_eq!(value["status"], "sent");
    assert_eq!(value["note"], Value::Null);
    assert!(
        decoded
            .iter()
            .any(|m| m["key"] == "[\"us\",2]" && m["value"]["amount"] == "-0.0001"),
        "{decoded:#?}"
    );
    pool.disconnect().await.unwrap();
}

/// The interop venv (see `registry_interop.rs`), created and filled on
/// first use.
async fn interop_python() -> PathBuf {
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let venv = target.join("interop-venv");
    let python = venv.join("bin/python");
    let requirements_file = root.join("tests/interop/requirements.txt");
    let requirements = std::fs::read_to_string(&requirements_file).unwrap();
    let run = |command: &mut std::process::Command, what: &str| {
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("{what}: cannot start: {error}"));
        assert!(
            output.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    if !python.exists() {
        run(
            std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv),
            "creating the interop venv",
        );
    }
    let marker = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(requirements.as_str()) {
        run(
            std::process::Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "-r"])
                .arg(&requirements_file),
            "installing the pinned interop packages from PyPI",
        );
        std::fs::write(&marker, &requirements).unwrap();
    }
    python
}
