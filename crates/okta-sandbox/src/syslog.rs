//! The System Log: every change made through the API, every sign-in and token grant, as Okta's
//! `LogEvent`s, and `GET /api/v1/logs` with Okta's polling semantics (without `until`, a `next`
//! link is always present; poll it until a page comes back empty, then later resume from it).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api::{Params, authenticate, parse_limit};
use crate::error::ApiError;
use crate::query::{self, Dialect};
use crate::state::SandboxState;
use crate::util::{now, okta_time, random_token, random_uuid};

/// What an event is about: one of its `target[]`.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub id: String,
    pub kind: &'static str,
    pub alternate_id: Option<String>,
    pub display_name: Option<String>,
}

impl Target {
    /// A target with an id and a display name.
    pub fn new(kind: &'static str, id: &str, alternate_id: Option<&str>, display_name: Option<&str>) -> Self {
        Self {
            id: id.to_owned(),
            kind,
            alternate_id: alternate_id.map(str::to_owned),
            display_name: display_name.map(str::to_owned),
        }
    }
}

fn display_message(event_type: &str) -> &'static str {
    match event_type {
        "user.lifecycle.create" => "Create okta user",
        "user.lifecycle.activate" => "Activate Okta user",
        "user.lifecycle.deactivate" => "Deactivate Okta user",
        "user.lifecycle.suspend" => "Suspend Okta user",
        "user.lifecycle.unsuspend" => "Unsuspend Okta user",
        "user.lifecycle.reactivate" => "Reactivate Okta user",
        "user.lifecycle.delete.initiated" => "Delete Okta user",
        "user.lifecycle.delete.completed" => "User deletion completed",
        "user.account.update_profile" => "Update user profile for Okta",
        "user.account.update_password" => "Update password for user",
        "user.account.reset_password" => "Fired when the user's Okta password is reset",
        "user.account.unlock" => "Unlock user account",
        "user.password.expire" => "Expire user password",
        "user.session.start" => "User login to Okta",
        "app.oauth2.as.token.grant.access_token" => "OAuth2 access token is granted",
        "app.oauth2.as.token.grant.refresh_token" => "OAuth2 refresh token is granted",
        "group.user_membership.add" => "Add user to group membership",
        "group.user_membership.remove" => "Remove user from group membership",
        "group.lifecycle.create" => "Create Okta group",
        "group.lifecycle.delete" => "Delete Okta group",
        "group.profile.update" => "Update group profile",
        "application.user_membership.add" => "Add user to application membership",
        "application.user_membership.remove" => "Remove user from application membership",
        "event_hook.delivery" => "Event hook delivery",
        "application.provision.user.push" => "Push new user to external application",
        "application.provision.user.push_profile" => "Push user profile update to external application",
        "application.provision.user.deactivate" => "Deactivate user in external application",
        "application.provision.user.reactivate" => "Reactivate user in external application",
        "application.provision.group_push.push" => "Push group to external application",
        "application.provision.group_push.push_memberships" => "Push group memberships to external application",
        "application.provision.group_push.delete_appgroup" => "Delete group in external application",
        _ => "Event",
    }
}

/// The `actor` of an event: a user of the org, or a system component by name.
fn actor_json(dir: &crate::org::Directory, actor_id: &str) -> Value {
    match dir.find(actor_id) {
        Some(u) => {
            json!({ "id": u.id, "type": "User", "alternateId": u.profile.login, "displayName": u.profile.text("displayName").unwrap_or(&u.profile.login) })
        }
        None => json!({ "id": actor_id, "type": "User", "alternateId": "unknown", "displayName": "unknown" }),
    }
}

impl SandboxState {
    /// Records an event by `actor_id` (a user id) about `targets`.
    pub(crate) fn record(&self, actor_id: &str, event_type: &str, targets: &[Target], success: bool) -> String {
        let actor = actor_json(&self.dir(), actor_id);
        self.append(actor, event_type, targets, success)
    }

    /// Records an event while the caller holds the directory (for writing): events are then
    /// stored in the order their changes were made.
    pub(crate) fn record_in(
        &self,
        dir: &crate::org::Directory,
        actor_id: &str,
        event_type: &str,
        targets: &[Target],
        success: bool,
    ) -> String {
        self.append(actor_json(dir, actor_id), event_type, targets, success)
    }

    /// Stores one event, hands it to the event hooks, and answers its uuid.
    fn append(&self, actor: Value, event_type: &str, targets: &[Target], success: bool) -> String {
        let stored = now();
        // A late event: published a while before Okta stored it.
        let published = if self.config.late_events > 0.0 && rand::random::<f64>() < self.config.late_events {
            stored - self.config.late_event_delay
        } else {
            stored
        };
        let uuid = random_uuid();
        let targets: Vec<Value> = targets
            .iter()
            .map(|t| json!({ "id": t.id, "type": t.kind, "alternateId": t.alternate_id.as_deref().unwrap_or("unknown"), "displayName": t.display_name.as_deref().unwrap_or("unknown") }))
            .collect();
        let event = json!({
            "uuid": uuid,
            "published": okta_time(published),
            "eventType": event_type,
            "version": "0",
            "severity": if success { "INFO" } else { "WARN" },
            "displayMessage": display_message(event_type),
            "actor": actor,
            "client": { "ipAddress": "127.0.0.1", "userAgent": { "rawUserAgent": "okta-sandbox", "os": "Unknown", "browser": "UNKNOWN" } },
            "outcome": { "result": if success { "SUCCESS" } else { "FAILURE" } },
            "target": targets,
            "transaction": { "type": "WEB", "id": random_token(27), "detail": {} },
            "debugContext": { "debugData": {} },
            "authenticationContext": { "authenticationStep": 0, "externalSessionId": random_token(25) },
            "securityContext": {},
        });
        self.deliver_to_hooks(event_type, &event);
        // Every change may be something to provision.
        self.provisioning_changed();
        let mut log = self.log.lock().expect("log lock");
        let i = log.events.len();
        log.index.insert(uuid.clone(), i);
        log.events.push(crate::state::log::Stored {
            stored,
            published,
            uuid: uuid.clone(),
            event,
        });
        uuid
    }

