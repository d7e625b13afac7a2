//! `/api/connections/{account}/okta/{*path}`: Okta's Management API through a connection.
//! Okta's status, body and rate-limit headers come back as Okta sent them; `Link` URLs point
//! back through okta-bridge, so a client pages through the proxy as it would through Okta.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use okta_client::RawBody;

use super::AppState;
use super::auth::Caller;
use crate::error::{Error, Result};
use crate::model::{AccountName, Scope};
use crate::service::is_read;

/// Okta's response headers passed back (the rest are Okta's own business: cookies, CSP, …).
const PASSED: [&str; 7] = [
    "content-type",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
    "x-rate-limit-reset",
    "x-okta-request-id",
    "retry-after",
    "location",
];

/// Forwards the request to the org of the connection; `GET`, `HEAD` and `OPTIONS` need
/// `directory:read`, other methods `connections:write`.
#[utoipa::path(
    get, post, put, patch, delete,
    path = "/api/connections/{account}/okta/api/v1/{path}", operation_id = "proxy_forward",
    tag = "connections",
    summary = "Okta's Management API through the connection",
    description = "Any method on any path under Okta's `/api/v1/`, sent with the connection's credentials (refreshed as needed), paced under Okta's rate limits and retried when idempotent. Okta's status, body, rate-limit headers and request id come back as Okta sent them; `Link` URLs point back through okta-bridge. `GET` needs `directory:read`, other methods `connections:write`; writes are recorded in the account's audit log.",
    params(
        ("account" = String, Path, description = "The connection (account name)"),
        ("path" = String, Path, description = "The rest of Okta's path, e.g. `users` or `groups/00g…/users`")
    ),
    request_body(content = Option<serde_json::Value>, content_type = "application/json"),
    responses(
        (status = 200, description = "Okta's answer", body = serde_json::Value),
        (status = "default", description = "Okta's error as Okta sent it, or okta-bridge's (`{\"error\", \"message\"}`)", body = serde_json::Value)
    )
)]
pub(crate) async fn forward(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    caller.require(if is_read(&method) {
        Scope::DirectoryRead
    } else {
        Scope::ConnectionsWrite
    })?;
    // The path as sent (still percent-encoded), after `/api/connections/{account}/okta`.
    let rest = uri.path().strip_prefix("/api/connections/").unwrap_or_default();
    let (account, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let account = AccountName::parse(account)?;
    let path = rest.strip_prefix("okta").unwrap_or(rest);
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let body = (!body.is_empty()).then(|| RawBody {
        content_type: headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("application/json")),
        bytes: body,
    });
    let proxied = state
        .service
        .proxy(&account, method, &path_and_query, body, &caller.actor())
        .await?;
    let okta = proxied.response;
    let mut res = (okta.status, okta.body).into_response();
    let out = res.headers_mut();
    for name in PASSED {
        out.remove(name);
        for value in okta.headers.get_all(name) {
            out.append(name, value.clone());
        }
    }
    // Okta's links (`<https://org/api/v1/users?after=…>; rel="next"`), through us.
    let org = proxied.org.as_str().trim_end_matches('/');
    let through = format!("{}/api/connections/{account}/okta", state.base());
    for value in okta.headers.get_all(header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        let rewritten = text.replace(&format!("<{org}/"), &format!("<{through}/"));
        match HeaderValue::from_str(&rewritten) {
            Ok(v) => {
                out.append(header::LINK, v);
            }
            Err(_) => {
                return Err(Error::invalid(
                    "link",
                    "Okta sent a Link header that cannot be passed on",
                ));
            }
        }
    }
    Ok(res)
}
