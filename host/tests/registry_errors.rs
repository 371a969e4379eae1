//! Issue 17 item 10: what a member does with each answer a registry can give
//! when it asks for a schema by id. A fake registry (axum, in the test)
//! answers a scripted sequence; the decoder is driven the way the member's
//! batch loop drives it (`RegistryUnavailable` = wait and ask again,
//! `Undecodable` = dead letter).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pipeline::codec::{DecodeError, ValueSchema, WireDecoder, WireEncoder};
use pipeline::config::SchemaRegistryConfig;
use pipeline::record::{FieldValue, Record};

/// One scripted answer: status, body.
type Answer = (u16, String);

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    /// Given once the script is used up.
    last: Arc<Mutex<Option<Answer>>>,
    calls: Arc<Mutex<u32>>,
}

async fn schema_by_id(State(script): State<Script>) -> Response {
    *script.calls.lock().unwrap() += 1;
    let next = script.answers.lock().unwrap().pop_front();
    let (status, body) = next
        .or_else(|| script.last.lock().unwrap().clone())
        .unwrap_or((500, "script empty".into()));
    (StatusCode::from_u16(status).unwrap(), body).into_response()
}

async fn fake_registry(script: Script) -> SocketAddr {
    let app = Router::new()
        .route("/schemas/ids/{id}", get(schema_by_id))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

fn schema() -> ValueSchema {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/product_value_avro_schema.json");
    ValueSchema::load(&path).unwrap()
}

fn record() -> Record {
    Record::default()
        .with("id", FieldValue::Int(7))
        .with("name", FieldValue::Text("Lamp".into()))
        .with("category", FieldValue::Text("cat_5".into()))
        .with("price", FieldValue::Double(12.5))
        .with("last_updated", FieldValue::Long(1_764_064_800_123_456))
}

fn found_body() -> String {
    serde_json::json!({ "schema": schema().text }).to_string()
}

fn not_found_body() -> String {
    r#"{"error_code":40403,"message":"Schema 1 not found"}"#.into()
}

fn decoder(address: SocketAddr, missing_schema_wait_ms: u64) -> WireDecoder {
    WireDecoder::new(&SchemaRegistryConfig {
        url: format!("http://{address}"),
        basic_auth: None,
        missing_schema_wait_ms,
    })
    .unwrap()
}

/// Asks until the decoder gives a final answer, as the member does (without
/// its backoff); returns it and how many "wait" answers came first.
async fn decode_until_final(
    decoder: &WireDecoder,
    payload: &[u8],
    deadline: Duration,
) -> (Result<Record, String>, u32) {
    let start = Instant::now();
    let mut waits = 0;
    loop {
        match decoder.decode(Some(payload)).await {
            Ok(record) => return (Ok(record), waits),
            Err(DecodeError::Undecodable(reason)) => return (Err(reason), waits),
            Err(DecodeError::RegistryUnavailable(_)) => {
                waits += 1;
                assert!(
                    start.elapsed() < deadline,
                    "still waiting after {deadline:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn transient_registry_errors_wait_and_the_record_is_decoded() {
    let script = Script::default();
    let html = "<html><body>502 Bad Gateway</body></html>".to_string();
    script.answers.lock().unwrap().extend([
        (
            500,
            r#"{"error_code":50001,"message":"store error"}"#.into(),
        ),
        (503, html.clone()),
        (429, "slow down".into()),
        (408, String::new()),
        (401, r#"{"error_code":401,"message":"Unauthorized"}"#.into()),
        (403, r#"{"error_code":40301,"message":"forbidden"}"#.into()),
        (404, html.clone()), // a proxy's 404, not the registry's 40403
        (200, html),         // a body that is not the registry's JSON
        (200, r#"{"id":1}"#.into()),
    ]);
    *script.last.lock().unwrap() = Some((200, found_body()));
    let address = fake_registry(script.clone()).await;
    // A zero window: even so, none of these may dead-letter.
    let decoder = decoder(address, 0);
    let payload = WireEncoder::with_id(&schema(), 1)
        .encode(&record())
        .unwrap();
    let (outcome, waits) = decode_until_final(&decoder, &payload, Duration::from_secs(60)).await;
    assert_eq!(outcome, Ok(record()));
    assert_eq!(waits, 9);
    assert_eq!(*script.calls.lock().unwrap(), 10);
}

#[tokio::test]
async fn an_unreachable_registry_is_waited_for() {
    // A port with nothing listening: bind one, then drop it.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let payload = WireEncoder::with_id(&schema(), 1)
        .encode(&record())
        .unwrap();
    let outcome = decoder(address, 0).decode(Some(&payload)).await;
    assert!(
        matches!(outcome, Err(DecodeError::RegistryUnavailable(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_lagging_not_found_inside_the_window_is_retried() {
    let script = Script::default();
    script
        .answers
        .lock()
        .unwrap()
        .extend([(404, not_found_body()), (404, not_found_body())]);
    *script.last.lock().unwrap() = Some((200, found_body()));
    let address = fake_registry(script).await;
    let decoder = decoder(address, 60_000);
    let payload = WireEncoder::with_id(&schema(), 1)
        .encode(&record())
        .unwrap();
    let (outcome, waits) = decode_until_final(&decoder, &payload, Duration::from_secs(60)).await;
    assert_eq!(outcome, Ok(record()));
    assert_eq!(waits, 2);
}

#[tokio::test]
async fn a_definite_not_found_is_a_dead_letter_after_the_window() {
    let script = Script::default();
    *script.last.lock().unwrap() = Some((404, not_found_body()));
    let address = fake_registry(script).await;
    let window = Duration::from_millis(500);
    let decoder = decoder(address, window.as_millis() as u64);
    let payload = WireEncoder::with_id(&schema(), 1)
        .encode(&record())
        .unwrap();
    let start = Instant::now();
    let (outcome, waits) = decode_until_final(&decoder, &payload, Duration::from_secs(60)).await;
    let reason = outcome.unwrap_err();
    assert!(reason.contains("no such schema"), "{reason}");
    assert!(start.elapsed() >= window, "dead-lettered inside the window");
    assert!(waits >= 1);
    // Once confirmed, later records of that id do not wait again.
    let again = decoder.decode(Some(&payload)).await;
    assert!(
        matches!(&again, Err(DecodeError::Undecodable(_))),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_schema_that_is_not_avro_is_a_dead_letter() {
    let script = Script::default();
    *script.last.lock().unwrap() = Some((
        200,
        r#"{"schema":"syntax = \"proto3\";","schemaType":"PROTOBUF"}"#.into(),
    ));
    let address = fake_registry(script).await;
    let payload = WireEncoder::with_id(&schema(), 1)
        .encode(&record())
        .unwrap();
    let outcome = decoder(address, 60_000).decode(Some(&payload)).await;
    assert!(
        matches!(&outcome, Err(DecodeError::Undecodable(reason)) if reason.contains("PROTOBUF")),
        "{outcome:?}"
    );
}
