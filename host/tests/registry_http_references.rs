//! Issue 15: schema references over HTTP (register, look up, ids, versions,
//! compatibility with the referenced types resolved, `referencedby`, delete
//! refused while referenced), and the bounds of an exposed registry.

mod registry_support;

use pipeline::registry::bind;
use registry_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ADDRESS_V1: &str = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"street","type":"string"}]}"#;
/// A new field with a default: BACKWARD-compatible as a subject version, but
/// a reader of Customer on it cannot read data written with V1 unless the
/// default applies (it does), so it is also used to test resolution.
const ADDRESS_V2: &str = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"street","type":"string"},{"name":"city","type":"string","default":""}]}"#;
/// Address with a required new field: data written with V1 cannot be read.
const ADDRESS_V2_STRICT: &str = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"street","type":"string"},{"name":"zip","type":"string"}]}"#;
const CUSTOMER: &str = r#"{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"id","type":"int"},{"name":"home","type":"shop.Address"}]}"#;

fn reference(version: u32) -> Value {
    json!([{ "name": "shop.Address", "subject": "address", "version": version }])
}

async fn register_with(
    h: &Harness,
    subject: &str,
    schema: &str,
    refs: Value,
) -> (StatusCode, Value) {
    h.send(
        "POST",
        &format!("/subjects/{subject}/versions"),
        Some(json!({ "schema": schema, "references": refs })),
    )
    .await
}

#[tokio::test]
async fn a_schema_references_a_type_in_another_subject() {
    let h = Harness::start().await;
    assert_eq!(h.register("address", ADDRESS_V1).await.1, json!({"id": 1}));
    // Without the reference the type is unknown.
    let (status, body) = h.register("customer", CUSTOMER).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42201)
    );
    // With it: registered, idempotently.
    let (status, body) = register_with(&h, "customer", CUSTOMER, reference(1)).await;
    assert_eq!((status, body.clone()), (StatusCode::OK, json!({"id": 2})));
    assert_eq!(
        register_with(&h, "customer", CUSTOMER, reference(1))
            .await
            .1,
        json!({"id": 2})
    );
    // "latest" (-1) resolves to the version number at registration.
    assert_eq!(
        register_with(
            &h,
            "customer",
            CUSTOMER,
            json!([{"name":"shop.Address","subject":"address","version":-1}])
        )
        .await
        .1,
        json!({"id": 2})
    );
    // A reference to a version that does not exist is an invalid schema.
    let (status, body) = register_with(&h, "customer", CUSTOMER, reference(9)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42201)
    );

    // Ids and versions return the references.
    let (_, by_id) = h.send("GET", "/schemas/ids/2", None).await;
    assert_eq!(by_id["schema"], CUSTOMER);
    assert_eq!(by_id["references"], reference(1));
    let (_, version) = h.send("GET", "/subjects/customer/versions/1", None).await;
    assert_eq!(version["references"], reference(1));
    assert_eq!(version["id"], 2);
    let (_, plain) = h.send("GET", "/schemas/ids/1", None).await;
    assert!(plain.get("references").is_none(), "{plain}");
    // Lookup needs the same references.
    let (status, found) = h
        .send(
            "POST",
            "/subjects/customer",
            Some(json!({"schema": CUSTOMER, "references": reference(1)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (found["id"].clone(), found["references"].clone()),
        (json!(2), reference(1))
    );

    // referencedby
    let (_, ids) = h
        .send("GET", "/subjects/address/versions/1/referencedby", None)
        .await;
    assert_eq!(ids, json!([2]));
    let (_, none) = h
        .send("GET", "/subjects/customer/versions/1/referencedby", None)
        .await;
    assert_eq!(none, json!([]));
    let (status, body) = h
        .send("GET", "/subjects/address/versions/7/referencedby", None)
        .await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, 40402));
}

#[tokio::test]
async fn the_same_text_with_another_reference_is_another_schema() {
    let h = Harness::start().await;
    h.register("address", ADDRESS_V1).await;
    assert_eq!(h.register("address", ADDRESS_V2).await.1, json!({"id": 2}));
    assert_eq!(
        register_with(&h, "customer", CUSTOMER, reference(1))
            .await
            .1,
        json!({"id": 3})
    );
    // Customer on Address v2 reads Customer-on-v1 data (city has a default).
    assert_eq!(
        register_with(&h, "customer", CUSTOMER, reference(2))
            .await
            .1,
        json!({"id": 4})
    );
    assert_eq!(
        h.send("GET", "/subjects/customer/versions", None).await.1,
        json!([1, 2])
    );
}

