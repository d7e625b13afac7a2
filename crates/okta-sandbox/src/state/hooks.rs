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

/// Every event hook of the org, by id.
#[derive(Debug, Default)]
pub(crate) struct EventHooks {
    pub(crate) hooks: BTreeMap<String, EventHook>,
}
