//! Comparing a directory read with the stored one, and saying every difference as a
//! change-feed event; folding a feed back into a directory.
//!
//! The events of one run come in an order that folding respects: groups and users created or
//! changed first, then memberships and app assignments, deletions last. Deleting a user (or a
//! group) takes its memberships and assignments with it: no separate events say so.
//!
//! Folding the feed from the start ([`fold`]) reproduces the stored directory's users, groups,
//! memberships and app assignments.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::read::text;
use crate::model::{DirGroup, DirUser, Directory, DirectoryChanges, EventType, FeedEvent, NewEvent};

/// An event's data: the object after the change, with the names of the attributes that
/// `changed` when there are any to say.
fn object_data(object: &impl serde::Serialize, changed: Option<&[String]>) -> Value {
    let mut v = serde_json::to_value(object).unwrap_or(Value::Null);
    if let (Some(changed), Value::Object(m)) = (changed, &mut v) {
        m.insert("changed".into(), json!(changed));
    }
    v
}

/// Whether a run has a membership event for group `gid` (a member added or removed who exists
/// after the run).
fn membership_events(stored: &Directory, read: &Directory, gid: &str) -> bool {
    let of_group = |d: &Directory| -> BTreeSet<(String, String)> {
        d.members
            .range((gid.to_owned(), String::new())..)
            .take_while(|(g, _)| g == gid)
            .cloned()
            .collect()
    };
    let (before, after) = (of_group(stored), of_group(read));
    before
        .symmetric_difference(&after)
        .any(|(_, uid)| read.users.contains_key(uid))
}

/// The event a user's change is: a lifecycle event when its status moved that way, else an
/// update.
fn user_event(old: &str, new: &str) -> EventType {
    match (old, new) {
        (o, n) if o == n => EventType::UserUpdated,
        (_, "DEPROVISIONED") => EventType::UserDeactivated,
        ("DEPROVISIONED", _) => EventType::UserReactivated,
        (_, "SUSPENDED") => EventType::UserSuspended,
        ("SUSPENDED", _) => EventType::UserUnsuspended,
        _ => EventType::UserUpdated,
    }
}

/// What turns `stored` into `read`: the rows to write and the events that say so, in an order
/// folding respects. Nothing for what did not change.
pub fn diff(stored: &Directory, read: &Directory) -> DirectoryChanges {
    let mut c = DirectoryChanges::default();
    let now = text(Some(OffsetDateTime::now_utc()));
    // Groups created or changed.
    for (id, g) in &read.groups {
        match stored.groups.get(id) {
            None => {
                c.events.push(NewEvent {
                    event_type: EventType::GroupCreated,
                    object_id: id.clone(),
                    occurred_at: g.created.clone().or_else(|| g.last_updated.clone()),
                    data: object_data(g, None),
                });
                c.upsert_groups.push(g.clone());
            }
            Some(old) if old != g => {
                let changed = g.changed_from(old);
                // A group whose members changed: its membership events carry its new
                // `lastMembershipUpdated`; a group.updated only when something else moved too,
                // or when no membership event will say it (a member was deleted).
                let members_say_it = changed == ["lastMembershipUpdated"] && membership_events(stored, read, id);
                if !changed.is_empty() && !members_say_it {
                    c.events.push(NewEvent {
                        event_type: EventType::GroupUpdated,
                        object_id: id.clone(),
                        occurred_at: g.last_updated.clone(),
                        data: object_data(g, Some(&changed)),
                    });
                }
                c.upsert_groups.push(g.clone());
            }
            Some(_) => {}
        }
    }
    // Users created or changed.
    for (id, u) in &read.users {
        match stored.users.get(id) {
            None => {
                c.events.push(NewEvent {
                    event_type: EventType::UserCreated,
                    object_id: id.clone(),
                    occurred_at: u.created.clone().or_else(|| u.last_updated.clone()),
                    data: object_data(u, None),
                });
                c.upsert_users.push(u.clone());
            }
            Some(old) if old != u => {
                let changed = u.changed_from(old);
                if !changed.is_empty() {
                    let event_type = user_event(&old.status, &u.status);
                    let occurred_at = if event_type == EventType::UserUpdated {
                        u.last_updated.clone()
                    } else {
                        u.status_changed.clone().or_else(|| u.last_updated.clone())
                    };
                    c.events.push(NewEvent {
                        event_type,
                        object_id: id.clone(),
                        occurred_at,
                        data: object_data(u, Some(&changed)),
                    });
                }
                c.upsert_users.push(u.clone());
            }
            Some(_) => {}
        }
    }
    let user_gone = |uid: &str| !read.users.contains_key(uid);
    let group_gone = |gid: &str| !read.groups.contains_key(gid);
    // Memberships: of groups and users that exist after this run; those of deleted ones go
    // with them.
    let lmu = |gid: &str| read.groups.get(gid).and_then(|g| g.last_membership_updated.clone());
    for (gid, uid) in read.members.difference(&stored.members) {
        if group_gone(gid) || user_gone(uid) {
            continue;
        }
        c.events
            .push(member_event(EventType::GroupUserAdded, gid, uid, lmu(gid)));
        c.add_members.push((gid.clone(), uid.clone()));
    }
    for (gid, uid) in stored.members.difference(&read.members) {
        if group_gone(gid) || user_gone(uid) {
            continue;
        }
        c.events
            .push(member_event(EventType::GroupUserRemoved, gid, uid, lmu(gid)));
        c.remove_members.push((gid.clone(), uid.clone()));
    }
    diff_apps(stored, read, &|u| !user_gone(u), &|g| !group_gone(g), &mut c);
    // Deletions last.
    for (id, u) in &stored.users {
        if user_gone(id) {
            c.events.push(NewEvent {
                event_type: EventType::UserDeleted,
                object_id: id.clone(),
                occurred_at: now.clone(),
                data: object_data(u, None),
            });
            c.delete_users.push(id.clone());
        }
    }
    for (id, g) in &stored.groups {
        if group_gone(id) {
            c.events.push(NewEvent {
                event_type: EventType::GroupDeleted,
                object_id: id.clone(),
                occurred_at: now.clone(),
                data: object_data(g, None),
            });
            c.delete_groups.push(id.clone());
        }
    }
    c
}

