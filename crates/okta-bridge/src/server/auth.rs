//! Authentication: `Authorization: Bearer <admin token or API key>` for the API (only), each
//! handler taking the extractor of the scope it needs ([`Reader`], [`Writer`], [`Admin`]); the session
//! cookie the sign-in form sets for the HTML pages (only), CSRF tokens for the pages' forms, and
//! the same-origin check every state-changing request passes.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde_json::json;

use super::AppState;
use crate::crypto::hash;
use crate::model::{ApiKey, Scope, SessionGrant};
use crate::oauth::{STATE_TTL, Started};

pub(crate) const SESSION_COOKIE: &str = "okta_bridge_session";
pub(crate) const SESSION_TTL_SECS: u64 = 12 * 3600;

/// The value of cookie `name`.
pub(crate) fn cookie<'a>(state: &AppState, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let name = cookie_name(state, name);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The name cookie `name` has on the wire: with the `__Host-` prefix when browsers reach us
/// over https (the browser then keeps it only if it is `Secure`, for `Path=/` and without
/// `Domain`, so a sibling subdomain or a plain-http page cannot set or shadow it).
fn cookie_name(state: &AppState, name: &str) -> String {
    if state.secure_cookies() {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// A `Set-Cookie` value: `HttpOnly`, with `same_site` (`Lax` or `Strict`), living `max_age`
/// seconds (0 deletes it), for `path`; over https `Secure` and `__Host-` (so for `Path=/`).
pub(crate) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age: u64,
) -> HeaderValue {
    let (name, path, secure) = if state.secure_cookies() {
        (cookie_name(state, name), "/", "; Secure")
    } else {
        (name.to_owned(), path, "")
    };
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

/// Whether the browser holds a live console session that the sign-in rules in force still
/// grant: one signed in with the admin token (bound to it), or one signed in with OpenID
/// Connect whose person is still on the lists (a session of someone taken off them is ended).
pub(crate) async fn has_session(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(id) = cookie(state, headers, SESSION_COOKIE) else {
        return false;
    };
    let grant = match state.store().session_grant(&hash(id), &token_binding(state, id)).await {
        Ok(Some(grant)) => grant,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "a console session could not be read");
            return false;
        }
    };
    match &grant {
        SessionGrant::AdminToken => true,
        SessionGrant::Oidc { email, groups, .. } => {
            if state
                .console
                .as_ref()
                .is_some_and(|c| c.admits(email.as_deref(), groups))
            {
                return true;
            }
            tracing::warn!(
                person = grant.person(),
                "a console session ended: its person is no longer on the sign-in lists"
            );
            if let Err(e) = state.store().delete_session(&hash(id)).await {
                tracing::warn!(error = %e, "a console session could not be ended");
            }
            false
        }
    }
}

/// Who called the API, proven by `Authorization: Bearer <admin token or API key>`.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The admin token: every scope.
    AdminToken,
    /// An API key, with its scope.
    Key(ApiKey),
}

impl Caller {
    /// What the caller may do.
    pub(crate) fn scope(&self) -> Scope {
        match self {
            Self::AdminToken => Scope::Admin,
            Self::Key(k) => k.scope,
        }
    }

    /// Who, for the audit log: `admin token` or `api key NAME (ak_…)`.
    pub(crate) fn actor(&self) -> String {
        match self {
            Self::AdminToken => "admin token".to_owned(),
            Self::Key(k) => format!("api key {} ({})", k.name, k.id),
        }
    }

    /// Refuses a caller whose key was revoked since it was authenticated: for answers that come
    /// long after the request did (a long poll that waited).
    ///
    /// # Errors
    /// [`crate::error::Error::ApiKeyRevoked`]; [`crate::error::Error::Database`].
    pub(crate) async fn still_allowed(&self, state: &AppState) -> crate::error::Result<()> {
        match self {
            Self::AdminToken => Ok(()),
            Self::Key(k) => state.service.still_live(k).await,
        }
    }

    /// Refuses (403) a caller whose scope does not cover `needed`.
    pub(crate) fn require(&self, needed: Scope) -> crate::error::Result<()> {
        if self.scope().covers(needed) {
            return Ok(());
        }
        Err(crate::error::Error::InsufficientScope {
            who: match self {
                Self::AdminToken => "the admin token".to_owned(),
                Self::Key(k) => format!("API key {:?} ({})", k.name, k.id),
            },
            have: self.scope().as_str(),
            needed: needed.as_str(),
        })
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        // Bearer credentials only, never the session cookie: a browser sends cookies along with
        // requests another site's page makes, it never adds an Authorization header to them.
        if let Some(token) = bearer {
            if token_matches(state, token) {
                return Ok(Caller::AdminToken);
            }
            match state.service.authenticate_api_key(token).await {
                Ok(Some(key)) => return Ok(Caller::Key(key)),
                Ok(None) => {}
                Err(e) => return Err(e.into_response()),
            }
        }
        let body = json!({
            "error": "unauthorized",
            "message": "send an API key or the admin token (OKTA_BRIDGE_ADMIN_TOKEN) as 'Authorization: Bearer <key>' (okta-bridge api-keys create NAME --scope SCOPE makes a key)",
        });
        Err((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"okta-bridge\"")],
            axum::Json(body),
        )
            .into_response())
    }
}

