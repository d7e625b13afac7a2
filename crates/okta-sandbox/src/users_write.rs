//! Changing users: create, partial update (`POST`), replace (`PUT`), delete (deactivate first,
//! as Okta), and the lifecycle operations with Okta's status transitions.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::api::{Caller, authenticate};
use crate::changes::{Lifecycle, NewUser};
use crate::error::ApiError;
use crate::extract::OktaJson;
use crate::org::Profile;
use crate::state::SandboxState;
use crate::util::random_token;

const MANAGE: &[&str] = &["okta.users.manage"];

fn caller(s: &SandboxState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let c = authenticate(s, headers)?;
    c.require(MANAGE)?;
    Ok(c)
}

fn blank(field: &str) -> ApiError {
    ApiError::validation_cause(format!("{field}: The field cannot be left blank"))
}

/// The attributes of Okta's default user profile (`UserProfile` in its spec) with the length
/// bounds the spec gives; each is a string (or null, which unsets it).
const PROFILE_ATTRIBUTES: &[(&str, usize, usize)] = &[
    ("city", 0, 128),
    ("costCenter", 0, usize::MAX),
    ("countryCode", 0, 2),
    ("department", 0, usize::MAX),
    ("displayName", 0, usize::MAX),
    ("division", 0, usize::MAX),
    ("email", 5, 100),
    ("employeeNumber", 0, usize::MAX),
    ("firstName", 1, 50),
    ("honorificPrefix", 0, usize::MAX),
    ("honorificSuffix", 0, usize::MAX),
    ("lastName", 1, 50),
    ("locale", 0, usize::MAX),
    ("login", 5, 100),
    ("manager", 0, usize::MAX),
    ("managerId", 0, usize::MAX),
    ("middleName", 0, usize::MAX),
    ("mobilePhone", 0, 100),
    ("nickName", 0, usize::MAX),
    ("organization", 0, usize::MAX),
    ("postalAddress", 0, 4096),
    ("preferredLanguage", 0, usize::MAX),
    ("primaryPhone", 0, 100),
    ("profileUrl", 0, usize::MAX),
    ("secondEmail", 0, 100),
    ("state", 0, 128),
    ("streetAddress", 0, 1024),
    ("timezone", 0, usize::MAX),
    ("title", 0, usize::MAX),
    ("userType", 0, usize::MAX),
    ("zipCode", 0, 50),
];

/// Checks the attributes a request gives against the default profile schema, as Okta does:
/// each default attribute a string within its length bounds, or null. Other attributes are
/// custom ones, of any JSON type (the sandbox's schema accepts every custom attribute, as if
/// each had been added with the Profile Editor).
fn check_profile_attributes(profile: &Value) -> Result<(), ApiError> {
    let obj = profile.as_object().ok_or_else(|| blank("profile"))?;
    for (name, value) in obj {
        let Some((_, min, max)) = PROFILE_ATTRIBUTES.iter().find(|(n, _, _)| n == name) else {
            continue;
        };
        match value {
            Value::Null => {}
            Value::String(text) => {
                let len = text.chars().count();
                if len < *min || len > *max {
                    return Err(ApiError::validation_cause(format!(
                        "{name}: The field is too long or too short (from {min} to {max} characters)"
                    )));
                }
            }
            _ => {
                return Err(ApiError::validation_cause(format!(
                    "{name}: Does not match required type: string"
                )));
            }
        }
    }
    Ok(())
}