/// A membership event of group `gid` and user `uid`, carrying the group's
/// `lastMembershipUpdated` (`lmu`).
fn member_event(event_type: EventType, gid: &str, uid: &str, lmu: Option<String>) -> NewEvent {
    NewEvent {
        event_type,
        object_id: uid.to_owned(),
        occurred_at: lmu.clone(),
        data: json!({ "groupId": gid, "userId": uid, "lastMembershipUpdated": lmu }),
    }
}

/// One user's membership of a group, or assignment to an app, that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Link {
    Added(String),
    Removed(String),
    /// Assigned, or assigned another way (the scope).
    Assigned(String, Option<String>),
    Unassigned(String),
}

/// What changed between a group's `stored` and `read` members, for the users that exist.
pub(crate) fn member_links(
    stored: &BTreeSet<String>,
    read: &BTreeSet<String>,
    user_exists: &dyn Fn(&str) -> bool,
) -> Vec<Link> {
    let added = read
        .difference(stored)
        .filter(|u| user_exists(u))
        .cloned()
        .map(Link::Added);
    let removed = stored
        .difference(read)
        .filter(|u| user_exists(u))
        .cloned()
        .map(Link::Removed);
    added.chain(removed).collect()
}

/// What changed between an app's `stored` and `read` users (id → scope), for the users that
/// exist.
pub(crate) fn app_user_links(
    stored: &BTreeMap<String, Option<String>>,
    read: &BTreeMap<String, Option<String>>,
    user_exists: &dyn Fn(&str) -> bool,
) -> Vec<Link> {
    let assigned = read
        .iter()
        .filter(|(u, scope)| user_exists(u) && stored.get(*u) != Some(*scope))
        .map(|(u, scope)| Link::Assigned(u.clone(), scope.clone()));
    let unassigned = stored
        .keys()
        .filter(|u| user_exists(u) && !read.contains_key(*u))
        .cloned()
        .map(Link::Unassigned);
    assigned.chain(unassigned).collect()
}

