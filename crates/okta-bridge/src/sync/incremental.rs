//! The incremental read: what changed at the org since the cursors the previous run left,
//! applied to the stored directory, so that [`super::diff`] says each change once.
//!
//! In this order, so that nothing falls between two reads:
//! 1. the System Log from its cursor (following `next` links until caught up): memberships
//!    added and removed, users and groups deleted, app assignments made or taken back;
//! 2. users whose `lastUpdated` is after the users' high-water mark less an overlap (clock skew,
//!    Okta's eventual consistency; what is read twice compares equal and says nothing);
//! 3. groups whose `lastUpdated` or `lastMembershipUpdated` is after theirs, with member counts;
//! 4. a group's members are re-read only when the log does not account for its
//!    `lastMembershipUpdated` (no membership event at or after it, e.g. a late or missing one)
//!    or the count Okta gives differs from the one the log leads to;
//! 5. apps and the groups assigned to them; a log assignment event is checked by reading that
//!    one assignment; assignments through groups follow the groups' members.
//!
//! The log is read first: a membership it names belongs to a user and group that the later
//! reads see; an event stored after the log was read is read by the next run, whose log
//! starts at the cursor this run leaves.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};
use okta_client::expr::Attr;
use okta_client::{Client, LogCursor, LogEvent};
use time::OffsetDateTime;

use super::read::{
    CONCURRENT_READS, MEMBERS_PAGE, USERS_PAGE, dir_group, dir_user, instant, member_ids, read_apps, text,
};
use crate::model::{Directory, SyncCursors};

/// What an incremental read found: the directory after the changes read, where the next run
/// starts, and what it took.
#[derive(Debug, Clone, Default)]
pub struct Incremental {
    pub dir: Directory,
    pub cursors: SyncCursors,
    /// System Log events read.
    pub log_events: usize,
    /// Users and groups Okta said changed (the overlap's included).
    pub users_read: usize,
    pub groups_read: usize,
    /// Groups whose members were read again, and single app assignments checked.
    pub groups_reread: usize,
    pub assignments_checked: usize,
}

fn bad_cursor(what: &str) -> okta_client::Error {
    okta_client::Error::Pagination(format!("the stored {what} cursor is not a time; run a full sync"))
}

/// The id of an event's first target of `kind`.
fn target<'a>(e: &'a LogEvent, kind: &str) -> Option<&'a str> {
    e.target.iter().find(|t| t.entity_type == kind).map(|t| t.id.as_str())
}

/// A group's member count as Okta gave it (`expand=stats`).
fn users_count(g: &okta_client::Group) -> Option<usize> {
    g.extra
        .get("_embedded")?
        .get("stats")?
        .get("usersCount")?
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
}

fn members_of(dir: &Directory, gid: &str) -> BTreeSet<String> {
    dir.members
        .range((gid.to_owned(), String::new())..)
        .take_while(|(g, _)| g == gid)
        .map(|(_, u)| u.clone())
        .collect()
}

