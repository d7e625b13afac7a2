//! Okta Event Hooks in: `GET|POST /hooks/okta/{connection}`, which the org calls (no admin
//! token: the connection's hook secret in `Authorization`), and
//! `GET|POST /api/connections/{connection}/hooks` to see and register a connection's hook.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use super::auth::{Reader, Writer};
use super::extract::Path;
use super::openapi::ErrorBody;
use super::{AppState, body};
use crate::error::{Error, Result};
use crate::model::AccountName;

fn presented(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
}

#[utoipa::path(get, path = "/hooks/okta/{account}", operation_id = "hooks_verify", tag = "connections", summary = "Okta's one-time verification of the connection's event hook (called by Okta)", description = "Okta sends the hook's secret in `Authorization` (no API key) and a challenge in `X-Okta-Verification-Challenge`, echoed back.", security(("hookSecret" = [])), params(("account" = String, Path, description = "The connection (account name)"), ("X-Okta-Verification-Challenge" = String, Header, description = "Okta's challenge")), responses((status = 200, description = "`{\"verification\": challenge}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
/// `GET /hooks/okta/{connection}`: Okta's one-time verification — the challenge in
/// `X-Okta-Verification-Challenge`, echoed as `{"verification": …}`.
pub(crate) async fn verify(
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let account = state.service.check_hook_secret(&account, presented(&headers)).await?;
    let challenge = headers
        .get("x-okta-verification-challenge")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Error::invalid(
                "X-Okta-Verification-Challenge",
                "this is where Okta verifies the event hook: a GET carries the X-Okta-Verification-Challenge header",
            )
        })?;
    tracing::info!(account = %account, "event hook verification answered");
    Ok(Json(json!({ "verification": challenge })))
}

#[utoipa::path(post, path = "/hooks/okta/{account}", operation_id = "hooks_call", tag = "connections", summary = "An Okta event hook call (called by Okta)", description = "Okta's event hook request (`data.events`), with the hook's secret in `Authorization` (no API key); recorded and answered at once, the objects it names read right after.", security(("hookSecret" = [])), params(("account" = String, Path, description = "The connection (account name)")), request_body(content = serde_json::Value, content_type = "application/json"), responses((status = 200, description = "`{\"duplicate\", \"newEvents\"}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
/// `POST /hooks/okta/{connection}`: an event hook call — checked, recorded and answered at
/// once (the objects its events name are read by the hook worker). The body is read only
/// after the hook's secret was checked, and at most [`body::HOOK_LIMIT`]: a stranger makes
/// okta-bridge read nothing.
pub(crate) async fn call(
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>> {
    let account = state.service.check_hook_secret(&account, presented(&headers)).await?;
    let body = body::read(body, body::HOOK_LIMIT).await?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid("body", format!("an event hook call is JSON: {e}")))?;
    // Recorded in a task of its own: a caller that hangs up mid-way cannot cut the recording
    // (and its transaction) short.
    let service = state.service.clone();
    let call = tokio::spawn(async move { service.receive_hook_call(&account, &body).await })
        .await
        .map_err(|e| Error::Internal(format!("recording an event hook call failed: {e}")))??;
    Ok(Json(json!({
        "duplicate": call.duplicate,
        "newEvents": call.new_events,
    })))
}

/// `GET /api/connections/{connection}/hooks`: the hook as kept and as the org says it is.
#[utoipa::path(get, path = "/api/connections/{account}/hooks", operation_id = "hooks_status", tag = "connections", summary = "The connection's Okta event hook, as kept and as the org has it", params(("account" = String, Path, description = "The connection (account name)")), responses((status = 200, description = "The hook", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn status(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    Ok(Json(state.service.hook_status(&account).await?))
}

/// `POST /api/connections/{connection}/hooks`: creates (or updates) and verifies the
/// connection's event hook at the org, called at this server's public URL.
#[utoipa::path(post, path = "/api/connections/{account}/hooks", operation_id = "hooks_register", tag = "connections", summary = "Create (or update) and verify the connection's event hook at the org", params(("account" = String, Path, description = "The connection (account name)")), responses((status = 200, description = "The hook", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn register(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    Ok(Json(state.service.register_hook(&account, &state.public_url).await?))
}
