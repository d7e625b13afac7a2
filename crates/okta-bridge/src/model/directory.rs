//! A connected org's directory as okta-bridge keeps it (users of every status, groups,
//! memberships, apps and their users) and its change feed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A user as kept: the attributes applications query, the whole profile, and Okta's times as
/// Okta wrote them (RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirUser {
    pub id: String,
    pub status: String,
    pub login: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created: Option<String>,
    pub activated: Option<String>,
    pub status_changed: Option<String>,
    pub last_login: Option<String>,
    pub last_updated: Option<String>,
    /// The whole profile, custom attributes included (attributes without a value left out).
    pub profile: Map<String, Value>,
    /// The identity provider's id of a user pushed by SCIM (`externalId`); none for a pulled
    /// user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl DirUser {
    /// The names of the attributes that differ from `old`, as an event lists them (`status`,
    /// `profile.login`, `profile.department`, `lastUpdated`, …). A `lastUpdated` that moved
    /// alone (Okta moves it on a password change, or a write of the same values) is a change
    /// too: Okta says the user was updated.
    pub fn changed_from(&self, old: &DirUser) -> Vec<String> {
        let mut changed = Vec::new();
        let mut field = |name: &str, a: &Option<String>, b: &Option<String>| {
            if a != b {
                changed.push(name.to_owned());
            }
        };
        field("activated", &self.activated, &old.activated);
        field("statusChanged", &self.status_changed, &old.status_changed);
        field("lastLogin", &self.last_login, &old.last_login);
        field("lastUpdated", &self.last_updated, &old.last_updated);
        field("externalId", &self.external_id, &old.external_id);
        if self.status != old.status {
            changed.push("status".to_owned());
        }
        let keys: BTreeSet<&String> = self.profile.keys().chain(old.profile.keys()).collect();
        for k in keys {
            if self.profile.get(k) != old.profile.get(k) {
                changed.push(format!("profile.{k}"));
            }
        }
        changed
    }
}

/// A group as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirGroup {
    pub id: String,
    /// `OKTA_GROUP`, `APP_GROUP` or `BUILT_IN`.
    pub group_type: String,
    pub name: String,
    pub description: Option<String>,
    pub created: Option<String>,
    pub last_updated: Option<String>,
    pub last_membership_updated: Option<String>,
}

impl DirGroup {
    /// The names of the attributes that differ from `old` (`profile.name`, `lastUpdated`,
    /// `lastMembershipUpdated`, …).
    pub fn changed_from(&self, old: &DirGroup) -> Vec<String> {
        let mut changed = Vec::new();
        if self.last_updated != old.last_updated {
            changed.push("lastUpdated".to_owned());
        }
        if self.last_membership_updated != old.last_membership_updated {
            changed.push("lastMembershipUpdated".to_owned());
        }
        if self.name != old.name {
            changed.push("profile.name".to_owned());
        }
        if self.description != old.description {
            changed.push("profile.description".to_owned());
        }
        if self.group_type != old.group_type {
            changed.push("type".to_owned());
        }
        changed
    }
}

/// An app as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirApp {
    pub id: String,
    pub label: String,
    pub name: Option<String>,
    pub status: Option<String>,
    pub sign_on_mode: Option<String>,
}

/// A whole directory: what sync read from an org, or what the store holds for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    pub users: BTreeMap<String, DirUser>,
    pub groups: BTreeMap<String, DirGroup>,
    /// (group id, user id)
    pub members: BTreeSet<(String, String)>,
    pub apps: BTreeMap<String, DirApp>,
    /// (app id, user id) → scope (`USER` or `GROUP`)
    pub app_users: BTreeMap<(String, String), Option<String>>,
    /// (app id, group id): the groups assigned to each app.
    pub app_groups: BTreeSet<(String, String)>,
}

/// The kinds of change in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deactivated")]
    UserDeactivated,
    #[serde(rename = "user.reactivated")]
    UserReactivated,
    #[serde(rename = "user.suspended")]
    UserSuspended,
    #[serde(rename = "user.unsuspended")]
    UserUnsuspended,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "group.created")]
    GroupCreated,
    #[serde(rename = "group.updated")]
    GroupUpdated,
    #[serde(rename = "group.deleted")]
    GroupDeleted,
    #[serde(rename = "group.user_added")]
    GroupUserAdded,
    #[serde(rename = "group.user_removed")]
    GroupUserRemoved,
    #[serde(rename = "app.user_assigned")]
    AppUserAssigned,
    #[serde(rename = "app.user_unassigned")]
    AppUserUnassigned,
}

