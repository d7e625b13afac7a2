//! What every response carries: `X-Okta-Request-Id` and the `X-Rate-Limit-*` headers of the
//! endpoint's bucket (a fixed one-minute window, as Okta's limits are per minute). A request
//! over the limit gets Okta's 429 with E0000047.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::SandboxState;
use crate::util::{now, random_token};

/// The rate-limit bucket of a request and its limit a minute: Okta's published limits for
/// Workforce Identity orgs, per endpoint family. Management: the create-or-list-users bucket is
/// configurable. OAuth: the org authorization server has its own bucket; all custom servers
/// share three (authorize, token, the rest); all are configurable together. Public metadata
/// (discovery documents, keys) is not rate-limited by Okta: a generous bucket here.
fn bucket(s: &SandboxState, method: &Method, path: &str) -> (&'static str, u32) {
    if path.starts_with("/.well-known/") || path.contains("/.well-known/") || path.ends_with("/v1/keys") {
        return ("public metadata", 10_000);
    }
    if path.starts_with("/oauth2/v1/") {
        return ("oauth2/v1", s.config.oauth_rate_limit);
    }
    if path.starts_with("/oauth2/") {
        return if path.ends_with("/v1/authorize") {
            ("oauth2/{authorizationServerId}/v1/authorize", s.config.oauth_rate_limit)
        } else if path.ends_with("/v1/token") {
            ("oauth2/{authorizationServerId}/v1/token", s.config.oauth_rate_limit)
        } else {
            ("oauth2/{authorizationServerId}/v1", s.config.oauth_rate_limit)
        };
    }
    if path.starts_with("/login/") {
        // Okta's /login/login.htm.
        return ("login", 850);
    }
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return ("other", 10_000);
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (segments[0], segments.len()) {
        ("users", 1) => ("users", s.config.users_rate_limit),
        ("users", 2) if method == Method::GET => ("users/{idOrLogin} GET", 2_000),
        ("users", 2) => ("users/{id} write", 600),
        ("groups", 2) => ("groups/{id}", 1_000),
        ("groups", _) => ("groups", 500),
        ("apps", 2) => ("apps/{id}", 500),
        ("apps", _) => ("apps", 100),
        ("logs", _) => ("logs", s.config.logs_rate_limit),
        _ => ("api", 1_200),
    }
}

tokio::task_local! {
    /// The method and public URL of the request being served, for DPoP's `htm`/`htu` checks.
    pub(crate) static REQUEST_TARGET: (String, String);
}

pub(crate) async fn okta_headers(State(s): State<Arc<SandboxState>>, req: Request, next: Next) -> Response {
    let target = (req.method().to_string(), format!("{}{}", s.base, req.uri().path()));
    let (name, limit) = bucket(&s, req.method(), req.uri().path());
    let limit = limit.saturating_mul(s.rate_limit_scale.load(std::sync::atomic::Ordering::Relaxed).max(1));
    let count = s.limits.lock().expect("limits lock").count(
        name,
        limit,
        now().unix_timestamp(),
        s.config.rate_limit_window.as_secs() as i64,
    );
    let mut res = if count.exceeded {
        ApiError::rate_limited().into_response()
    } else {
        REQUEST_TARGET.scope(target, next.run(req)).await
    };
    let h = res.headers_mut();
    h.insert(
        "x-okta-request-id",
        HeaderValue::from_str(&random_token(27)).expect("base62 is a valid header"),
    );
    h.insert("x-rate-limit-limit", count.limit.into());
    h.insert("x-rate-limit-remaining", count.remaining.into());
    h.insert("x-rate-limit-reset", count.reset.into());
    if let Some(injected) = res.extensions().get::<crate::faults::InjectedReset>().copied() {
        let h = res.headers_mut();
        h.insert("x-rate-limit-remaining", 0.into());
        h.insert("x-rate-limit-reset", injected.0.into());
    }
    res
}
