//! The org as a SCIM provisioning client: per app, its provisioning connection (the SCIM base
//! URL and token), which actions are on, the users and groups pushed so far (their SCIM ids and
//! what was last sent), Group Push mappings, and every request sent (for tests).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use secrecy::SecretString;
use serde_json::Value;

/// The requests kept for `GET /__sandbox/provisioning` (the newest).
pub(crate) const SENT_KEPT: usize = 50_000;

/// Provisioning of every app that has it.
#[derive(Debug, Default)]
pub(crate) struct Provisioning {
    pub apps: BTreeMap<String, ScimApp>,
    /// Requests sent, oldest first (at most [`SENT_KEPT`]).
    pub sent: std::collections::VecDeque<Sent>,
    /// Pushes answered 2xx, and those that failed for good.
    pub pushed: u64,
    pub failed: u64,
    /// Pushes answered 429 and retried.
    pub retried: u64,
    /// Pushes that failed for good, by what they wanted (not tried again until that changes).
    pub given_up: HashSet<String>,
    /// Whether the worker runs.
    pub worker: bool,
}

/// One app's provisioning.
#[derive(Debug, Clone)]
pub(crate) struct ScimApp {
    /// The SCIM base URL (a sandbox liberty: real Okta takes a custom app's in its admin
    /// console only).
    pub base_url: String,
    pub token: SecretString,
    /// `USER_PROVISIONING`: Create Users, Update User Attributes, Deactivate Users.
    pub create: bool,
    pub update: bool,
    pub deactivate: bool,
    /// Profile updates as `PATCH` (else `PUT` of the whole user).
    pub patch_updates: bool,
    /// App usernames given at assignment (`credentials.userName`), by user id.
    pub usernames: BTreeMap<String, String>,
    /// Users pushed, by Okta user id.
    pub users: BTreeMap<String, PushedUser>,
    /// Group Push mappings, by id.
    pub mappings: BTreeMap<String, Mapping>,
}

impl ScimApp {
    pub fn new(base_url: String, token: SecretString) -> Self {
        Self {
            base_url,
            token,
            create: false,
            update: false,
            deactivate: false,
            patch_updates: false,
            usernames: BTreeMap::new(),
            users: BTreeMap::new(),
            mappings: BTreeMap::new(),
        }
    }
}

/// A user as pushed: its id at the app, the resource last sent, whether it is active there.
#[derive(Debug, Clone)]
pub(crate) struct PushedUser {
    pub scim_id: String,
    pub sent: Value,
    pub active: bool,
}

/// A Group Push mapping: the Okta group, the name it is pushed as, its id at the app once
/// made, and the name and members (SCIM ids) last pushed.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub id: String,
    pub source_group: String,
    pub target_name: Option<String>,
    pub active: bool,
    pub created: time::OffsetDateTime,
    pub last_updated: time::OffsetDateTime,
    pub scim_id: Option<String>,
    pub pushed_name: Option<String>,
    pub pushed_members: BTreeSet<String>,
    /// Deleted, with the target group to delete at the app.
    pub delete_target: bool,
}

/// A request the org sent to an app's SCIM endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub app_id: String,
    pub method: &'static str,
    pub path: String,
    pub body: Option<Value>,
    pub status: u16,
    pub at: time::OffsetDateTime,
    pub millis: f64,
}
