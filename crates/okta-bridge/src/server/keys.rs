//! `/api/api-keys`: make, list and revoke API keys (admin scope).

use std::sync::Arc;

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
use super::openapi::{ApiKeyView, CreatedApiKey, ErrorBody, NewApiKeyBody};
use crate::error::Result;
use crate::model::{ApiKey, Scope};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    name: String,
    scope: String,
}

/// `POST /api/api-keys {"name", "scope"}`: a new key, shown in this answer only.
#[utoipa::path(post, path = "/api/api-keys", operation_id = "keys_create", tag = "keys", summary = "Make an API key; the key is in this answer only", request_body(content = NewApiKeyBody, content_type = "application/json"), responses((status = 201, description = "The key", body = CreatedApiKey), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn create(
    _: Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<(StatusCode, Json<Value>)> {
    let new: NewKey = json_body(&headers, &body, "the key")?;
    let scope = Scope::parse(&new.scope)?;
    let (key, secret) = state.service.create_api_key(&new.name, scope).await?;
    let mut body = serde_json::to_value(&key).unwrap_or_default();
    body["key"] = json!(secret.expose_secret());
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /api/api-keys`: every key (never the key itself), newest first.
#[utoipa::path(get, path = "/api/api-keys", operation_id = "keys_list", tag = "keys", summary = "The keys (never the keys themselves), newest first", responses((status = 200, description = "Keys", body = Vec<ApiKeyView>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn list(_: Admin, State(state): State<Arc<AppState>>) -> Result<Json<Vec<ApiKey>>> {
    Ok(Json(state.store().api_keys().await?))
}

/// `DELETE /api/api-keys/{id}`: revokes the key with that id (or name).
#[utoipa::path(delete, path = "/api/api-keys/{id}", operation_id = "keys_revoke", tag = "keys", summary = "Revoke a key (by id or name)", params(("id" = String, Path, description = "The key (ak_…) or its name")), responses((status = 200, description = "The key", body = ApiKeyView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn revoke(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>> {
    Ok(Json(state.service.revoke_api_key(&id).await?))
}
