//! Admin authentication: `Authorization: Bearer <admin token>` for the API, or the session
//! cookie the sign-in form sets for the HTML pages.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde_json::json;

use super::AppState;
use crate::crypto::hash;

pub(crate) const SESSION_COOKIE: &str = "okta_bridge_session";
pub(crate) const SESSION_TTL_SECS: u64 = 12 * 3600;

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `Secure` when browsers reach us over https, for `path`,
/// with `same_site` (`Lax` or `Strict`), living `max_age` seconds (0 deletes it).
pub(crate) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: u64,
) -> HeaderValue {
    let secure = if state.secure_cookies() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    ))
    .expect("base64url cookie values are valid headers")
}

pub(crate) fn token_matches(state: &AppState, presented: &str) -> bool {
    let expected = state.admin_token.expose_secret().as_bytes();
    // Compare hashes so the time taken does not depend on where the inputs differ.
    hash(presented) == hash(std::str::from_utf8(expected).unwrap_or_default())
}

/// What binds the session `id` to the admin token in force: a hash of both. A session signed
/// in with another token (before the token changed) does not match, so it ends.
pub(crate) fn token_binding(state: &AppState, id: &str) -> String {
    crate::crypto::session_binding(id, state.admin_token.expose_secret())
}

async fn has_session(state: &AppState, headers: &HeaderMap) -> bool {
    match cookie(headers, SESSION_COOKIE) {
        Some(id) => state
            .store()
            .session_valid(&hash(id), &token_binding(state, id))
            .await
            .unwrap_or(false),
        None => false,
    }
}

/// Proof the caller is the admin (API: bearer token or session).
pub(crate) struct Admin;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        if let Some(token) = bearer {
            if token_matches(state, token.trim()) {
                return Ok(Admin);
            }
        } else if has_session(state, &parts.headers).await {
            return Ok(Admin);
        }
        let body = json!({
            "error": "unauthorized",
            "message": "send the admin token as 'Authorization: Bearer <OKTA_BRIDGE_ADMIN_TOKEN>'",
        });
        Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"okta-bridge\"")],
            axum::Json(body),
        )
            .into_response())
    }
}

/// Proof a browser is signed in (HTML pages: else sent to the sign-in form), with the CSRF
/// token its forms must carry.
pub(crate) struct AdminPage {
    /// Derived from the session id: an attacker's page cannot know it.
    pub csrf: String,
}

/// The CSRF token of a signed-in browser's forms.
pub(crate) fn session_csrf(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE).map(|id| hash(&format!("csrf:{id}")))
}

/// Whether `presented` is the CSRF token `expected` (compared by hash, in constant time).
pub(crate) fn csrf_matches(expected: Option<&str>, presented: &str) -> bool {
    expected.is_some_and(|e| !presented.is_empty() && hash(e) == hash(presented))
}

impl FromRequestParts<Arc<AppState>> for AdminPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        if has_session(state, &parts.headers).await
            && let Some(csrf) = session_csrf(&parts.headers)
        {
            Ok(AdminPage { csrf })
        } else {
            Err(Redirect::to("/login").into_response())
        }
    }
}