    /// Events recorded so far, for tests.
    pub fn events(&self) -> Vec<Value> {
        self.log
            .lock()
            .expect("log lock")
            .events
            .iter()
            .map(|e| e.event.clone())
            .collect()
    }
}

fn parse_time(name: &str, v: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
        ApiError::validation(format!(
            "{name}: {v:?} is not an ISO 8601 timestamp such as 2026-01-01T00:00:00.000Z"
        ))
    })
}

/// An event's attribute by dotted path; arrays (like `target`) yield every element's value.
fn lookup(v: &Value, path: &str) -> Option<Value> {
    let mut cur = vec![v.clone()];
    for part in path.split('.') {
        cur = cur
            .into_iter()
            .flat_map(|c| match c {
                Value::Array(items) => items
                    .into_iter()
                    .filter_map(|i| i.get(part).cloned())
                    .collect::<Vec<_>>(),
                other => other.get(part).cloned().into_iter().collect(),
            })
            .collect();
    }
    match cur.len() {
        0 => None,
        1 => cur.pop(),
        _ => Some(Value::Array(cur)),
    }
}

/// `GET /api/v1/logs`.
pub(crate) async fn list(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(&["okta.logs.read"])?;
    let since = match params.get("since") {
        Some(v) => parse_time("since", v)?,
        None => now() - time::Duration::days(7),
    };
    // Okta answers queries only for the last 180 days.
    if since < now() - time::Duration::days(180) {
        return Err(ApiError::validation(
            "since: must be within the last 180 days; the System Log cannot be queried further back",
        ));
    }
    let until = params.get("until").map(|v| parse_time("until", v)).transpose()?;
    let descending = match params.get("sortOrder") {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("ASCENDING") => false,
        Some(o) if o.eq_ignore_ascii_case("DESCENDING") => true,
        Some(o) => {
            return Err(ApiError::validation(format!(
                "sortOrder: {o:?} must be ASCENDING or DESCENDING"
            )));
        }
    };
    let limit = parse_limit(params.get("limit"), 100, 1000)?;
    let filter = match params.get("filter") {
        Some(f) => {
            let e = query::parse(f).map_err(|err| ApiError::invalid_search(err.to_string()))?;
            e.check(Dialect::Search).ok();
            Some(e)
        }
        None => None,
    };
    let keywords: Vec<String> = params
        .get("q")
        .map(|q| q.split_whitespace().map(str::to_lowercase).collect())
        .unwrap_or_default();
    let selects = |e: &Value| {
        filter.as_ref().is_none_or(|f| f.matches(&|p| lookup(e, p)))
            && (keywords.is_empty() || {
                let text = e.to_string().to_lowercase();
                keywords.iter().all(|k| text.contains(k.as_str()))
            })
    };
    let (items, last, more) = {
        let log = s.log.lock().expect("log lock");
        // Polling queries (no `until`) page by the time Okta stored an event, bounded ones
        // filter on `published`, as Okta's spec says of `since` and `until`.
        let in_range = |e: &&crate::state::log::Stored| match until {
            None => e.stored >= since,
            Some(u) => e.published >= since && e.published < u,
        };
        let start = match params.get("after") {
            Some(a) => {
                *log.index
                    .get(a)
                    .ok_or_else(|| ApiError::validation("after: unknown cursor; start again from since"))?
                    + 1
            }
            None => 0,
        };
        let events: Box<dyn Iterator<Item = &crate::state::log::Stored>> = if descending {
            let end = if params.get("after").is_some() {
                start - 1
            } else {
                log.events.len()
            };
            Box::new(log.events[..end].iter().rev())
        } else {
            Box::new(log.events[start.min(log.events.len())..].iter())
        };
        let mut it = events.filter(in_range).filter(|e| selects(&e.event));
        let page: Vec<&crate::state::log::Stored> = it.by_ref().take(limit).collect();
        let more = it.next().is_some();
        (
            page.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
            page.last().map(|e| e.uuid.clone()),
            more,
        )
    };
    let mut res = (
        [(header::CONTENT_TYPE, "application/json")],
        Value::Array(items).to_string(),
    )
        .into_response();
    // Polling: without `until` (ascending), there is always a next page to ask for later.
    let polling = until.is_none() && !descending;
    let next = match (more || polling, last) {
        (true, Some(last)) => Some(last),
        (true, None) if polling => params.get("after").map(str::to_owned).or_else(|| Some(String::new())),
        _ => None,
    };
    match next {
        Some(after) if after.is_empty() => {
            // An empty log so far: the next link is the same request.
            params.page_links(&mut res, &s.base, "/api/v1/logs", limit, None);
            let self_link = res.headers().get(header::LINK).cloned();
            if let Some(v) = self_link {
                let next = v.to_str().unwrap_or_default().replace("rel=\"self\"", "rel=\"next\"");
                res.headers_mut()
                    .append(header::LINK, next.parse().expect("a link we built"));
            }
        }
        other => params.page_links(&mut res, &s.base, "/api/v1/logs", limit, other),
    }
    Ok(res)
}
