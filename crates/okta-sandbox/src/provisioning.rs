//! The org as Okta's SCIM 2.0 provisioning client. An admin makes an app (`POST /api/v1/apps`,
//! a bookmark app: the shape a custom SCIM app has), assigns people and groups to it, gives it a
//! provisioning connection (`POST /api/v1/apps/{appId}/connections/default`: the token and, as a
//! sandbox liberty, the SCIM `baseUrl`), turns on `USER_PROVISIONING`
//! (`PUT /api/v1/apps/{appId}/features/USER_PROVISIONING`) and pushes groups
//! (`/api/v1/apps/{appId}/group-push/mappings`).
//!
//! The org then pushes as Okta does: a user assigned (directly or through a group) is looked
//! up with `userName eq` and created (`POST /Users`, a placeholder password) or linked and
//! updated; a profile change is a `PUT` of the whole user (or a `PATCH`); deactivation or
//! unassignment `PATCH active false`; reactivation and reassignment `active true`; suspension
//! nothing. Group Push creates the group, renames it and changes its members with `PATCH`
//! (`add` of `members`, `remove` with `members[value eq "…"]`, a path-less `replace` of
//! `displayName` every time) and deletes it when its mapping goes with `deleteAppGroup`. A 429
//! is retried after `Retry-After` (5 minutes without one, doubling, at most 10 times).
//!
//! One worker per org, woken by every change (every System Log event): it compares what each
//! app should have with what it pushed so far and sends the difference. Each push is in the
//! System Log and counted; what was sent is at `GET /__sandbox/provisioning`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::authenticate;
use crate::error::ApiError;
use crate::extract::OktaJson;
use crate::org::OrgApp;
use crate::state::SandboxState;
use crate::state::provisioning::{Mapping, PushedUser, SENT_KEPT, ScimApp, Sent};
use crate::syslog::Target;
use crate::util::{now, okta_time, random_token};

const MANAGE: &[&str] = &["okta.apps.manage"];
const READ: &[&str] = &["okta.apps.read", "okta.apps.manage"];
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The longest one push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Retries of a push answered 429.
const MAX_RETRIES: u32 = 10;

/// `POST /api/v1/apps`: a bookmark app (`signOnMode: BOOKMARK`, `settings.app.url`), the shape a
/// custom SCIM app has.
pub(crate) async fn create_app(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    caller.require(MANAGE)?;
    let label = body
        .get("label")
        .and_then(Value::as_str)
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| ApiError::validation("label: The field cannot be left blank"))?;
    let mode = body.get("signOnMode").and_then(Value::as_str).unwrap_or("BOOKMARK");
    if mode != "BOOKMARK" {
        return Err(ApiError::validation(format!(
            "signOnMode: {mode} apps cannot be made here; make a BOOKMARK app"
        )));
    }
    let url = body
        .pointer("/settings/app/url")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut w = s.writer(&caller.user_id);
    let id = w.dir.new_id("0oa");
    let app = OrgApp {
        id: id.clone(),
        label: label.to_owned(),
        created: now(),
        sign_on_mode: "BOOKMARK",
        redirect_uris: Vec::new(),
        url,
        groups: Vec::new(),
        users: BTreeMap::new(),
    };
    let json = w.dir.app_json(&app);
    w.dir.apps.insert(id, app);
    Ok((StatusCode::OK, Json(json)).into_response())
}

