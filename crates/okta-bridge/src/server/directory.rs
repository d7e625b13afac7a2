//! The JSON API of a connection's synced directory: run a sync, its state, the change feed,
//! the stored users.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Reader, Writer};
use super::extract::{Path, Query};
use super::openapi::{ErrorBody, FeedPage};
use crate::error::{Error, Result};
use crate::model::AccountName;
use crate::store::UserQuery;

#[derive(Debug, Deserialize)]
pub(crate) struct SyncParams {
    /// Read everything instead of what changed since the last run.
    #[serde(default)]
    full: bool,
}

/// `POST /api/connections/{account}/sync[?full=true]`: syncs now; answers what the run did.
#[utoipa::path(post, path = "/api/connections/{account}/sync", operation_id = "directory_sync_now", tag = "directory", summary = "Sync the connection's directory now", params(("account" = String, Path, description = "The connection (account name)"), ("full" = Option<bool>, Query, description = "Read everything, not only what changed")), responses((status = 200, description = "What the run did", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn sync_now(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<SyncParams>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    Ok(Json(state.service.sync(&account, p.full).await?))
}

/// `GET /api/connections/{account}/sync`: the sync state.
#[utoipa::path(get, path = "/api/connections/{account}/sync", operation_id = "directory_sync_state", tag = "directory", summary = "The sync state", params(("account" = String, Path, description = "The connection (account name)")), responses((status = 200, description = "The sync state", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn sync_state(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    let s = state.service.sync_state(&account).await?;
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    // Where the directory comes from: the API sync, or SCIM push with its last request.
    let scim = state.store().scim_state(&account).await?;
    v["source"] = json!(if scim.is_some() { "scim" } else { "api" });
    if let Some(scim) = scim {
        v["scim"] = scim.view(account.as_str(), &super::scim_api::base_url(&state, &account));
    }
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
pub(crate) struct FeedParams {
    after: Option<String>,
    limit: Option<i64>,
    /// Seconds to wait for new events when there are none (a long poll; at most 60).
    wait: Option<u64>,
}

/// `GET /api/connections/{account}/events?after=CURSOR&limit=N[&wait=SECONDS]`: the change
/// feed after a cursor, oldest first, with the cursor to ask from next (`next`; the same one
/// when nothing is new). With `wait`, an answer with nothing new comes only after that long,
/// or as soon as something is.
#[utoipa::path(get, path = "/api/connections/{account}/events", operation_id = "directory_events", tag = "directory", summary = "The change feed after a cursor, oldest first", params(("account" = String, Path, description = "The connection (account name)"), ("after" = Option<String>, Query, description = "The cursor (0: the start)"), ("limit" = Option<i64>, Query, description = "At most this many events (1-1000, default 100)"), ("wait" = Option<u64>, Query, description = "Seconds to wait for new events (a long poll, at most 60)")), responses((status = 200, description = "Events and the next cursor", body = FeedPage), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn events(
    Reader(caller): Reader,
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
    let wait = std::time::Duration::from_secs(p.wait.unwrap_or(0));
    // Waiting readers hold connections: they count against a cap of their own.
    let _waiting = if wait.is_zero() {
        None
    } else {
        Some(
            state
                .long_polls
                .clone()
                .try_acquire_owned()
                .map_err(|_| Error::TooManyLongPolls {
                    max: state.max_long_polls,
                })?,
        )
    };
    let events = state
        .service
        .events(&account, after, p.limit.unwrap_or(100), wait)
        .await?;
    if !wait.is_zero() {
        // A key revoked while the poll waited gets nothing it woke up to.
        caller.still_allowed(&state).await?;
    }
    let next = events.last().map_or(after, |e| e.seq);
    Ok(Json(json!({ "events": events, "next": next.to_string() })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsersParams {
    after: Option<String>,
    limit: Option<i64>,
    status: Option<String>,
    /// A prefix of the login, email, first or last name.
    q: Option<String>,
    /// Only members of this group (its id).
    group: Option<String>,
    /// Only users Okta changed at or after this time (RFC 3339; to the second).
    updated_since: Option<String>,
}

/// `limit` between 1 and 1000 (default 200).
fn page_limit(limit: Option<i64>) -> Result<i64> {
    let limit = limit.unwrap_or(200);
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::invalid(
            "limit",
            format!("limit must be between 1 and 1000, not {limit}"),
        ))
    }
}

