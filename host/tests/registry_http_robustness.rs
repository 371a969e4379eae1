//! The registry over HTTP, in process: bad input, auth and restarts.

mod registry_support;

use pipeline::registry::bind;
use registry_support::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn bad_input_gets_confluent_errors_and_the_registry_keeps_serving() {
    let h = Harness::start().await;
    let raw = |body: &'static str| {
        h.client
            .post(h.url("/subjects/s/versions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = raw("{not json").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&response.json().await.unwrap()), 42201);
    let (status, body) = h.register("s", r#"{"type":"recordx"}"#).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42201)
    );
    let (status, body) = h
        .send(
            "POST",
            "/subjects/s/versions",
            Some(json!({"schema": "{}", "schemaType": "PROTOBUF"})),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42201)
    );
    assert!(body["message"].as_str().unwrap().contains("PROTOBUF"));
    let (status, _) = h
        .send(
            "POST",
            "/subjects/s/versions",
            Some(json!({"schema": v1(), "schemaType": "AVRO", "references": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let huge = json!({ "schema": "x".repeat(200 * 1024) });
    let (status, body) = h.send("POST", "/subjects/s/versions", Some(huge)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, 413)
    );
    let (status, body) = h.send("GET", "/no/such/path", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 404));
    let (status, body) = h.send("GET", "/associations/subjects/s", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 404));
    let (status, body) = h.send("PATCH", "/subjects", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, 405)
    );
    // Accepted without a content type, too.
    let response = h
        .client
        .post(h.url("/subjects/s"))
        .body(json!({ "schema": v1() }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
}

#[tokio::test]
async fn basic_auth_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.basic_auth = Some("alice:s3cret".into());
    let registry = bind(&config).await.unwrap();
    let client = Client::new();
    let url = format!("{}/subjects", registry.url());
    for attempt in [
        client.get(&url),
        client.get(&url).basic_auth("alice", Some("wrong")),
    ] {
        let response = attempt.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(&response.json().await.unwrap()), 401);
    }
    let response = client
        .get(&url)
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn ids_versions_and_config_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new();
    let first = bind(&config(&dir)).await.unwrap();
    for (subject, schema) in [("a", v1()), ("a", v2_compatible()), ("b", v2_compatible())] {
        client
            .post(format!("{}/subjects/{subject}/versions", first.url()))
            .body(json!({ "schema": schema }).to_string())
            .send()
            .await
            .unwrap();
    }
    client
        .put(format!("{}/config/b", first.url()))
        .body(json!({"compatibility": "FULL"}).to_string())
        .send()
        .await
        .unwrap();
    drop(first);

    let second = bind(&config(&dir)).await.unwrap();
    let get = |path: &str| {
        let url = format!("{}{path}", second.url());
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(get("/subjects/a/versions").await, json!([1, 2]));
    assert_eq!(get("/subjects/b/versions/latest").await["id"], 2);
    assert_eq!(get("/schemas/ids/1").await, json!({"schema": v1()}));
    assert_eq!(
        get("/config/b").await,
        json!({"compatibilityLevel": "FULL"})
    );
    // The id counter survived too: a new schema gets the next id, not a reused one.
    let response = client
        .post(format!("{}/subjects/c/versions", second.url()))
        .body(json!({ "schema": record(r#"{"name":"other","type":"long"}"#) }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"id": 3}));
}

#[tokio::test]
async fn a_failed_write_is_a_store_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.storage_file = dir.path().join("state/registry.json");
    let registry = bind(&config).await.unwrap();
    // A file where the storage directory should be: every save now fails.
    std::fs::write(dir.path().join("state"), "in the way").unwrap();
    let client = Client::new();
    let response = client
        .post(format!("{}/subjects/s/versions", registry.url()))
        .body(json!({ "schema": v1() }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error_code(&response.json().await.unwrap()), 50001);
    let subjects: Value = client
        .get(format!("{}/subjects", registry.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(subjects, json!([]), "memory must not run ahead of the disk");
}

#[tokio::test]
async fn concurrent_registrations_get_distinct_ids() {
    let h = std::sync::Arc::new(Harness::start().await);
    let tasks: Vec<_> = (0..16)
        .map(|index| {
            let h = h.clone();
            tokio::spawn(async move {
                let schema = record(&format!(r#"{{"name":"f{index}","type":"int"}}"#));
                h.register(&format!("subject-{index}"), &schema).await.1["id"]
                    .as_u64()
                    .unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=16).collect::<Vec<u64>>());
}
