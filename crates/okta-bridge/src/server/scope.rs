//! `/api/accounts/{name}/scope`: which of the org's users the account's directory holds —
//! `{"all": true}`, `{"groups": [...]}` or `{"app": "..."}` — set with the admin scope (`PUT`,
//! audited) and read by anyone who may read (`GET`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::Value;

use super::AppState;
use super::accounts::json_body;
use super::auth::{Admin, Reader};
use super::extract::Path;
use super::openapi::{ErrorBody, ScopePut, ScopeView};
use crate::error::Result;
use crate::model::{AccountName, ScopeBody};

/// `GET /api/accounts/{name}/scope`.
#[utoipa::path(get, path = "/api/accounts/{name}/scope", operation_id = "scope_get", tag = "scope", summary = "Which of the org's users the account's directory holds", params(("name" = String, Path, description = "The account")), responses((status = 200, description = "The scope", body = ScopeView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn get(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&name)?;
    Ok(Json(state.service.scope(&account).await?.view(&account)))
}

/// `PUT /api/accounts/{name}/scope` with `{"all": true}`, `{"groups": [...]}` or
/// `{"app": "..."}`: the next sync run reads the org under it and says exactly the difference.
#[utoipa::path(put, path = "/api/accounts/{name}/scope", operation_id = "scope_put", tag = "scope", summary = "Choose which of the org's users the account's directory holds", params(("name" = String, Path, description = "The account")), request_body(content = ScopePut, content_type = "application/json"), responses((status = 200, description = "The scope as stored", body = ScopeView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn put(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&name)?;
    let b: ScopeBody = json_body(&headers, &body, "the body")?;
    let stored = state.service.set_scope(&account, b, &caller.actor()).await?;
    Ok(Json(stored.view(&account)))
}