/// The rows and events of `links` of `group` (memberships) or, without a group, of app `app`
/// (assignments).
pub(crate) fn link_changes(group: Option<&DirGroup>, app: &str, links: &[Link]) -> DirectoryChanges {
    let mut c = DirectoryChanges::default();
    let now = text(Some(OffsetDateTime::now_utc()));
    let lmu = || group.and_then(|g| g.last_membership_updated.clone());
    let gid = group.map_or("", |g| g.id.as_str());
    for link in links {
        match link {
            Link::Added(uid) => {
                c.events.push(member_event(EventType::GroupUserAdded, gid, uid, lmu()));
                c.add_members.push((gid.to_owned(), uid.clone()));
            }
            Link::Removed(uid) => {
                c.events
                    .push(member_event(EventType::GroupUserRemoved, gid, uid, lmu()));
                c.remove_members.push((gid.to_owned(), uid.clone()));
            }
            Link::Assigned(uid, scope) => {
                c.events.push(NewEvent {
                    event_type: EventType::AppUserAssigned,
                    object_id: uid.clone(),
                    occurred_at: now.clone(),
                    data: json!({ "appId": app, "userId": uid, "scope": scope }),
                });
                c.set_app_users.push((app.to_owned(), uid.clone(), scope.clone()));
            }
            Link::Unassigned(uid) => {
                c.events.push(NewEvent {
                    event_type: EventType::AppUserUnassigned,
                    object_id: uid.clone(),
                    occurred_at: now.clone(),
                    data: json!({ "appId": app, "userId": uid }),
                });
                c.remove_app_users.push((app.to_owned(), uid.clone()));
            }
        }
    }
    c
}

/// What turns the `stored` apps, their users and groups into the `read` ones, into `c`: for
/// users and groups that exist after the run (`user_exists`, `group_exists`); those of deleted
/// ones go with them.
pub(crate) fn diff_apps(
    stored: &Directory,
    read: &Directory,
    user_exists: &dyn Fn(&str) -> bool,
    group_exists: &dyn Fn(&str) -> bool,
    c: &mut DirectoryChanges,
) {
    let now = text(Some(OffsetDateTime::now_utc()));
    let user_gone = |u: &str| !user_exists(u);
    let group_gone = |g: &str| !group_exists(g);
    // Apps (kept, not in the feed) and their users.
    for (id, a) in &read.apps {
        if stored.apps.get(id) != Some(a) {
            c.upsert_apps.push(a.clone());
        }
    }
    let app_gone = |aid: &str| !read.apps.contains_key(aid);
    c.delete_apps = stored.apps.keys().filter(|a| app_gone(a)).cloned().collect();
    // The groups assigned to apps (kept, not in the feed); those of deleted apps and groups go
    // with them.
    c.add_app_groups = read
        .app_groups
        .difference(&stored.app_groups)
        .filter(|(a, g)| !app_gone(a) && !group_gone(g))
        .cloned()
        .collect();
    c.remove_app_groups = stored
        .app_groups
        .difference(&read.app_groups)
        .filter(|(a, g)| !app_gone(a) && !group_gone(g))
        .cloned()
        .collect();
    for ((aid, uid), scope) in &read.app_users {
        if user_gone(uid) {
            continue;
        }
        // New, or assigned another way (directly ↔ through a group): an assignment with its
        // scope.
        if stored.app_users.get(&(aid.clone(), uid.clone())) != Some(scope) {
            c.events.push(NewEvent {
                event_type: EventType::AppUserAssigned,
                object_id: uid.clone(),
                occurred_at: now.clone(),
                data: json!({ "appId": aid, "userId": uid, "scope": scope }),
            });
            c.set_app_users.push((aid.clone(), uid.clone(), scope.clone()));
        }
    }
    for (aid, uid) in stored.app_users.keys() {
        if read.app_users.contains_key(&(aid.clone(), uid.clone())) || user_gone(uid) {
            continue;
        }
        // Also when the app goes (deleted, or out of the account's scope): apps are not in
        // the feed, so the assignments a consumer holds are said to end one by one.
        c.events.push(NewEvent {
            event_type: EventType::AppUserUnassigned,
            object_id: uid.clone(),
            occurred_at: now.clone(),
            data: json!({ "appId": aid, "userId": uid }),
        });
        c.remove_app_users.push((aid.clone(), uid.clone()));
    }
}

fn without_changed(data: &Value) -> Value {
    let mut d = data.clone();
    if let Value::Object(m) = &mut d {
        m.remove("changed");
    }
    d
}

fn id_pair(data: &Value, a: &str, b: &str) -> Option<(String, String)> {
    Some((data.get(a)?.as_str()?.to_owned(), data.get(b)?.as_str()?.to_owned()))
}

