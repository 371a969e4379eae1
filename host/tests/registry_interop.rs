//! Interop with an unmodified third-party client: Python's `confluent-kafka`.
//!
//! Starts the registry in process, makes (once) a venv at
//! `target/interop-venv` (under `CARGO_TARGET_DIR` when set) with the pinned packages of
//! `tests/interop/requirements.txt` from PyPI, and runs
//! `tests/interop/registry_confluent_kafka.py` against the registry. Without
//! python3 or PyPI the test fails with the reason: it never passes silently.

use std::path::{Path, PathBuf};

use pipeline::config::RegistryServerConfig;
use pipeline::registry::bind;
use tokio::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

async fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .await
        .unwrap_or_else(|error| panic!("{what}: cannot start: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    stdout
}

/// The venv's python, created and filled on first use (or when the pins change).
async fn interop_python() -> PathBuf {
    let root = workspace_root();
    // Beside the build cache, so CI's clean checkouts reuse it.
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let venv = target.join("interop-venv");
    let python = venv.join("bin/python");
    let requirements_file = root.join("tests/interop/requirements.txt");
    let requirements = std::fs::read_to_string(&requirements_file).unwrap();
    if !python.exists() {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "creating the interop venv with `python3 -m venv` (is python3 with venv installed?)",
        )
        .await;
    }
    let marker = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(requirements.as_str()) {
        run(
            Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "-r"])
                .arg(&requirements_file),
            "installing the pinned interop packages from PyPI",
        )
        .await;
        std::fs::write(&marker, &requirements).unwrap();
    }
    python
}

#[tokio::test(flavor = "multi_thread")]
async fn python_confluent_kafka_round_trips_and_sees_registry_errors() {
    let dir = tempfile::tempdir().unwrap();
    let registry = bind(&RegistryServerConfig {
        listen: "127.0.0.1:0".into(),
        storage_file: dir.path().join("registry.json"),
        basic_auth: None,
        max_body_bytes: 1024 * 1024,
        ..RegistryServerConfig::default()
    })
    .await
    .unwrap();
    let python = interop_python().await;
    let script = workspace_root().join("tests/interop/registry_confluent_kafka.py");
    let stdout = run(
        Command::new(&python).arg(&script).arg(registry.url()),
        "the confluent-kafka interop script",
    )
    .await;
    println!("{stdout}");
    assert!(stdout.contains("interop ok"), "{stdout}");
}