#[tokio::test]
async fn compatibility_compares_the_referenced_types() {
    let h = Harness::start().await;
    h.register("address", ADDRESS_V1).await;
    // The strict Address lives in a subject with no compatibility rule.
    let (status, _) = h
        .send(
            "PUT",
            "/config/address-next",
            Some(json!({"compatibility": "NONE"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    h.register("address-next", ADDRESS_V2_STRICT).await;
    register_with(&h, "customer", CUSTOMER, reference(1)).await;
    let strict = json!([{ "name": "shop.Address", "subject": "address-next", "version": 1 }]);
    // Same Customer text, but its Address now has a required field that
    // Customer-v1 data lacks: BACKWARD refuses it.
    let (status, body) = h
        .send(
            "POST",
            "/compatibility/subjects/customer/versions/latest",
            Some(json!({"schema": CUSTOMER, "references": strict})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["is_compatible"], false, "{body}");
    let (status, body) = register_with(&h, "customer", CUSTOMER, strict).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, 409));
}

#[tokio::test]
async fn a_referenced_version_cannot_be_deleted_for_good() {
    let h = Harness::start().await;
    h.register("address", ADDRESS_V1).await;
    register_with(&h, "customer", CUSTOMER, reference(1)).await;
    // Soft delete is allowed: the text stays.
    let (status, _) = h.send("DELETE", "/subjects/address/versions/1", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h
        .send(
            "DELETE",
            "/subjects/address/versions/1?permanent=true",
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42206)
    );
    let (status, body) = h
        .send("DELETE", "/subjects/address?permanent=true", None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42206)
    );
    // The referencing schema still resolves.
    assert_eq!(
        h.send("GET", "/schemas/ids/2", None).await.0,
        StatusCode::OK
    );
    // Once the referrer is gone for good, the referenced version may go.
    h.send("DELETE", "/subjects/customer", None).await;
    let (status, _) = h
        .send("DELETE", "/subjects/customer?permanent=true", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = h
        .send(
            "DELETE",
            "/subjects/address/versions/1?permanent=true",
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!(1)));
}

#[tokio::test]
async fn references_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let registry = bind(&config(&dir)).await.unwrap();
    let h = Harness::with(registry);
    h.register("address", ADDRESS_V1).await;
    register_with(&h, "customer", CUSTOMER, reference(1)).await;
    drop(h);
    let h = Harness::with(bind(&config(&dir)).await.unwrap());
    assert_eq!(
        h.send("GET", "/schemas/ids/2", None).await.1["references"],
        reference(1)
    );
    assert_eq!(
        register_with(&h, "customer", CUSTOMER, reference(1))
            .await
            .1,
        json!({"id": 2})
    );
}

#[tokio::test]
async fn subjects_versions_and_schema_size_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut limited = config(&dir);
    limited.max_subjects = 2;
    limited.max_versions_per_subject = 2;
    limited.max_schema_bytes = 300;
    let h = Harness::with(bind(&limited).await.unwrap());
    assert_eq!(h.register("a", &v1()).await.0, StatusCode::OK);
    assert_eq!(h.register("b", &v1()).await.0, StatusCode::OK);
    let (status, body) = h.register("c", &v1()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42205)
    );
    assert!(
        body["message"].as_str().unwrap().contains("max_subjects"),
        "{body}"
    );
    // Re-registering what is there is still answered.
    assert_eq!(h.register("a", &v1()).await.1, json!({"id": 1}));
    assert_eq!(h.register("a", &v2_compatible()).await.0, StatusCode::OK);
    let third = record(
        r#"{"name":"id","type":"int"},{"name":"name","type":"string","default":""},{"name":"n","type":"int","default":0}"#,
    );
    let (status, body) = h.register("a", &third).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42205)
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("max_versions_per_subject"),
        "{body}"
    );
    let large = record(&format!(
        r#"{{"name":"id","type":"int"}},{{"name":"{}","type":"int","default":0}}"#,
        "x".repeat(400)
    ));
    let (status, body) = h.register("b", &large).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, 42209)
    );
    // A subject deleted for good frees its place.
    h.send("DELETE", "/subjects/b", None).await;
    h.send("DELETE", "/subjects/b?permanent=true", None).await;
    assert_eq!(h.register("c", &v1()).await.0, StatusCode::OK);
}