/// Extractors of a caller whose scope covers one scope each: [`Reader`] `directory:read`,
/// [`Writer`] `connections:write`, [`Admin`] `admin`.
macro_rules! scoped {
    ($(#[$meta:meta])* $name:ident, $scope:expr) => {
        $(#[$meta])*
        pub(crate) struct $name(#[allow(dead_code)] pub(crate) Caller);

        impl FromRequestParts<Arc<AppState>> for $name {
            type Rejection = Response;

            async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
                let caller = Caller::from_request_parts(parts, state).await?;
                caller.require($scope).map_err(IntoResponse::into_response)?;
                Ok(Self(caller))
            }
        }
    };
}

scoped!(
    /// A caller that may read (`directory:read` or wider).
    Reader,
    Scope::DirectoryRead
);
scoped!(
    /// A caller that may change connections (`connections:write` or wider).
    Writer,
    Scope::ConnectionsWrite
);
scoped!(
    /// A caller with every scope (`admin`: the admin token or an admin key).
    Admin,
    Scope::Admin
);

/// Proof a browser is signed in (HTML pages: else sent to the sign-in form), with the CSRF
/// token its forms must carry.
pub(crate) struct AdminPage {
    /// Derived from the session id: an attacker's page cannot know it.
    pub csrf: String,
}

/// The CSRF token of a signed-in browser's forms.
pub(crate) fn session_csrf(state: &AppState, headers: &HeaderMap) -> Option<String> {
    cookie(state, headers, SESSION_COOKIE).map(|id| hash(&format!("csrf:{id}")))
}

/// Whether `presented` is the CSRF token `expected` (compared by hash, in constant time).
pub(crate) fn csrf_matches(expected: Option<&str>, presented: &str) -> bool {
    expected.is_some_and(|e| !presented.is_empty() && hash(e) == hash(presented))
}

impl FromRequestParts<Arc<AppState>> for AdminPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        if has_session(state, &parts.headers).await
            && let Some(csrf) = session_csrf(state, &parts.headers)
        {
            Ok(AdminPage { csrf })
        } else {
            Err(Redirect::to("/login").into_response())
        }
    }
}

/// Refuses a state-changing request (any method but GET, HEAD, OPTIONS) that a browser says
/// comes from another origin: `Sec-Fetch-Site` other than `same-origin` or `none`, or an
/// `Origin` other than the server's public origin. A second line behind the CSRF tokens of the
/// forms and the bearer-only API: a page on another port of the same host, or on a sibling
/// subdomain, is "same-site" for cookies but not the same origin. Clients that are not
/// browsers send neither header and pass.
pub(crate) async fn same_origin(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::Method;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let cross_site = fetch_site.is_some_and(|v| !matches!(v, "same-origin" | "none"));
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let ours = state.public_url.origin().ascii_serialization();
    // A browser that says where the request comes from (`Sec-Fetch-Site`) is believed: under
    // our `Referrer-Policy: no-referrer` it sends `Origin: null` even for our own forms. Without
    // it, the `Origin` must be ours (or absent, as from clients that are not browsers).
    let other_origin = fetch_site.is_none() && origin.is_some_and(|o| o != ours);
    if cross_site || other_origin {
        tracing::warn!(
            origin,
            fetch_site,
            "refused a state-changing request from another origin"
        );
        return crate::error::Error::CrossOrigin.into_response();
    }
    next.run(req).await
}

/// Sends the browser to the org's sign-in for `started`, with the binding cookie of this flow
/// only.
pub(crate) fn to_sign_in(state: &AppState, started: &Started) -> Response {
    to_sign_in_at(state, started, "/oauth")
}

/// [`to_sign_in`] for a flow whose callback is under `path` (the cookie goes there only).
pub(crate) fn to_sign_in_at(state: &AppState, started: &Started, path: &str) -> Response {
    let mut res = Redirect::to(started.authorize_url.as_str()).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            state,
            &started.binding_cookie,
            started.browser_binding.expose_secret(),
            path,
            "Lax",
            STATE_TTL.as_secs(),
        ),
    );
    res
}
