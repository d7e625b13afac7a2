//! The JSON API of connections: `/api/connections`, a connection's users, disconnect.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use okta_client::{Page, User};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Reader, Writer};
use super::extract::{Path, Query};
use super::openapi::{ConnectionView, ErrorBody};
use super::views::connection_json;
use crate::error::{Error, Result};
use crate::model::AccountName;

/// `limit`/`after` paging, like Okta's.
#[derive(Debug, Deserialize)]
pub(crate) struct PageParams {
    pub(crate) limit: Option<u32>,
    pub(crate) after: Option<String>,
}

/// `GET /api/connections`: every connection, without its tokens.
#[utoipa::path(get, path = "/api/connections", operation_id = "api_connections", tag = "connections", summary = "Every connection, without its tokens", responses((status = 200, description = "The connections", body = Vec<ConnectionView>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn connections(_: Reader, State(state): State<Arc<AppState>>) -> Result<Json<Vec<Value>>> {
    let conns = state.store().connections().await?;
    Ok(Json(conns.iter().map(connection_json).collect()))
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
#[utoipa::path(delete, path = "/api/connections/{account}", operation_id = "api_disconnect", tag = "connections", summary = "Revoke a connection's tokens at Okta, then forget them", params(("account" = String, Path, description = "The connection (account name)"), ("revokeApiToken" = Option<bool>, Query, description = "Revoke an API token at Okta too")), responses((status = 200, description = "`{\"disconnected\", \"revoked\"}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn disconnect(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<DisconnectParams>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    let revoked = state.service.disconnect(&account, p.revoke_api_token).await?;
    Ok(Json(json!({ "disconnected": account, "revoked": revoked })))
}

/// One page of the org's users through the stored connection named `account`.
pub(crate) async fn fetch_page(state: &AppState, account: &str, p: &PageParams) -> Result<(AccountName, Page<User>)> {
    let account = AccountName::parse(account)?;
    let limit = match p.limit {
        None => 200,
        Some(n @ 1..=200) => n,
        Some(n) => {
            return Err(Error::invalid(
                "limit",
                format!("limit must be between 1 and 200, not {n}"),
            ));
        }
    };
    let after = p.after.clone();
    let page = state
        .service
        .call(&account, |client| {
            let after = after.clone();
            async move {
                let mut request = client.users().list().limit(limit);
                if let Some(after) = after {
                    request = request.after(after);
                }
                request.send().await
            }
        })
        .await?;
    Ok((account, page))
}

/// `GET /api/connections/{account}/users?limit=&after=`: Okta's users, read live, with a
/// `Link: <…>; rel="next"` header while more remain.
#[utoipa::path(get, path = "/api/connections/{account}/users", operation_id = "api_users", tag = "connections", summary = "The org's users, read live from Okta (Link: rel=next while more remain)", params(("account" = String, Path, description = "The connection (account name)"), ("limit" = Option<u32>, Query, description = "1-200 (default 200)"), ("after" = Option<String>, Query, description = "Okta's cursor")), responses((status = 200, description = "Okta's users", body = Vec<serde_json::Value>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn users(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Response> {
    let (account, page) = fetch_page(&state, &account, &p).await?;
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
    Ok(res)
}
