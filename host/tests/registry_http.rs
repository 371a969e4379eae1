//! The registry over HTTP, in process: every endpoint and its Confluent error codes.

mod registry_support;

use registry_support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn register_is_idempotent_and_ids_are_global() {
    let h = Harness::start().await;
    let (status, body) = h.register("a-value", &v1()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"id": 1}));
    // Same schema, different whitespace: same id, no new version.
    let spaced = v1().replace(',', " ,\n ");
    assert_eq!(h.register("a-value", &spaced).await.1, json!({"id": 1}));
    assert_eq!(
        h.send("GET", "/subjects/a-value/versions", None).await.1,
        json!([1])
    );
    // Another subject reuses the global id.
    assert_eq!(h.register("b-value", &v1()).await.1, json!({"id": 1}));
    assert_eq!(
        h.register("a-value", &v2_compatible()).await.1,
        json!({"id": 2})
    );
    assert_eq!(
        h.send("GET", "/subjects/a-value/versions", None).await.1,
        json!([1, 2])
    );
    assert_eq!(
        h.send("GET", "/subjects", None).await.1,
        json!(["a-value", "b-value"])
    );
}

#[tokio::test]
async fn lookup_finds_registered_schemas_and_never_writes() {
    let h = Harness::start().await;
    h.register("s", &v1()).await;
    let (status, body) = h
        .send("POST", "/subjects/s", Some(json!({"schema": v1()})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["subject"], "s");
    assert_eq!(body["version"], 1);
    assert_eq!(body["id"], 1);
    assert_eq!(body["schema"], v1());
    let (status, body) = h
        .send("POST", "/subjects/nope", Some(json!({"schema": v1()})))
        .await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40401));
    let (status, body) = h
        .send(
            "POST",
            "/subjects/s",
            Some(json!({"schema": v2_compatible()})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40403));
    assert_eq!(
        h.send("GET", "/subjects/s/versions", None).await.1,
        json!([1])
    );
}

#[tokio::test]
async fn schemas_by_id() {
    let h = Harness::start().await;
    h.register("s", &v1()).await;
    h.register("t", &v1()).await;
    let (status, body) = h
        .send("GET", "/schemas/ids/1?subject=s&deleted=False", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"schema": v1()}));
    assert!(body.get("schemaType").is_none());
    let (_, body) = h.send("GET", "/schemas/ids/1/versions", None).await;
    assert_eq!(
        body,
        json!([{"subject": "s", "version": 1}, {"subject": "t", "version": 1}])
    );
    for path in [
        "/schemas/ids/99",
        "/schemas/ids/abc",
        "/schemas/ids/99/versions",
    ] {
        let (status, body) = h.send("GET", path, None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, 40403),
            "{path}"
        );
    }
    assert_eq!(
        h.send("GET", "/schemas/types", None).await.1,
        json!(["AVRO"])
    );
}

#[tokio::test]
async fn versions_by_number_latest_and_raw_schema() {
    let h = Harness::start().await;
    h.register("s", &v1()).await;
    h.register("s", &v2_compatible()).await;
    let (_, body) = h.send("GET", "/subjects/s/versions/latest", None).await;
    assert_eq!(
        (body["version"].clone(), body["id"].clone()),
        (json!(2), json!(2))
    );
    let (_, body) = h.send("GET", "/subjects/s/versions/1", None).await;
    assert_eq!(body["schema"], v1());
    let response = h
        .client
        .get(h.url("/subjects/s/versions/1/schema"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
    assert_eq!(response.text().await.unwrap(), v1());
    let (status, body) = h.send("GET", "/subjects/s/versions/7", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40402));
    let (status, body) = h.send("GET", "/subjects/s/versions/zero", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42202)
    );
    let (status, body) = h.send("GET", "/subjects/x/versions/1", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40401));
    let (status, body) = h.send("GET", "/subjects/x/versions", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40401));
}

