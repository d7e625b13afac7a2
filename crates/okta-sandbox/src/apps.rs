//! The Apps API, enough to describe the org's apps: list (`q`, `filter`), get, an app's users
//! (assigned directly or through groups; direct assignments can be added and removed) and its
//! group assignments.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::api::{Params, authenticate, parse_limit};
use crate::error::ApiError;
use crate::extract::OktaJson;
use crate::org::OrgApp;
use crate::query::{self, Dialect};
use crate::state::SandboxState;

const READ: &[&str] = &["okta.apps.read", "okta.apps.manage"];

fn app_attr(a: &OrgApp, path: &str) -> Option<Value> {
    match path {
        "id" => Some(Value::String(a.id.clone())),
        "status" => Some(Value::String("ACTIVE".into())),
        "name" => Some(Value::String(
            if a.sign_on_mode == "BOOKMARK" {
                "bookmark"
            } else {
                "oidc_client"
            }
            .into(),
        )),
        _ => None,
    }
}

/// `GET /api/v1/apps`.
pub(crate) async fn list(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let filter = match params.get("filter") {
        Some(f) => {
            let e = query::parse(f).map_err(|err| ApiError::invalid_search(err.to_string()))?;
            e.check(Dialect::AppFilter).map_err(ApiError::invalid_search)?;
            Some(e)
        }
        None => None,
    };
    let q = params.get("q").map(str::to_lowercase);
    let limit = match params.get("limit") {
        Some("-1") | None => usize::MAX,
        other => parse_limit(other, 200, 200)?,
    };
    let (items, last, more) = {
        let dir = s.dir();
        let lower = params
            .get("after")
            .map_or(std::ops::Bound::Unbounded, |a| std::ops::Bound::Excluded(a.to_owned()));
        let mut it = dir
            .apps
            .range((lower, std::ops::Bound::Unbounded))
            .map(|(_, a)| a)
            .filter(|a| {
                filter.as_ref().is_none_or(|f| f.matches(&|p| app_attr(a, p)))
                    && q.as_ref().is_none_or(|q| {
                        a.label.to_lowercase().starts_with(q.as_str())
                            || app_attr(a, "name")
                                .and_then(|n| n.as_str().map(|n| n.starts_with(q.as_str())))
                                .unwrap_or(false)
                    })
            });
        let page: Vec<&OrgApp> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        (
            page.iter().map(|a| dir.app_json(a)).collect::<Vec<_>>(),
            page.last().map(|a| a.id.clone()),
            more,
        )
    };
    let mut res = Json(items).into_response();
    let page_limit = if limit == usize::MAX { 200 } else { limit };
    params.page_links(
        &mut res,
        &s.base,
        "/api/v1/apps",
        page_limit,
        more.then_some(last).flatten(),
    );
    Ok(res)
}

fn find<'a>(dir: &'a crate::org::Directory, id: &str) -> Result<&'a OrgApp, ApiError> {
    dir.apps.get(id).ok_or_else(|| ApiError::not_found(id, "AppInstance"))
}

/// `GET /api/v1/apps/{appId}`.
pub(crate) async fn get(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let dir = s.dir();
    Ok(Json(dir.app_json(find(&dir, &id)?)).into_response())
}

/// `GET /api/v1/apps/{appId}/users` (`limit` ≤ 500, default 50; `expand=user` embeds each
/// user as `_embedded.user`).
pub(crate) async fn users(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let limit = parse_limit(params.get("limit"), 50, 500)?;
    let embed = params
        .get("expand")
        .is_some_and(|e| e.split(',').any(|x| x.trim() == "user"));
    let (items, last, more) = {
        let dir = s.dir();
        let app = find(&dir, &id)?;
        let mut it = dir.app_users_after(app, params.get("after"), limit + 1);
        let page: Vec<_> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        let json = |u: &&crate::org::OrgUser| {
            let mut v = dir.app_user_json(app, u);
            if embed {
                v["_embedded"] = serde_json::json!({ "user": dir.user_json(u) });
            }
            v
        };
        (
            page.iter().map(json).collect::<Vec<_>>(),
            page.last().map(|u| u.id.clone()),
            more,
        )
    };
    let mut res = Json(items).into_response();
    params.page_links(
        &mut res,
        &s.base,
        &format!("/api/v1/apps/{id}/users"),
        limit,
        more.then_some(last).flatten(),
    );
    Ok(res)
}

