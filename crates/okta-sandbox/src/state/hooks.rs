//! The event hooks registered with the org (`/api/v1/eventHooks`).

use std::collections::BTreeMap;

use time::OffsetDateTime;

/// One event hook, as registered.
#[derive(Debug, Clone)]
pub(crate) struct EventHook {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// `ACTIVE` (true) or `INACTIVE`.
    pub(crate) active: bool,
    /// `VERIFIED` (true) or `UNVERIFIED`: only active, verified hooks receive events.
    pub(crate) verified: bool,
    pub(crate) channel: Channel,
    /// The subscribed event types.
    pub(crate) events: Vec<String>,
    pub(crate) created: OffsetDateTime,
    pub(crate) created_by: String,
    pub(crate) last_updated: OffsetDateTime,
}

/// Where and how the org calls a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Channel {
    pub(crate) uri: String,
    /// The `HEADER` auth scheme: header name and value (the value is never shown again).
    pub(crate) auth: Option<(String, String)>,
    /// Extra headers sent with every call.
    pub(crate) headers: Vec<(String, String)>,
}

/// One attempt to deliver an event-hook call, for `GET /__sandbox/event-hooks/deliveries`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Delivery {
    pub(crate) hook_id: String,
    /// The call's `eventId` (a duplicated delivery has a new one).
    pub(crate) event_id: String,
    /// The System Log events (uuids) the call carried.
    pub(crate) events: Vec<String>,
    pub(crate) event_types: Vec<String>,
    /// 1, or 2 for Okta's one retry.
    pub(crate) attempt: u32,
    /// The hook's HTTP status, if it answered.
    pub(crate) status: Option<u16>,
    /// `delivered` or `failed`.
    pub(crate) outcome: &'static str,
    pub(crate) error: Option<String>,
    pub(crate) latency_ms: u64,
}

/// The delivery faults in force (`PUT /__sandbox/event-hooks/faults`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryFaults {
    /// Wait this long before delivering (Okta delivers "not necessarily in order").
    #[serde(default)]
    pub delay_ms: u64,
    /// Deliver every call twice (Okta delivers "at least once").
    #[serde(default)]
    pub duplicate: bool,
}

/// Every event hook of the org, by id, and what was delivered.
#[derive(Debug, Default)]
pub(crate) struct EventHooks {
    pub(crate) hooks: BTreeMap<String, EventHook>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) faults: DeliveryFaults,
}
