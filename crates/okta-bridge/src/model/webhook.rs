//! A webhook endpoint: where a connection's change feed is delivered, and which of it.

use serde::Serialize;

use super::{AccountName, EventType};

/// Whether an endpoint is delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Delivered to.
    Active,
    /// Its deliveries failed for longer than they are retried: waiting for an admin to resume it.
    Failing,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Failing => "failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "failing" => Some(Self::Failing),
            _ => None,
        }
    }
}

/// Which events an endpoint gets: of these types (`None`: all) of these connections (`None`:
/// all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookFilter {
    pub events: Option<Vec<EventType>>,
    pub connections: Option<Vec<AccountName>>,
}

impl WebhookFilter {
    /// Whether an event of `event_type` of connection `account` is delivered.
    pub fn matches(&self, account: &AccountName, event_type: EventType) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&event_type))
            && self.connections.as_ref().is_none_or(|c| c.contains(account))
    }
}

/// A webhook endpoint, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    pub url: String,
    #[serde(flatten)]
    pub filter: WebhookFilter,
    pub status: WebhookStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// While a rotated-out secret still signs: until when (unix seconds).
    pub previous_secret_until: Option<i64>,
}
