//! `/api/v1/eventHooks`: registering event hooks as Okta's Event Hooks API does (create, list,
//! retrieve, replace, delete, activate, deactivate) and verifying them with Okta's one-time
//! verification request: a `GET` to the hook's URI with `X-Okta-Verification-Challenge`,
//! answered `{"verification": "<challenge>"}`.

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
use crate::state::SandboxState;
use crate::state::hooks::{Channel, Delivery, DeliveryFaults, EventHook};
use crate::util::{now, okta_time, random_token};

const READ: &[&str] = &["okta.eventHooks.read", "okta.eventHooks.manage"];
const MANAGE: &[&str] = &["okta.eventHooks.manage"];

/// How long the org waits for a hook's answer (Okta: 3 s).
pub(crate) const HOOK_TIMEOUT: Duration = Duration::from_secs(3);

/// The event types a hook may subscribe to here: those the sandbox records that Okta's Event
/// Types catalog marks event-hook eligible.
pub const ELIGIBLE_EVENT_TYPES: &[&str] = &[
    "user.lifecycle.create",
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.reactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.unsuspend",
    "user.lifecycle.delete.initiated",
    "user.lifecycle.delete.completed",
    "user.account.update_profile",
    "user.session.start",
    "group.user_membership.add",
    "group.user_membership.remove",
    "group.lifecycle.create",
    "group.lifecycle.delete",
    "group.profile.update",
    "application.user_membership.add",
    "application.user_membership.remove",
];

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(id, "EventHook")
}

/// The hook as Okta renders it (the auth header's value is write-only, never shown).
fn hook_json(base: &str, h: &EventHook) -> Value {
    let href = format!("{base}/api/v1/eventHooks/{}", h.id);
    let post = |op: &str| json!({ "href": format!("{href}/lifecycle/{op}"), "hints": { "allow": ["POST"] } });
    let mut links = json!({ "self": { "href": href }, "verify": post("verify") });
    if h.active {
        links["deactivate"] = post("deactivate");
    } else {
        links["activate"] = post("activate");
    }
    let mut config = json!({
        "uri": h.channel.uri,
        "headers": h.channel.headers.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect::<Vec<_>>(),
        "method": "POST",
    });
    if let Some((key, _)) = &h.channel.auth {
        config["authScheme"] = json!({ "type": "HEADER", "key": key });
    }
    json!({
        "id": h.id,
        "status": if h.active { "ACTIVE" } else { "INACTIVE" },
        "verificationStatus": if h.verified { "VERIFIED" } else { "UNVERIFIED" },
        "name": h.name,
        "description": h.description,
        "created": okta_time(h.created),
        "createdBy": h.created_by,
        "lastUpdated": okta_time(h.last_updated),
        "events": { "type": "EVENT_TYPE", "items": h.events, "filter": null },
        "channel": { "type": "HTTP", "version": "1.0.0", "config": config },
        "_links": links,
    })
}

/// What a create or replace body says, checked as Okta checks it.
struct HookInput {
    name: String,
    description: Option<String>,
    events: Vec<String>,
    channel: Channel,
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_str()
}

