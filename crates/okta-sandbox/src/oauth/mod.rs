//! The org authorization server (and custom ones): `/oauth2/v1/*`, `/oauth2/{id}/v1/*` and
//! their discovery documents.
//!
//! Grants live in memory ([`Grants`]). Codes are single-use and short-lived; refresh tokens are
//! issued only when `offline_access` was granted and rotate per the app's setting.
//!
//! - this file: which server a request is for, the grants, access-token claims, discovery, keys;
//! - `authorize`: `/authorize` and the sign-in page;
//! - `token`: `/token` (authorization code, refresh token), client authentication, `/revoke`,
//!   `/introspect`;
//! - `client_credentials`: the client credentials grant of service apps: `private_key_jwt`
//!   assertions and DPoP binding.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::state::SandboxState;
use crate::state::grants::AuthServer;

mod authorize;
mod client_credentials;
mod token;

pub(crate) use authorize::{authorize, sign_in};
pub(crate) use token::{introspect, revoke, token};

/// Scopes the org authorization server knows.
pub(crate) const SUPPORTED_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "groups",
    "address",
    "phone",
    "offline_access",
    "okta.users.read",
    "okta.users.manage",
    "okta.groups.read",
    "okta.groups.manage",
    "okta.apps.read",
    "okta.apps.manage",
    "okta.logs.read",
];

/// How long a sign-in page stays usable.
const SIGN_IN_TTL: time::Duration = time::Duration::minutes(10);

impl AuthServer {
    fn custom(self, s: &SandboxState) -> Option<&crate::config::AuthorizationServer> {
        match self {
            AuthServer::Org => None,
            AuthServer::Custom(i) => s.config.authorization_servers.get(i),
        }
    }
    /// The `iss` of its tokens and discovery document.
    pub fn issuer(self, s: &SandboxState) -> String {
        match self.custom(s) {
            None => s.base.clone(),
            Some(a) => format!("{}/oauth2/{}", s.base, a.id),
        }
    }
    /// The `aud` of its access tokens.
    pub fn audience(self, s: &SandboxState) -> String {
        match self.custom(s) {
            None => s.base.clone(),
            Some(a) => a.audience.clone(),
        }
    }
    /// Where its endpoints live.
    fn endpoints(self, s: &SandboxState) -> String {
        match self.custom(s) {
            None => format!("{}/oauth2/v1", s.base),
            Some(a) => format!("{}/oauth2/{}/v1", s.base, a.id),
        }
    }
    fn token_url(self, s: &SandboxState) -> String {
        format!("{}/token", self.endpoints(s))
    }
    fn scopes(self, s: &SandboxState) -> Vec<&str> {
        match self.custom(s) {
            None => SUPPORTED_SCOPES.to_vec(),
            Some(a) => a.supported_scopes().collect(),
        }
    }
}

impl axum::extract::FromRequestParts<Arc<SandboxState>> for AuthServer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &Arc<SandboxState>,
    ) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path();
        if path.starts_with("/oauth2/v1/") || path.starts_with("/.well-known/") {
            return Ok(AuthServer::Org);
        }
        let id = path
            .strip_prefix("/oauth2/")
            .and_then(|p| p.split('/').next())
            .unwrap_or_default();
        match s.config.authorization_servers.iter().position(|a| a.id == id) {
            Some(i) => Ok(AuthServer::Custom(i)),
            None => Err(crate::error::ApiError::not_found(id, "AuthorizationServer").into_response()),
        }
    }
}

/// Claims of an access token of the org authorization server (Okta's shape).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub ver: u32,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub cid: String,
    /// The signed-in user; absent for a service app's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub scp: Vec<String>,
    pub auth_time: i64,
    pub sub: String,
    /// DPoP binding: the thumbprint of the key proofs must be signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim of a DPoP-bound token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Confirmation {
    pub jkt: String,
}

pub(crate) async fn discovery(State(s): State<Arc<SandboxState>>, server: AuthServer) -> impl IntoResponse {
    Json(metadata(&s, server))
}

/// `…/.well-known/openid-configuration`: the same, with what OpenID Connect adds (the ID
/// token's signing algorithms), as Okta's `OidcMetadata` has it.
pub(crate) async fn oidc_discovery(State(s): State<Arc<SandboxState>>, server: AuthServer) -> impl IntoResponse {
    let mut doc = metadata(&s, server);
    doc["id_token_signing_alg_values_supported"] = json!(["RS256"]);
    Json(doc)
}

/// The authorization server's metadata (RFC 8414), as Okta's `OAuthMetadata` has it.
fn metadata(s: &SandboxState, server: AuthServer) -> serde_json::Value {
    let e = server.endpoints(s);
    json!({
        "issuer": server.issuer(s),
        "authorization_endpoint": format!("{e}/authorize"),
        "token_endpoint": format!("{e}/token"),
        "jwks_uri": format!("{e}/keys"),
        "revocation_endpoint": format!("{e}/revoke"),
        "introspection_endpoint": format!("{e}/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "scopes_supported": server.scopes(s),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "request_parameter_supported": false,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "name", "preferred_username", "groups"],
    })
}

pub(crate) async fn keys(State(s): State<Arc<SandboxState>>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "max-age=3600, must-revalidate")],
        Json(s.keys.jwks()),
    )
}

/// The client id and secret a request presents by `client_secret_basic` (the `Authorization:
/// Basic` header, id and secret form-encoded) or `client_secret_post` (the body).
///
/// # Errors
/// `invalid_request` for both at once, `invalid_client` for neither or a header that does not
/// decode.
pub(crate) fn secret_credentials(
    headers: &axum::http::HeaderMap,
    form: &std::collections::HashMap<String, String>,
) -> Result<(String, String), crate::error::OAuthError> {
    use crate::error::OAuthError;
    use base64::Engine;
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "Cannot supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a client_assertion in the post body.",
        )),
        (Some(b), None) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|_| OAuthError::invalid_client())?;
            let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            let dec = |v: &str| {
                url::form_urlencoded::parse(format!("v={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Ok((dec(id), dec(secret)))
        }
        (None, Some(secret)) => Ok((form.get("client_id").cloned().unwrap_or_default(), secret.clone())),
        (None, None) => Err(OAuthError::invalid_client()),
    }
}
