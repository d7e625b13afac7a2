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
use crate::error::ApiError;
use crate::extract::OktaJson;
use crate::org::{OrgUser, Profile};
use crate::state::SandboxState;
use crate::syslog::Target;
use crate::util::{now, random_token};

const MANAGE: &[&str] = &["okta.users.manage"];

fn caller(s: &SandboxState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let c = authenticate(s, headers)?;
    c.require(MANAGE)?;
    Ok(c)
}

fn blank(field: &str) -> ApiError {
    ApiError::validation_cause(format!("{field}: The field cannot be left blank"))
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

fn user_target(u: &OrgUser) -> (String, String, String) {
    (
        u.id.clone(),
        u.profile.login.clone(),
        format!("{} {}", u.profile.first_name, u.profile.last_name),
    )
}

fn record_user(s: &SandboxState, caller: &Caller, event: &str, t: &(String, String, String)) {
    let target = Target {
        id: &t.0,
        kind: "User",
        alternate_id: Some(&t.1),
        display_name: Some(&t.2),
    };
    s.record(&caller.user_id, event, Some(target), true);
}

/// `POST /api/v1/users?activate=`.
pub(crate) async fn create(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    let caller = caller(&s, &headers)?;
    let profile = profile_from(body.get("profile"))?;
    let password = password_from(&body, &profile.login)?;
    let activate = flag(&q, "activate", true);
    let group_ids: Vec<String> = body
        .get("groupIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let now = now();
    let mut dir = s.directory.write().expect("directory lock");
    if dir.login_taken(&profile.login) {
        return Err(ApiError::validation_cause(
            "login: An object with this field already exists in the current organization",
        ));
    }
    if let Some(bad) = group_ids
        .iter()
        .find(|g| !dir.groups.get(*g).is_some_and(|g| g.is_managed_in_okta()))
    {
        return Err(ApiError::validation_cause(format!(
            "groupIds: {bad} is not a group users can be added to"
        )));
    }
    let status = match (activate, password.is_some()) {
        (false, _) => "STAGED",
        (true, true) => "ACTIVE",
        (true, false) => "PROVISIONED",
    };
    let user = OrgUser {
        id: dir.new_id("00u"),
        status,
        created: now,
        activated: activate.then_some(now),
        status_changed: activate.then_some(now),
        last_login: None,
        last_updated: now,
        password_changed: password.as_ref().map(|_| now),
        profile,
        is_super_admin: false,
        password,
        list_json: Box::from(""),
    };
    let id = user.id.clone();
    let target = user_target(&user);
    dir.insert(user);
    if let Some(everyone) = dir.everyone_id() {
        dir.add_member(&everyone, &id, now);
    }
    for g in &group_ids {
        dir.add_member(g, &id, now);
    }
    let json = dir.find(&id).map(|u| dir.user_json(u)).unwrap_or_default();
    drop(dir);
    record_user(&s, &caller, "user.lifecycle.create", &target);
    if activate {
        record_user(&s, &caller, "user.lifecycle.activate", &target);
    }
    Ok(Json(json).into_response())
}

/// Partial (`POST`) or full (`PUT`) update of a user's profile and password.
async fn update(
    s: Arc<SandboxState>,
    headers: HeaderMap,
    id: String,
    body: Value,
    replace: bool,
) -> Result<Response, ApiError> {
    let caller = caller(&s, &headers)?;
    let mut dir = s.directory.write().expect("directory lock");
    let mut user = dir.find(&id).cloned().ok_or_else(|| ApiError::not_found(&id, "User"))?;
    if let Some(p) = body.get("profile") {
        let profile = if replace {
            profile_from(Some(p))?
        } else {
            // Merge the given attributes over the current ones, then check the result.
            let mut merged: Map<String, Value> = serde_json::to_value(&user.profile)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            for (k, v) in p.as_object().ok_or_else(|| blank("profile"))? {
                merged.insert(k.clone(), v.clone());
            }
            profile_from(Some(&Value::Object(merged)))?
        };
        if !profile.login.eq_ignore_ascii_case(&user.profile.login) && dir.login_taken(&profile.login) {
            return Err(ApiError::validation_cause(
                "login: An object with this field already exists in the current organization",
            ));
        }
        user.profile = profile;
    } else if replace {
        return Err(blank("profile"));
    }
    let password = password_from(&body, &user.profile.login)?;
    let now = now();
    if password.is_some() {
        user.password = password;
        user.password_changed = Some(now);
    }
    user.last_updated = now;
    let target = user_target(&user);
    let uid = user.id.clone();
    dir.insert(user);
    let json = dir.find(&uid).map(|u| dir.user_json(u)).unwrap_or_default();
    drop(dir);
    record_user(&s, &caller, "user.account.update_profile", &target);
    Ok(Json(json).into_response())
}

pub(crate) async fn partial_update(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    update(s, headers, id, body, false).await
}

pub(crate) async fn replace(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    update(s, headers, id, body, true).await
}

fn protect_admin(s: &SandboxState, u: &OrgUser) -> Result<(), ApiError> {
    if u.profile.login.eq_ignore_ascii_case(&s.config.admin_login) {
        return Err(ApiError::forbidden_because(
            "the sandbox's super admin (the API token's owner) cannot be deactivated, suspended or deleted",
        ));
    }
    Ok(())
}

/// `DELETE /api/v1/users/{id}`: deactivates a user that is not DEPROVISIONED yet; deletes one
/// that is.
pub(crate) async fn delete(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = caller(&s, &headers)?;
    let mut dir = s.directory.write().expect("directory lock");
    let mut user = dir.find(&id).cloned().ok_or_else(|| ApiError::not_found(&id, "User"))?;
    protect_admin(&s, &user)?;
    let target = user_target(&user);
    let event = if user.status == "DEPROVISIONED" {
        dir.remove_user(&user.id);
        "user.lifecycle.delete.initiated"
    } else {
        let now = now();
        user.status = "DEPROVISIONED";
        user.status_changed = Some(now);
        user.last_updated = now;
        dir.insert(user);
        "user.lifecycle.deactivate"
    };
    drop(dir);
    record_user(&s, &caller, event, &target);
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
    let mut dir = s.directory.write().expect("directory lock");
    let mut user = dir.find(&id).cloned().ok_or_else(|| ApiError::not_found(&id, "User"))?;
    let has_password = user.password_changed.is_some();
    let invalid = |what: &str| {
        let why = format!("Cannot {what} a user whose status is {}", user.status);
        if matches!(op.as_str(), "suspend" | "unsuspend") {
            ApiError::validation_summary(why)
        } else {
            ApiError::not_allowed_in_status(why)
        }
    };
    let (status, event, body): (&'static str, &str, Value) = match op.as_str() {
        "activate" | "reactivate" => {
            let allowed = if op == "activate" {
                matches!(user.status, "STAGED" | "PROVISIONED" | "DEPROVISIONED")
            } else {
                user.status == "PROVISIONED"
            };
            if user.status == "ACTIVE" {
                return Err(ApiError::already_active());
            }
            if !allowed {
                return Err(invalid(&op));
            }
            let token = random_token(20);
            let body = if send_email {
                json!({})
            } else {
                json!({ "activationUrl": format!("{}/welcome/{token}", s.base), "activationToken": token })
            };
            (
                if has_password { "ACTIVE" } else { "PROVISIONED" },
                "user.lifecycle.activate",
                body,
            )
        }
        "deactivate" => {
            protect_admin(&s, &user)?;
            if user.status == "DEPROVISIONED" {
                return Err(invalid("deactivate"));
            }
            ("DEPROVISIONED", "user.lifecycle.deactivate", Value::Null)
        }
        "suspend" => {
            protect_admin(&s, &user)?;
            if user.status != "ACTIVE" {
                return Err(invalid("suspend"));
            }
            ("SUSPENDED", "user.lifecycle.suspend", Value::Null)
        }
        "unsuspend" => {
            if user.status != "SUSPENDED" {
                return Err(invalid("unsuspend"));
            }
            ("ACTIVE", "user.lifecycle.unsuspend", Value::Null)
        }
        "unlock" => {
            if user.status != "LOCKED_OUT" {
                return Err(invalid("unlock"));
            }
            ("ACTIVE", "user.account.unlock", Value::Null)
        }
        "reset_password" => {
            if !matches!(user.status, "ACTIVE" | "PASSWORD_EXPIRED" | "LOCKED_OUT" | "RECOVERY") {
                return Err(invalid("reset the password of"));
            }
            let body = if send_email {
                json!({})
            } else {
                json!({ "resetPasswordUrl": format!("{}/reset_password/{}", s.base, random_token(20)) })
            };
            ("RECOVERY", "user.account.reset_password", body)
        }
        "expire_password" => {
            if !matches!(user.status, "ACTIVE" | "PASSWORD_EXPIRED") {
                return Err(invalid("expire the password of"));
            }
            ("PASSWORD_EXPIRED", "user.password.expire", Value::Null)
        }
        _ => return Err(ApiError::resource_not_found()),
    };
    let now = now();
    if user.status != status {
        user.status = status;
        user.status_changed = Some(now);
        if status == "ACTIVE" && user.activated.is_none() {
            user.activated = Some(now);
        }
    }
    user.last_updated = now;
    let uid = user.id.clone();
    let target = user_target(&user);
    dir.insert(user);
    let user_json = dir.find(&uid).map(|u| dir.user_json(u)).unwrap_or_default();
    drop(dir);
    record_user(&s, &caller, event, &target);
    Ok(match (op.as_str(), body) {
        ("expire_password", _) => Json(user_json).into_response(),
        // Okta's spec documents no body for these 200s.
        (_, Value::Null) => StatusCode::OK.into_response(),
        (_, body) => Json(body).into_response(),
    })
}
