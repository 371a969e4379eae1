//! Compatibility levels (global and per subject) and the compatibility check.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::subjects::parse_schema_body;
use super::{ApiResult, AppState, Params, Shared, change, flag, read_body, reply};
use crate::registry::compatibility::CompatibilityLevel;
use crate::registry::errors::ApiError;
use crate::registry::state::VersionSelector;

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

pub(super) async fn get_global_config(State(shared): State<AppState>) -> ApiResult {
    let state = shared.state.lock().await;
    reply(json!({ "compatibilityLevel": state.global_compatibility.as_str() }))
}

pub(super) async fn put_global_config(
    State(shared): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let level = parse_level_body(&shared, body)?;
    let mut state = shared.state.lock().await;
    change(&shared, &mut state, |next| {
        next.global_compatibility = level;
        Ok(())
    })
    .await?;
    reply(json!({ "compatibility": level.as_str() }))
}

pub(super) async fn get_subject_config(
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

pub(super) async fn put_subject_config(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let level = parse_level_body(&shared, body)?;
    let mut state = shared.state.lock().await;
    shared.limits.check_new_subject(&state, &subject)?;
    change(&shared, &mut state, |next| {
        next.subjects.entry(subject).or_default().compatibility = Some(level);
        Ok(())
    })
    .await?;
    reply(json!({ "compatibility": level.as_str() }))
}

pub(super) async fn delete_subject_config(
    State(shared): State<AppState>,
    Path(subject): Path<String>,
) -> ApiResult {
    let mut state = shared.state.lock().await;
    let previous = change(&shared, &mut state, |next| {
        next.subjects
            .get_mut(&subject)
            .and_then(|s| s.compatibility.take())
            .ok_or_else(|| ApiError::subject_compatibility_not_configured(&subject))
    })
    .await?;
    reply(json!({ "compatibilityLevel": previous.as_str() }))
}

pub(super) async fn check_compatibility(
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
