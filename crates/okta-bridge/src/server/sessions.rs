//! `/api/console/sessions`: who is signed in to the console and how, and ending every session
//! of a person (admin scope).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Admin;
use super::extract::Path;
use super::openapi::{ConsoleSessionView, ErrorBody};
use crate::error::Result;
use crate::model::ConsoleSession;

/// `GET /api/console/sessions`: every live console session.
#[utoipa::path(get, path = "/api/console/sessions", operation_id = "console_sessions", tag = "console", summary = "Live console sessions: who, how they were granted, when they end", responses((status = 200, description = "Sessions", body = Vec<ConsoleSessionView>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn list(_: Admin, State(state): State<Arc<AppState>>) -> Result<Json<Vec<ConsoleSession>>> {
    Ok(Json(state.store().console_sessions().await?))
}

/// `DELETE /api/console/sessions/{person}`: ends every OpenID Connect session of a person.
#[utoipa::path(delete, path = "/api/console/sessions/{person}", operation_id = "console_sessions_end", tag = "console", summary = "End every console session of a person", description = "Every session signed in with OpenID Connect by this person (their email, in any case, or their subject) ends at once; their next page asks them to sign in again. Sessions signed in with the admin token end when the token changes.", params(("person" = String, Path, description = "The person's email or subject (`sub`)")), responses((status = 200, description = "`{\"person\", \"ended\"}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn end(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(person): Path<String>,
) -> Result<Json<Value>> {
    let ended = state.store().end_sessions_of(&person).await?;
    tracing::info!(person = %person.escape_debug(), ended, "console sessions ended by an admin");
    Ok(Json(json!({ "person": person, "ended": ended })))
}
