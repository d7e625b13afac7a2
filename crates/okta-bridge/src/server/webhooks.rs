//! `/api/webhooks`: the endpoints the change feed is delivered to. A signing secret is in the
//! answer that makes it (and the one that rotates it), never in any other.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::accounts::json_body;
use super::auth::Admin;
use super::extract::Path;
use super::openapi::{ErrorBody, NewWebhookBody, ReplayBody, RotateBody, WebhookChangeBody, WebhookView};
use crate::error::{Error, Result};
use crate::model::{AccountName, Webhook, WebhookSecret};
use crate::service::WebhookChange;

/// The secrets' default overlap on rotation: a day.
const DEFAULT_OVERLAP: Duration = Duration::from_secs(24 * 3600);

fn with_secret(hook: &Webhook, secret: &WebhookSecret) -> Value {
    let mut v = serde_json::to_value(hook).unwrap_or(Value::Null);
    v["secret"] = json!(secret.expose_secret());
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    events: Option<Vec<String>>,
    connections: Option<Vec<String>>,
}

/// `POST /api/webhooks {"url", "events"?, "connections"?}`: 201 with the endpoint and its
/// `secret`, shown this once.
#[utoipa::path(post, path = "/api/webhooks", operation_id = "webhooks_create", tag = "webhooks", summary = "Make an endpoint; its signing secret is in this answer only", request_body(content = NewWebhookBody, content_type = "application/json"), responses((status = 201, description = "The endpoint and its `secret`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn create(
    _: Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<(StatusCode, Json<Value>)> {
    let input: NewWebhook = json_body(&headers, &body, "the webhook")?;
    let (hook, secret) = state
        .service
        .create_webhook(&input.url, input.events, input.connections)
        .await?;
    Ok((StatusCode::CREATED, Json(with_secret(&hook, &secret))))
}

/// `GET /api/webhooks`.
#[utoipa::path(get, path = "/api/webhooks", operation_id = "webhooks_list", tag = "webhooks", summary = "The endpoints", responses((status = 200, description = "`{\"webhooks\": [...]}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn list(_: Admin, State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    Ok(Json(json!({ "webhooks": state.service.webhooks().await? })))
}

/// `GET /api/webhooks/{id}`.
#[utoipa::path(get, path = "/api/webhooks/{id}", operation_id = "webhooks_get", tag = "webhooks", summary = "One endpoint", params(("id" = String, Path, description = "The endpoint (wh_…)")), responses((status = 200, description = "The endpoint", body = WebhookView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn get(_: Admin, State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Webhook>> {
    Ok(Json(state.service.webhook(&id).await?))
}

/// A list field of a change: absent (unchanged), `null` (all), or names.
fn list_field(body: &serde_json::Map<String, Value>, field: &'static str) -> Result<Option<Option<Vec<String>>>> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => serde_json::from_value(v.clone())
            .map(|names| Some(Some(names)))
            .map_err(|_| Error::invalid(field, "a list of names, or null for all")),
    }
}

/// `PATCH /api/webhooks/{id} {"url"?, "events"?, "connections"?, "status"?: "active"}`: each
/// field given replaces the stored one (`null`: every event type, or every connection).
#[utoipa::path(patch, path = "/api/webhooks/{id}", operation_id = "webhooks_update", tag = "webhooks", summary = "Change an endpoint", params(("id" = String, Path, description = "The endpoint (wh_…)")), request_body(content = WebhookChangeBody, content_type = "application/json"), responses((status = 200, description = "The endpoint", body = WebhookView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn update(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<Json<Webhook>> {
    let body: serde_json::Map<String, Value> = json_body(&headers, &body, "the change")?;
    if let Some(unknown) = body
        .keys()
        .find(|k| !["url", "events", "connections", "status"].contains(&k.as_str()))
    {
        return Err(Error::invalid(
            "body",
            format!("unknown field {unknown:?}: url, events, connections or status"),
        ));
    }
    let text = |field: &'static str| -> Result<Option<String>> {
        body.get(field)
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::invalid(field, "a string"))
            })
            .transpose()
    };
    let change = WebhookChange {
        url: text("url")?,
        events: list_field(&body, "events")?,
        connections: list_field(&body, "connections")?,
        status: text("status")?,
    };
    Ok(Json(state.service.update_webhook(&id, change).await?))
}