/// The directory that folding `events` (in order) from an empty one gives: what a consumer of
/// the feed holds. Apps themselves are not in the feed; their users are.
pub fn fold(events: &[FeedEvent]) -> Directory {
    let mut dir = Directory::default();
    for e in events {
        match e.event_type {
            EventType::UserCreated
            | EventType::UserUpdated
            | EventType::UserDeactivated
            | EventType::UserReactivated
            | EventType::UserSuspended
            | EventType::UserUnsuspended => {
                if let Ok(u) = serde_json::from_value::<DirUser>(without_changed(&e.data)) {
                    dir.users.insert(u.id.clone(), u);
                }
            }
            EventType::UserDeleted => {
                dir.users.remove(&e.object_id);
                dir.members.retain(|(_, u)| *u != e.object_id);
                dir.app_users.retain(|(_, u), _| *u != e.object_id);
            }
            EventType::GroupCreated | EventType::GroupUpdated => {
                if let Ok(g) = serde_json::from_value::<DirGroup>(without_changed(&e.data)) {
                    dir.groups.insert(g.id.clone(), g);
                }
            }
            EventType::GroupDeleted => {
                dir.groups.remove(&e.object_id);
                dir.members.retain(|(g, _)| *g != e.object_id);
            }
            EventType::GroupUserAdded | EventType::GroupUserRemoved => {
                if let Some(pair) = id_pair(&e.data, "groupId", "userId") {
                    if let Some(g) = dir.groups.get_mut(&pair.0) {
                        g.last_membership_updated = e
                            .data
                            .get("lastMembershipUpdated")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                    }
                    if e.event_type == EventType::GroupUserAdded {
                        dir.members.insert(pair);
                    } else {
                        dir.members.remove(&pair);
                    }
                }
            }
            EventType::AppUserAssigned => {
                if let Some(pair) = id_pair(&e.data, "appId", "userId") {
                    let scope = e.data.get("scope").and_then(Value::as_str).map(str::to_owned);
                    dir.app_users.insert(pair, scope);
                }
            }
            EventType::AppUserUnassigned => {
                if let Some(pair) = id_pair(&e.data, "appId", "userId") {
                    dir.app_users.remove(&pair);
                }
            }
        }
    }
    dir
}