#[tokio::test]
async fn soft_then_permanent_deletes() {
    let h = Harness::start().await;
    h.register("s", &v1()).await;
    h.register("s", &v2_compatible()).await;
    let (status, body) = h.send("DELETE", "/subjects/s?permanent=true", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40405));
    assert_eq!(
        h.send("DELETE", "/subjects/s/versions/2", None).await.1,
        json!(2)
    );
    assert_eq!(
        h.send("GET", "/subjects/s/versions", None).await.1,
        json!([1])
    );
    assert_eq!(
        h.send("GET", "/subjects/s/versions?deleted=true", None)
            .await
            .1,
        json!([1, 2])
    );
    assert_eq!(
        h.send("DELETE", "/subjects/s/versions/2?permanent=true", None)
            .await
            .1,
        json!(2)
    );
    assert_eq!(h.send("DELETE", "/subjects/s", None).await.1, json!([1]));
    let (status, body) = h.send("GET", "/subjects/s/versions", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40401));
    assert_eq!(h.send("GET", "/subjects", None).await.1, json!([]));
    assert_eq!(
        h.send("GET", "/subjects?deleted=TRUE", None).await.1,
        json!(["s"])
    );
    // Ids stay readable after deletes: data written with them is still on topics.
    assert_eq!(
        h.send("GET", "/schemas/ids/1", None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        h.send("DELETE", "/subjects/s?permanent=true", None).await.1,
        json!([1])
    );
    assert_eq!(
        h.send("GET", "/subjects?deleted=true", None).await.1,
        json!([])
    );
    let (status, body) = h.send("DELETE", "/subjects/s", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40401));
}

#[tokio::test]
async fn config_global_and_per_subject() {
    let h = Harness::start().await;
    assert_eq!(
        h.send("GET", "/config", None).await.1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    let (_, body) = h
        .send("PUT", "/config", Some(json!({"compatibility": "FULL"})))
        .await;
    assert_eq!(body, json!({"compatibility": "FULL"}));
    let (status, body) = h.send("GET", "/config/s", None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40408));
    assert_eq!(
        h.send("GET", "/config/s?defaultToGlobal=true", None)
            .await
            .1,
        json!({"compatibilityLevel": "FULL"})
    );
    let (_, body) = h
        .send("PUT", "/config/s", Some(json!({"compatibility": "none"})))
        .await;
    assert_eq!(body, json!({"compatibility": "NONE"}));
    assert_eq!(
        h.send("GET", "/config/s", None).await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    let (status, body) = h
        .send(
            "PUT",
            "/config",
            Some(json!({"compatibility": "SOMETIMES"})),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42203)
    );
    assert_eq!(
        h.send("DELETE", "/config/s", None).await.1,
        json!({"compatibilityLevel": "NONE"})
    );
}

#[tokio::test]
async fn compatibility_is_enforced_and_checkable() {
    let h = Harness::start().await;
    h.register("s", &v1()).await;
    let (status, body) = h.register("s", &v2_incompatible()).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, 409));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Schema being registered is incompatible with an earlier schema")
    );
    let check = |schema: String, version: &'static str| {
        let h = &h;
        async move {
            h.send(
                "POST",
                &format!("/compatibility/subjects/s/versions/{version}"),
                Some(json!({ "schema": schema })),
            )
            .await
        }
    };
    assert_eq!(
        check(v2_incompatible(), "latest").await.1,
        json!({"is_compatible": false})
    );
    assert_eq!(
        check(v2_compatible(), "1").await.1,
        json!({"is_compatible": true})
    );
    let (_, body) = h
        .send(
            "POST",
            "/compatibility/subjects/s/versions/latest?verbose=True",
            Some(json!({ "schema": v2_incompatible() })),
        )
        .await;
    assert_eq!(body["is_compatible"], false);
    assert!(!body["messages"].as_array().unwrap().is_empty());
    let (status, body) = check(v1(), "9").await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40402));
    // NONE lets anything through.
    h.send("PUT", "/config/s", Some(json!({"compatibility": "NONE"})))
        .await;
    assert_eq!(
        h.register("s", &v2_incompatible()).await.1,
        json!({"id": 2})
    );
}
