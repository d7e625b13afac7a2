//! The System Log's events, in the order Okta stored them.

use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

/// One recorded event: when it was stored (what polling queries order and page by), when it
/// was published (what bounded queries filter on; earlier than stored for a late event), its
/// uuid, and the event rendered once.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) stored: OffsetDateTime,
    pub(crate) published: OffsetDateTime,
    pub(crate) uuid: String,
    pub(crate) event: Value,
}

/// Recorded events in the order they were stored.
#[derive(Debug, Default)]
pub(crate) struct SystemLog {
    pub(crate) events: Vec<Stored>,
    pub(crate) index: HashMap<String, usize>,
}