/// Reads what changed at the org since `cursors` and answers the stored directory with it
/// applied. `overlap` is how far before the high-water marks users and groups are asked for.
///
/// # Errors
/// The first error okta-client gives (after its retries); a cursor that cannot be read
/// (`Pagination`), after which a full sync starts over.
pub async fn read_changes(
    client: &Client,
    stored: &Directory,
    cursors: &SyncCursors,
    overlap: time::Duration,
) -> Result<Incremental, okta_client::Error> {
    let users_since = instant(cursors.users_since.as_deref()).ok_or_else(|| bad_cursor("users"))?;
    let groups_since = instant(cursors.groups_since.as_deref()).ok_or_else(|| bad_cursor("groups"))?;
    let log_cursor: LogCursor = cursors
        .log
        .as_deref()
        .ok_or_else(|| bad_cursor("System Log"))?
        .parse()
        .unwrap_or_else(|e: std::convert::Infallible| match e {});

    // 1. The log.
    let mut tail = client.logs().resume(&log_cursor)?;
    let events = tail.catch_up().await?;

    // 2. Users changed.
    let since = Attr::new("lastUpdated")?.gt(users_since - overlap);
    let users: Vec<okta_client::User> = client
        .users()
        .list()
        .filter(since)
        .limit(USERS_PAGE)
        .stream()
        .try_collect()
        .await?;

    // 3. Groups changed, or whose members did.
    let t = groups_since - overlap;
    let since = Attr::new("lastUpdated")?
        .gt(t)
        .or(Attr::new("lastMembershipUpdated")?.gt(t));
    let groups: Vec<okta_client::Group> = client
        .groups()
        .list()
        .filter(since)
        .with_stats()
        .limit(MEMBERS_PAGE)
        .stream()
        .try_collect()
        .await?;

    let mut out = Incremental {
        dir: stored.clone(),
        log_events: events.len(),
        users_read: users.len(),
        groups_read: groups.len(),
        ..Incremental::default()
    };
    let dir = &mut out.dir;
    let (mut new_users_since, mut new_groups_since) = (Some(users_since), Some(groups_since));
    for u in users {
        new_users_since = new_users_since.max(u.last_updated);
        let u = dir_user(u);
        dir.users.insert(u.id.clone(), u);
    }
    let mut counts: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for g in groups {
        new_groups_since = new_groups_since.max(g.last_updated).max(g.last_membership_updated);
        counts.insert(g.id.clone(), users_count(&g));
        let g = dir_group(g);
        dir.groups.insert(g.id.clone(), g);
    }

    // The log's events, in the order Okta stored them. A membership change is applied when
    // its user and group exist; `accounted` keeps, per group, the newest membership event.
    let mut accounted: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
    let mut assignments: BTreeSet<(String, String)> = BTreeSet::new();
    for e in &events {
        match e.event_type.as_str() {
            t @ ("group.user_membership.add" | "group.user_membership.remove") => {
                let (Some(uid), Some(gid)) = (target(e, "User"), target(e, "UserGroup")) else {
                    continue;
                };
                let at = accounted.entry(gid.to_owned()).or_insert(e.published);
                *at = (*at).max(e.published);
                if !dir.users.contains_key(uid) || !dir.groups.contains_key(gid) {
                    continue;
                }
                let pair = (gid.to_owned(), uid.to_owned());
                if t.ends_with("add") {
                    dir.members.insert(pair);
                } else {
                    dir.members.remove(&pair);
                }
            }
            "user.lifecycle.delete.completed" => {
                if let Some(uid) = target(e, "User") {
                    // Its memberships went with it: that accounts for its groups' times.
                    for (gid, _) in stored.members.iter().filter(|(_, u)| u == uid) {
                        let at = accounted.entry(gid.clone()).or_insert(e.published);
                        *at = (*at).max(e.published);
                    }
                    dir.users.remove(uid);
                }
            }
            "group.lifecycle.delete" => {
                if let Some(gid) = target(e, "UserGroup") {
                    dir.groups.remove(gid);
                }
            }
            "application.user_membership.add" | "application.user_membership.remove" => {
                if let (Some(uid), Some(aid)) = (target(e, "AppUser"), target(e, "AppInstance")) {
                    assignments.insert((aid.to_owned(), uid.to_owned()));
                }
            }
            _ => {}
        }
    }
    dir.members
        .retain(|(g, u)| dir.groups.contains_key(g) && dir.users.contains_key(u));
    dir.app_users.retain(|(_, u), _| dir.users.contains_key(u));

    // `Everyone` (built in) holds every user: kept so while the stored copy shows it.
    let everyone: Vec<String> = dir
        .groups
        .values()
        .filter(|g| g.group_type == "BUILT_IN" && g.name == "Everyone")
        .filter(|g| members_of(stored, &g.id).len() == stored.users.len())
        .map(|g| g.id.clone())
        .collect();
    for gid in &everyone {
        let all: Vec<String> = dir.users.keys().cloned().collect();
        dir.members.extend(all.into_iter().map(|u| (gid.clone(), u)));
    }

    // 4. Members re-read where the log does not account for a group's time, or the count
    // differs.
    let in_doubt: Vec<String> = counts
        .iter()
        .filter(|(gid, count)| {
            let Some(g) = dir.groups.get(*gid) else {
                return false;
            };
            let now = instant(g.last_membership_updated.as_deref());
            let before = stored
                .groups
                .get(*gid)
                .and_then(|o| instant(o.last_membership_updated.as_deref()));
            let derived = members_of(dir, gid).len();
            let count_agrees = **count == Some(derived);
            let explained = everyone.contains(gid)
                || now == before
                || (before.is_none() && **count == Some(0))
                || accounted.get(*gid).is_some_and(|at| Some(*at) >= now);
            !(count_agrees && explained)
        })
        .map(|(gid, _)| gid.clone())
        .collect();
    out.groups_reread = in_doubt.len();
    let reread: Vec<(String, Vec<String>)> = futures::stream::iter(in_doubt)
        .map(member_ids(client.clone()))
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    for (gid, ids) in reread {
        dir.members.retain(|(g, _)| *g != gid);
        for uid in ids {
            if !dir.users.contains_key(&uid) {
                // A user newer than the users read: read it now, or leave the membership to
                // the next run's log.
                match client.users().get(&uid).await {
                    Ok(u) => {
                        let u = dir_user(u);
                        dir.users.insert(u.id.clone(), u);
                    }
                    Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => continue,
                    Err(e) => return Err(e),
                }
            }
            dir.members.insert((gid.clone(), uid));
        }
    }

    // 5. Apps: the list and each app's groups; every user of a new app; single assignments
    // the log named; assignments through groups where those groups' members changed.
    let before_apps = dir.app_groups.clone();
    let known_apps: BTreeSet<String> = stored.apps.keys().cloned().collect();
    read_apps(client, dir, Some(&|a: &str| !known_apps.contains(a))).await?;
    for (aid, uid) in &assignments {
        if !dir.apps.contains_key(aid) || !known_apps.contains(aid) || !dir.users.contains_key(uid) {
            continue;
        }
        out.assignments_checked += 1;
        match client.apps().user(aid, uid).await {
            Ok(a) => {
                dir.app_users.insert((aid.clone(), uid.clone()), a.scope);
            }
            Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => {
                dir.app_users.remove(&(aid.clone(), uid.clone()));
            }
            Err(e) => return Err(e),
        }
    }
    let changed_members: BTreeSet<&(String, String)> = stored.members.symmetric_difference(&dir.members).collect();
    let app_groups = dir.app_groups.clone();
    for aid in known_apps.iter().filter(|a| dir.apps.contains_key(*a)) {
        let groups_of = |set: &BTreeSet<(String, String)>| -> BTreeSet<String> {
            set.iter().filter(|(a, _)| a == aid).map(|(_, g)| g.clone()).collect()
        };
        let (old, new) = (groups_of(&before_apps), groups_of(&app_groups));
        let mut affected: BTreeSet<String> = changed_members
            .iter()
            .filter(|(g, _)| old.contains(g) || new.contains(g))
            .map(|(_, u)| u.clone())
            .collect();
        for g in old.symmetric_difference(&new) {
            affected.extend(members_of(stored, g));
            affected.extend(members_of(dir, g));
        }
        for uid in affected {
            let key = (aid.clone(), uid.clone());
            if !dir.users.contains_key(&uid) || dir.app_users.get(&key) == Some(&Some("USER".to_owned())) {
                continue;
            }
            if new.iter().any(|g| dir.members.contains(&(g.clone(), uid.clone()))) {
                dir.app_users.insert(key, Some("GROUP".to_owned()));
            } else {
                dir.app_users.remove(&key);
            }
        }
    }

    out.cursors = SyncCursors {
        users_since: text(new_users_since),
        groups_since: text(new_groups_since),
        log: Some(tail.cursor().to_string()),
    };
    Ok(out)
}
