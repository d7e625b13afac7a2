//! An org that changes by itself: a seeded generator of the changes real orgs see (people
//! join, change teams and names, leave, come back; groups come and go; members and app
//! assignments move), applied through the same [`Writer`] as the Management API, so each
//! change has Okta's timestamps and System Log events.
//!
//! `--churn RATE` or `PUT /__sandbox/churn {"rate", "seed"}` runs it at RATE changes a
//! minute; `DELETE /__sandbox/churn` stops it; `POST /__sandbox/churn/step {"changes": N}`
//! applies N changes at once and answers what it did (for deterministic tests).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::changes::{Lifecycle, NewUser, Writer};
use crate::config::MAX_CHURN_RATE as MAX_RATE;
use crate::error::ApiError;
use crate::extract::OktaJson;
use crate::faults::control_auth;
use crate::org::{
    CITIES, DEPARTMENTS, Directory, FIRST_NAMES, LAST_NAMES, OrgUser, Profile, TITLES, ascii_slug, okta_id,
};
use crate::state::SandboxState;
use crate::util::random_token;

/// The most changes one step may ask for.
pub const MAX_STEP: usize = 10_000;

/// The kinds of change, with how often each happens (out of the sum of weights).
const KINDS: &[(Kind, u32)] = &[
    (Kind::CreateUser, 10),
    (Kind::UpdateProfile, 24),
    (Kind::Deactivate, 5),
    (Kind::Reactivate, 3),
    (Kind::Suspend, 4),
    (Kind::Unsuspend, 3),
    (Kind::DeleteUser, 3),
    (Kind::CreateGroup, 3),
    (Kind::RenameGroup, 3),
    (Kind::DeleteGroup, 1),
    (Kind::AddMember, 20),
    (Kind::RemoveMember, 12),
    (Kind::AssignApp, 5),
    (Kind::UnassignApp, 4),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CreateUser,
    UpdateProfile,
    Deactivate,
    Reactivate,
    Suspend,
    Unsuspend,
    DeleteUser,
    CreateGroup,
    RenameGroup,
    DeleteGroup,
    AddMember,
    RemoveMember,
    AssignApp,
    UnassignApp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::CreateUser => "user.create",
            Self::UpdateProfile => "user.update_profile",
            Self::Deactivate => "user.deactivate",
            Self::Reactivate => "user.reactivate",
            Self::Suspend => "user.suspend",
            Self::Unsuspend => "user.unsuspend",
            Self::DeleteUser => "user.delete",
            Self::CreateGroup => "group.create",
            Self::RenameGroup => "group.rename",
            Self::DeleteGroup => "group.delete",
            Self::AddMember => "group.add_member",
            Self::RemoveMember => "group.remove_member",
            Self::AssignApp => "app.assign_user",
            Self::UnassignApp => "app.unassign_user",
        }
    }
}

/// What one change touched.
#[derive(Debug, Default)]
struct Touched {
    user: Option<String>,
    group: Option<String>,
    app: Option<String>,
}

fn pick_kind(rng: &mut ChaCha8Rng) -> Kind {
    let total: u32 = KINDS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (kind, weight) in KINDS {
        if roll < *weight {
            return *kind;
        }
        roll -= weight;
    }
    Kind::UpdateProfile
}

fn one_of<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A user `pick` accepts, found near a random id (a few tries), never the super admin.
fn sample_user(dir: &Directory, rng: &mut ChaCha8Rng, admin: &str, pick: impl Fn(&OrgUser) -> bool) -> Option<String> {
    (0..4).find_map(|_| {
        let key = okta_id(rng, "00u");
        dir.user_near(&key, 256, |u| {
            !u.is_super_admin && !u.profile.login.eq_ignore_ascii_case(admin) && pick(u)
        })
        .map(|u| u.id.clone())
    })
}

/// An `OKTA_GROUP` `pick` accepts, near a random id.
fn sample_group(dir: &Directory, rng: &mut ChaCha8Rng, pick: impl Fn(&str) -> bool) -> Option<String> {
    let key = okta_id(rng, "00g");
    dir.groups
        .range(key..)
        .chain(dir.groups.iter())
        .take(dir.groups.len())
        .map(|(_, g)| g)
        .find(|g| g.is_managed_in_okta() && pick(&g.id))
        .map(|g| g.id.clone())
}

