//! `/api/connections/{account}/okta/{*path}`: Okta's Management API through a connection.
//! Okta's status, body and rate-limit headers come back as Okta sent them; `Link` URLs point
//! back through okta-bridge, so a client pages through the proxy as it would through Okta.

use std::sync::Arc;

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
/// `Link` and `Location` are not among them: they are rewritten to point through okta-bridge,
/// or dropped.
const PASSED: [&str; 6] = [
    "content-type",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
    "x-rate-limit-reset",
    "x-okta-request-id",
    "retry-after",
];

/// `target` (a URL Okta sent in `Link` or `Location`) through okta-bridge (`through` + its path
/// and query), if it is on the org's origin and under `/api/v1/`; `None` for anything else.
///
/// # Security
/// A client follows these URLs with its okta-bridge API key, "as it would through Okta". An org
/// is whatever server the customer named (any https server that answers `/api/v1/users/me`
/// passes a setup link's checks), so a URL anywhere else — or on the org but outside the API —
/// would hand the application's key to whoever runs it: never passed on.
fn through_us(org: &url::Url, through: &str, target: &str) -> Option<String> {
    let url = org.join(target).ok()?;
    if url.origin() != org.origin() || !url.path().starts_with("/api/v1/") || url.fragment().is_some() {
        return None;
    }
    Some(match url.query() {
        Some(q) => format!("{through}{}?{q}", url.path()),
        None => format!("{through}{}", url.path()),
    })
}

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
    super::body::Body(body): super::body::Body,
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
    // Okta's links (`<https://org/api/v1/users?after=…>; rel="next"`) and `Location`, through
    // us; anything that points elsewhere is dropped.
    let org = url::Url::parse(proxied.org.as_str())
        .map_err(|e| Error::Internal(format!("the connection's org URL does not parse: {e}")))?;
    let through = format!("{}/api/connections/{account}/okta", state.base());
    for value in okta.headers.get_all(header::LINK) {
        let text = value.to_str().unwrap_or_default();
        for link in okta_client::link::parse(text) {
            let rels = link.rels.join(" ");
            match through_us(&org, &through, &link.target)
                .and_then(|t| HeaderValue::from_str(&format!("<{t}>; rel=\"{rels}\"")).ok())
            {
                Some(v) => {
                    out.append(header::LINK, v);
                }
                None => {
                    tracing::warn!(%account, rel = %rels, "dropped a Link from the org that points outside its API");
                }
            }
        }
    }
    if let Some(location) = okta.headers.get(header::LOCATION) {
        match location
            .to_str()
            .ok()
            .and_then(|l| through_us(&org, &through, l))
            .and_then(|t| HeaderValue::from_str(&t).ok())
        {
            Some(v) => {
                out.insert(header::LOCATION, v);
            }
            None => tracing::warn!(%account, "dropped a Location from the org that points outside its API"),
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::through_us;

    #[test]
    fn only_the_orgs_api_is_pointed_to_and_through_us() {
        let org = url::Url::parse("https://acme.okta.com").unwrap();
        let through = "https://bridge.example/api/connections/acme/okta";
        assert_eq!(
            through_us(&org, through, "https://acme.okta.com/api/v1/users?after=00u1&limit=2").as_deref(),
            Some("https://bridge.example/api/connections/acme/okta/api/v1/users?after=00u1&limit=2")
        );
        assert_eq!(
            through_us(&org, through, "/api/v1/users/00u1").as_deref(),
            Some("https://bridge.example/api/connections/acme/okta/api/v1/users/00u1")
        );
        for elsewhere in [
            "https://attacker.example/api/v1/users?after=x",
            "https://acme.okta.com.attacker.example/api/v1/users",
            "https://acme.okta.com@attacker.example/api/v1/users",
            "http://acme.okta.com/api/v1/users",
            "https://acme.okta.com:8443/api/v1/users",
            "//attacker.example/api/v1/users",
            "https://acme.okta.com/oauth2/v1/authorize",
            "https://acme.okta.com/api/v1/../../login",
            "javascript:alert(1)",
        ] {
            assert_eq!(through_us(&org, through, elsewhere), None, "{elsewhere}");
        }
    }
}
