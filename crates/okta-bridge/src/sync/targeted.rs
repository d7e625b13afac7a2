//! The targeted read: only the objects Okta event hooks named, read again one by one — a user
//! (`GET /users/{id}`), a user's groups (`GET /users/{id}/groups`), a group, one app
//! assignment — and applied to the part of the stored directory around them, so that
//! [`super::diff`] says exactly what changed. A 404 says the object is gone.
//!
//! Nothing here moves the polling runs' cursors: the next incremental run reads the same
//! changes again and finds them stored, so a lost or late hook call costs latency, never a
//! change.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};
use okta_client::Client;

use super::read::{CONCURRENT_READS, MEMBERS_PAGE, dir_group, dir_user};
use crate::model::{Directory, HookTarget};

/// What the org says now of the objects named.
#[derive(Debug, Clone, Default)]
pub struct Named {
    /// Each user named: `None` when Okta no longer has it.
    pub users: BTreeMap<String, Option<okta_client::User>>,
    /// The groups of each user whose memberships were named (users Okta still has).
    pub memberships: BTreeMap<String, Vec<okta_client::Group>>,
    pub groups: BTreeMap<String, Option<okta_client::Group>>,
    /// Each assignment named, (app, user) → its scope, `None` when not assigned.
    pub app_users: BTreeMap<(String, String), Option<Option<String>>>,
    /// Requests made.
    pub requests: usize,
}

/// The users and groups `targets` name (what the stored part is loaded around).
pub fn ids_named(targets: &BTreeSet<HookTarget>) -> (Vec<String>, Vec<String>) {
    let mut users = BTreeSet::new();
    let mut groups = BTreeSet::new();
    for t in targets {
        match t {
            HookTarget::User(u) | HookTarget::Memberships(u) | HookTarget::AppUser(_, u) => {
                users.insert(u.clone());
            }
            HookTarget::Group(g) => {
                groups.insert(g.clone());
            }
        }
    }
    (users.into_iter().collect(), groups.into_iter().collect())
}

/// What Okta answered, `None` for a 404 (the object is gone).
fn found<T>(answer: okta_client::Result<T>) -> okta_client::Result<Option<T>> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

enum Read {
    User(String, Option<Box<okta_client::User>>),
    Memberships(String, Option<Vec<okta_client::Group>>),
    Group(String, Option<Box<okta_client::Group>>),
    AppUser(String, String, Option<Option<String>>),
}

/// Reads each object `targets` name, a few at a time.
///
/// # Errors
/// The first error okta-client gives (after its retries) other than a 404.
pub async fn read_named(client: &Client, targets: &BTreeSet<HookTarget>) -> okta_client::Result<Named> {
    // Every user named is read (a membership or assignment of a user Okta no longer has goes
    // with it).
    let (users, groups) = ids_named(targets);
    let mut reads: Vec<futures::future::BoxFuture<'_, okta_client::Result<Read>>> = Vec::new();
    for u in users {
        reads.push(Box::pin(async move {
            Ok(Read::User(
                u.clone(),
                found(client.users().get(&u).await)?.map(Box::new),
            ))
        }));
    }
    for g in groups {
        reads.push(Box::pin(async move {
            Ok(Read::Group(
                g.clone(),
                found(client.groups().get(&g).await)?.map(Box::new),
            ))
        }));
    }
    for t in targets {
        match t {
            HookTarget::Memberships(u) => {
                let u = u.clone();
                reads.push(Box::pin(async move {
                    let groups = client
                        .users()
                        .groups(&u)
                        .limit(MEMBERS_PAGE)
                        .stream()
                        .try_collect::<Vec<_>>()
                        .await;
                    Ok(Read::Memberships(u, found(groups)?))
                }));
            }
            HookTarget::AppUser(a, u) => {
                let (a, u) = (a.clone(), u.clone());
                reads.push(Box::pin(async move {
                    let assigned = found(client.apps().user(&a, &u).await)?;
                    Ok(Read::AppUser(a, u, assigned.map(|au| au.scope)))
                }));
            }
            HookTarget::User(_) | HookTarget::Group(_) => {}
        }
    }
    let mut named = Named {
        requests: reads.len(),
        ..Named::default()
    };
    let mut done = futures::stream::iter(reads).buffer_unordered(CONCURRENT_READS);
    while let Some(read) = done.next().await {
        match read? {
            Read::User(id, u) => {
                named.users.insert(id, u.map(|u| *u));
            }
            Read::Memberships(id, Some(groups)) => {
                named.memberships.insert(id, groups);
            }
            Read::Memberships(_, None) => {}
            Read::Group(id, g) => {
                named.groups.insert(id, g.map(|g| *g));
            }
            Read::AppUser(a, u, scope) => {
                named.app_users.insert((a, u), scope);
            }
        }
    }
    Ok(named)
}

