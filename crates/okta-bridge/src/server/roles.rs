//! `/api/roles`: the application's roles, declared whole by its developer (`PUT`, admin scope)
//! and read by anyone who may read (`GET`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::AppState;
use super::accounts::json_body;
use super::auth::{Admin, Reader};
use super::openapi::{ErrorBody, RolesPut, RolesView};
use crate::error::Result;
use crate::model::{RolesBody, rfc3339};
use crate::store::StoredRoles;

fn roles_json(r: &StoredRoles) -> Value {
    json!({
        "roles": r.roles,
        "updatedAt": r.updated_at.and_then(rfc3339),
        "updatedBy": r.updated_by,
    })
}

/// `GET /api/roles`.
#[utoipa::path(get, path = "/api/roles", operation_id = "roles_get", tag = "roles", summary = "The application's roles, highest priority first", responses((status = 200, description = "The roles", body = RolesView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn get(_: Reader, State(state): State<Arc<AppState>>) -> Result<Json<Value>> {
    Ok(Json(roles_json(&state.service.roles().await?)))
}

/// `PUT /api/roles` with `{"roles": [{"slug", "name"}, …]}`: replaces the roles (the order is
/// the priority).
#[utoipa::path(put, path = "/api/roles", operation_id = "roles_put", tag = "roles", summary = "Declare the application's roles (the order is the priority)", request_body(content = RolesPut, content_type = "application/json"), responses((status = 200, description = "The roles as stored", body = RolesView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn put(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<Json<Value>> {
    let b: RolesBody = json_body(&headers, &body, "the body")?;
    let stored = state.service.set_roles(b.roles, &caller.actor()).await?;
    Ok(Json(roles_json(&stored)))
}
