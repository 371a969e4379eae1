//! Subjects, their versions and the schemas: registering, looking up,
//! reading and deleting.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiResult, AppState, CONTENT_TYPE, Params, Shared, change, flag, read_body, reply};
use crate::registry::errors::ApiError;
use crate::registry::state::{ParsedSchema, RegistryState, SubjectVersion, VersionSelector};
use tokio::sync::MutexGuard;

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
pub(super) struct SchemaBody {
    schema: String,
    references: Vec<Value>,
}

impl SchemaBody {
    pub(super) fn parse(&self, state: &RegistryState) -> Result<ParsedSchema, ApiError> {
        state.parse_schema(&self.schema, &self.references)
    }
}

/// Reads a `{"schema": ...}` body (an Avro schema, maybe with references).
pub(super) fn parse_schema_body(
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

fn parse_id(text: &str) -> Result<u32, ApiError> {
    text.parse().map_err(|_| ApiError::schema_not_found())
}

pub(super) async fn list_subjects(State(shared): State<AppState>, params: Params) -> ApiResult {
    let state = shared.state.lock().await;
    reply(json!(state.subject_names(flag(&params, "deleted"))))
}

pub(super) async fn list_versions(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> ApiResult {
    let state = shared.state.lock().await;
    reply(json!(
        state.version_numbers(&subject, flag(&params, "deleted"))?
    ))
}

pub(super) async fn register(
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
    let id = change(&shared, &mut state, |next| next.register(&subject, &schema)).await?;
    reply(json!({ "id": id }))
}

pub(super) async fn lookup(
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

pub(super) async fn get_version(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> ApiResult {
    let (state, found) = selected_version(&shared, &subject, &version, &params).await?;
    schema_json(
        &state,
        found.id,
        json!({ "subject": subject, "version": found.version, "id": found.id }),
    )
}

pub(super) async fn get_version_schema(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> ApiResult {
    let (state, found) = selected_version(&shared, &subject, &version, &params).await?;
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        state.schema_text(found.id)?.to_string(),
    )
        .into_response())
}

/// The version a path names (`latest`, `-1` or a number), with the state's
/// lock still held so the answer is read from the same state.
async fn selected_version<'a>(
    shared: &'a Shared,
    subject: &str,
    version: &str,
    params: &Params,
) -> Result<(MutexGuard<'a, RegistryState>, SubjectVersion), ApiError> {
    let selector = VersionSelector::parse(version)?;
    let state = shared.state.lock().await;
    let found = state
        .version(subject, selector, flag(params, "deleted"))?
        .clone();
    Ok((state, found))
}

pub(super) async fn get_schema_by_id(
    State(shared): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let state = shared.state.lock().await;
    schema_json(&state, id, json!({}))
}

/// Ids of the schemas that reference this version (Confluent's `referencedby`).
pub(super) async fn get_referenced_by(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> ApiResult {
    let selector = VersionSelector::parse(&version)?;
    let state = shared.state.lock().await;
    let found = state.version(&subject, selector, true)?.version;
    reply(json!(state.referenced_by(&subject, found)))
}

pub(super) async fn get_schema_usages(
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

pub(super) async fn delete_subject(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    params: Params,
) -> ApiResult {
    let mut state = shared.state.lock().await;
    let permanent = flag(&params, "permanent");
    let deleted = change(&shared, &mut state, |next| {
        next.delete_subject(&subject, permanent)
    })
    .await?;
    reply(json!(deleted))
}

pub(super) async fn delete_version(
    State(shared): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> ApiResult {
    let selector = VersionSelector::parse(&version)?;
    let mut state = shared.state.lock().await;
    let permanent = flag(&params, "permanent");
    let deleted = change(&shared, &mut state, |next| {
        next.delete_version(&subject, selector, permanent)
    })
    .await?;
    reply(json!(deleted))
}
