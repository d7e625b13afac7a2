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
//!
//! What is compared is only the part of the stored directory around what changed
//! ([`StoredRows`], a batch of ids at a time): the users and groups read or named, their
//! memberships and assignments, the members of a group whose members are re-read or whose
//! app assignment moved, and counts for the rest. Memory follows the changes, not the org.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use okta_client::expr::Attr;
use okta_client::{Client, LogCursor, LogEvent};
use time::OffsetDateTime;

use super::read::{
    CONCURRENT_READS, LOG_EVENT_TYPES, MEMBERS_PAGE, USERS_PAGE, dir_group, dir_user, instant, member_ids, read_apps,
    text,
};
use crate::error::Result;
use crate::model::{Directory, SyncCursors};

/// Where an incremental read finds the stored rows it compares with.
pub trait StoredRows: Sync {
    /// What is stored around `users` and `groups`: those users and groups, every membership
    /// of those users and the groups they are in, and their app assignments (no apps).
    fn near<'a>(&'a self, users: &'a [String], groups: &'a [String]) -> BoxFuture<'a, Result<Directory>>;
    /// The stored apps and the groups assigned to them.
    fn apps(&self) -> BoxFuture<'_, Result<Directory>>;
    /// The ids of the stored members of group `gid`.
    fn members<'a>(&'a self, gid: &'a str) -> BoxFuture<'a, Result<BTreeSet<String>>>;
    /// How many users are stored, and how many members each of `groups` has.
    fn sizes<'a>(&'a self, groups: &'a [String]) -> BoxFuture<'a, Result<(usize, BTreeMap<String, usize>)>>;
    /// The ids of the stored built-in groups (`Everyone`).
    fn built_in(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}

/// The part of the stored directory loaded so far (`stored`) and the same part with the
/// changes read applied (`dir`).
struct Part<'s> {
    rows: &'s dyn StoredRows,
    stored: Directory,
    dir: Directory,
    /// The user ids asked for (some may not be stored).
    asked: BTreeSet<String>,
}

impl Part<'_> {
    /// Loads what is stored around those of `users` not loaded yet (and `groups`) into both
    /// copies. What was loaded before, changed or not, stays as it is.
    async fn load(&mut self, users: impl IntoIterator<Item = String>, groups: &[String]) -> Result<()> {
        let users: Vec<String> = users.into_iter().filter(|u| !self.asked.contains(u)).collect();
        let groups: Vec<String> = groups
            .iter()
            .filter(|g| !self.stored.groups.contains_key(*g))
            .cloned()
            .collect();
        if users.is_empty() && groups.is_empty() {
            return Ok(());
        }
        let part = self.rows.near(&users, &groups).await?;
        self.asked.extend(users);
        for (id, g) in part.groups {
            if !self.stored.groups.contains_key(&id) && !self.dir.groups.contains_key(&id) {
                self.dir.groups.insert(id.clone(), g.clone());
                self.stored.groups.insert(id, g);
            }
        }
        let new_users: BTreeSet<String> = part
            .users
            .keys()
            .filter(|u| !self.stored.users.contains_key(*u))
            .cloned()
            .collect();
        for (id, u) in part.users {
            if new_users.contains(&id) {
                self.dir.users.entry(id.clone()).or_insert_with(|| u.clone());
                self.stored.users.insert(id, u);
            }
        }
        for (g, u) in part.members {
            if new_users.contains(&u) {
                if self.dir.groups.contains_key(&g) && self.dir.users.contains_key(&u) {
                    self.dir.members.insert((g.clone(), u.clone()));
                }
                self.stored.members.insert((g, u));
            }
        }
        for ((a, u), scope) in part.app_users {
            if new_users.contains(&u) {
                self.dir
                    .app_users
                    .entry((a.clone(), u.clone()))
                    .or_insert_with(|| scope.clone());
                self.stored.app_users.insert((a, u), scope);
            }
        }
        Ok(())
    }
}

