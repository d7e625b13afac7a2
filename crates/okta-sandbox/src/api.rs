//! The Management API: `/api/v1/users`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use crate::error::ApiError;
use crate::oauth::AccessClaims;
use crate::server::SandboxState;
use crate::util::constant_time_eq;

const MAX_LIMIT: usize = 200;

/// Who is calling, after authentication.
pub(crate) struct Caller {
    user_id: String,
    /// `None` for an SSWS token, which acts with all of its admin's permissions.
    scopes: Option<Vec<String>>,
    super_admin: bool,
}

impl Caller {
    /// Okta's check for a delegated token: the scope must be granted and the signed-in user's
    /// admin role must allow the operation.
    fn require(&self, any_of: &[&str]) -> Result<(), ApiError> {
        if let Some(scopes) = &self.scopes
            && !scopes.iter().any(|s| any_of.contains(&s.as_str()))
        {
            return Err(ApiError::insufficient_scope());
        }
        if !self.super_admin {
            return Err(ApiError::forbidden());
        }
        Ok(())
    }
}

pub(crate) fn authenticate(s: &SandboxState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::invalid_token)?;
    let (scheme, credential) = value.split_once(' ').ok_or_else(ApiError::invalid_token)?;
    if scheme.eq_ignore_ascii_case("SSWS") {
        if !constant_time_eq(
            credential.trim().as_bytes(),
            s.config.api_token.expose_secret().as_bytes(),
        ) {
            return Err(ApiError::invalid_token());
        }
        let dir = s.dir();
        let admin = dir.find(&s.config.admin_login).ok_or_else(ApiError::invalid_token)?;
        return Ok(Caller {
            user_id: admin.id.clone(),
            scopes: None,
            super_admin: true,
        });
    }
    if scheme.eq_ignore_ascii_case("Bearer") {
        let claims: AccessClaims = s
            .keys
            .verify(credential.trim(), &s.base, &s.base)
            .ok_or_else(ApiError::invalid_token)?;
        if s.grants.lock().expect("grants lock").is_revoked(&claims.jti) {
            return Err(ApiError::invalid_token());
        }
        let dir = s.dir();
        let user = dir
            .find(&claims.uid)
            .filter(|u| u.is_active())
            .ok_or_else(ApiError::invalid_token)?;
        return Ok(Caller {
            user_id: user.id.clone(),
            scopes: Some(claims.scp),
            super_admin: user.is_super_admin,
        });
    }
    Err(ApiError::invalid_token())
}

/// `GET /api/v1/users`: every user but DEPROVISIONED ones, in id order, `limit` at a time,
/// with `Link` headers (`self` first, then `next` while more remain).
pub(crate) async fn list_users(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(&["okta.users.read", "okta.users.manage"])?;
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    let mut limit = MAX_LIMIT;
    let mut after: Option<String> = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "limit" => {
                limit = match v.parse::<i64>() {
                    Ok(n) if n >= 1 => (n as usize).min(MAX_LIMIT),
                    _ => return Err(ApiError::validation(format!("limit: {v:?} is not a positive number"))),
                }
            }
            "after" => after = Some(v.clone()),
            "search" | "filter" | "q" | "sortBy" | "sortOrder" | "expand" | "fields" => {
                return Err(ApiError::validation(format!(
                    "{k}: this sandbox does not implement the '{k}' parameter yet"
                )));
            }
            _ => {}
        }
    }
    // Listing concatenates each user's pre-rendered JSON: no per-request serialization.
    let (body, last_id, more) = {
        let dir = s.dir();
        let mut body = String::with_capacity(limit * 1100 + 2);
        body.push('[');
        let mut listed = dir.after(after.as_deref()).filter(|u| u.status != "DEPROVISIONED");
        let mut last_id = None;
        for (i, u) in listed.by_ref().take(limit).enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&u.list_json);
            last_id = Some(u.id.clone());
        }
        body.push(']');
        (body, last_id, listed.next().is_some())
    };
    let mut res = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    let path = format!("{}/api/v1/users", s.base);
    let self_link = if raw.is_empty() {
        path.clone()
    } else {
        format!("{path}?{raw}")
    };
    let links = res.headers_mut();
    links.append(header::LINK, link_value(&self_link, "self"));
    if more && let Some(last) = last_id {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "after") {
            q.append_pair(k, v);
        }
        if !pairs.iter().any(|(k, _)| k == "limit") {
            q.append_pair("limit", &limit.to_string());
        }
        q.append_pair("after", &last);
        links.append(header::LINK, link_value(&format!("{path}?{}", q.finish()), "next"));
    }
    Ok(res)
}

fn link_value(url: &str, rel: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("<{url}>; rel=\"{rel}\"")).expect("URLs we build are valid header values")
}

/// `GET /api/v1/users/{id or login}` (and `me`).
pub(crate) async fn get_user(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    let lookup = if id == "me" {
        caller.user_id.as_str()
    } else {
        caller.require(&["okta.users.read", "okta.users.manage"])?;
        id.as_str()
    };
    let dir = s.dir();
    let user = dir.find(lookup).ok_or_else(|| ApiError::not_found(&id, "User"))?;
    Ok(Json(dir.user_json(user)).into_response())
}
