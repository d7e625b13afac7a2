//! Okta Event Hooks in: the objects a System Log event names for a targeted sync to read
//! again, and a connection's hook as okta-bridge keeps it.

use serde::Serialize;
use serde_json::Value;

/// The System Log event types the sync follows, and so the ones a connection's event hook
/// subscribes to (all marked event-hook eligible in Okta's Event Types catalog).
pub const HOOK_EVENT_TYPES: &[&str] = &[
    "user.lifecycle.create",
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.reactivate",
    "user.lifecycle.suspend",
    "user.lifecycle.unsuspend",
    "user.lifecycle.delete.initiated",
    "user.lifecycle.delete.completed",
    "user.account.update_profile",
    "group.user_membership.add",
    "group.user_membership.remove",
    "group.lifecycle.create",
    "group.lifecycle.delete",
    "group.profile.update",
    "application.user_membership.add",
    "application.user_membership.remove",
];

/// An object an event names, to be read again from the org.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HookTarget {
    /// A user: its profile and status (gone when Okta answers 404).
    User(String),
    /// A user and its group memberships.
    Memberships(String),
    /// A group (gone when Okta answers 404).
    Group(String),
    /// A user's assignment to an app: (app id, user id).
    AppUser(String, String),
}

impl HookTarget {
    /// The row a target is queued as: kind, object id, other id.
    pub fn row(&self) -> (&'static str, &str, Option<&str>) {
        match self {
            HookTarget::User(u) => ("user", u, None),
            HookTarget::Memberships(u) => ("memberships", u, None),
            HookTarget::Group(g) => ("group", g, None),
            HookTarget::AppUser(a, u) => ("app_user", u, Some(a)),
        }
    }

    /// The target a queued row is (`None` for a kind this version does not know).
    pub fn from_row(kind: &str, object_id: String, other_id: Option<String>) -> Option<Self> {
        Some(match (kind, other_id) {
            ("user", _) => HookTarget::User(object_id),
            ("memberships", _) => HookTarget::Memberships(object_id),
            ("group", _) => HookTarget::Group(object_id),
            ("app_user", Some(app)) => HookTarget::AppUser(app, object_id),
            _ => return None,
        })
    }
}

/// The id of `event`'s first target of one of `kinds`.
fn target_id<'a>(event: &'a Value, kinds: &[&str]) -> Option<&'a str> {
    event["target"]
        .as_array()?
        .iter()
        .find(|t| t["type"].as_str().is_some_and(|k| kinds.contains(&k)))?["id"]
        .as_str()
        .filter(|id| !id.is_empty())
}

/// The objects System Log event `event` (as an event hook delivers it) names for a sync to
/// read again; none for a type the sync does not follow.
pub fn targets_of(event: &Value) -> Vec<HookTarget> {
    let kind = event["eventType"].as_str().unwrap_or_default();
    let user = || target_id(event, &["User"]).map(str::to_owned);
    let group = || target_id(event, &["UserGroup"]).map(str::to_owned);
    let targets = match kind {
        // The user's memberships, and the group (its `lastMembershipUpdated` moved; read on its
        // own it is right even when the user is gone by the time it is read).
        "group.user_membership.add" | "group.user_membership.remove" => {
            vec![user().map(HookTarget::Memberships), group().map(HookTarget::Group)]
        }
        "group.lifecycle.create" | "group.lifecycle.delete" | "group.profile.update" => {
            vec![group().map(HookTarget::Group)]
        }
        "application.user_membership.add" | "application.user_membership.remove" => {
            let app = target_id(event, &["AppInstance"]);
            let user = target_id(event, &["AppUser", "User"]);
            vec![
                app.zip(user)
                    .map(|(a, u)| HookTarget::AppUser(a.to_owned(), u.to_owned())),
            ]
        }
        // A new user is in groups from the start (`Everyone`, those it was made with).
        "user.lifecycle.create" => vec![user().map(HookTarget::User), user().map(HookTarget::Memberships)],
        k if k.starts_with("user.lifecycle.") || k == "user.account.update_profile" => {
            vec![user().map(HookTarget::User)]
        }
        _ => Vec::new(),
    };
    targets.into_iter().flatten().collect()
}

/// A connection's event hook, as okta-bridge keeps it (never its secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookState {
    /// The hook's id at the org, once registered.
    pub okta_hook_id: Option<String>,
    /// The URI the org calls.
    pub uri: Option<String>,
    pub registered_at: Option<i64>,
    pub last_received_at: Option<i64>,
    /// Calls taken, and calls (or events) that were already taken.
    pub received: i64,
    pub duplicates: i64,
    /// Targeted syncs run, the last one's time and error.
    pub syncs: i64,
    pub last_sync_at: Option<i64>,
    pub last_sync_error: Option<String>,
    /// Objects named and not yet read.
    pub pending: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_name_what_to_read_again() {
        let ev = |t: &str, targets: Value| json!({ "eventType": t, "target": targets });
        let user = json!({ "type": "User", "id": "00u1" });
        let group = json!({ "type": "UserGroup", "id": "00g1" });
        let app = json!({ "type": "AppInstance", "id": "0oa1" });
        let app_user = json!({ "type": "AppUser", "id": "00u1" });
        assert_eq!(
            targets_of(&ev("user.lifecycle.suspend", json!([user]))),
            [HookTarget::User("00u1".into())]
        );
        assert_eq!(
            targets_of(&ev("group.user_membership.add", json!([user, group]))),
            [HookTarget::Memberships("00u1".into()), HookTarget::Group("00g1".into())]
        );
        assert_eq!(
            targets_of(&ev("group.profile.update", json!([group]))),
            [HookTarget::Group("00g1".into())]
        );
        assert_eq!(
            targets_of(&ev("application.user_membership.remove", json!([app, app_user]))),
            [HookTarget::AppUser("0oa1".into(), "00u1".into())]
        );
        assert_eq!(
            targets_of(&ev("user.lifecycle.create", json!([user]))),
            [HookTarget::User("00u1".into()), HookTarget::Memberships("00u1".into())]
        );
        assert!(targets_of(&ev("user.session.start", json!([user]))).is_empty());
        assert!(targets_of(&ev("user.lifecycle.suspend", json!([]))).is_empty());
        assert!(targets_of(&json!("not an event")).is_empty());
        for t in [
            HookTarget::User("u".into()),
            HookTarget::Memberships("u".into()),
            HookTarget::Group("g".into()),
            HookTarget::AppUser("a".into(), "u".into()),
        ] {
            let (kind, id, other) = t.row();
            assert_eq!(
                HookTarget::from_row(kind, id.to_owned(), other.map(str::to_owned)),
                Some(t.clone())
            );
        }
    }
}