/// Reads groups `ids` (`None` for those Okta no longer has), a few at a time: the groups a
/// deleted user was in, whose `lastMembershipUpdated` moved without a membership event.
///
/// # Errors
/// The first error okta-client gives (after its retries) other than a 404.
pub async fn read_groups(
    client: &Client,
    ids: &BTreeSet<String>,
) -> okta_client::Result<Vec<(String, Option<okta_client::Group>)>> {
    futures::stream::iter(ids.iter().cloned())
        .map(|id| async move {
            let g = found(client.groups().get(&id).await)?;
            Ok((id, g))
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await
}

/// `stored` (the part around the objects named) with what Okta said of them applied.
pub fn apply_named(stored: &Directory, named: &Named) -> Directory {
    let mut d = stored.clone();
    for (id, u) in &named.users {
        match u {
            Some(u) => {
                d.users.insert(id.clone(), dir_user(u.clone()));
            }
            None => {
                d.users.remove(id);
            }
        }
    }
    for (id, g) in &named.groups {
        match g {
            Some(g) => {
                d.groups.insert(id.clone(), dir_group(g.clone()));
            }
            None => {
                d.groups.remove(id);
            }
        }
    }
    for (uid, groups) in &named.memberships {
        if !d.users.contains_key(uid) {
            continue;
        }
        d.members.retain(|(_, u)| u != uid);
        for g in groups {
            // A group named on its own was read on its own; the others as this list gives them.
            if !named.groups.contains_key(&g.id) {
                d.groups.insert(g.id.clone(), dir_group(g.clone()));
            }
            if d.groups.contains_key(&g.id) {
                d.members.insert((g.id.clone(), uid.clone()));
            }
        }
    }
    for ((aid, uid), scope) in &named.app_users {
        // An app not stored yet (made since the last run) waits for the next polling run.
        if !d.apps.contains_key(aid) || !d.users.contains_key(uid) {
            continue;
        }
        let key = (aid.clone(), uid.clone());
        match scope {
            Some(s) => {
                d.app_users.insert(key, s.clone());
            }
            None => {
                d.app_users.remove(&key);
            }
        }
    }
    // Memberships of users and groups that are gone go with them, as do the apps' assignments
    // of groups that are gone.
    let (users, groups) = (&d.users, &d.groups);
    d.members
        .retain(|(g, u)| groups.contains_key(g) && users.contains_key(u));
    let gone: BTreeSet<&String> = named
        .groups
        .iter()
        .filter(|(_, g)| g.is_none())
        .map(|(id, _)| id)
        .collect();
    d.app_groups.retain(|(_, g)| !gone.contains(g));
    // Assignments through groups follow the memberships read, and those of a deleted group's
    // members (a direct one stays as it is).
    let affected: BTreeSet<String> = named
        .memberships
        .keys()
        .cloned()
        .chain(
            stored
                .members
                .iter()
                .filter(|(g, _)| gone.contains(g))
                .map(|(_, u)| u.clone()),
        )
        .collect();
    for uid in &affected {
        for aid in d.apps.keys() {
            let key = (aid.clone(), uid.clone());
            if !d.users.contains_key(uid) || d.app_users.get(&key) == Some(&Some("USER".to_owned())) {
                continue;
            }
            let through_group = d
                .app_groups
                .iter()
                .any(|(a, g)| a == aid && d.members.contains(&(g.clone(), uid.clone())));
            if through_group {
                d.app_users.insert(key, Some("GROUP".to_owned()));
            } else {
                d.app_users.remove(&key);
            }
        }
    }
    // App assignments of users that are gone go with them.
    let users = &d.users;
    d.app_users.retain(|(_, u), _| users.contains_key(u));
    d
}
