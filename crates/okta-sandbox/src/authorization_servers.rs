//! `/api/v1/authorizationServers`: the org's custom authorization servers, an API Access
//! Management feature. An org without it (a sandbox configured with no custom servers) answers
//! as Okta does for a feature the org is not licensed for: 401 E0000015, whatever the
//! credentials — which is not a sign that the credentials are bad.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::authenticate;
use crate::config::AuthorizationServer;
use crate::error::ApiError;
use crate::state::SandboxState;

const READ: &[&str] = &["okta.authorizationServers.read", "okta.authorizationServers.manage"];

/// Okta's `AuthorizationServer` for `a`.
fn server_json(s: &SandboxState, a: &AuthorizationServer) -> Value {
    let issuer = format!("{}/oauth2/{}", s.base, a.id);
    json!({
        "id": a.id,
        "name": if a.id == "default" { "default".to_owned() } else { a.id.clone() },
        "description": "A custom authorization server",
        "audiences": [a.audience],
        "issuer": issuer,
        "issuerMode": "ORG_URL",
        "status": "ACTIVE",
        "credentials": { "signing": { "rotationMode": "AUTO", "use": "sig" } },
        "_links": {
            "self": { "href": format!("{}/api/v1/authorizationServers/{}", s.base, a.id) },
            "metadata": [{ "href": format!("{issuer}/.well-known/oauth-authorization-server") }],
        },
    })
}

/// The caller, if the org has the feature: E0000015 (401) before anything else when it does
/// not, as Okta answers for an unlicensed feature.
fn licensed(s: &SandboxState, headers: &HeaderMap) -> Result<(), ApiError> {
    if s.config.authorization_servers.is_empty() {
        return Err(ApiError::feature_not_enabled());
    }
    authenticate(s, headers)?.require(READ)
}

/// `GET /api/v1/authorizationServers`.
pub(crate) async fn list(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    licensed(&s, &headers)?;
    let items: Vec<Value> = s
        .config
        .authorization_servers
        .iter()
        .map(|a| server_json(&s, a))
        .collect();
    let mut res = Json(items).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("<{}/api/v1/authorizationServers>; rel=\"self\"", s.base)) {
        res.headers_mut().append(header::LINK, v);
    }
    Ok(res)
}

/// `GET /api/v1/authorizationServers/{authServerId}`.
pub(crate) async fn get(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    licensed(&s, &headers)?;
    let a = s
        .config
        .authorization_servers
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found(&id, "AuthorizationServer"))?;
    Ok(Json(server_json(&s, a)).into_response())
}
