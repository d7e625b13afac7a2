//! The System Log's events, in publication order.

use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

/// Recorded events in publication order, each rendered once.
#[derive(Debug, Default)]
pub(crate) struct SystemLog {
    pub(crate) events: Vec<(OffsetDateTime, String, Value)>,
    pub(crate) index: HashMap<String, usize>,
}