impl EventType {
    /// Every type, in the order of their names.
    pub const ALL: [EventType; 14] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserSuspended,
        EventType::UserUnsuspended,
        EventType::UserDeleted,
        EventType::GroupCreated,
        EventType::GroupUpdated,
        EventType::GroupDeleted,
        EventType::GroupUserAdded,
        EventType::GroupUserRemoved,
        EventType::AppUserAssigned,
        EventType::AppUserUnassigned,
    ];

    /// The type's name in the feed (`user.created`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserSuspended => "user.suspended",
            EventType::UserUnsuspended => "user.unsuspended",
            EventType::UserDeleted => "user.deleted",
            EventType::GroupCreated => "group.created",
            EventType::GroupUpdated => "group.updated",
            EventType::GroupDeleted => "group.deleted",
            EventType::GroupUserAdded => "group.user_added",
            EventType::GroupUserRemoved => "group.user_removed",
            EventType::AppUserAssigned => "app.user_assigned",
            EventType::AppUserUnassigned => "app.user_unassigned",
        }
    }

    /// The type named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// A change about to be written, with the object's state after it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    /// The user's or group's id (for memberships and assignments, the user's).
    pub object_id: String,
    /// When Okta says it happened, when it says (RFC 3339).
    pub occurred_at: Option<String>,
    pub data: Value,
}

/// A change in the feed: its cursor (`seq`, increasing per connection), type, object, Okta's
/// time of the change, when okta-bridge recorded it (unix seconds), and the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedEvent {
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub object_id: String,
    pub occurred_at: Option<String>,
    pub recorded_at: i64,
    pub data: Value,
}

/// Everything one sync writes: the rows that change and the events that say so, written in
/// one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectoryChanges {
    pub upsert_users: Vec<DirUser>,
    pub delete_users: Vec<String>,
    pub upsert_groups: Vec<DirGroup>,
    pub delete_groups: Vec<String>,
    pub add_members: Vec<(String, String)>,
    pub remove_members: Vec<(String, String)>,
    pub upsert_apps: Vec<DirApp>,
    pub delete_apps: Vec<String>,
    pub set_app_users: Vec<(String, String, Option<String>)>,
    pub remove_app_users: Vec<(String, String)>,
    pub add_app_groups: Vec<(String, String)>,
    pub remove_app_groups: Vec<(String, String)>,
    pub events: Vec<NewEvent>,
}

impl DirectoryChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Adds `other`'s rows and events after these.
    pub fn append(&mut self, other: Self) {
        self.upsert_users.extend(other.upsert_users);
        self.delete_users.extend(other.delete_users);
        self.upsert_groups.extend(other.upsert_groups);
        self.delete_groups.extend(other.delete_groups);
        self.add_members.extend(other.add_members);
        self.remove_members.extend(other.remove_members);
        self.upsert_apps.extend(other.upsert_apps);
        self.delete_apps.extend(other.delete_apps);
        self.set_app_users.extend(other.set_app_users);
        self.remove_app_users.extend(other.remove_app_users);
        self.add_app_groups.extend(other.add_app_groups);
        self.remove_app_groups.extend(other.remove_app_groups);
        self.events.extend(other.events);
    }
}

/// A connection's sync state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// The cursor of the newest event (0 before the first).
    pub last_seq: i64,
    pub last_run_at: Option<i64>,
    pub last_full_at: Option<i64>,
    pub last_error: Option<String>,
    /// What the last run did (counts, requests, time).
    pub last_summary: Option<Value>,
    /// Whether a sync holds the lease now.
    pub running: bool,
    /// Where the next incremental read starts.
    pub cursors: SyncCursors,
    /// Why scheduled syncs wait (the connection needs re-authorization, …); `None` while they
    /// run.
    pub paused: Option<String>,
}

/// Where an incremental read starts: Okta's times (RFC 3339) of the newest user and group
/// change seen, and the System Log poll's `next` link. All three are written with the changes
/// they follow, in one transaction; without them a sync reads everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncCursors {
    pub users_since: Option<String>,
    pub groups_since: Option<String>,
    pub log: Option<String>,
}

impl SyncCursors {
    /// Whether an incremental read can start from these.
    pub fn complete(&self) -> bool {
        self.users_since.is_some() && self.groups_since.is_some() && self.log.is_some()
    }
}