/// Counts of a directory, for summaries.
pub fn counts(dir: &Directory) -> Value {
    let by_status: BTreeMap<&str, usize> = dir.users.values().fold(BTreeMap::new(), |mut m, u| {
        *m.entry(u.status.as_str()).or_default() += 1;
        m
    });
    let member_groups: BTreeSet<&String> = dir.members.iter().map(|(g, _)| g).collect();
    json!({
        "users": dir.users.len(),
        "usersByStatus": by_status,
        "groups": dir.groups.len(),
        "groupsWithMembers": member_groups.len(),
        "memberships": dir.members.len(),
        "apps": dir.apps.len(),
        "appAssignments": dir.app_users.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DirApp;

    fn user(id: &str, status: &str, dept: &str) -> DirUser {
        let mut profile = serde_json::Map::new();
        profile.insert("login".into(), json!(format!("{id}@example.com")));
        profile.insert("department".into(), json!(dept));
        DirUser {
            id: id.into(),
            status: status.into(),
            login: format!("{id}@example.com"),
            email: None,
            first_name: None,
            last_name: None,
            created: None,
            activated: None,
            status_changed: None,
            last_login: None,
            last_updated: None,
            profile,
            external_id: None,
        }
    }

    fn group(id: &str, name: &str) -> DirGroup {
        DirGroup {
            id: id.into(),
            group_type: "OKTA_GROUP".into(),
            name: name.into(),
            description: None,
            created: None,
            last_updated: None,
            last_membership_updated: None,
        }
    }

    fn feed(changes: &[DirectoryChanges]) -> Vec<FeedEvent> {
        changes
            .iter()
            .flat_map(|c| c.events.iter())
            .enumerate()
            .map(|(i, e)| FeedEvent {
                seq: i64::try_from(i).unwrap() + 1,
                event_type: e.event_type,
                object_id: e.object_id.clone(),
                occurred_at: e.occurred_at.clone(),
                recorded_at: 0,
                data: e.data.clone(),
            })
            .collect()
    }

    #[test]
    fn each_difference_is_one_event_and_folding_reproduces_the_directory() {
        let mut a = Directory::default();
        for (id, s) in [
            ("u1", "ACTIVE"),
            ("u2", "ACTIVE"),
            ("u3", "SUSPENDED"),
            ("u4", "DEPROVISIONED"),
        ] {
            a.users.insert(id.into(), user(id, s, "Sales"));
        }
        a.groups.insert("g1".into(), group("g1", "Sales"));
        a.groups.insert("g2".into(), group("g2", "Old"));
        a.members.insert(("g1".into(), "u1".into()));
        a.members.insert(("g2".into(), "u2".into()));
        a.app_users.insert(("a1".into(), "u1".into()), Some("USER".into()));
        a.apps.insert(
            "a1".into(),
            DirApp {
                id: "a1".into(),
                label: "A".into(),
                name: None,
                status: None,
                sign_on_mode: None,
            },
        );
        let first = diff(&Directory::default(), &a);
        assert_eq!(first.events.len(), 4 + 2 + 2 + 1, "every object is created once");

        let mut b = a.clone();
        b.users
            .get_mut("u1")
            .unwrap()
            .profile
            .insert("department".into(), json!("Legal"));
        b.users.get_mut("u2").unwrap().status = "DEPROVISIONED".into();
        b.users.get_mut("u3").unwrap().status = "ACTIVE".into();
        b.users.get_mut("u4").unwrap().status = "ACTIVE".into();
        b.users.insert("u5".into(), user("u5", "STAGED", "People"));
        b.users.get_mut("u1").unwrap().last_updated = Some("2026-12-02T00:00:00Z".into());
        b.groups.remove("g2");
        b.groups.get_mut("g1").unwrap().name = "Sales EMEA".into();
        b.members.remove(&("g2".into(), "u2".into()));
        b.members.insert(("g1".into(), "u5".into()));
        b.app_users.clear();
        let second = diff(&a, &b);
        let types: Vec<&str> = second.events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "group.updated",
                "user.updated",
                "user.deactivated",
                "user.unsuspended",
                "user.reactivated",
                "user.created",
                "group.user_added",
                "app.user_unassigned",
                "group.deleted",
            ]
        );
        assert_eq!(
            second.events[1].data["changed"],
            json!(["lastUpdated", "profile.department"])
        );

        let folded = fold(&feed(&[first, second]));
        assert_eq!(folded.users, b.users);
        assert_eq!(folded.groups, b.groups);
        assert_eq!(folded.members, b.members);
        assert_eq!(folded.app_users, b.app_users);
        assert!(diff(&b, &b).is_empty(), "no event for a no-op");
    }

    #[test]
    fn times_that_moved_alone_are_updates_and_fold_exactly() {
        let mut a = Directory::default();
        a.users.insert("u1".into(), user("u1", "ACTIVE", "Sales"));
        a.users.insert("u2".into(), user("u2", "ACTIVE", "Sales"));
        a.groups.insert("g1".into(), group("g1", "Sales"));
        a.groups.insert("g2".into(), group("g2", "Legal"));
        a.members.insert(("g1".into(), "u1".into()));
        a.members.insert(("g2".into(), "u2".into()));
        let first = diff(&Directory::default(), &a);
        let mut b = a.clone();
        // A password change moves lastUpdated alone.
        b.users.get_mut("u1").unwrap().last_updated = Some("2026-12-02T00:00:00Z".into());
        // A member joins g1; u2 is deleted, which empties g2 without a membership event.
        b.users.insert("u3".into(), user("u3", "ACTIVE", "Sales"));
        b.members.insert(("g1".into(), "u3".into()));
        b.groups.get_mut("g1").unwrap().last_membership_updated = Some("2026-12-02T00:00:01Z".into());
        b.users.remove("u2");
        b.members.remove(&("g2".into(), "u2".into()));
        b.groups.get_mut("g2").unwrap().last_membership_updated = Some("2026-12-02T00:00:02Z".into());
        let second = diff(&a, &b);
        let types: Vec<&str> = second.events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "group.updated",
                "user.updated",
                "user.created",
                "group.user_added",
                "user.deleted"
            ]
        );
        assert_eq!(second.events[0].object_id, "g2", "no membership event says g2's time");
        assert_eq!(second.events[1].data["changed"], json!(["lastUpdated"]));
        let folded = fold(&feed(&[first, second]));
        assert_eq!(
            (folded.users, folded.groups, folded.members),
            (b.users, b.groups, b.members)
        );
    }
}