/// What an incremental read found: the directory after the changes read, where the next run
/// starts, and what it took.
#[derive(Debug, Clone, Default)]
pub struct Incremental {
    /// The part of the stored directory the changes touch, and the same part after them.
    pub stored: Directory,
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

fn bad_cursor(what: &str) -> crate::error::Error {
    okta_client::Error::Pagination(format!("the stored {what} cursor is not a time; run a full sync")).into()
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

/// Reads what changed at the org since `cursors` and answers the part of the stored directory
/// around it (`stored`, read through `rows`) with the changes applied (`dir`). `overlap` is
/// how far before the high-water marks users and groups are asked for.
///
/// # Errors
/// The first error okta-client gives (after its retries), as [`crate::error::Error::Okta`]; a
/// cursor that cannot be read (`Pagination`), after which a full sync starts over; the store's
/// errors.
pub async fn read_changes(
    client: &Client,
    rows: &dyn StoredRows,
    cursors: &SyncCursors,
    overlap: time::Duration,
) -> Result<Incremental> {
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

    // The stored part around everything read or named, and the built-in groups (a new user
    // joins `Everyone`).
    let mut touched_users: BTreeSet<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut touched_groups: BTreeSet<String> = groups.iter().map(|g| g.id.clone()).collect();
    for e in events
        .iter()
        .filter(|e| LOG_EVENT_TYPES.contains(&e.event_type.as_str()))
    {
        touched_users.extend(
            ["User", "AppUser"]
                .iter()
                .filter_map(|k| target(e, k))
                .map(str::to_owned),
        );
        touched_groups.extend(target(e, "UserGroup").map(str::to_owned));
    }
    let built_in = rows.built_in().await?;
    touched_groups.extend(built_in.iter().cloned());
    let apps = rows.apps().await?;
    let mut part = Part {
        rows,
        dir: apps.clone(),
        stored: apps,
        asked: BTreeSet::new(),
    };
    let touched_groups: Vec<String> = touched_groups.into_iter().collect();
    part.load(touched_users, &touched_groups).await?;
    let sized: Vec<String> = groups
        .iter()
        .map(|g| g.id.clone())
        .chain(built_in.iter().cloned())
        .collect();
    let (stored_users, sizes) = rows.sizes(&sized).await?;

    let mut out = Incremental {
        log_events: events.len(),
        users_read: users.len(),
        groups_read: groups.len(),
        ..Incremental::default()
    };
    let (mut new_users_since, mut new_groups_since) = (Some(users_since), Some(groups_since));
    {
        let dir = &mut part.dir;
        for u in users {
            new_users_since = new_users_since.max(u.last_updated);
            let u = dir_user(u);
            dir.users.insert(u.id.clone(), u);
        }
    }
    let mut counts: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for g in groups {
        new_groups_since = new_groups_since.max(g.last_updated).max(g.last_membership_updated);
        counts.insert(g.id.clone(), users_count(&g));
        let g = dir_group(g);
        part.dir.groups.insert(g.id.clone(), g);
    }

    // The log's events, in the order Okta stored them. A membership change is applied when
    // its user and group exist; `accounted` keeps, per group, the newest membership event.
    let mut accounted: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
    let mut assignments: BTreeSet<(String, String)> = BTreeSet::new();
    {
        let (stored, dir) = (&part.stored, &mut part.dir);
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
    }
    keep_existing(&mut part.dir);

    // How many members a group has after the changes: its stored count, less its stored
    // members loaded, plus its members in the part changed (the rest did not move).
    let size_after = |part: &Part<'_>, gid: &str| -> usize {
        (sizes.get(gid).copied().unwrap_or(0) + members_of(&part.dir, gid).len())
            .saturating_sub(members_of(&part.stored, gid).len())
    };

    // `Everyone` (built in) holds every user: kept so while the stored copy shows it.
    let everyone: Vec<String> = part
        .dir
        .groups
        .values()
        .filter(|g| g.group_type == "BUILT_IN" && g.name == "Everyone")
        .filter(|g| sizes.get(&g.id).copied().unwrap_or(0) == stored_users)
        .map(|g| g.id.clone())
        .collect();
    for gid in &everyone {
        let all: Vec<String> = part.dir.users.keys().cloned().collect();
        part.dir.members.extend(all.into_iter().map(|u| (gid.clone(), u)));
    }

    // 4. Members re-read where the log does not account for a group's time, or the count
    // differs.
    let in_doubt: Vec<String> = counts
        .iter()
        .filter(|(gid, count)| {
            let Some(g) = part.dir.groups.get(*gid) else {
                return false;
            };
            let now = instant(g.last_membership_updated.as_deref());
            let before = part
                .stored
                .groups
                .get(*gid)
                .and_then(|o| instant(o.last_membership_updated.as_deref()));
            let count_agrees = **count == Some(size_after(&part, gid));
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
    // Every member of those groups, before and after, is compared.
    let mut whom: BTreeSet<String> = BTreeSet::new();
    for (gid, ids) in &reread {
        whom.extend(rows.members(gid).await?);
        whom.extend(ids.iter().cloned());
    }
    part.load(whom, &[]).await?;
    for (gid, ids) in reread {
        part.dir.members.retain(|(g, _)| *g != gid);
        for uid in ids {
            if !part.dir.users.contains_key(&uid) {
                // A user newer than the users read: read it now, or leave the membership to
                // the next run's log.
                match client.users().get(&uid).await {
                    Ok(u) => {
                        let u = dir_user(u);
                        part.dir.users.insert(u.id.clone(), u);
                    }
                    Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            part.dir.members.insert((gid.clone(), uid));
        }
    }

    // 5. Apps: the list and each app's groups; every user of a new app; single assignments
    // the log named; assignments through groups where those groups' members changed.
    let before_apps = part.dir.app_groups.clone();
    let known_apps: BTreeSet<String> = part.stored.apps.keys().cloned().collect();
    read_apps(client, &mut part.dir, Some(&|a: &str| !known_apps.contains(a))).await?;
    // A new app's users and the members of groups assigned or unassigned are compared too.
    let new_app_users: Vec<String> = part
        .dir
        .app_users
        .keys()
        .filter(|(a, _)| !known_apps.contains(a))
        .map(|(_, u)| u.clone())
        .collect();
    let moved: BTreeSet<String> = before_apps
        .symmetric_difference(&part.dir.app_groups)
        .map(|(_, g)| g.clone())
        .collect();
    let mut whom: BTreeSet<String> = new_app_users.into_iter().collect();
    for gid in &moved {
        whom.extend(rows.members(gid).await?);
    }
    let moved: Vec<String> = moved.into_iter().collect();
    part.load(whom, &moved).await?;
    keep_existing(&mut part.dir);
    let Part { stored, dir, .. } = &mut part;
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
            Err(e) => return Err(e.into()),
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
    out.stored = std::mem::take(stored);
    out.dir = std::mem::take(dir);
    Ok(out)
}

/// Drops the memberships and assignments of users and groups that no longer exist.
fn keep_existing(dir: &mut Directory) {
    let Directory {
        users,
        groups,
        members,
        app_users,
        ..
    } = dir;
    members.retain(|(g, u)| groups.contains_key(g) && users.contains_key(u));
    app_users.retain(|(_, u), _| users.contains_key(u));
}
