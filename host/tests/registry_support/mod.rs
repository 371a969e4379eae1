//! Shared by the registry HTTP tests: an in-process registry and a JSON client.

#![allow(dead_code)]
use pipeline::config::RegistryServerConfig;
use pipeline::registry::{RunningRegistry, bind};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub fn config(dir: &tempfile::TempDir) -> RegistryServerConfig {
    RegistryServerConfig {
        listen: "127.0.0.1:0".into(),
        storage_file: dir.path().join("registry.json"),
        basic_auth: None,
        max_body_bytes: 64 * 1024,
        ..RegistryServerConfig::default()
    }
}

pub struct Harness {
    pub registry: RunningRegistry,
    pub client: Client,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let registry = bind(&config(&dir)).await.unwrap();
        Self {
            registry,
            client: Client::new(),
            _dir: Some(dir),
        }
    }

    /// A harness around a registry the test started (its directory is the test's).
    pub fn with(registry: RunningRegistry) -> Self {
        Self {
            registry,
            client: Client::new(),
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.registry.url())
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request
                .header("content-type", CONTENT_TYPE)
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn register(&self, subject: &str, schema: &str) -> (StatusCode, Value) {
        self.send(
            "POST",
            &format!("/subjects/{subject}/versions"),
            Some(json!({ "schema": schema })),
        )
        .await
    }
}

pub fn record(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"Thing","fields":[{fields}]}}"#)
}

pub fn v1() -> String {
    record(r#"{"name":"id","type":"int"}"#)
}

pub fn v2_compatible() -> String {
    record(r#"{"name":"id","type":"int"},{"name":"name","type":"string","default":""}"#)
}

pub fn v2_incompatible() -> String {
    record(r#"{"name":"id","type":"int"},{"name":"name","type":"string"}"#)
}

pub fn error_code(body: &Value) -> u64 {
    body["error_code"]
        .as_u64()
        .unwrap_or_else(|| panic!("no error_code in {body}"))
}
