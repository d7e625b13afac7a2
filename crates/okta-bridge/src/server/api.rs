//! The JSON API: `/api/connections` and `/api/connections/{account}/users`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use okta_client::{Page, User};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::Admin;
use super::pages::fmt_time;
use crate::domain::AccountName;
use crate::error::Error;

/// `limit`/`after` paging, like Okta's.
#[derive(Debug, Deserialize)]
pub(crate) struct PageParams {
    limit: Option<u32>,
    after: Option<String>,
}

/// HTTP status and a message safe to show for `e`; internal details are logged instead.
pub(crate) fn classify(e: &Error) -> (StatusCode, String) {
    match e {
        Error::Invalid(_) => (StatusCode::BAD_REQUEST, e.to_string()),
        Error::UnknownConnection(_) | Error::UnknownAccount(_) => (StatusCode::NOT_FOUND, e.to_string()),
        Error::AccountExists(_) | Error::Conflict(_) => (StatusCode::CONFLICT, e.to_string()),
        Error::Rejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Error::Reconnect { .. } => (StatusCode::CONFLICT, e.to_string()),
        Error::RefreshWaitTimeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        // The token source wraps our own error: classify that one (a wait that ran out is not
        // a reason to reconnect).
        Error::Okta(okta_client::Error::TokenSource(t)) => {
            match std::error::Error::source(t).and_then(|s| s.downcast_ref::<Error>()) {
                Some(inner) => classify(inner),
                None => (StatusCode::CONFLICT, t.to_string()),
            }
        }
        Error::Okta(okta_client::Error::Timeout(_)) => (StatusCode::GATEWAY_TIMEOUT, e.to_string()),
        Error::Okta(_) | Error::OAuth(_) => (StatusCode::BAD_GATEWAY, e.to_string()),
        _ => {
            tracing::error!(error = %e, "request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server log".to_owned(),
            )
        }
    }
}

pub(crate) fn error_response(e: &Error) -> Response {
    let (status, message) = classify(e);
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT if matches!(e, Error::AccountExists(_)) => "account_exists",
        StatusCode::CONFLICT if matches!(e, Error::Conflict(_)) => "conflict",
        StatusCode::CONFLICT => "reconnect_required",
        StatusCode::UNPROCESSABLE_ENTITY => "credentials_rejected",
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => "okta_error",
        StatusCode::SERVICE_UNAVAILABLE => "busy_try_again",
        _ => "internal_error",
    };
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

/// `GET /api/connections`: every connection, without its tokens.
pub(crate) async fn connections(_: Admin, State(state): State<Arc<AppState>>) -> Response {
    match state.store.connections().await {
        Ok(conns) => Json(
            conns
                .into_iter()
                .map(|c| {
                    json!({
                        "account": c.account,
                        "orgUrl": c.org_url.to_string(),
                        "scopes": c.scopes,
                        "tokenType": c.token_type,
                        "method": c.method.as_str(),
                        "expiresAt": (c.expires_at != crate::store::NEVER).then(|| fmt_time(c.expires_at)),
                        "hasRefreshToken": c.refresh_token.is_some(),
                        "created": fmt_time(c.created_at),
                        "lastUpdated": fmt_time(c.updated_at),
                        "status": c.status.as_str(),
                        "statusReason": match &c.status {
                            crate::store::ConnectionStatus::NeedsReauth(r) => Some(r.as_str()),
                            _ => None,
                        },
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DisconnectParams {
    /// Revoke an API-token connection's token at Okta too (default: forget it only).
    #[serde(default)]
    revoke_api_token: bool,
}

/// `DELETE /api/connections/{account}[?revokeApiToken=true]`: revoke the tokens at Okta, then
/// forget them.
pub(crate) async fn disconnect(
    _: Admin,
    State(state): State<Arc<AppState>>,
    axum::extract::Path(account): axum::extract::Path<String>,
    Query(p): Query<DisconnectParams>,
) -> Response {
    let result = match AccountName::parse(&account) {
        Ok(a) => state.disconnect(&a, p.revoke_api_token).await.map(|r| (a, r)),
        Err(e) => Err(e),
    };
    match result {
        Ok((account, revoked)) => Json(json!({ "disconnected": account, "revoked": revoked })).into_response(),
        Err(e) => error_response(&e),
    }
}

/// One page of the org's users through the stored connection named `account`.
pub(crate) async fn fetch_page(
    state: &AppState,
    account: &str,
    p: &PageParams,
) -> Result<(AccountName, Page<User>), Error> {
    let account = AccountName::parse(account)?;
    let limit = match p.limit {
        None => 200,
        Some(n @ 1..=200) => n,
        Some(n) => return Err(Error::Invalid(format!("limit must be between 1 and 200, not {n}"))),
    };
    let client = state.client_for(&account).await?;
    let mut request = client.users().list().limit(limit);
    if let Some(after) = &p.after {
        request = request.after(after.clone());
    }
    match request.send().await {
        Ok(page) => Ok((account, page)),
        Err(e) => Err(state.okta_failed(&account, e).await),
    }
}

/// `GET /api/connections/{account}/users?limit=&after=`: Okta's users, read live, with a
/// `Link: <…>; rel="next"` header while more remain.
pub(crate) async fn users(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<PageParams>,
) -> Response {
    let (account, page) = match fetch_page(&state, &account, &p).await {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let next = page.next_cursor();
    let limit = p.limit.unwrap_or(200);
    let mut res = Json(page.items).into_response();
    if let Some(cursor) = next {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("limit", &limit.to_string())
            .append_pair("after", &cursor)
            .finish();
        let link = format!("<{}/api/connections/{account}/users?{q}>; rel=\"next\"", state.base());
        if let Ok(v) = HeaderValue::from_str(&link) {
            res.headers_mut().append(header::LINK, v);
        }
    }
    res
}
