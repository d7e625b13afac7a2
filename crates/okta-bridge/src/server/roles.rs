//! `/api/roles`: the application's roles, declared whole by its developer (`PUT`, admin scope)
//! and read by anyone who may read (`GET`); `/api/accounts/{name}/role-mappings`: which roles
//! each of an account's groups gives, and its default role (the same scopes).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::AppState;
use super::accounts::json_body;
use super::auth::{Admin, Reader};
use super::extract::Path;
use super::openapi::{ErrorBody, MappingsPut, MappingsView, RolesPut, RolesView};
use crate::error::Result;
use crate::model::{AccountName, RoleMappings, RolesBody, rfc3339};
use crate::store::{StoredMappings, StoredRoles};

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

fn mappings_json(account: &AccountName, m: &StoredMappings) -> Value {
    json!({
        "account": account,
        "mappings": m.mappings.mappings,
        "default": m.mappings.default,
        "updatedAt": m.updated_at.and_then(rfc3339),
        "updatedBy": m.updated_by,
    })
}

/// `GET /api/accounts/{name}/role-mappings`.
#[utoipa::path(get, path = "/api/accounts/{name}/role-mappings", operation_id = "role_mappings_get", tag = "roles", summary = "Which roles each of the account's groups gives, and its default role", params(("name" = String, Path, description = "The account")), responses((status = 200, description = "The mappings", body = MappingsView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn get_mappings(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&name)?;
    let m = state.service.role_mappings(&account).await?;
    Ok(Json(mappings_json(&account, &m)))
}

/// `PUT /api/accounts/{name}/role-mappings` with `{"mappings": [{"group", "roles"}], "default"}`:
/// replaces the account's mappings (audited with who did it).
#[utoipa::path(put, path = "/api/accounts/{name}/role-mappings", operation_id = "role_mappings_put", tag = "roles", summary = "Map the account's groups to the application's roles", params(("name" = String, Path, description = "The account")), request_body(content = MappingsPut, content_type = "application/json"), responses((status = 200, description = "The mappings as stored", body = MappingsView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn put_mappings(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&name)?;
    let b: RoleMappings = json_body(&headers, &body, "the body")?;
    let m = state.service.set_role_mappings(&account, b, &caller.actor()).await?;
    Ok(Json(mappings_json(&account, &m)))
}