/// `PUT /api/v1/apps/{appId}/groups/{groupId}`: assigns a group (its members become the app's
/// users).
pub(crate) async fn assign_group(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((id, gid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    caller.require(MANAGE)?;
    let mut w = s.writer(&caller.user_id);
    if !w.dir.groups.contains_key(&gid) {
        return Err(ApiError::not_found(&gid, "UserGroup"));
    }
    let app = w
        .dir
        .apps
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found(&id, "AppInstance"))?;
    if !app.groups.contains(&gid) {
        app.groups.push(gid.clone());
    }
    let label = app.label.clone();
    let priority = app.groups.iter().position(|g| *g == gid).unwrap_or(0);
    let json = match w.dir.apps.get(&id) {
        Some(app) => w.dir.app_group_json(app, &gid, priority),
        None => Value::Null,
    };
    drop(w);
    s.record(
        &caller.user_id,
        "application.user_membership.add",
        &[
            Target::new("UserGroup", &gid, None, None),
            Target::new("AppInstance", &id, Some(&label), Some(&label)),
        ],
        true,
    );
    Ok(Json(json).into_response())
}

fn app_must_exist(s: &SandboxState, id: &str) -> Result<(), ApiError> {
    if s.dir().apps.contains_key(id) {
        Ok(())
    } else {
        Err(ApiError::not_found(id, "AppInstance"))
    }
}

fn connection_json(s: &SandboxState, id: &str, app: Option<&ScimApp>) -> Value {
    json!({
        "authScheme": "TOKEN",
        "status": if app.is_some() { "ENABLED" } else { "DISABLED" },
        "baseUrl": app.map(|a| a.base_url.clone()),
        "_links": { "self": { "href": format!("{}/api/v1/apps/{id}/connections/default", s.base) } },
    })
}

/// The request Okta's admin console sends for "Test API Credentials" (and Okta on activating a
/// connection): the first two users.
pub const TEST_CREDENTIALS: &str = "/Users?startIndex=1&count=2";

#[derive(serde::Deserialize)]
pub(crate) struct ConnectionParams {
    activate: Option<bool>,
}

/// `POST /api/v1/apps/{appId}/connections/default[?activate=true]`: the provisioning
/// connection: `profile` `{"authScheme": "TOKEN", "token"}` and the SCIM `baseUrl`. Activating
/// it tests the credentials first, as the admin console's "Test API Credentials" does
/// ([`TEST_CREDENTIALS`]): an answer other than 200 is a 400 that says what the server answered,
/// and nothing is saved.
pub(crate) async fn set_connection(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::extract::Query(params): axum::extract::Query<ConnectionParams>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(MANAGE)?;
    app_must_exist(&s, &id)?;
    let scheme = body.pointer("/profile/authScheme").and_then(Value::as_str);
    if scheme != Some("TOKEN") {
        return Err(ApiError::validation(
            "profile.authScheme: TOKEN is the scheme a SCIM app takes",
        ));
    }
    let token = body
        .pointer("/profile/token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::validation("profile.token: The field cannot be left blank"))?;
    let base_url = body
        .get("baseUrl")
        .and_then(Value::as_str)
        .and_then(|u| url::Url::parse(u).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ApiError::validation("baseUrl: the SCIM base URL (http or https) the org pushes to"))?;
    let base_url = base_url.as_str().trim_end_matches('/').to_owned();
    if params.activate == Some(true) {
        let trial = ScimApp::new(base_url.clone(), secrecy::SecretString::from(token.to_owned()));
        let (status, _) = send(&s, &scim_client(), &id, &trial, "GET", TEST_CREDENTIALS, None).await;
        if status != 200 {
            return Err(ApiError::validation(format!(
                "Could not connect to the SCIM server: GET {base_url}{TEST_CREDENTIALS} was answered {status}. Check the base URL and the token"
            )));
        }
    }
    let json = {
        let mut p = s.provisioning.lock().expect("provisioning lock");
        let app = p
            .apps
            .entry(id.clone())
            .or_insert_with(|| ScimApp::new(String::new(), secrecy::SecretString::from(String::new())));
        app.base_url = base_url;
        app.token = secrecy::SecretString::from(token.to_owned());
        connection_json(&s, &id, Some(app))
    };
    s.start_provisioning();
    Ok(Json(json).into_response())
}

/// `GET /api/v1/apps/{appId}/connections/default`.
pub(crate) async fn get_connection(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    app_must_exist(&s, &id)?;
    let p = s.provisioning.lock().expect("provisioning lock");
    // An app without provisioning has no connection to show (the sweep of Okta's spec reads
    // only apps that have one).
    let app = p
        .apps
        .get(&id)
        .ok_or_else(|| ApiError::not_found(&id, "ProvisioningConnection"))?;
    Ok(Json(connection_json(&s, &id, Some(app))).into_response())
}

fn enabled(body: &Value, pointer: &str) -> bool {
    body.pointer(pointer).and_then(Value::as_str) == Some("ENABLED")
}

fn feature_json(app: &ScimApp) -> Value {
    let status = |on: bool| if on { "ENABLED" } else { "DISABLED" };
    json!({
        "name": "USER_PROVISIONING",
        "status": status(app.create || app.update || app.deactivate),
        "capabilities": {
            "create": { "lifecycleCreate": { "status": status(app.create) } },
            "update": {
                "profile": { "status": status(app.update) },
                "lifecycleDeactivate": { "status": status(app.deactivate) },
                "password": { "status": "DISABLED", "seed": "RANDOM", "change": "KEEP_EXISTING" },
            },
        },
    })
}

/// `PUT /api/v1/apps/{appId}/features/USER_PROVISIONING`: Create Users, Update User Attributes,
/// Deactivate Users (`capabilities.create.lifecycleCreate`, `capabilities.update.profile`,
/// `capabilities.update.lifecycleDeactivate`); profile updates as `PATCH` with the sandbox's
/// `capabilities.update.profile.method: "PATCH"` (else `PUT`).
pub(crate) async fn set_feature(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((id, feature)): Path<(String, String)>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(MANAGE)?;
    app_must_exist(&s, &id)?;
    if feature != "USER_PROVISIONING" {
        return Err(ApiError::not_found(&feature, "ApplicationFeature"));
    }
    let json = {
        let mut p = s.provisioning.lock().expect("provisioning lock");
        let app = p.apps.get_mut(&id).ok_or_else(|| {
            ApiError::validation(
                "the app has no provisioning connection: POST /api/v1/apps/{appId}/connections/default first",
            )
        })?;
        let c = body.get("capabilities").cloned().unwrap_or_else(|| body.clone());
        app.create = enabled(&c, "/create/lifecycleCreate/status");
        app.update = enabled(&c, "/update/profile/status");
        app.deactivate = enabled(&c, "/update/lifecycleDeactivate/status");
        app.patch_updates = c.pointer("/update/profile/method").and_then(Value::as_str) == Some("PATCH");
        feature_json(app)
    };
    s.provisioning_changed();
    Ok(Json(json).into_response())
}

fn mapping_json(s: &SandboxState, app_id: &str, m: &Mapping) -> Value {
    json!({
        "id": m.id,
        "sourceGroupId": m.source_group,
        "targetGroupId": m.scim_id,
        "status": if m.active { "ACTIVE" } else { "INACTIVE" },
        "created": okta_time(m.created),
        "lastUpdated": okta_time(m.last_updated),
        "lastPush": m.scim_id.as_ref().map(|_| okta_time(m.last_updated)),
        "_links": { "self": { "href": format!("{}/api/v1/apps/{app_id}/group-push/mappings/{}", s.base, m.id) } },
    })
}

/// `POST /api/v1/apps/{appId}/group-push/mappings` `{"sourceGroupId", "targetGroupName"?,
/// "status"?}`: pushes an Okta group to the app.
pub(crate) async fn create_mapping(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(MANAGE)?;
    app_must_exist(&s, &id)?;
    let source = body
        .get("sourceGroupId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("sourceGroupId: The field cannot be left blank"))?;
    if !s.dir().groups.contains_key(source) {
        return Err(ApiError::validation(format!(
            "sourceGroupId: {source} is not a group of this org"
        )));
    }
    let json = {
        let mut p = s.provisioning.lock().expect("provisioning lock");
        let app = p.apps.get_mut(&id).ok_or_else(|| {
            ApiError::validation("Group Push needs provisioning: POST /api/v1/apps/{appId}/connections/default first")
        })?;
        if let Some(m) = app
            .mappings
            .values()
            .find(|m| m.source_group == source && !m.delete_target)
        {
            return Err(ApiError::validation(format!(
                "sourceGroupId: the group is pushed already (mapping {})",
                m.id
            )));
        }
        let t = now();
        let m = Mapping {
            id: format!("gPm{}", random_token(17)),
            source_group: source.to_owned(),
            target_name: body.get("targetGroupName").and_then(Value::as_str).map(str::to_owned),
            active: body.get("status").and_then(Value::as_str) != Some("INACTIVE"),
            created: t,
            last_updated: t,
            scim_id: None,
            pushed_name: None,
            pushed_members: BTreeSet::new(),
            delete_target: false,
        };
        let json = mapping_json(&s, &id, &m);
        app.mappings.insert(m.id.clone(), m);
        json
    };
    s.provisioning_changed();
    Ok(Json(json).into_response())
}

/// `GET /api/v1/apps/{appId}/group-push/mappings`.
pub(crate) async fn list_mappings(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    app_must_exist(&s, &id)?;
    let p = s.provisioning.lock().expect("provisioning lock");
    // Group Push needs provisioning: an app without it has no mappings to list.
    let app = p
        .apps
        .get(&id)
        .ok_or_else(|| ApiError::not_found(&id, "GroupPushMapping"))?;
    let all: Vec<Value> = app
        .mappings
        .values()
        .filter(|m| !m.delete_target)
        .map(|m| mapping_json(&s, &id, m))
        .collect();
    Ok(Json(all).into_response())
}

/// `DELETE /api/v1/apps/{appId}/group-push/mappings/{mappingId}?deleteTargetGroup=true`:
/// stops pushing the group, and deletes it at the app when asked.
pub(crate) async fn delete_mapping(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((id, mid)): Path<(String, String)>,
    params: crate::api::Params,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(MANAGE)?;
    let delete_target = params.get("deleteTargetGroup") == Some("true");
    {
        let mut p = s.provisioning.lock().expect("provisioning lock");
        let app = p
            .apps
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(&id, "AppInstance"))?;
        let m = app
            .mappings
            .get_mut(&mid)
            .ok_or_else(|| ApiError::not_found(&mid, "GroupPushMapping"))?;
        if delete_target && m.scim_id.is_some() {
            m.delete_target = true;
            m.active = false;
        } else {
            app.mappings.remove(&mid);
        }
    }
    s.provisioning_changed();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /__sandbox/provisioning[?settled=true]`: per app, the users and groups pushed, and
/// every request sent (method, path, body, status, milliseconds), oldest first; with `settled`,
/// once every change made so far is pushed (at most ten minutes).
pub(crate) async fn sent(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    params: crate::api::Params,
) -> Result<Response, ApiError> {
    crate::faults::control_auth(&s, &headers)?;
    if params.get("settled") == Some("true") {
        let _ = tokio::time::timeout(Duration::from_secs(600), s.provisioning_settled()).await;
    }
    Ok(Json(s.provisioning_report()).into_response())
}

impl SandboxState {
    /// Records an app username given at assignment (`credentials.userName`).
    pub(crate) fn set_app_username(&self, app_id: &str, uid: &str, username: &str) {
        let mut p = self.provisioning.lock().expect("provisioning lock");
        if let Some(app) = p.apps.get_mut(app_id) {
            app.usernames.insert(uid.to_owned(), username.to_owned());
        }
    }

    /// What `GET /__sandbox/provisioning` answers.
    pub fn provisioning_report(&self) -> Value {
        let p = self.provisioning.lock().expect("provisioning lock");
        let apps: serde_json::Map<String, Value> = p
            .apps
            .iter()
            .map(|(id, a)| {
                (
                    id.clone(),
                    json!({
                        "baseUrl": a.base_url,
                        "users": a.users.iter().map(|(uid, u)| (uid.clone(), json!({ "id": u.scim_id, "active": u.active }))).collect::<serde_json::Map<_, _>>(),
                        "groups": a.mappings.values().map(|m| json!({ "mapping": m.id, "sourceGroupId": m.source_group, "id": m.scim_id, "members": m.pushed_members.len() })).collect::<Vec<_>>(),
                    }),
                )
            })
            .collect();
        json!({
            "pushed": p.pushed,
            "failed": p.failed,
            "retried": p.retried,
            "apps": apps,
            "sent": p.sent.iter().map(|r| json!({
                "app": r.app_id,
                "method": r.method,
                "path": r.path,
                "body": r.body,
                "status": r.status,
                "at": okta_time(r.at),
                "millis": r.millis,
            })).collect::<Vec<_>>(),
        })
    }

    /// Starts the provisioning worker, once.
    fn start_provisioning(&self) {
        let (Some(me), Ok(runtime)) = (self.me.upgrade(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        {
            let mut p = self.provisioning.lock().expect("provisioning lock");
            if p.worker {
                self.provisioning_changed();
                return;
            }
            p.worker = true;
        }
        runtime.spawn(worker(me));
        self.provisioning_changed();
    }

    /// Counts a change to what is provisioned (a connection, a feature, a mapping) and wakes the
    /// worker: [`SandboxState::provisioning_settled`] then waits for it too.
    pub(crate) fn provisioning_changed(&self) {
        self.changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.provision_wake.notify_one();
    }

    /// Waits until every change made so far is pushed to every SCIM app (at once when no app
    /// provisions).
    pub async fn provisioning_settled(&self) {
        if !self.provisioning.lock().expect("provisioning lock").worker {
            return;
        }
        let target = self.changes.load(std::sync::atomic::Ordering::SeqCst);
        let mut rx = self.provisioned_through.subscribe();
        let _ = rx.wait_for(|through| *through >= target).await;
    }
}

/// The client pushes go out with.
fn scim_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .user_agent("Okta SCIM Client 1.0.0 (okta-sandbox)")
        .build()
        .unwrap_or_default()
}

async fn worker(s: Arc<SandboxState>) {
    let client = scim_client();
    loop {
        let seen = s.changes.load(std::sync::atomic::Ordering::SeqCst);
        let sent = pass(&s, &client).await;
        if sent == 0 {
            s.provisioned_through.send_replace(seen);
            s.provision_wake.notified().await;
        }
    }
}

/// A push to make.
#[derive(Debug, Clone)]
enum Push {
    /// Create (or link and update) a user.
    Create { uid: String, resource: Value },
    /// Update a pushed user's profile.
    Update {
        uid: String,
        scim_id: String,
        resource: Value,
    },
    /// Deactivate or reactivate a pushed user.
    Active { uid: String, scim_id: String, active: bool },
    /// Create a group at the app.
    GroupCreate { mapping: String, name: String },
    /// Rename it and change its members.
    GroupUpdate {
        mapping: String,
        scim_id: String,
        name: String,
        add: Vec<(String, String)>,
        remove: Vec<String>,
    },
    /// Delete it at the app.
    GroupDelete { mapping: String, scim_id: String },
}

/// The resource Okta sends for user `u` (its app username `username`).
fn user_resource(u: &crate::org::OrgUser, username: &str, active: bool) -> Value {
    let p = &u.profile;
    let mut r = json!({
        "schemas": [USER_SCHEMA],
        "userName": username,
        "name": { "givenName": p.first_name, "familyName": p.last_name },
        "emails": [{ "primary": true, "value": p.email, "type": "work" }],
        "displayName": p.text("displayName").map_or_else(|| format!("{} {}", p.first_name, p.last_name), str::to_owned),
        "externalId": u.id,
        "groups": [],
        "active": active,
    });
    for k in [
        "title",
        "locale",
        "nickName",
        "userType",
        "preferredLanguage",
        "timezone",
    ] {
        if let Some(v) = p.text(k) {
            r[k] = json!(v);
        }
    }
    let mut ent = serde_json::Map::new();
    for k in ["department", "employeeNumber", "costCenter", "organization", "division"] {
        if let Some(v) = p.text(k) {
            ent.insert(k.into(), json!(v));
        }
    }
    if !ent.is_empty() {
        r["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
        r[ENTERPRISE] = Value::Object(ent);
    }
    r
}

/// What `app` should be pushed now, from the directory.
fn plan(s: &SandboxState, app_id: &str, app: &ScimApp, given_up: &std::collections::HashSet<String>) -> Vec<Push> {
    let dir = s.dir();
    let Some(org_app) = dir.apps.get(app_id) else {
        return Vec::new();
    };
    let mut pushes = Vec::new();
    let mut wanted = BTreeSet::new();
    for u in dir.app_users_after(org_app, None, usize::MAX) {
        if u.status == "DEPROVISIONED" {
            continue;
        }
        wanted.insert(u.id.clone());
        if u.status == "SUSPENDED" {
            continue;
        }
        let username = app
            .usernames
            .get(&u.id)
            .map_or(u.profile.login.as_str(), String::as_str);
        let resource = user_resource(u, username, true);
        match app.users.get(&u.id) {
            None if app.create => pushes.push(Push::Create {
                uid: u.id.clone(),
                resource,
            }),
            None => {}
            Some(pushed) => {
                if !pushed.active {
                    pushes.push(Push::Active {
                        uid: u.id.clone(),
                        scim_id: pushed.scim_id.clone(),
                        active: true,
                    });
                }
                if app.update && pushed.sent != resource {
                    pushes.push(Push::Update {
                        uid: u.id.clone(),
                        scim_id: pushed.scim_id.clone(),
                        resource,
                    });
                }
            }
        }
    }
    if app.deactivate {
        for (uid, pushed) in &app.users {
            let suspended = dir.find(uid).is_some_and(|u| u.status == "SUSPENDED");
            if pushed.active && !wanted.contains(uid) && !suspended {
                pushes.push(Push::Active {
                    uid: uid.clone(),
                    scim_id: pushed.scim_id.clone(),
                    active: false,
                });
            }
        }
    }
    for m in app.mappings.values() {
        match (&m.scim_id, m.delete_target) {
            (Some(id), true) => pushes.push(Push::GroupDelete {
                mapping: m.id.clone(),
                scim_id: id.clone(),
            }),
            (_, true) => {}
            (_, false) if !m.active => {}
            (None, false) => {
                let name = m
                    .target_name
                    .clone()
                    .or_else(|| dir.groups.get(&m.source_group).map(|g| g.name.clone()));
                if let Some(name) = name {
                    pushes.push(Push::GroupCreate {
                        mapping: m.id.clone(),
                        name,
                    });
                }
            }
            (Some(scim_id), false) => {
                let Some(group) = dir.groups.get(&m.source_group) else {
                    continue;
                };
                let name = m.target_name.clone().unwrap_or_else(|| group.name.clone());
                // Its members that are the app's users, pushed and active there.
                let members: BTreeMap<String, String> = dir
                    .member_ids(&m.source_group)
                    .filter_map(|uid| {
                        let pushed = app.users.get(uid).filter(|p| p.active)?;
                        let login = dir.find(uid).map(|u| u.profile.login.clone()).unwrap_or_default();
                        Some((pushed.scim_id.clone(), login))
                    })
                    .collect();
                let add: Vec<(String, String)> = members
                    .iter()
                    .filter(|(id, _)| !m.pushed_members.contains(*id))
                    .map(|(id, login)| (id.clone(), login.clone()))
                    .collect();
                let remove: Vec<String> = m
                    .pushed_members
                    .iter()
                    .filter(|id| !members.contains_key(*id))
                    .cloned()
                    .collect();
                if m.pushed_name.as_deref() != Some(name.as_str()) || !add.is_empty() || !remove.is_empty() {
                    pushes.push(Push::GroupUpdate {
                        mapping: m.id.clone(),
                        scim_id: scim_id.clone(),
                        name,
                        add,
                        remove,
                    });
                }
            }
        }
    }
    pushes.retain(|p| !given_up.contains(&format!("{app_id}:{p:?}")));
    pushes
}

/// One pass over every app: plans, then sends. Answers how many requests were sent.
async fn pass(s: &Arc<SandboxState>, client: &reqwest::Client) -> usize {
    let apps: Vec<(String, ScimApp, std::collections::HashSet<String>)> = {
        let p = s.provisioning.lock().expect("provisioning lock");
        p.apps
            .iter()
            .map(|(id, a)| (id.clone(), a.clone(), p.given_up.clone()))
            .collect()
    };
    let mut sent = 0;
    for (app_id, app, given_up) in apps {
        if app.base_url.is_empty() {
            continue;
        }
        for push in plan(s, &app_id, &app, &given_up) {
            sent += push_one(s, client, &app_id, &app, push).await;
        }
    }
    sent
}

/// Sends one request (retrying a 429 as Okta does); answers the status (0: no answer) and the
/// JSON answered.
async fn send(
    s: &SandboxState,
    client: &reqwest::Client,
    app_id: &str,
    app: &ScimApp,
    method: &'static str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    use secrecy::ExposeSecret;
    let mut backoff = Duration::from_secs(300);
    let mut attempt = 0;
    loop {
        let started = std::time::Instant::now();
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = client
            .request(m, format!("{}{path}", app.base_url))
            .bearer_auth(app.token.expose_secret())
            .header("accept", "application/scim+json");
        if let Some(b) = &body {
            req = req
                .header("content-type", "application/scim+json; charset=utf-8")
                .body(b.to_string());
        }
        let (status, retry_after, answer) = match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let answer = res.json::<Value>().await.unwrap_or(Value::Null);
                (status, retry_after, answer)
            }
            Err(e) => {
                tracing::warn!(error = %e, "a SCIM push got no answer");
                (0, None, Value::Null)
            }
        };
        {
            let mut p = s.provisioning.lock().expect("provisioning lock");
            if p.sent.len() >= SENT_KEPT {
                p.sent.pop_front();
            }
            p.sent.push_back(Sent {
                app_id: app_id.to_owned(),
                method,
                path: path.to_owned(),
                body: body.clone(),
                status,
                at: now(),
                millis: started.elapsed().as_secs_f64() * 1000.0,
            });
            if status == 429 {
                p.retried += 1;
            }
        }
        if status != 429 || attempt >= MAX_RETRIES {
            return (status, answer);
        }
        attempt += 1;
        // Okta's schedule: the server's Retry-After, else 5 minutes, doubling.
        let wait = match retry_after {
            Some(secs) => Duration::from_secs(secs),
            None => {
                let w = backoff;
                backoff *= 2;
                w
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Sends `push` and records its outcome; answers the requests sent.
async fn push_one(s: &Arc<SandboxState>, client: &reqwest::Client, app_id: &str, app: &ScimApp, push: Push) -> usize {
    let signature = format!("{app_id}:{push:?}");
    let ok = |status: u16| (200..300).contains(&status);
    let (requests, success, event, target_user) = match &push {
        Push::Create { uid, resource } => {
            let user_name = resource["userName"].as_str().unwrap_or_default();
            let filter = format!(
                "userName eq \"{}\"",
                user_name.replace('\\', "\\\\").replace('"', "\\\"")
            );
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("filter", &filter)
                .append_pair("startIndex", "1")
                .append_pair("count", "100")
                .finish();
            let (status, found) = send(s, client, app_id, app, "GET", &format!("/Users?{q}"), None).await;
            let existing = found
                .pointer("/Resources/0/id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let (status, id, n) = match (ok(status), existing) {
                (false, _) => (status, None, 1),
                (true, Some(id)) => {
                    let (st, _) = send(
                        s,
                        client,
                        app_id,
                        app,
                        "PUT",
                        &format!("/Users/{id}"),
                        Some(resource.clone()),
                    )
                    .await;
                    (st, Some(id), 2)
                }
                (true, None) => {
                    let mut body = resource.clone();
                    body["password"] = json!(random_token(12));
                    let (st, made) = send(s, client, app_id, app, "POST", "/Users", Some(body)).await;
                    (st, made.get("id").and_then(Value::as_str).map(str::to_owned), 2)
                }
            };
            let success = ok(status) && id.is_some();
            if success && let Some(id) = id {
                let mut p = s.provisioning.lock().expect("provisioning lock");
                if let Some(a) = p.apps.get_mut(app_id) {
                    a.users.insert(
                        uid.clone(),
                        PushedUser {
                            scim_id: id,
                            sent: resource.clone(),
                            active: true,
                        },
                    );
                }
            }
            (n, success, "application.provision.user.push", Some(uid.clone()))
        }
        Push::Update { uid, scim_id, resource } => {
            let (method, body) = if app.patch_updates {
                let mut value = resource.clone();
                if let Some(m) = value.as_object_mut() {
                    m.remove("schemas");
                    m.remove("groups");
                }
                (
                    "PATCH",
                    json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "replace", "value": value }] }),
                )
            } else {
                let mut body = resource.clone();
                body["id"] = json!(scim_id);
                ("PUT", body)
            };
            let (status, _) = send(s, client, app_id, app, method, &format!("/Users/{scim_id}"), Some(body)).await;
            if ok(status) {
                let mut p = s.provisioning.lock().expect("provisioning lock");
                if let Some(u) = p.apps.get_mut(app_id).and_then(|a| a.users.get_mut(uid)) {
                    u.sent = resource.clone();
                }
            }
            (
                1,
                ok(status),
                "application.provision.user.push_profile",
                Some(uid.clone()),
            )
        }
        Push::Active { uid, scim_id, active } => {
            let body =
                json!({ "schemas": [PATCH_OP], "Operations": [{ "op": "replace", "value": { "active": active } }] });
            let (status, _) = send(
                s,
                client,
                app_id,
                app,
                "PATCH",
                &format!("/Users/{scim_id}"),
                Some(body),
            )
            .await;
            if ok(status) {
                let mut p = s.provisioning.lock().expect("provisioning lock");
                if let Some(u) = p.apps.get_mut(app_id).and_then(|a| a.users.get_mut(uid)) {
                    u.active = *active;
                }
            }
            let event = if *active {
                "application.provision.user.reactivate"
            } else {
                "application.provision.user.deactivate"
            };
            (1, ok(status), event, Some(uid.clone()))
        }
        Push::GroupCreate { mapping, name } => {
            let body = json!({ "schemas": [GROUP_SCHEMA], "displayName": name, "members": [] });
            let (status, made) = send(s, client, app_id, app, "POST", "/Groups", Some(body)).await;
            let id = made.get("id").and_then(Value::as_str).map(str::to_owned);
            let success = ok(status) && id.is_some();
            if success {
                let mut p = s.provisioning.lock().expect("provisioning lock");
                if let Some(m) = p.apps.get_mut(app_id).and_then(|a| a.mappings.get_mut(mapping)) {
                    m.scim_id = id;
                    m.pushed_name = Some(name.clone());
                    m.last_updated = now();
                }
            }
            (1, success, "application.provision.group_push.push", None)
        }
        Push::GroupUpdate {
            mapping,
            scim_id,
            name,
            add,
            remove,
        } => {
            let mut ops = vec![json!({ "op": "replace", "value": { "id": scim_id, "displayName": name } })];
            if !add.is_empty() {
                ops.push(json!({ "op": "add", "path": "members", "value": add.iter().map(|(id, login)| json!({ "value": id, "display": login })).collect::<Vec<_>>() }));
            }
            for id in remove {
                ops.push(json!({ "op": "remove", "path": format!("members[value eq \"{id}\"]") }));
            }
            let body = json!({ "schemas": [PATCH_OP], "Operations": ops });
            let (status, _) = send(
                s,
                client,
                app_id,
                app,
                "PATCH",
                &format!("/Groups/{scim_id}"),
                Some(body),
            )
            .await;
            if ok(status) {
                let mut p = s.provisioning.lock().expect("provisioning lock");
                if let Some(m) = p.apps.get_mut(app_id).and_then(|a| a.mappings.get_mut(mapping)) {
                    m.pushed_name = Some(name.clone());
                    m.pushed_members.extend(add.iter().map(|(id, _)| id.clone()));
                    for id in remove {
                        m.pushed_members.remove(id);
                    }
                    m.last_updated = now();
                }
            }
            (1, ok(status), "application.provision.group_push.push_memberships", None)
        }
        Push::GroupDelete { mapping, scim_id } => {
            let (status, _) = send(s, client, app_id, app, "DELETE", &format!("/Groups/{scim_id}"), None).await;
            if ok(status) || status == 404 {
                let mut p = s.provisioning.lock().expect("provisioning lock");
                if let Some(a) = p.apps.get_mut(app_id) {
                    a.mappings.remove(mapping);
                }
            }
            (
                1,
                ok(status) || status == 404,
                "application.provision.group_push.delete_appgroup",
                None,
            )
        }
    };
    {
        let mut p = s.provisioning.lock().expect("provisioning lock");
        if success {
            p.pushed += 1;
        } else {
            p.failed += 1;
            p.given_up.insert(signature);
        }
    }
    let app_target = Target::new("AppInstance", app_id, None, None);
    let targets = match &target_user {
        Some(uid) => vec![Target::new("User", uid, None, None), app_target],
        None => vec![app_target],
    };
    let actor = s.config.admin_login.clone();
    let actor_id = s.dir().find(&actor).map(|u| u.id.clone()).unwrap_or_default();
    s.record(&actor_id, event, &targets, success);
    requests
}