/// A profile from a request's `profile` object: `firstName`, `lastName`, `email` and `login`
/// required (Okta's default schema); everything else kept as given.
fn profile_from(v: Option<&Value>) -> Result<Profile, ApiError> {
    let obj = v.and_then(Value::as_object).ok_or_else(|| blank("profile"))?;
    let field = |name: &str| -> Result<String, ApiError> {
        obj.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| blank(name))
    };
    let profile = Profile {
        first_name: field("firstName")?,
        last_name: field("lastName")?,
        email: field("email")?,
        login: field("login")?,
        extra: obj
            .iter()
            .filter(|(k, _)| !["firstName", "lastName", "email", "login"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    for (name, value) in [("login", &profile.login), ("email", &profile.email)] {
        if !value.contains('@') || value.starts_with('@') || value.ends_with('@') {
            return Err(ApiError::validation_cause(format!(
                "{name}: Does not match required pattern"
            )));
        }
    }
    Ok(profile)
}

/// `credentials.password.value`, checked against a policy like Okta's default (8 characters
/// or more, not containing the login's local part).
fn password_from(body: &Value, login: &str) -> Result<Option<SecretString>, ApiError> {
    let Some(value) = body.pointer("/credentials/password/value") else {
        return Ok(None);
    };
    let pw = value.as_str().ok_or_else(|| blank("password"))?;
    let local = login.split('@').next().unwrap_or_default().to_lowercase();
    if pw.chars().count() < 8 || (!local.is_empty() && pw.to_lowercase().contains(&local)) {
        return Err(ApiError::validation_cause(
            "password: Password requirements were not met. Password requirements: at least 8 characters, no parts of your username.",
        ));
    }
    Ok(Some(SecretString::from(pw.to_owned())))
}

fn flag(q: &std::collections::HashMap<String, String>, name: &str, default: bool) -> bool {
    q.get(name).map_or(default, |v| v.eq_ignore_ascii_case("true"))
}

/// `POST /api/v1/users?activate=`.
pub(crate) async fn create(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    let caller = caller(&s, &headers)?;
    if let Some(p) = body.get("profile") {
        check_profile_attributes(p)?;
    }
    let profile = profile_from(body.get("profile"))?;
    let password = password_from(&body, &profile.login)?;
    let group_ids: Vec<String> = body
        .get("groupIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let mut w = s.writer(&caller.user_id);
    let id = w.create_user(NewUser {
        profile,
        password,
        activate: flag(&q, "activate", true),
        group_ids,
    })?;
    Ok(Json(w.user_json(&id)).into_response())
}

/// Partial (`POST`) or full (`PUT`) update of a user's profile and password.
fn update(s: &SandboxState, headers: &HeaderMap, id: &str, body: &Value, replace: bool) -> Result<Response, ApiError> {
    let caller = caller(s, headers)?;
    let mut w = s.writer(&caller.user_id);
    let user = w.dir.find(id).cloned().ok_or_else(|| ApiError::not_found(id, "User"))?;
    if let Some(p) = body.get("profile") {
        check_profile_attributes(p)?;
    }
    let profile = match body.get("profile") {
        Some(p) if replace => Some(profile_from(Some(p))?),
        Some(p) => {
            // Merge the given attributes over the current ones, then check the result.
            let mut merged: Map<String, Value> = serde_json::to_value(&user.profile)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            for (k, v) in p.as_object().ok_or_else(|| blank("profile"))? {
                merged.insert(k.clone(), v.clone());
            }
            Some(profile_from(Some(&Value::Object(merged)))?)
        }
        None if replace => return Err(blank("profile")),
        None => None,
    };
    let login = profile.as_ref().map_or(&user.profile.login, |p| &p.login);
    let password = password_from(body, login)?;
    let uid = w.update_user(&user.id, profile, password)?;
    Ok(Json(w.user_json(&uid)).into_response())
}

pub(crate) async fn partial_update(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    update(&s, &headers, &id, &body, false)
}

pub(crate) async fn replace(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    update(&s, &headers, &id, &body, true)
}

/// `DELETE /api/v1/users/{id}`: deactivates a user that is not DEPROVISIONED yet; deletes one
/// that is.
pub(crate) async fn delete(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&s, &headers)?;
    s.writer(&caller.user_id).delete_user(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/users/{id}/lifecycle/{operation}`.
pub(crate) async fn lifecycle(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((id, op)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = caller(&s, &headers)?;
    let send_email = flag(&q, "sendEmail", true);
    let op = Lifecycle::parse(&op).ok_or_else(ApiError::resource_not_found)?;
    let mut w = s.writer(&caller.user_id);
    let uid = w.lifecycle(&id, op)?;
    let user_json = w.user_json(&uid);
    drop(w);
    Ok(match op {
        Lifecycle::ExpirePassword => Json(user_json).into_response(),
        Lifecycle::Activate | Lifecycle::Reactivate if !send_email => {
            let token = random_token(20);
            Json(json!({ "activationUrl": format!("{}/welcome/{token}", s.base), "activationToken": token }))
                .into_response()
        }
        Lifecycle::ResetPassword if !send_email => {
            Json(json!({ "resetPasswordUrl": format!("{}/reset_password/{}", s.base, random_token(20)) }))
                .into_response()
        }
        Lifecycle::Activate | Lifecycle::Reactivate | Lifecycle::ResetPassword => Json(json!({})).into_response(),
        // Okta's spec documents no body for these 200s.
        _ => StatusCode::OK.into_response(),
    })
}
