//! `client.event_hooks()`: the Event Hooks API — registering an endpoint the org calls with
//! System Log events as they happen, verifying it, and reading its state.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::error::Result;

/// An event hook (`#/components/schemas/EventHook`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventHook {
    /// Its id, e.g. `who8vt36qfNpCGz9H1e6`.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// `ACTIVE` or `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `VERIFIED` or `UNVERIFIED`: the org calls only verified, active hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<String>,
    /// The subscription (`{"type": "EVENT_TYPE", "items": [...]}`).
    pub events: EventSubscriptions,
    /// Where and how the org calls it.
    pub channel: Value,
    /// Fields this version does not model (`created`, `lastUpdated`, `_links`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EventHook {
    /// The URI the org calls.
    pub fn uri(&self) -> Option<&str> {
        self.channel.pointer("/config/uri").and_then(Value::as_str)
    }
}

/// The event types a hook subscribes to (`#/components/schemas/EventSubscriptions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventSubscriptions {
    /// `EVENT_TYPE`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The System Log event types, e.g. `user.lifecycle.create`.
    #[serde(default)]
    pub items: Vec<String>,
}

/// What a hook is made or replaced with: the org POSTs each subscribed event to `uri`, with
/// the header `auth_header: auth_value`.
#[derive(Debug, Clone)]
pub struct NewEventHook<'a> {
    /// Its display name.
    pub name: &'a str,
    /// The https URI the org calls.
    pub uri: &'a str,
    /// The System Log event types to send (event-hook eligible ones).
    pub events: &'a [&'a str],
    /// The header the org sends with every call, e.g. `Authorization`.
    pub auth_header: &'a str,
    /// Its value: a secret the receiver checks (Okta never shows it again).
    pub auth_value: &'a str,
}

impl NewEventHook<'_> {
    fn body(&self) -> Value {
        json!({
            "name": self.name,
            "events": { "type": "EVENT_TYPE", "items": self.events },
            "channel": {
                "type": "HTTP",
                "version": "1.0.0",
                "config": {
                    "uri": self.uri,
                    "authScheme": { "type": "HEADER", "key": self.auth_header, "value": self.auth_value },
                },
            },
        })
    }
}

/// Operations on event hooks (scopes `okta.eventHooks.read` / `okta.eventHooks.manage`).
#[derive(Debug, Clone)]
pub struct EventHooksHandler {
    client: Client,
}

impl EventHooksHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Every event hook of the org (`GET /api/v1/eventHooks`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 403 without `okta.eventHooks.read`.
    pub async fn list(&self) -> Result<Vec<EventHook>> {
        self.client.get_json(self.client.api_url(&["eventHooks"])).await
    }

    /// One event hook (`GET /api/v1/eventHooks/{eventHookId}`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 404 when there is no such hook.
    pub async fn get(&self, id: &str) -> Result<EventHook> {
        self.client.get_json(self.client.api_url(&["eventHooks", id])).await
    }

    /// Creates an event hook, `ACTIVE` and `UNVERIFIED` (`POST /api/v1/eventHooks`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 400 for an event type that is not eligible or a URI that is not
    /// https; 403 without `okta.eventHooks.manage`.
    pub async fn create(&self, hook: &NewEventHook<'_>) -> Result<EventHook> {
        self.client
            .send_json(Method::POST, self.client.api_url(&["eventHooks"]), Some(&hook.body()))
            .await
    }

    /// Replaces an event hook (`PUT /api/v1/eventHooks/{eventHookId}`); a new URI or secret
    /// must be verified again.
    ///
    /// # Errors
    /// As [`EventHooksHandler::create`]; 404 when there is no such hook.
    pub async fn replace(&self, id: &str, hook: &NewEventHook<'_>) -> Result<EventHook> {
        self.client
            .send_json(
                Method::PUT,
                self.client.api_url(&["eventHooks", id]),
                Some(&hook.body()),
            )
            .await
    }

    /// Has the org verify the hook: it `GET`s the URI with `X-Okta-Verification-Challenge`,
    /// which the receiver echoes (`POST /api/v1/eventHooks/{eventHookId}/lifecycle/verify`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 400 when the receiver did not answer the challenge.
    pub async fn verify(&self, id: &str) -> Result<EventHook> {
        self.lifecycle(id, "verify").await
    }

    /// Activates a hook (`POST …/lifecycle/activate`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 404 when there is no such hook.
    pub async fn activate(&self, id: &str) -> Result<EventHook> {
        self.lifecycle(id, "activate").await
    }

    /// Deactivates a hook (`POST …/lifecycle/deactivate`): the org stops calling it.
    ///
    /// # Errors
    /// [`crate::Error::Api`] 404 when there is no such hook.
    pub async fn deactivate(&self, id: &str) -> Result<EventHook> {
        self.lifecycle(id, "deactivate").await
    }

    /// Deletes an `INACTIVE` hook (`DELETE /api/v1/eventHooks/{eventHookId}`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 403 for an active hook, 404 when there is none.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .send_unit(Method::DELETE, self.client.api_url(&["eventHooks", id]), None)
            .await
    }

    async fn lifecycle(&self, id: &str, op: &str) -> Result<EventHook> {
        self.client
            .send_json(
                Method::POST,
                self.client.api_url(&["eventHooks", id, "lifecycle", op]),
                None,
            )
            .await
    }
}
