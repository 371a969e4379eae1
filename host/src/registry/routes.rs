//! The HTTP surface: Confluent's REST paths, mapped onto [`RegistryState`].
//!
//! Bodies are read as raw bytes and parsed here, not with axum's `Json`, so
//! any content type (Confluent's, plain JSON, none) is accepted and a bad body
//! becomes a Confluent error instead of axum's plain-text rejection.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::compatibility::CompatibilityLevel;
use super::errors::ApiError;
use super::state::{ParsedSchema, RegistryState, VersionSelector};
use super::store::Store;

/// Confluent's media type, sent on every response.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The state and its store behind one lock, so writes are serialised and the
/// file always matches memory.
pub struct Shared {
    pub state: Mutex<RegistryState>,
    pub store: Store,
    pub max_body_bytes: usize,
    pub limits: Limits,
}

/// Bounds that keep an exposed registry's state (and so each write) small.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_subjects: usize,
    pub max_versions_per_subject: usize,
    pub max_schema_bytes: usize,
}

impl Limits {
    /// Refuses a registration that would pass a bound. Called only for a
    /// schema that is new to `subject` (re-registering is always answered).
    fn check(
        &self,
        state: &RegistryState,
        subject: &str,
        schema_text: &str,
    ) -> Result<(), ApiError> {
        if schema_text.len() > self.max_schema_bytes {
            return Err(ApiError::schema_too_large(
                schema_text.len(),
                self.max_schema_bytes,
            ));
        }
        match state.subjects.get(subject) {
            Some(existing) if !existing.versions.is_empty() => {
                if existing.versions.len() >= self.max_versions_per_subject {
                    return Err(ApiError::limit_reached(
                        &format!(
                            "versions in subject `{subject}` (soft-deleted ones count until deleted permanently)"
                        ),
                        self.max_versions_per_subject,
                        "max_versions_per_subject",
                    ));
                }
            }
            _ => self.check_new_subject(state, subject)?,
        }
        Ok(())
    }

    /// Refuses a subject that would be one too many (subjects with only a
    /// compatibility setting count too: each is an entry in the state).
    fn check_new_subject(&self, state: &RegistryState, subject: &str) -> Result<(), ApiError> {
        if !state.subjects.contains_key(subject) && state.subjects.len() >= self.max_subjects {
            return Err(ApiError::limit_reached(
                "subjects (soft-deleted ones count until deleted permanently)",
                self.max_subjects,
                "max_subjects",
            ));
        }
        Ok(())
    }
}

type AppState = Arc<Shared>;
type Params = Query<HashMap<String, String>>;
type ApiResult = Result<Response, ApiError>;

fn reply(body: Value) -> ApiResult {
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response())
}

/// A query flag, case-insensitively (`true`, `True`, `TRUE`).
fn flag(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|value| value.eq_ignore_ascii_case("true"))
}

pub fn router(shared: AppState) -> Router {
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(get_referenced_by),
        )
        .route("/schemas/ids/{id}", get(get_schema_by_id))
        .route("/schemas/ids/{id}/versions", get(get_schema_usages))
        .route("/schemas/types", get(|| async { reply(json!(["AVRO"])) }))
        .route("/config", get(get_global_config).put(put_global_config))
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_compatibility),
        )
        .route("/", get(|| async { reply(json!({})) }))
        .fallback(|| async { ApiError::path_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(shared)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest {
    schema: String,
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Value>,
}

/// A `{"schema": ..., "references": [...]}` body, read but not yet parsed:
/// references resolve against the state, under its lock.
struct SchemaBody {
    schema: String,
    references: Vec<Value>,
}

impl SchemaBody {
    fn parse(&self, state: &RegistryState) -> Result<ParsedSchema, ApiError> {
        state.parse_schema(&self.schema, &self.references)
    }
}

/// Reads a `{"schema": ...}` body (an Avro schema, maybe with references).
fn parse_schema_body(
    shared: &Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<SchemaBody, ApiError> {
    let bytes = read_body(shared, body)?;
    let request: SchemaRequest = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::invalid_schema(format!(
            "the request body is not valid JSON of the form {{\"schema\": \"...\"}}: {error}"
        ))
    })?;
    if let Some(kind) = &request.schema_type
        && !kind.eq_ignore_ascii_case("AVRO")
    {
        return Err(ApiError::invalid_schema(format!(
            "schemaType {kind} is not supported by this registry, only AVRO"
        )));
    }
    Ok(SchemaBody {
        schema: request.schema,
        references: request.references,
    })
}

/// The JSON of a stored version or schema: `schema`, plus `references`
/// when it has any (as Confluent's registry answers).
fn schema_json(state: &RegistryState, id: u32, mut fields: Value) -> ApiResult {
    let stored = state.stored(id)?;
    fields["schema"] = json!(stored.schema);
    if !stored.references.is_empty() {
        fields["references"] = json!(stored.references);
    }
    reply(fields)
}

fn read_body(shared: &Shared, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(shared.max_body_bytes)
        } else {
            ApiError::bad_request(format!("unreadable request body: {rejection}"))
        }
    })
}

