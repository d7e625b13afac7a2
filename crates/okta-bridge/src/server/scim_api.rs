//! `/api/accounts/{name}/scim`: an account's SCIM push turned on (its base URL and token,
//! the token in this answer only), its state, its token rotated with an overlap, turned off.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::AppState;
use super::accounts::json_body;
use super::auth::Admin;
use super::extract::Path;
use super::openapi::{ErrorBody, RotateBody};
use crate::error::Result;
use crate::model::{AccountName, ScimToken};

/// A rotated-out SCIM token's default overlap: a day (time to paste the new one in Okta).
const DEFAULT_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// The base URL of `account`'s SCIM endpoint, as Okta's admin pastes it.
pub(crate) fn base_url(state: &AppState, account: &AccountName) -> String {
    format!("{}/scim/v2/{account}", state.base())
}

fn with_token(state: &AppState, account: &AccountName, token: &ScimToken) -> Value {
    json!({
        "account": account,
        "baseUrl": base_url(state, account),
        "token": token.expose_secret(),
        "authentication": "HTTP Header: Authorization: Bearer <token>",
    })
}

/// `POST /api/accounts/{name}/scim`: 201 with the base URL and the token, shown this once.
#[utoipa::path(post, path = "/api/accounts/{name}/scim", operation_id = "scim_enable", tag = "scim", summary = "Turn SCIM push on: the base URL and token (in this answer only) for the customer's Okta", params(("name" = String, Path, description = "The account")), responses((status = 201, description = "`{\"baseUrl\", \"token\"}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn enable(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>)> {
    let account = AccountName::parse(&name)?;
    let token = state.service.enable_scim(&account).await?;
    Ok((StatusCode::CREATED, Json(with_token(&state, &account, &token))))
}

/// `GET /api/accounts/{name}/scim`.
#[utoipa::path(get, path = "/api/accounts/{name}/scim", operation_id = "scim_status", tag = "scim", summary = "The account's SCIM push: base URL, token times, the last request received and its status", params(("name" = String, Path, description = "The account")), responses((status = 200, description = "The SCIM state", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn status(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&name)?;
    let s = state.service.scim_state(&account).await?;
    Ok(Json(s.view(account.as_str(), &base_url(&state, &account))))
}

/// `DELETE /api/accounts/{name}/scim`: SCIM off (the connection ends; the pushed directory
/// is kept, as after any disconnect).
#[utoipa::path(delete, path = "/api/accounts/{name}/scim", operation_id = "scim_disable", tag = "scim", summary = "Turn SCIM push off: its token stops working", params(("name" = String, Path, description = "The account")), responses((status = 200, description = "`{\"disabled\": name}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn disable(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&name)?;
    state.service.scim_state(&account).await?;
    state.service.disconnect(&account, false).await?;
    Ok(Json(json!({ "disabled": account })))
}

/// `POST /api/accounts/{name}/scim/rotate {"overlapSeconds"?}`: a new token (in this answer
/// only); the old one works too for the overlap (a day unless said, at most 7).
#[utoipa::path(post, path = "/api/accounts/{name}/scim/rotate", operation_id = "scim_rotate", tag = "scim", summary = "A new SCIM token; the old one works too for the overlap", params(("name" = String, Path, description = "The account")), request_body(content = Option<RotateBody>, content_type = "application/json"), responses((status = 200, description = "`{\"baseUrl\", \"token\"}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn rotate(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&name)?;
    let input: super::webhooks::Rotate = if body.is_empty() {
        super::webhooks::Rotate::default()
    } else {
        json_body(&headers, &body, "the rotation")?
    };
    let overlap = input.overlap_seconds.map_or(DEFAULT_OVERLAP, Duration::from_secs);
    let token = state.service.rotate_scim(&account, overlap).await?;
    Ok(Json(with_token(&state, &account, &token)))
}
