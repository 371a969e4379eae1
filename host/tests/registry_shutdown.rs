//! Issue 17 item 15 (registry part): `pipeline registry` stops cleanly on
//! SIGTERM and SIGINT (exit 0, its state intact) instead of dying by the
//! signal.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &tempfile::TempDir, port: u16) -> Child {
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "[registry]\nlisten = \"127.0.0.1:{port}\"\nstorage_file = \"{}\"\n",
            dir.path().join("registry.json").display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .arg("--config")
        .arg(&config)
        .arg("registry")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Registers a schema, retrying while the registry is still starting.
async fn register(url: &str, schema: &str) -> Value {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = client
            .post(format!("{url}/subjects/s-value/versions"))
            .header("content-type", CONTENT_TYPE)
            .body(json!({ "schema": schema }).to_string())
            .send()
            .await;
        match sent {
            Ok(response) => return response.json().await.unwrap(),
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "registry never answered: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: a signal to the child this test spawned and still owns.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// Waits (with a generous bound, not a timing assertion) for the exit.
fn exit_status(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the registry did not exit within 60 s of the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn sigterm_and_sigint_stop_the_registry_cleanly_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let schema = r#"{"type":"record","name":"T","fields":[{"name":"id","type":"int"}]}"#;

    let mut registry = start(&dir, port);
    assert_eq!(register(&url, schema).await, json!({"id": 1}));
    signal(&registry, libc::SIGTERM);
    let status = exit_status(&mut registry);
    assert_eq!(status.code(), Some(0), "SIGTERM: {status:?}");

    // Restarted: the id survived; SIGINT (Ctrl-C) stops it the same way.
    let mut registry = start(&dir, port);
    assert_eq!(register(&url, schema).await, json!({"id": 1}));
    let second = schema.replace(r#"}]}"#, r#"},{"name":"n","type":"int","default":0}]}"#);
    assert_eq!(register(&url, &second).await, json!({"id": 2}));
    signal(&registry, libc::SIGINT);
    let status = exit_status(&mut registry);
    assert_eq!(status.code(), Some(0), "SIGINT: {status:?}");
    // Both versions are there after another restart.
    let mut registry = start(&dir, port);
    assert_eq!(register(&url, &second).await, json!({"id": 2}));
    let versions: Value = reqwest::get(format!("{url}/subjects/s-value/versions"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(versions, json!([1, 2]));
    signal(&registry, libc::SIGTERM);
    assert_eq!(exit_status(&mut registry).code(), Some(0));
}