fn parse_id(text: &str) -> Result<u32, ApiError> {
    text.parse().map_err(|_| ApiError::schema_not_found())
}

/// Saves `next` (the change from `live`, appended to the journal) and only
/// then makes it the live state, so a failed write leaves both memory and
/// disk on the previous state. The fsyncs run on the blocking pool; the
/// caller still holds the lock, which keeps writes in order.
async fn commit(
    shared: &Shared,
    live: &mut RegistryState,
    next: RegistryState,
) -> Result<(), ApiError> {
    let store = shared.store.clone();
    let line = Store::change_line(live, &next).map_err(ApiError::store_error)?;
    let saved = tokio::task::spawn_blocking(move || store.append(&line, &next).map(|()| next))
        .await
        .map_err(ApiError::store_error)?
        .map_err(ApiError::store_error)?;
    *live = saved;
    Ok(())
}

async fn list_subjects(State(shared): State<AppState>, params: Params) -> ApiResult {
    let state = shared.state.lock().await;
    reply(json!(state.subject_names(flag(&params, "deleted"))))
}

async fn list_versions(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> ApiResult {
    let state = shared.state.lock().await;
    reply(json!(
        state.version_numbers(&subject, flag(&params, "deleted"))?
    ))
}

async fn register(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = parse_schema_body(&shared, body)?;
    let mut state = shared.state.lock().await;
    let schema = body.parse(&state)?;
    if let Ok(existing) = state.find_in_subject(&subject, &schema) {
        return reply(json!({ "id": existing.id }));
    }
    shared.limits.check(&state, &subject, &schema.text)?;
    let mut next = state.clone();
    let id = next.register(&subject, &schema)?;
    commit(&shared, &mut state, next).await?;
    reply(json!({ "id": id }))
}

async fn lookup(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = parse_schema_body(&shared, body)?;
    let state = shared.state.lock().await;
    let schema = body.parse(&state)?;
    let found = state.find_in_subject(&subject, &schema)?;
    schema_json(
        &state,
        found.id,
        json!({ "subject": subject, "version": found.version, "id": found.id }),
    )
}

async fn get_version(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> ApiResult {
    let selector = VersionSelector::parse(&version)?;
    let state = shared.state.lock().await;
    let found = state.version(&subject, selector, flag(&params, "deleted"))?;
    schema_json(
        &state,
        found.id,
        json!({ "subject": subject, "version": found.version, "id": found.id }),
    )
}

async fn get_version_schema(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> ApiResult {
    let selector = VersionSelector::parse(&version)?;
    let state = shared.state.lock().await;
    let found = state.version(&subject, selector, flag(&params, "deleted"))?;
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        state.schema_text(found.id)?.to_string(),
    )
        .into_response())
}

async fn get_schema_by_id(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let state = shared.state.lock().await;
    schema_json(&state, id, json!({}))
}

/// Ids of the schemas that reference this version (Confluent's `referencedby`).
async fn get_referenced_by(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> ApiResult {
    let selector = VersionSelector::parse(&version)?;
    let state = shared.state.lock().await;
    let found = state.version(&subject, selector, true)?.version;
    reply(json!(state.referenced_by(&subject, found)))
}

async fn get_schema_usages(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult {
    let id = parse_id(&id)?;
    let state = shared.state.lock().await;
    state.schema_text(id)?;
    let usages: Vec<Value> = state
        .usages(id, flag(&params, "deleted"))
        .into_iter()
        .map(|(subject, version)| json!({ "subject": subject, "version": version }))
        .collect();
    reply(json!(usages))
}

async fn delete_subject(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> ApiResult {
    let mut state = shared.state.lock().await;
    let mut next = state.clone();
    let deleted = next.delete_subject(&subject, flag(&params, "permanent"))?;
    commit(&shared, &mut state, next).await?;
    reply(json!(deleted))
}

async fn delete_version(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> ApiResult {
    let selector = VersionSelector::parse(&version)?;
    let mut state = shared.state.lock().await;
    let mut next = state.clone();
    let deleted = next.delete_version(&subject, selector, flag(&params, "permanent"))?;
    commit(&shared, &mut state, next).await?;
    reply(json!(deleted))
}

/// Reads `{"compatibility": "LEVEL"}`.
fn parse_level_body(
    shared: &Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<CompatibilityLevel, ApiError> {
    let bytes = read_body(shared, body)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::bad_request(format!("the request body is not valid JSON: {error}"))
    })?;
    let text = value
        .get("compatibility")
        .and_then(Value::as_str)
        .unwrap_or_default();
    CompatibilityLevel::parse(text).ok_or_else(|| ApiError::invalid_compatibility_level(text))
}

async fn get_global_config(State(shared): State<AppState>) -> ApiResult {
    let state = shared.state.lock().await;
    reply(json!({ "compatibilityLevel": state.global_compatibility.as_str() }))
}

async fn put_global_config(
    State(shared): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let level = parse_level_body(&shared, body)?;
    let mut state = shared.state.lock().await;
    let mut next = state.clone();
    next.global_compatibility = level;
    commit(&shared, &mut state, next).await?;
    reply(json!({ "compatibility": level.as_str() }))
}

async fn get_subject_config(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> ApiResult {
    let state = shared.state.lock().await;
    let configured = state.subjects.get(&subject).and_then(|s| s.compatibility);
    let level = match configured {
        Some(level) => level,
        None if flag(&params, "defaultToGlobal") => state.global_compatibility,
        None => return Err(ApiError::subject_compatibility_not_configured(&subject)),
    };
    reply(json!({ "compatibilityLevel": level.as_str() }))
}

async fn put_subject_config(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let level = parse_level_body(&shared, body)?;
    let mut state = shared.state.lock().await;
    shared.limits.check_new_subject(&state, &subject)?;
    let mut next = state.clone();
    next.subjects.entry(subject).or_default().compatibility = Some(level);
    commit(&shared, &mut state, next).await?;
    reply(json!({ "compatibility": level.as_str() }))
}

async fn delete_subject_config(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
) -> ApiResult {
    let mut state = shared.state.lock().await;
    let mut next = state.clone();
    let previous = next
        .subjects
        .get_mut(&subject)
        .and_then(|s| s.compatibility.take())
        .ok_or_else(|| ApiError::subject_compatibility_not_configured(&subject))?;
    commit(&shared, &mut state, next).await?;
    reply(json!({ "compatibilityLevel": previous.as_str() }))
}

async fn check_compatibility(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let selector = VersionSelector::parse(&version)?;
    let body = parse_schema_body(&shared, body)?;
    let state = shared.state.lock().await;
    let schema = body.parse(&state)?;
    let against = state.version(&subject, selector, false)?.version;
    let level = state.effective_compatibility(&subject);
    let only = match selector {
        VersionSelector::Latest if level.is_transitive() => None,
        _ => Some(against),
    };
    let reasons = state.check_compatibility(&subject, &schema, only);
    if flag(&params, "verbose") {
        reply(json!({ "is_compatible": reasons.is_empty(), "messages": reasons }))
    } else {
        reply(json!({ "is_compatible": reasons.is_empty() }))
    }
}
