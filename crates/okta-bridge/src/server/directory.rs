//! The JSON API of a connection's synced directory: run a sync, its state, the change feed,
//! the stored users.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Admin;
use crate::error::{Error, Result};
use crate::model::AccountName;

/// `POST /api/connections/{account}/sync`: syncs now; answers what the run did.
pub(crate) async fn sync_now(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    Ok(Json(state.service.sync(&account).await?))
}

/// `GET /api/connections/{account}/sync`: the sync state.
pub(crate) async fn sync_state(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    let s = state.service.sync_state(&account).await?;
    Ok(Json(serde_json::to_value(s).unwrap_or(Value::Null)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct FeedParams {
    after: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/connections/{account}/events?after=CURSOR&limit=N`: the change feed after a
/// cursor, oldest first, with the cursor to ask from next (`next`; the same one when nothing
/// is new).
pub(crate) async fn events(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<FeedParams>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    let after = match p.after.as_deref() {
        None | Some("") => 0,
        Some(a) => a
            .parse::<i64>()
            .map_err(|_| Error::invalid("after", "a cursor is a number the feed gave (or 0 for the start)"))?,
    };
    let events = state.service.events(&account, after, p.limit.unwrap_or(100)).await?;
    let next = events.last().map_or(after, |e| e.seq);
    Ok(Json(json!({ "events": events, "next": next.to_string() })))
}

#[derive(Debug, Deserialize)]
pub(crate) struct UsersParams {
    after: Option<String>,
    limit: Option<i64>,
    status: Option<String>,
}

/// `GET /api/connections/{account}/directory/users?status=&limit=&after=`: the synced users in
/// id order, with a `Link: <…>; rel="next"` while more remain.
pub(crate) async fn users(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<UsersParams>,
) -> Result<Response> {
    let account = AccountName::parse(&account)?;
    let limit = p.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("limit must be between 1 and 1000, not {limit}"),
        ));
    }
    state.service.sync_state(&account).await?;
    let users = state
        .store()
        .directory_users(&account, p.after.as_deref(), p.status.as_deref(), limit + 1)
        .await?;
    let more = users.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    let page: Vec<_> = users
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    let last = page.last().map(|u| u.id.clone());
    let mut res = Json(page).into_response();
    if let (true, Some(last)) = (more, last) {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("limit", &limit.to_string()).append_pair("after", &last);
        if let Some(s) = &p.status {
            q.append_pair("status", s);
        }
        let link = format!(
            "<{}/api/connections/{account}/directory/users?{}>; rel=\"next\"",
            state.base(),
            q.finish()
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            res.headers_mut().append(header::LINK, v);
        }
    }
    Ok(res)
}