fn new_profile(rng: &mut ChaCha8Rng, dir: &Directory) -> Profile {
    let first = one_of(rng, FIRST_NAMES);
    let last = one_of(rng, LAST_NAMES);
    let login = loop {
        let login = format!(
            "{}.{}.{:06}@example.com",
            ascii_slug(first),
            ascii_slug(last),
            rng.random_range(0..1_000_000)
        );
        if !dir.login_taken(&login) {
            break login;
        }
    };
    let (city, country) = CITIES[rng.random_range(0..CITIES.len())];
    Profile {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email: login.clone(),
        login,
        extra: json!({
            "displayName": format!("{first} {last}"),
            "department": one_of(rng, DEPARTMENTS),
            "title": one_of(rng, TITLES),
            "city": city,
            "countryCode": country,
            "employeeNumber": format!("{:06}", rng.random_range(100_000..1_000_000)),
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    }
}

/// A realistic profile change: a new department or title, a new last name, a move, or a new
/// cost center with a custom attribute.
fn changed_profile(rng: &mut ChaCha8Rng, u: &OrgUser) -> Profile {
    let mut p = u.profile.clone();
    match rng.random_range(0..5) {
        0 => {
            p.extra
                .insert("department".into(), Value::String(one_of(rng, DEPARTMENTS).into()));
        }
        1 => {
            p.extra
                .insert("title".into(), Value::String(one_of(rng, TITLES).into()));
        }
        2 => {
            p.last_name = one_of(rng, LAST_NAMES).to_owned();
            p.extra.insert(
                "displayName".into(),
                Value::String(format!("{} {}", p.first_name, p.last_name)),
            );
        }
        3 => {
            let (city, country) = CITIES[rng.random_range(0..CITIES.len())];
            p.extra.insert("city".into(), Value::String(city.into()));
            p.extra.insert("countryCode".into(), Value::String(country.into()));
        }
        _ => {
            p.extra.insert(
                "costCenter".into(),
                Value::String(format!("CC-{:04}", rng.random_range(0..10_000))),
            );
            // A custom attribute, as orgs add with the Profile Editor.
            p.extra
                .insert("officeFloor".into(), Value::from(rng.random_range(1..40)));
        }
    }
    p
}

/// Tries one change of `kind`; `None` when the org has nothing it applies to (no suspended
/// user to unsuspend, …).
fn try_change(w: &mut Writer<'_>, rng: &mut ChaCha8Rng, admin: &str, kind: Kind) -> Option<Touched> {
    let user =
        |w: &Writer<'_>, rng: &mut ChaCha8Rng, pick: &dyn Fn(&OrgUser) -> bool| sample_user(&w.dir, rng, admin, pick);
    let touched_user = |id: String| Touched {
        user: Some(id),
        ..Touched::default()
    };
    match kind {
        Kind::CreateUser => {
            let profile = new_profile(rng, &w.dir);
            let roll = rng.random_range(0..100);
            let (activate, password) = match roll {
                0..25 => (false, None),
                25..40 => (true, None),
                _ => (true, Some(SecretString::from(format!("Churn-{}", random_token(16))))),
            };
            // A new hire usually lands in a group or two.
            let groups: Vec<String> = (0..rng.random_range(0..3))
                .filter_map(|_| sample_group(&w.dir, rng, |_| true))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let id = w
                .create_user(NewUser {
                    profile,
                    password,
                    activate,
                    group_ids: groups,
                })
                .ok()?;
            Some(touched_user(id))
        }
        Kind::UpdateProfile => {
            let id = user(w, rng, &|u| u.status != "DEPROVISIONED")?;
            let profile = changed_profile(rng, w.dir.find(&id)?);
            w.update_user(&id, Some(profile), None).ok()?;
            Some(touched_user(id))
        }
        Kind::Deactivate | Kind::Reactivate | Kind::Suspend | Kind::Unsuspend => {
            let (op, pick): (Lifecycle, fn(&OrgUser) -> bool) = match kind {
                Kind::Deactivate => (Lifecycle::Deactivate, |u| u.status != "DEPROVISIONED"),
                Kind::Reactivate => (Lifecycle::Activate, |u| u.status == "DEPROVISIONED"),
                Kind::Suspend => (Lifecycle::Suspend, |u| u.status == "ACTIVE"),
                _ => (Lifecycle::Unsuspend, |u| u.status == "SUSPENDED"),
            };
            let id = user(w, rng, &pick)?;
            w.lifecycle(&id, op).ok()?;
            Some(touched_user(id))
        }
        Kind::DeleteUser => {
            let id = user(w, rng, &|u| u.status == "DEPROVISIONED")?;
            w.delete_user(&id).ok()?;
            Some(touched_user(id))
        }
        Kind::CreateGroup => {
            let name = format!(
                "{} {} {}",
                one_of(rng, &["Project", "Team", "Guild", "Squad", "Committee"]),
                one_of(rng, LAST_NAMES),
                rng.random_range(1..10_000)
            );
            let description = Some(format!("Created by churn (seed {})", rng.random_range(0..1000)));
            let id = w.create_group(name, description).ok()?;
            Some(Touched {
                group: Some(id),
                ..Touched::default()
            })
        }
        Kind::RenameGroup | Kind::DeleteGroup => {
            let gid = sample_group(&w.dir, rng, |_| true)?;
            if kind == Kind::RenameGroup {
                let name = w.dir.groups.get(&gid)?.name.clone();
                let stem = name.split(" (").next().unwrap_or(&name).to_owned();
                let new_name = format!("{stem} ({})", rng.random_range(2..100));
                let description = w.dir.groups.get(&gid)?.description.clone();
                w.replace_group(&gid, new_name, description).ok()?;
            } else {
                w.delete_group(&gid).ok()?;
            }
            Some(Touched {
                group: Some(gid),
                ..Touched::default()
            })
        }
        Kind::AddMember => {
            let gid = sample_group(&w.dir, rng, |_| true)?;
            let uid = {
                let dir = &w.dir;
                let members: std::collections::HashSet<&String> = dir.member_ids(&gid).collect();
                sample_user(dir, rng, admin, |u| {
                    u.status != "DEPROVISIONED" && !members.contains(&u.id)
                })?
            };
            w.set_member(&gid, &uid, true).ok()?.then_some(Touched {
                user: Some(uid),
                group: Some(gid),
                app: None,
            })
        }
        Kind::RemoveMember => {
            let gid = sample_group(&w.dir, rng, |g| w.dir.member_count(g) > 0)?;
            let count = w.dir.member_count(&gid);
            let uid = w.dir.member_ids(&gid).nth(rng.random_range(0..count))?.clone();
            w.set_member(&gid, &uid, false).ok()?.then_some(Touched {
                user: Some(uid),
                group: Some(gid),
                app: None,
            })
        }
        Kind::AssignApp | Kind::UnassignApp => {
            let apps: Vec<String> = w
                .dir
                .apps
                .values()
                .filter(|a| kind == Kind::AssignApp || !a.users.is_empty())
                .map(|a| a.id.clone())
                .collect();
            if apps.is_empty() {
                return None;
            }
            let app_id = apps[rng.random_range(0..apps.len())].clone();
            let uid = if kind == Kind::AssignApp {
                let app = w.dir.apps.get(&app_id)?;
                sample_user(&w.dir, rng, admin, |u| {
                    u.status == "ACTIVE" && !app.users.contains_key(&u.id)
                })?
            } else {
                let users = &w.dir.apps.get(&app_id)?.users;
                users.keys().nth(rng.random_range(0..users.len()))?.clone()
            };
            w.set_app_user(&app_id, &uid, kind == Kind::AssignApp)
                .ok()?
                .then_some(Touched {
                    user: Some(uid),
                    group: None,
                    app: Some(app_id),
                })
        }
    }
}

impl SandboxState {
    /// Applies `n` churn changes now; answers each change with the objects it touched and the
    /// System Log events it recorded.
    pub(crate) fn churn_step(&self, n: usize) -> Vec<Value> {
        let mut churn = self.churn.lock().expect("churn lock");
        let admin = self.config.admin_login.clone();
        let admin_id = self.dir().find(&admin).map(|u| u.id.clone()).unwrap_or_default();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut w = self.writer(&admin_id);
            let mut kind = pick_kind(&mut churn.rng);
            // When the org has nothing a kind applies to, another kind; creating a user
            // always applies.
            let mut touched = None;
            for _ in 0..8 {
                touched = try_change(&mut w, &mut churn.rng, &admin, kind);
                if touched.is_some() {
                    break;
                }
                kind = pick_kind(&mut churn.rng);
            }
            if touched.is_none() {
                kind = Kind::CreateUser;
                touched = try_change(&mut w, &mut churn.rng, &admin, kind);
            }
            let Some(t) = touched else { continue };
            churn.applied += 1;
            let events: Vec<Value> = w
                .events
                .iter()
                .map(|e| json!({ "uuid": e.uuid, "eventType": e.event_type }))
                .collect();
            out.push(json!({
                "change": kind.name(),
                "userId": t.user,
                "groupId": t.group,
                "appId": t.app,
                "events": events,
            }));
        }
        out
    }

    /// Runs churn at `rate` changes a minute from `seed` (replacing any churn running); a
    /// rate of 0 stops it.
    pub(crate) fn start_churn(&self, rate: f64, seed: u64) {
        let mut churn = self.churn.lock().expect("churn lock");
        if let Some(task) = churn.task.take() {
            task.abort();
        }
        churn.rate = rate;
        churn.reseed(seed);
        let (Some(me), Ok(runtime)) = (self.me.upgrade(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        if rate <= 0.0 {
            return;
        }
        let task = runtime.spawn(run_churn(Arc::downgrade(&me), rate));
        churn.task = Some(task.abort_handle());
    }

    /// Starts the churn `--churn` asked for, if any (when the org starts serving).
    pub(crate) fn start_configured_churn(&self) {
        if self.config.churn > 0.0 {
            self.start_churn(self.config.churn, self.config.seed);
        }
    }
}

/// Applies changes at `rate` a minute, spread evenly: every tick, as many as are due since
/// the start. Ends when the org is gone or the task is aborted.
async fn run_churn(s: std::sync::Weak<SandboxState>, rate: f64) {
    let period = Duration::from_secs_f64((60.0 / rate).clamp(0.02, 1.0));
    let started = tokio::time::Instant::now();
    let mut done: u64 = 0;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(s) = s.upgrade() else { return };
        // Truncation is intended: a change is due once a whole one has accrued.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let due = (started.elapsed().as_secs_f64() * rate / 60.0) as u64;
        let n = usize::try_from(due.saturating_sub(done))
            .unwrap_or(MAX_STEP)
            .min(MAX_STEP);
        if n > 0 {
            s.churn_step(n);
            done += n as u64;
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChurnRequest {
    rate: f64,
    #[serde(default)]
    seed: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepRequest {
    changes: usize,
}

fn churn_status(s: &SandboxState) -> Value {
    let c = s.churn.lock().expect("churn lock");
    json!({ "rate": c.rate, "seed": c.seed, "applied": c.applied, "running": c.task.is_some() })
}

/// `GET /__sandbox/churn`: the rate, seed and how many changes were applied.
pub(crate) async fn get(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    Ok(Json(churn_status(&s)).into_response())
}

/// `PUT /__sandbox/churn {"rate": changes a minute, "seed"}`.
pub(crate) async fn put(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    OktaJson(req): OktaJson<ChurnRequest>,
) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    if !req.rate.is_finite() || req.rate < 0.0 || req.rate > MAX_RATE {
        return Err(ApiError::validation(format!(
            "rate: changes a minute, from 0 (stopped) to {MAX_RATE}"
        )));
    }
    s.start_churn(req.rate, req.seed.unwrap_or(s.config.seed));
    Ok(Json(churn_status(&s)).into_response())
}

/// `DELETE /__sandbox/churn`: stops the churn.
pub(crate) async fn stop(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    let mut churn = s.churn.lock().expect("churn lock");
    if let Some(task) = churn.task.take() {
        task.abort();
    }
    churn.rate = 0.0;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /__sandbox/churn/step {"changes": N}`: applies N changes now and answers them.
pub(crate) async fn step(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    OktaJson(req): OktaJson<StepRequest>,
) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    if req.changes == 0 || req.changes > MAX_STEP {
        return Err(ApiError::validation(format!("changes: from 1 to {MAX_STEP}")));
    }
    let changes = s.churn_step(req.changes);
    Ok(Json(json!({ "changes": changes })).into_response())
}