/// `GET /api/v1/apps/{appId}/groups` (`limit` ≤ 200, default 20; `after` a group id).
pub(crate) async fn groups(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let limit = parse_limit(params.get("limit"), 20, 200)?;
    let (items, last, more) = {
        let dir = s.dir();
        let app = find(&dir, &id)?;
        let start = match params.get("after") {
            Some(after) => app
                .groups
                .iter()
                .position(|g| g == after)
                .map_or(app.groups.len(), |i| i + 1),
            None => 0,
        };
        let page: Vec<(usize, &String)> = app.groups.iter().enumerate().skip(start).take(limit).collect();
        let more = start + page.len() < app.groups.len();
        (
            page.iter()
                .map(|(i, g)| dir.app_group_json(app, g, *i))
                .collect::<Vec<_>>(),
            page.last().map(|(_, g)| (*g).clone()),
            more,
        )
    };
    let mut res = Json(items).into_response();
    params.page_links(
        &mut res,
        &s.base,
        &format!("/api/v1/apps/{id}/groups"),
        limit,
        more.then_some(last).flatten(),
    );
    Ok(res)
}

const MANAGE: &[&str] = &["okta.apps.manage"];

/// `POST /api/v1/apps/{appId}/users`: assigns a user to the app directly (`scope: USER`).
/// Assigning a user who is already assigned answers the assignment unchanged.
pub(crate) async fn assign_user(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    caller.require(MANAGE)?;
    let uid = body
        .get("id")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::validation("id: The field cannot be left blank"))?;
    let mut w = s.writer(&caller.user_id);
    if !w.dir.apps.contains_key(&id) {
        return Err(ApiError::not_found(&id, "AppInstance"));
    }
    if w.dir.find(uid).is_none() {
        return Err(ApiError::validation(format!("id: {uid} is not a user of this org")));
    }
    w.set_app_user(&id, uid, true)?;
    if let Some(name) = body.pointer("/credentials/userName").and_then(Value::as_str) {
        s.set_app_username(&id, uid, name);
    }
    let dir = &w.dir;
    let json = match (dir.apps.get(&id), dir.find(uid)) {
        (Some(app), Some(user)) => dir.app_user_json(app, user),
        _ => Value::Null,
    };
    Ok(Json(json).into_response())
}

/// `GET /api/v1/apps/{appId}/users/{userId}`: a user's assignment, direct or through a group.
pub(crate) async fn get_user(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((id, uid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let dir = s.dir();
    let app = find(&dir, &id)?;
    let user = dir
        .find(&uid)
        .filter(|u| dir.is_app_user(app, &u.id))
        .ok_or_else(|| ApiError::not_found(&uid, "AppUser"))?;
    Ok(Json(dir.app_user_json(app, user)).into_response())
}

/// `DELETE /api/v1/apps/{appId}/users/{userId}`: removes a direct assignment. A user assigned
/// only through a group cannot be unassigned this way (as in Okta: remove the group's).
pub(crate) async fn unassign_user(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((id, uid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    caller.require(MANAGE)?;
    let mut w = s.writer(&caller.user_id);
    let app = w
        .dir
        .apps
        .get(&id)
        .ok_or_else(|| ApiError::not_found(&id, "AppInstance"))?;
    let user = w.dir.find(&uid).ok_or_else(|| ApiError::not_found(&uid, "AppUser"))?;
    if !app.users.contains_key(&user.id) {
        return Err(if w.dir.is_app_user(app, &user.id) {
            ApiError::forbidden_because(format!(
                "{uid} is assigned to this app through a group; remove the group's assignment instead"
            ))
        } else {
            ApiError::not_found(&uid, "AppUser")
        });
    }
    let user_id = user.id.clone();
    w.set_app_user(&id, &user_id, false)?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
