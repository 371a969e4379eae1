//! The HTTP surface: Confluent's REST paths, mapped onto [`RegistryState`]
//! (`subjects`: subjects, versions and schemas; `config`: compatibility
//! levels and checks).
//!
//! Bodies are read as raw bytes and parsed here, not with axum's `Json`, so
//! any content type (Confluent's, plain JSON, none) is accepted and a bad body
//! becomes a Confluent error instead of axum's plain-text rejection.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::errors::ApiError;
use super::state::RegistryState;
use super::store::Store;

mod config;
mod subjects;

use config::{
    check_compatibility, delete_subject_config, get_global_config, get_subject_config,
    put_global_config, put_subject_config,
};
use subjects::{
    delete_subject, delete_version, get_referenced_by, get_schema_by_id, get_schema_usages,
    get_version, get_version_schema, list_subjects, list_versions, lookup, register,
};

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
    pub(super) fn check(
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
    pub(super) fn check_new_subject(
        &self,
        state: &RegistryState,
        subject: &str,
    ) -> Result<(), ApiError> {
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

pub(super) type AppState = Arc<Shared>;
pub(super) type Params = Query<HashMap<String, String>>;
pub(super) type ApiResult = Result<Response, ApiError>;

pub(super) fn reply(body: Value) -> ApiResult {
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response())
}

/// A query flag, case-insensitively (`true`, `True`, `TRUE`).
pub(super) fn flag(params: &Params, name: &str) -> bool {
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

pub(super) fn read_body(
    shared: &Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(shared.max_body_bytes)
        } else {
            ApiError::bad_request(format!("unreadable request body: {rejection}"))
        }
    })
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

/// Applies `edit` to a copy of the live state and commits it (see
/// [`commit`]): every write path goes through here, under the caller's lock.
pub(super) async fn change<T>(
    shared: &Shared,
    live: &mut RegistryState,
    edit: impl FnOnce(&mut RegistryState) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut next = live.clone();
    let answer = edit(&mut next)?;
    commit(shared, live, next).await?;
    Ok(answer)
}