/// A hook URI: https, as Okta requires; plain http only on loopback (a local receiver).
fn check_uri(uri: &str) -> Result<(), ApiError> {
    let url =
        url::Url::parse(uri).map_err(|_| ApiError::validation(format!("channel.config.uri: {uri:?} is not a URL")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(ApiError::validation(
            "channel.config.uri: the external service must use a valid HTTPS endpoint",
        )),
    }
}

fn parse(body: &Value) -> Result<HookInput, ApiError> {
    let name = str_at(body, "name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::validation("name: The field cannot be left blank"))?
        .to_owned();
    let description = match body.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return Err(ApiError::malformed_body("description must be a string")),
    };
    if str_at(body, "events.type") != Some("EVENT_TYPE") {
        return Err(ApiError::validation("events.type: must be EVENT_TYPE"));
    }
    let items = body
        .pointer("/events/items")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::validation("events.items: subscribe to one event type at least"))?;
    let mut events = Vec::with_capacity(items.len());
    for item in items {
        let t = item
            .as_str()
            .ok_or_else(|| ApiError::malformed_body("events.items must hold strings"))?;
        if !ELIGIBLE_EVENT_TYPES.contains(&t) {
            return Err(ApiError::validation(format!(
                "events.items: {t} is not an event type eligible for event hooks"
            )));
        }
        if !events.iter().any(|e| e == t) {
            events.push(t.to_owned());
        }
    }
    if str_at(body, "channel.type") != Some("HTTP") {
        return Err(ApiError::validation("channel.type: must be HTTP"));
    }
    if str_at(body, "channel.version") != Some("1.0.0") {
        return Err(ApiError::validation("channel.version: must be 1.0.0"));
    }
    let uri = str_at(body, "channel.config.uri")
        .ok_or_else(|| ApiError::validation("channel.config.uri: The field cannot be left blank"))?
        .to_owned();
    check_uri(&uri)?;
    let auth = match body.pointer("/channel/config/authScheme") {
        None | Some(Value::Null) => None,
        Some(a) => {
            if str_at(a, "type") != Some("HEADER") {
                return Err(ApiError::validation("channel.config.authScheme.type: must be HEADER"));
            }
            let key = str_at(a, "key").filter(|k| !k.is_empty());
            let value = str_at(a, "value");
            match (key, value) {
                (Some(k), Some(v)) => Some((k.to_owned(), v.to_owned())),
                _ => {
                    return Err(ApiError::validation(
                        "channel.config.authScheme: key and value are required",
                    ));
                }
            }
        }
    };
    let headers = match body.pointer("/channel/config/headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(hs)) => hs
            .iter()
            .filter(|h| !h.is_null())
            .map(|h| match (str_at(h, "key"), str_at(h, "value")) {
                (Some(k), Some(v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(ApiError::validation(
                    "channel.config.headers: each needs a key and a value",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::malformed_body("channel.config.headers must be an array")),
    };
    Ok(HookInput {
        name,
        description,
        events,
        channel: Channel { uri, auth, headers },
    })
}

/// `GET /api/v1/eventHooks`.
pub(crate) async fn list(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let hooks = s.hooks.lock().expect("hooks lock");
    let all: Vec<Value> = hooks.hooks.values().map(|h| hook_json(&s.base, h)).collect();
    Ok(Json(all).into_response())
}

/// `POST /api/v1/eventHooks`: a new hook, `ACTIVE` and `UNVERIFIED`.
pub(crate) async fn create(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    caller.require(MANAGE)?;
    let input = parse(&body)?;
    let t = now();
    let hook = EventHook {
        id: format!("who{}", random_token(17)),
        name: input.name,
        description: input.description,
        active: true,
        verified: false,
        channel: input.channel,
        events: input.events,
        created: t,
        created_by: caller.user_id.clone(),
        last_updated: t,
    };
    let json = hook_json(&s.base, &hook);
    s.hooks.lock().expect("hooks lock").hooks.insert(hook.id.clone(), hook);
    Ok(Json(json).into_response())
}

/// `GET /api/v1/eventHooks/{eventHookId}`.
pub(crate) async fn get(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(READ)?;
    let hooks = s.hooks.lock().expect("hooks lock");
    let h = hooks.hooks.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(hook_json(&s.base, h)).into_response())
}

/// `PUT /api/v1/eventHooks/{eventHookId}`: a new channel must be verified again.
pub(crate) async fn replace(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    OktaJson(body): OktaJson<Value>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(MANAGE)?;
    let input = parse(&body)?;
    let mut hooks = s.hooks.lock().expect("hooks lock");
    let h = hooks.hooks.get_mut(&id).ok_or_else(|| not_found(&id))?;
    if h.channel != input.channel {
        h.verified = false;
    }
    h.name = input.name;
    h.description = input.description;
    h.events = input.events;
    h.channel = input.channel;
    h.last_updated = now();
    Ok(Json(hook_json(&s.base, h)).into_response())
}

/// `DELETE /api/v1/eventHooks/{eventHookId}`: only an `INACTIVE` hook.
pub(crate) async fn delete(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(MANAGE)?;
    let mut hooks = s.hooks.lock().expect("hooks lock");
    let h = hooks.hooks.get(&id).ok_or_else(|| not_found(&id))?;
    if h.active {
        return Err(ApiError::forbidden_because(
            "Only INACTIVE event hooks can be deleted: deactivate it first",
        ));
    }
    hooks.hooks.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /api/v1/eventHooks/{eventHookId}/lifecycle/{activate|deactivate|verify}`.
pub(crate) async fn lifecycle(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path((id, operation)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(MANAGE)?;
    let channel = {
        let mut hooks = s.hooks.lock().expect("hooks lock");
        let h = hooks.hooks.get_mut(&id).ok_or_else(|| not_found(&id))?;
        match operation.as_str() {
            "activate" | "deactivate" => {
                h.active = operation == "activate";
                h.last_updated = now();
                return Ok(Json(hook_json(&s.base, h)).into_response());
            }
            "verify" => h.channel.clone(),
            _ => return Err(ApiError::resource_not_found()),
        }
    };
    verify(&channel).await.map_err(ApiError::validation)?;
    let mut hooks = s.hooks.lock().expect("hooks lock");
    let h = hooks.hooks.get_mut(&id).ok_or_else(|| not_found(&id))?;
    // Verified only if the channel is still the one that answered.
    if h.channel == channel {
        h.verified = true;
        h.last_updated = now();
    }
    Ok(Json(hook_json(&s.base, h)).into_response())
}

/// A client for calling hooks: no redirects, Okta's 3-s timeout.
pub(crate) fn hook_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HOOK_TIMEOUT)
        .user_agent("Okta Event Hooks (okta-sandbox)")
        .build()
        .unwrap_or_default()
}

/// `req` with the channel's extra headers and its auth header, as every call to a hook has.
fn with_hook_headers(mut req: reqwest::RequestBuilder, channel: &Channel) -> reqwest::RequestBuilder {
    for (k, v) in &channel.headers {
        req = req.header(k, v);
    }
    if let Some((k, v)) = &channel.auth {
        req = req.header(k, v);
    }
    req
}

/// Okta's one-time verification: `GET` with a challenge, which the hook must echo as
/// `{"verification": "<challenge>"}`; one retry after a timeout or an error answer.
async fn verify(channel: &Channel) -> Result<(), String> {
    let challenge = random_token(40);
    let client = hook_client();
    let mut last = String::new();
    for _ in 0..2 {
        let req = client
            .get(&channel.uri)
            .header("X-Okta-Verification-Challenge", &challenge);
        match with_hook_headers(req, channel).send().await {
            Ok(res) if res.status().is_success() => {
                let body: Value = res.json().await.unwrap_or(Value::Null);
                return if body["verification"] == challenge.as_str() {
                    Ok(())
                } else {
                    Err(
                        "Verification failed: the endpoint did not answer {\"verification\": <the challenge>}"
                            .to_owned(),
                    )
                };
            }
            Ok(res) => last = format!("Verification failed: the endpoint answered {}", res.status()),
            Err(e) if e.is_timeout() => {
                last = "Verification failed: the endpoint did not answer within 3 seconds".to_owned()
            }
            Err(e) => {
                last = format!(
                    "Verification failed: the endpoint could not be reached ({})",
                    e.without_url()
                )
            }
        }
    }
    Err(last)
}

impl SandboxState {
    /// Sends `event` (just recorded in the System Log) to every active, verified hook that
    /// subscribed to its type, in the background: Okta's delivery semantics (3-s timeout, one
    /// retry after a timeout, an error or a 5xx; at least once, not necessarily in order).
    pub(crate) fn deliver_to_hooks(&self, event_type: &str, event: &Value) {
        let (targets, faults) = {
            let hooks = self.hooks.lock().expect("hooks lock");
            let targets: Vec<EventHook> = hooks
                .hooks
                .values()
                .filter(|h| h.active && h.verified && h.events.iter().any(|e| e == event_type))
                .cloned()
                .collect();
            (targets, hooks.faults)
        };
        if targets.is_empty() {
            return;
        }
        let (Some(me), Ok(runtime)) = (self.me.upgrade(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        for hook in targets {
            runtime.spawn(deliver(me.clone(), hook, event.clone(), faults));
        }
    }
}

/// Delivers one event to `hook` (twice with the duplicate fault, after the delay fault's wait).
async fn deliver(s: Arc<SandboxState>, hook: EventHook, event: Value, faults: DeliveryFaults) {
    if faults.delay_ms > 0 {
        // The delay fault: the sandbox itself delivers late, on purpose.
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    let copies = if faults.duplicate { 2 } else { 1 };
    let client = hook_client();
    for _ in 0..copies {
        deliver_once(&s, &client, &hook, &event).await;
    }
}

/// One event-hook call, as Okta sends it, with its one retry; a call that fails is recorded in
/// the System Log as `event_hook.delivery`.
async fn deliver_once(s: &SandboxState, client: &reqwest::Client, hook: &EventHook, event: &Value) {
    let event_id = random_token(20);
    let body = json!({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": format!("{}/api/v1/eventHooks/{}", s.base, hook.id),
        "eventId": event_id,
        "eventTime": okta_time(now()),
        "contentType": "application/json",
        "data": { "events": [event] },
    });
    let uuids = vec![event["uuid"].as_str().unwrap_or_default().to_owned()];
    let types = vec![event["eventType"].as_str().unwrap_or_default().to_owned()];
    for attempt in 1..=2 {
        let req = with_hook_headers(client.post(&hook.channel.uri).json(&body), &hook.channel);
        let started = std::time::Instant::now();
        let (status, error, retry) = match req.send().await {
            Ok(res) if res.status().is_success() => (Some(res.status().as_u16()), None, false),
            Ok(res) => (
                Some(res.status().as_u16()),
                Some(format!("the hook answered {}", res.status())),
                res.status().is_server_error(),
            ),
            Err(e) if e.is_timeout() => (None, Some("no answer within 3 seconds".to_owned()), true),
            Err(e) => (None, Some(format!("unreachable: {}", e.without_url())), true),
        };
        let delivered = error.is_none();
        s.hooks.lock().expect("hooks lock").deliveries.push(Delivery {
            hook_id: hook.id.clone(),
            event_id: event_id.clone(),
            events: uuids.clone(),
            event_types: types.clone(),
            attempt,
            status,
            outcome: if delivered { "delivered" } else { "failed" },
            error: error.clone(),
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        if delivered {
            return;
        }
        if !retry || attempt == 2 {
            let target = crate::syslog::Target::new("EventHook", &hook.id, None, Some(&hook.name));
            s.record("okta-sandbox", "event_hook.delivery", &[target], false);
            return;
        }
    }
}

/// `GET /__sandbox/event-hooks/deliveries`: every delivery attempt and its outcome.
pub(crate) async fn deliveries(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    crate::faults::control_auth(&s, &headers)?;
    Ok(Json(s.hooks.lock().expect("hooks lock").deliveries.clone()).into_response())
}

/// `PUT /__sandbox/event-hooks/faults {"delayMs", "duplicate"}`: delay or duplicate deliveries.
pub(crate) async fn put_delivery_faults(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    OktaJson(faults): OktaJson<DeliveryFaults>,
) -> Result<Response, ApiError> {
    crate::faults::control_auth(&s, &headers)?;
    s.hooks.lock().expect("hooks lock").faults = faults;
    Ok(Json(faults).into_response())
}
