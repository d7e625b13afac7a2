//! The Groups API: `/api/v1/groups`, members, and `/api/v1/users/{id}/groups`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api::{Params, authenticate, parse_limit};
use crate::error::ApiError;
use crate::extract::OktaJson;
use crate::org::OrgGroup;
use crate::query::{self, Dialect, Expr};
use crate::state::SandboxState;

const READ: &[&str] = &["okta.groups.read", "okta.groups.manage"];
const MANAGE: &[&str] = &["okta.groups.manage"];

fn json_array(items: impl Iterator<Item = Value>) -> Response {
    Json(items.collect::<Vec<_>>()).into_response()
}

/// `GET /api/v1/groups` with `q` (name prefix), `filter`, `search`, `expand=stats`, paging.
pub(crate) async fn list_groups(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let expr = |e: &str, d: Dialect| -> Result<Expr, ApiError> {
        let expr = query::parse(e).map_err(|err| ApiError::invalid_search(err.to_string()))?;
        expr.check(d).map_err(ApiError::invalid_search)?;
        Ok(expr)
    };
    let selector: Option<Expr> = match (params.get("search"), params.get("filter")) {
        (Some(e), _) => Some(expr(e, Dialect::GroupSearch)?),
        (None, Some(e)) => Some(expr(e, Dialect::GroupFilter)?),
        _ => None,
    };
    let q = params.get("q").map(str::to_lowercase);
    let stats = params
        .get("expand")
        .is_some_and(|e| e.split(',').any(|x| x.trim() == "stats"));
    let limit = parse_limit(params.get("limit"), 10_000, 10_000)?;
    let selects = |g: &OrgGroup| {
        selector.as_ref().is_none_or(|e| e.matches(&|p| g.attr(p)))
            && q.as_ref().is_none_or(|q| g.name.to_lowercase().starts_with(q.as_str()))
    };
    let (items, last, more) = {
        let dir = s.dir();
        let lower = params
            .get("after")
            .map_or(std::ops::Bound::Unbounded, |a| std::ops::Bound::Excluded(a.to_owned()));
        let mut it = dir
            .groups
            .range((lower, std::ops::Bound::Unbounded))
            .map(|(_, g)| g)
            .filter(|g| selects(g));
        let page: Vec<&OrgGroup> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        let last = page.last().map(|g| g.id.clone());
        (
            page.iter().map(|g| dir.group_json(g, stats)).collect::<Vec<_>>(),
            last,
            more,
        )
    };
    let mut res = json_array(items.into_iter());
    params.page_links(
        &mut res,
        &s.base,
        "/api/v1/groups",
        limit,
        more.then_some(last).flatten(),
    );
    Ok(res)
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(id, "UserGroup")
}

/// `GET /api/v1/groups/{groupId}`.
pub(crate) async fn get_group(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(gid): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let dir = s.dir();
    let g = dir.groups.get(&gid).ok_or_else(|| not_found(&gid))?;
    Ok(Json(dir.group_json(g, false)).into_response())
}

/// The `profile` of a create or replace request: `name` required.
fn group_profile(body: &Value) -> Result<(String, Option<String>), ApiError> {
    let profile = body
        .get("profile")
        .ok_or_else(|| ApiError::validation("profile: The field cannot be left blank"))?;
    let name = profile
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::validation("name: The field cannot be left blank"))?;
    let description = profile.get("description").and_then(Value::as_str).map(str::to_owned);
    Ok((name.to_owned(), description))
}

/// `POST /api/v1/groups`: a new `OKTA_GROUP`.
pub(crate) async fn create_group(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    caller.require(MANAGE)?;
    let (name, description) = group_profile(&body)?;
    let mut w = s.writer(&caller.user_id);
    let gid = w.create_group(name, description)?;
    Ok(Json(w.group_json(&gid)).into_response())
}

/// `PUT /api/v1/groups/{groupId}`: replaces the profile of an `OKTA_GROUP`.
pub(crate) async fn replace_group(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(gid): Path<String>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    caller.require(MANAGE)?;
    let (name, description) = group_profile(&body)?;
    let mut w = s.writer(&caller.user_id);
    w.replace_group(&gid, name, description)?;
    Ok(Json(w.group_json(&gid)).into_response())
}

/// `DELETE /api/v1/groups/{groupId}` (not the built-in `Everyone`).
pub(crate) async fn delete_group(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(gid): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    caller.require(MANAGE)?;
    s.writer(&caller.user_id).delete_group(&gid)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/groups/{groupId}/users`: members in id order, paged (`limit` ≤ 1000).
pub(crate) async fn list_members(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(gid): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let limit = parse_limit(params.get("limit"), 1000, 1000)?;
    let (body, last, more) = {
        let dir = s.dir();
        if !dir.groups.contains_key(&gid) {
            return Err(not_found(&gid));
        }
        let mut it = dir.members_after(&gid, params.get("after"));
        let mut body = String::from("[");
        let mut last = None;
        for (i, u) in it.by_ref().take(limit).enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&u.list_json);
            last = Some(u.id.clone());
        }
        body.push(']');
        (body, last, it.next().is_some())
    };
    let mut res = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    let path = format!("/api/v1/groups/{gid}/users");
    params.page_links(&mut res, &s.base, &path, limit, more.then_some(last).flatten());
    Ok(res)
}

/// `PUT` / `DELETE /api/v1/groups/{groupId}/users/{userId}`.
fn change_membership(
    s: &SandboxState,
    headers: &HeaderMap,
    gid: &str,
    uid: &str,
    add: bool,
) -> Result<Response, ApiError> {
    let caller = authenticate(s, headers)?;
    caller.require(MANAGE)?;
    s.writer(&caller.user_id).set_member(gid, uid, add)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn add_member(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((gid, uid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_membership(&s, &headers, &gid, &uid, true)
}

pub(crate) async fn remove_member(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((gid, uid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    change_membership(&s, &headers, &gid, &uid, false)
}

/// `GET /api/v1/users/{id}/groups`.
pub(crate) async fn user_groups(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    let lookup = if id == "me" { caller.user_id.clone() } else { id.clone() };
    if id != "me" {
        caller.require(&["okta.users.read", "okta.users.manage"])?;
    }
    let mut res = {
        let dir = s.dir();
        let u = dir.find(&lookup).ok_or_else(|| ApiError::not_found(&id, "User"))?;
        json_array(dir.groups_of(&u.id).map(|g| dir.group_json(g, false)))
    };
    // Not paged: every group at once, with the `self` link Okta sends on collections.
    params.page_links(&mut res, &s.base, &format!("/api/v1/users/{id}/groups"), 0, None);
    Ok(res)
}