/// `DELETE /api/webhooks/{id}`: 204.
#[utoipa::path(delete, path = "/api/webhooks/{id}", operation_id = "webhooks_delete", tag = "webhooks", summary = "Delete an endpoint", params(("id" = String, Path, description = "The endpoint (wh_…)")), responses((status = 204, description = "Deleted"), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn delete(_: Admin, State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<StatusCode> {
    state.service.delete_webhook(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Rotate {
    pub(super) overlap_seconds: Option<u64>,
}

/// `POST /api/webhooks/{id}/rotate-secret {"overlapSeconds"?}`: the endpoint with its new
/// `secret`; the old one signs too for the overlap (default a day, at most 7 days).
#[utoipa::path(post, path = "/api/webhooks/{id}/rotate-secret", operation_id = "webhooks_rotate_secret", tag = "webhooks", summary = "A new signing secret; the old one signs too for the overlap", params(("id" = String, Path, description = "The endpoint (wh_…)")), request_body(content = Option<RotateBody>, content_type = "application/json"), responses((status = 200, description = "The endpoint and its new `secret`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn rotate_secret(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<Json<Value>> {
    let input: Rotate = if body.is_empty() {
        Rotate::default()
    } else {
        json_body(&headers, &body, "the rotation")?
    };
    let overlap = input.overlap_seconds.map_or(DEFAULT_OVERLAP, Duration::from_secs);
    let (hook, secret) = state.service.rotate_webhook_secret(&id, overlap).await?;
    Ok(Json(with_secret(&hook, &secret)))
}

/// `GET /api/webhooks/{id}/deliveries`: where each connection's stream stands (the last event
/// delivered, failed attempts at the next, the last error) and the newest 100 attempts.
#[utoipa::path(get, path = "/api/webhooks/{id}/deliveries", operation_id = "webhooks_deliveries", tag = "webhooks", summary = "Where each connection's stream stands and the newest attempts", params(("id" = String, Path, description = "The endpoint (wh_…)")), responses((status = 200, description = "`{\"streams\", \"attempts\", \"circuit\"}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn deliveries(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    state.service.webhook(&id).await?;
    let streams = state.store().webhook_streams(&id).await?;
    let attempts = state.store().webhook_attempts(&id, 100).await?;
    let (failures, open_until) = state.store().circuit(&id).await?;
    let open_until = open_until
        .filter(|t| *t > crate::model::now())
        .and_then(crate::model::rfc3339);
    let circuit = json!({ "open": open_until.is_some(), "openUntil": open_until, "failures": failures });
    Ok(Json(
        json!({ "streams": streams, "attempts": attempts, "circuit": circuit }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replay {
    connection: String,
    after: i64,
}

/// `POST /api/webhooks/{id}/replay {"connection", "after"}`: `connection`'s events after cursor
/// `after` are delivered to the endpoint again, in order; answers the stream.
#[utoipa::path(post, path = "/api/webhooks/{id}/replay", operation_id = "webhooks_replay", tag = "webhooks", summary = "Deliver a connection's events after a cursor again, in order", params(("id" = String, Path, description = "The endpoint (wh_…)")), request_body(content = ReplayBody, content_type = "application/json"), responses((status = 200, description = "The stream", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn replay(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<Json<Value>> {
    let input: Replay = json_body(&headers, &body, "the replay")?;
    let account = AccountName::parse(&input.connection)?;
    let stream = state.service.replay_webhook(&id, &account, input.after).await?;
    Ok(Json(json!(stream)))
}