/// A page of `items` (fetched as `limit + 1` to know whether more remain) as JSON, with a
/// `Link: <…>; rel="next"` to `path` while more remain.
fn paged<T: serde::Serialize>(
    state: &AppState,
    path: &str,
    mut items: Vec<T>,
    limit: i64,
    id: impl Fn(&T) -> String,
    extra: &[(&str, &str)],
) -> Response {
    let keep = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = items.len() > keep;
    items.truncate(keep);
    let last = items.last().map(&id);
    let mut res = Json(items).into_response();
    if let (true, Some(last)) = (more, last) {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("limit", &limit.to_string()).append_pair("after", &last);
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        let link = format!("<{}{path}?{}>; rel=\"next\"", state.base(), q.finish());
        if let Ok(v) = HeaderValue::from_str(&link) {
            res.headers_mut().append(header::LINK, v);
        }
    }
    res
}

/// `GET /api/connections/{account}/directory/users?status=&limit=&after=`: the synced users in
/// id order, with a `Link: <…>; rel="next"` while more remain.
#[utoipa::path(get, path = "/api/connections/{account}/directory/users", operation_id = "directory_users", tag = "directory", summary = "The synced users, in id order (Link: rel=next while more remain)", params(("account" = String, Path, description = "The connection (account name)"), ("limit" = Option<i64>, Query, description = "Items per page (1-1000, default 200)"), ("after" = Option<String>, Query, description = "The cursor of the Link header"), ("status" = Option<String>, Query, description = "Okta's user status, e.g. ACTIVE"), ("q" = Option<String>, Query, description = "A prefix of login, email, first or last name"), ("group" = Option<String>, Query, description = "Only members of this group"), ("updatedSince" = Option<String>, Query, description = "RFC 3339")), responses((status = 200, description = "Users", body = Vec<serde_json::Value>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn users(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<UsersParams>,
) -> Result<Response> {
    let account = AccountName::parse(&account)?;
    let limit = page_limit(p.limit)?;
    state.service.check_connection(&account).await?;
    let since = p
        .updated_since
        .as_deref()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| {
                    t.to_offset(time::UtcOffset::UTC)
                        .format(time::macros::format_description!(
                            "[year]-[month]-[day]T[hour]:[minute]:[second]"
                        ))
                        .ok()
                })
                .ok_or_else(|| {
                    Error::invalid(
                        "updatedSince",
                        format!("{t:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z"),
                    )
                })
        })
        .transpose()?;
    let query = UserQuery {
        after: p.after.as_deref(),
        status: p.status.as_deref(),
        prefix: p.q.as_deref().filter(|q| !q.is_empty()),
        group: p.group.as_deref(),
        updated_since: since.as_deref(),
    };
    let users = state.store().directory_users(&account, &query, limit + 1).await?;
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let roles = state.store().user_roles(&account, &ids).await?;
    let users: Vec<Value> = users
        .into_iter()
        .map(|u| {
            let mut v = serde_json::to_value(&u).unwrap_or(Value::Null);
            if let Some(r) = roles.get(&u.id) {
                v["roles"] = json!(r);
            }
            v
        })
        .collect();
    let extra: Vec<(&str, &str)> = [
        ("status", p.status.as_deref()),
        ("q", p.q.as_deref()),
        ("group", p.group.as_deref()),
        ("updatedSince", p.updated_since.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let path = format!("/api/connections/{account}/directory/users");
    Ok(paged(
        &state,
        &path,
        users,
        limit,
        |u| u["id"].as_str().unwrap_or_default().to_owned(),
        &extra,
    ))
}

/// `GET /api/connections/{account}/directory/users/{id}`: a synced user with its groups' ids.
#[utoipa::path(get, path = "/api/connections/{account}/directory/users/{id}", operation_id = "directory_user", tag = "directory", summary = "A synced user with its groups", params(("account" = String, Path, description = "The connection (account name)"), ("id" = String, Path, description = "Okta's user id")), responses((status = 200, description = "The user", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn user(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path((account, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let account = AccountName::parse(&account)?;
    state.service.check_connection(&account).await?;
    let (user, groups) = state
        .store()
        .directory_user(&account, &id)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "user",
            id: id.clone(),
        })?;
    let roles = state
        .store()
        .user_roles(&account, std::slice::from_ref(&user.id))
        .await?;
    let mut v = serde_json::to_value(&user).unwrap_or(Value::Null);
    if let Some(r) = roles.get(&user.id) {
        v["roles"] = json!(r);
    }
    v["groups"] = json!(groups);
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageOnly {
    after: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/connections/{account}/directory/groups?limit=&after=`: the synced groups.
#[utoipa::path(get, path = "/api/connections/{account}/directory/groups", operation_id = "directory_groups", tag = "directory", summary = "The synced groups", params(("account" = String, Path, description = "The connection (account name)"), ("limit" = Option<i64>, Query, description = "Items per page (1-1000, default 200)"), ("after" = Option<String>, Query, description = "The cursor of the Link header")), responses((status = 200, description = "Groups", body = Vec<serde_json::Value>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn groups(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<PageOnly>,
) -> Result<Response> {
    let account = AccountName::parse(&account)?;
    let limit = page_limit(p.limit)?;
    state.service.check_connection(&account).await?;
    let groups = state
        .store()
        .directory_groups(&account, p.after.as_deref(), limit + 1)
        .await?;
    let path = format!("/api/connections/{account}/directory/groups");
    Ok(paged(&state, &path, groups, limit, |g| g.id.clone(), &[]))
}

/// `GET /api/connections/{account}/directory/apps?limit=&after=`: the synced apps, each with
/// the groups assigned to it (`groups`) and its number of users (`users`).
#[utoipa::path(get, path = "/api/connections/{account}/directory/apps", operation_id = "directory_apps", tag = "directory", summary = "The synced apps", params(("account" = String, Path, description = "The connection (account name)"), ("limit" = Option<i64>, Query, description = "Items per page (1-1000, default 200)"), ("after" = Option<String>, Query, description = "The cursor of the Link header")), responses((status = 200, description = "Apps", body = Vec<serde_json::Value>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn apps(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<PageOnly>,
) -> Result<Response> {
    let account = AccountName::parse(&account)?;
    let limit = page_limit(p.limit)?;
    state.service.check_connection(&account).await?;
    let apps: Vec<Value> = state
        .store()
        .directory_apps(&account, p.after.as_deref(), limit + 1)
        .await?
        .into_iter()
        .map(|(app, groups, users)| {
            let mut v = serde_json::to_value(app).unwrap_or(Value::Null);
            v["groups"] = json!(groups);
            v["users"] = json!(users);
            v
        })
        .collect();
    let path = format!("/api/connections/{account}/directory/apps");
    Ok(paged(
        &state,
        &path,
        apps,
        limit,
        |a| a["id"].as_str().unwrap_or_default().to_owned(),
        &[],
    ))
}

/// `GET /api/connections/{account}/directory/groups/{id}/members?limit=&after=`: a synced
/// group's members.
#[utoipa::path(get, path = "/api/connections/{account}/directory/groups/{id}/members", operation_id = "directory_members", tag = "directory", summary = "A synced group's members", params(("account" = String, Path, description = "The connection (account name)"), ("id" = String, Path, description = "Okta's group id"), ("limit" = Option<i64>, Query, description = "Items per page (1-1000, default 200)"), ("after" = Option<String>, Query, description = "The cursor of the Link header")), responses((status = 200, description = "Users", body = Vec<serde_json::Value>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn members(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path((account, group)): Path<(String, String)>,
    Query(p): Query<PageOnly>,
) -> Result<Response> {
    let account = AccountName::parse(&account)?;
    let limit = page_limit(p.limit)?;
    state.service.check_connection(&account).await?;
    let members = state
        .store()
        .directory_members(&account, &group, p.after.as_deref(), limit + 1)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "group",
            id: group.clone(),
        })?;
    let path = format!("/api/connections/{account}/directory/groups/{group}/members");
    Ok(paged(&state, &path, members, limit, |u| u.id.clone(), &[]))
}
