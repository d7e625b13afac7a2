//! A full pass: the whole org read and written page by page — users, deactivated users,
//! groups, each group's members, apps — each page compared with the rows stored for it and
//! written with its events and the pass's position in one transaction, while the next page is
//! already being read. Memory stays that of a few pages (and the stored users' ids) whatever
//! the org's size, and a pass stopped anywhere (a crash, a kill, a lost lease) is resumed by the
//! next run from its last committed page: nothing read twice is said twice, nothing is lost.
//!
//! Each user and group a page lists is marked seen by the pass; at its end the stored ones no
//! page listed are asked for one by one (a user can move between the two listings while they
//! run), and only those Okta no longer has are deleted.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryStreamExt};
use okta_client::{Client, UserStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Service;
use crate::error::{Error, Result};
use crate::model::{AccountName, DirGroup, DirUser, Directory, DirectoryChanges, SyncCursors, SyncScope, now};
use crate::store::{Seen, Store, SyncMark};
use crate::sync::{
    APP_USERS_PAGE, AppUsers, CONCURRENT_READS, LOG_OVERLAP, Link, MEMBERS_PAGE, USERS_PAGE, app_group_ids,
    app_user_ids, app_user_links, diff, diff_apps, dir_group, dir_user, instant, link_changes, log_cursor,
    member_links, read_app, read_apps, text,
};

/// Membership or assignment events a written batch holds (about; a batch closes at the first
/// chunk that reaches it).
const MEMBERS_BATCH: usize = 5_000;

/// Where a pass stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Phase {
    #[default]
    Users,
    Deprovisioned,
    Groups,
    Members,
    Apps,
    AppUsers,
    Deletions,
    Done,
}

impl Phase {
    fn next(self) -> Self {
        match self {
            Self::Users => Self::Deprovisioned,
            Self::Deprovisioned => Self::Groups,
            Self::Groups => Self::Members,
            Self::Members => Self::Apps,
            Self::Apps => Self::AppUsers,
            Self::AppUsers => Self::Deletions,
            Self::Deletions | Self::Done => Self::Done,
        }
    }
}

/// A pass's position and tallies, written with each page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PassState {
    phase: Phase,
    /// Within the phase: the `after` cursor of the next page (users, groups), or the id of the
    /// last group whose members are written.
    after: Option<String>,
    /// When the pass began (epoch seconds).
    started: i64,
    /// The System Log poll the incremental runs after the pass continue from (from shortly
    /// before the pass began).
    log: String,
    users_since: Option<String>,
    groups_since: Option<String>,
    /// Requests by bucket, of every run that worked on the pass.
    requests: BTreeMap<String, u64>,
    events: u64,
    pages: u64,
    /// Users, groups, members and app users read.
    objects: u64,
    /// The pass began on an empty directory (its first).
    fresh: bool,
    /// How many runs took the pass over from one that stopped.
    resumed: u64,
    /// The scope the pass reads (`None`: the whole org); a pass left under another scope is
    /// not resumed but started again.
    scope: Option<SyncScope>,
    /// Within a scoped users phase: the scope's group being listed (its index).
    unit: usize,
}

/// Why a pass stopped: the org (which [`Service::call`] judges: a refused token is marked on
/// the connection) or the database.
enum Stop {
    Okta(okta_client::Error),
    Store(Error),
}

impl From<okta_client::Error> for Stop {
    fn from(e: okta_client::Error) -> Self {
        Self::Okta(e)
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Store(e)
    }
}

/// One page's writes and how the pass moves on with it.
#[derive(Default)]
struct Prepared {
    changes: DirectoryChanges,
    users: Vec<String>,
    groups: Vec<String>,
    after: Option<String>,
    /// The phase ends with this page.
    last: bool,
    /// Users, groups, members or app users it read.
    objects: usize,
    users_since: Option<OffsetDateTime>,
    groups_since: Option<OffsetDateTime>,
    /// A scoped users phase goes on with this group of the scope (from its first page).
    unit: Option<usize>,
}

impl Prepared {
    /// A page of users or groups `read`, compared with what `store` has of them (nothing, when
    /// `fresh`); `after` and `last` say where the pass goes on from.
    async fn page(
        store: Option<&Store>,
        account: &AccountName,
        read: Directory,
        after: Option<String>,
        last: bool,
    ) -> std::result::Result<Self, Stop> {
        let users: Vec<String> = read.users.keys().cloned().collect();
        let groups: Vec<String> = read.groups.keys().cloned().collect();
        let stored = match store {
            Some(store) => store.stored_part(account, &users, &groups).await?,
            None => Directory::default(),
        };
        Ok(Self {
            changes: diff(&stored, &read),
            objects: users.len() + groups.len(),
            users,
            groups,
            after,
            last,
            ..Self::default()
        })
    }
}

/// Only the id of a listed object (a group member).
#[derive(Deserialize)]
struct Id {
    id: String,
}

fn later(kept: Option<String>, seen: Option<OffsetDateTime>) -> Option<String> {
    let kept_t = instant(kept.as_deref());
    if seen > kept_t { text(seen) } else { kept }
}

/// A pass running under its connection's lease.
struct Pass<'a> {
    service: &'a Service,
    account: &'a AccountName,
    owner: &'a str,
    client: &'a Client,
    run: i64,
    state: PassState,
    /// The requests of the runs before this one.
    requests_before: BTreeMap<String, u64>,
}

impl Service {
    /// Runs (or resumes) `account`'s full pass with `client` while `owner` holds the lease, and
    /// answers its summary. An okta-client error comes back as itself (so that
    /// [`Service::call`] can judge a refused token); the database's inside `Ok`.
    pub(super) async fn full_pass(
        &self,
        account: &AccountName,
        owner: &str,
        client: &Client,
    ) -> std::result::Result<Result<Value>, okta_client::Error> {
        match self.pass(account, owner, client).await {
            Ok(summary) => Ok(Ok(summary)),
            Err(Stop::Okta(e)) => Err(e),
            Err(Stop::Store(e)) => Ok(Err(e)),
        }
    }

    async fn pass(&self, account: &AccountName, owner: &str, client: &Client) -> std::result::Result<Value, Stop> {
        let started = std::time::Instant::now();
        let scope = self.store.scope(account).await?.scope;
        let resumed = match self.store.sync_pass(account).await? {
            Some((run, v)) => serde_json::from_value::<PassState>(v)
                .ok()
                .filter(|s| {
                    let same = s.scope == scope;
                    if !same {
                        tracing::info!(account = %account, "the scope changed since the stopped pass began: starting again under the new one");
                    }
                    same
                })
                .map(|mut s| {
                    s.resumed += 1;
                    (run, s)
                }),
            None => None,
        };
        let (run, state) = match resumed {
            Some((run, state)) => {
                tracing::info!(account = %account, phase = ?state.phase, "resuming the full pass a stopped run left");
                (run, state)
            }
            None => {
                let state = PassState {
                    started: now(),
                    fresh: self.store.directory_is_empty(account).await?,
                    log: log_cursor(client, OffsetDateTime::now_utc() - LOG_OVERLAP).to_string(),
                    scope,
                    ..PassState::default()
                };
                let run = self
                    .store
                    .start_sync_pass(account, owner, &serde_json::to_value(&state).unwrap_or(Value::Null))
                    .await?;
                (run, state)
            }
        };
        let mut pass = Pass {
            service: self,
            account,
            owner,
            client,
            run,
            requests_before: state.requests.clone(),
            state,
        };
        while pass.state.phase != Phase::Done {
            let (phase, began, pages) = (pass.state.phase, std::time::Instant::now(), pass.state.pages);
            pass.phase().await?;
            tracing::info!(
                account = %account,
                ?phase,
                pages = pass.state.pages - pages,
                ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
                "a full pass read and wrote a phase"
            );
        }
        pass.finish(started).await
    }
}

impl Pass<'_> {
    /// The pass's state as written with a page: its tallies, this run's requests included.
    fn state_json(&mut self) -> Value {
        let mut requests = self.requests_before.clone();
        for (bucket, n) in self.client.requests_sent() {
            *requests.entry(bucket).or_default() += n;
        }
        self.state.requests = requests;
        serde_json::to_value(&self.state).unwrap_or(Value::Null)
    }

    /// Writes one page with the pass's position after it.
    async fn commit(&self, p: Prepared, state: Value) -> Result<()> {
        let seen = Seen {
            run: self.run,
            users: &p.users,
            groups: &p.groups,
        };
        self.service
            .store
            .write_sync(
                self.account,
                self.owner,
                &p.changes,
                Some(&seen),
                &SyncMark::Page { state: &state },
            )
            .await?;
        crate::failpoint::hit("sync.page_committed");
        self.service
            .sync_progress
            .send_replace(super::SyncProgress::of(self.account, &state));
        if !p.changes.events.is_empty() {
            self.service.feed_written.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Writes each page `pages` prepares while the next one is read and prepared, then moves on
    /// to the next phase.
    async fn drive(
        &mut self,
        pages: BoxStream<'_, std::result::Result<Prepared, Stop>>,
    ) -> std::result::Result<(), Stop> {
        let phase = self.state.phase;
        let mut pages = pages;
        let mut pending: Option<(Prepared, Value)> = None;
        loop {
            let write = pending.take();
            let written = async {
                match write {
                    Some((p, state)) => self.commit(p, state).await,
                    None => Ok(()),
                }
            };
            let (written, next) = tokio::join!(written, pages.next());
            written?;
            let Some(p) = next else { break };
            let p = p?;
            let s = &mut self.state;
            if p.after.is_some() {
                s.after.clone_from(&p.after);
            }
            if let Some(unit) = p.unit {
                s.unit = unit;
                s.after = None;
            }
            s.users_since = later(s.users_since.take(), p.users_since);
            s.groups_since = later(s.groups_since.take(), p.groups_since);
            s.pages += 1;
            s.objects += u64::try_from(p.objects).unwrap_or(u64::MAX);
            s.events += u64::try_from(p.changes.events.len()).unwrap_or(u64::MAX);
            if p.last {
                s.phase = phase.next();
                s.after = None;
                s.unit = 0;
            }
            let state = self.state_json();
            pending = Some((p, state));
        }
        if self.state.phase == phase {
            // Nothing said the phase ended (no page at all): it did.
            self.state.phase = phase.next();
            self.state.after = None;
            self.state.unit = 0;
            let state = self.state_json();
            self.commit(Prepared::default(), state).await?;
        }
        Ok(())
    }

    async fn phase(&mut self) -> std::result::Result<(), Stop> {
        let (client, service, account) = (self.client, self.service, self.account);
        let store = &service.store;
        let after = self.state.after.clone();
        match (self.state.phase, self.state.scope.clone()) {
            (Phase::Users, Some(scope)) => {
                let pages = scoped_users(store, account, client, scope, self.state.unit, after);
                self.drive(pages).await
            }
            // A scope's listings name its users whatever their status.
            (Phase::Deprovisioned, Some(_)) => self.drive(futures::stream::empty().boxed()).await,
            (Phase::Groups, Some(scope)) => {
                // The groups mapped to roles too: their memberships among the scope's users give
                // those users their roles (their other members stay out).
                let mapped: Vec<String> = store
                    .role_mappings(account)
                    .await?
                    .mappings
                    .mappings
                    .into_iter()
                    .map(|m| m.group)
                    .collect();
                let read = scoped_groups(client, &scope, mapped).await?;
                let page = Prepared::page(Some(store), account, read, None, true).await?;
                self.drive(futures::stream::iter([Ok(page)]).boxed()).await
            }
            (Phase::Users | Phase::Deprovisioned, None) => {
                let mut list = client.users().list().limit(USERS_PAGE);
                if self.state.phase == Phase::Deprovisioned {
                    list = list.search(format!("status eq \"{}\"", UserStatus::Deprovisioned.as_str()));
                }
                if let Some(a) = after {
                    list = list.after(a);
                }
                // One listing names each user once: a pass that began on an empty directory has
                // nothing stored to compare its pages of active users with (deactivated ones may
                // have moved from the other listing meanwhile, so those are compared).
                let fresh = self.state.fresh && self.state.phase == Phase::Users;
                let pages = pages_of((!fresh).then_some(store), account, list, users_read);
                self.drive(pages).await
            }
            (Phase::Groups, _) => {
                let mut list = client.groups().list().limit(MEMBERS_PAGE);
                if let Some(a) = after {
                    list = list.after(a);
                }
                let pages = pages_of((!self.state.fresh).then_some(store), account, list, |groups| {
                    let since = groups
                        .iter()
                        .filter_map(|g| g.last_updated.max(g.last_membership_updated))
                        .max();
                    let read = Directory {
                        groups: groups.into_iter().map(|g| (g.id.clone(), dir_group(g))).collect(),
                        ..Directory::default()
                    };
                    (read, None, since)
                });
                self.drive(pages).await
            }
            (Phase::Members, _) => {
                let users: Arc<HashSet<String>> = Arc::new(store.user_ids(account).await?);
                let mut groups = store.groups_after(account, after.as_deref().unwrap_or("")).await?;
                if self.state.scope.is_some() {
                    // Only the scope's groups (those its groups phase listed): the others are
                    // out of it, deleted at the pass's end without their members read.
                    let listed = store.groups_seen(account, self.run).await?;
                    groups.retain(|g| listed.contains(&g.id));
                }
                // On a directory that was empty when the pass began, a group's members are
                // stored only by this pass: at most the first chunks of the group a stopped run
                // was writing, the first one here.
                let first = groups.first().map(|g| g.id.clone());
                let fresh = self.state.fresh;
                let units = futures::stream::iter(groups)
                    .map(move |g| -> BoxFuture<'_, std::result::Result<MemberRead, Stop>> {
                        let look = !fresh || first.as_ref() == Some(&g.id);
                        async move {
                            let read = group_members(client, &g.id).await?;
                            let stored = if look {
                                store.member_ids(account, &g.id).await?
                            } else {
                                BTreeSet::new()
                            };
                            Ok((g, read, stored))
                        }
                        .boxed()
                    })
                    .buffered(CONCURRENT_READS)
                    .map_ok(move |(group, read, stored)| {
                        // A group deleted meanwhile: nothing to say (the next runs see it go).
                        let read = read.unwrap_or_else(|| stored.clone());
                        let links = member_links(&stored, &read, &|u| users.contains(u));
                        let id = group.id.clone();
                        futures::stream::iter(units(Some(group), id, links, read.len())).map(Ok)
                    })
                    .try_flatten();
                self.drive(batches(units.boxed())).await
            }
            (Phase::Apps, _) => {
                // The apps and the groups assigned to them; their users come next, app by app.
                let mut stored = store.directory_apps_only(account).await?;
                let mut read = Directory::default();
                match &self.state.scope {
                    None => read_apps(client, &mut read, Some(&|_| false)).await?,
                    // Of a scope's apps, only its own (its users come next).
                    Some(SyncScope::App(aid)) => read_app(client, aid, &mut read).await?,
                    Some(SyncScope::Groups(_)) => {}
                }
                let groups: HashSet<String> = store
                    .groups_after(account, "")
                    .await?
                    .into_iter()
                    .map(|g| g.id)
                    .collect();
                // The users of the apps that go, so that each assignment is said to end.
                let gone: Vec<String> = stored
                    .apps
                    .keys()
                    .filter(|a| !read.apps.contains_key(*a))
                    .cloned()
                    .collect();
                for aid in gone {
                    let users = store.app_user_scopes(account, &aid).await?;
                    stored
                        .app_users
                        .extend(users.into_iter().map(|(u, s)| ((aid.clone(), u), s)));
                }
                let mut changes = DirectoryChanges::default();
                diff_apps(&stored, &read, &|_| true, &|g| groups.contains(g), &mut changes);
                let page = Prepared {
                    changes,
                    objects: read.apps.len() + read.app_groups.len(),
                    last: true,
                    ..Prepared::default()
                };
                self.drive(futures::stream::iter([Ok(page)]).boxed()).await
            }
            (Phase::AppUsers, _) => {
                let users: Arc<HashSet<String>> = Arc::new(store.user_ids(account).await?);
                let apps = store.app_ids_after(account, after.as_deref().unwrap_or("")).await?;
                let (first, fresh) = (apps.first().cloned(), self.state.fresh);
                let units = futures::stream::iter(apps)
                    .map(app_user_ids(client.clone()))
                    .buffered(CONCURRENT_READS)
                    .map_err(Stop::from)
                    .and_then(
                        move |(aid, read): AppUsers| -> BoxFuture<'_, std::result::Result<_, Stop>> {
                            let look = !fresh || first.as_ref() == Some(&aid);
                            async move {
                                let stored = if look {
                                    store.app_user_scopes(account, &aid).await?
                                } else {
                                    BTreeMap::new()
                                };
                                Ok((aid, read.into_iter().collect::<BTreeMap<_, _>>(), stored))
                            }
                            .boxed()
                        },
                    )
                    .map_ok(move |(aid, read, stored)| {
                        let links = app_user_links(&stored, &read, &|u| users.contains(u));
                        futures::stream::iter(units(None, aid, links, read.len())).map(Ok)
                    })
                    .try_flatten();
                self.drive(batches(units.boxed())).await
            }
            (Phase::Deletions, _) => {
                let page = self.deletions().await?;
                self.drive(futures::stream::iter([Ok(page)]).boxed()).await
            }
            (Phase::Done, _) => Ok(()),
        }
    }

    /// The stored users and groups no page of the pass listed, each asked for: those Okta no
    /// longer has are deleted, the others (moved between listings while they ran) updated.
    async fn deletions(&self) -> std::result::Result<Prepared, Stop> {
        let (client, store) = (self.client, &self.service.store);
        let (users, groups) = store.unseen(self.account, self.run).await?;
        if self.state.scope.is_some() {
            // Under a scope, what its listings did not name is out of it (gone from the
            // application's point of view), whether or not Okta still has it.
            let stored = Directory {
                users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
                groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect(),
                ..Directory::default()
            };
            let mut changes = diff(&stored, &Directory::default());
            for e in &mut changes.events {
                if let Value::Object(m) = &mut e.data {
                    m.insert("reason".into(), json!("out_of_scope"));
                }
            }
            return Ok(Prepared {
                changes,
                last: true,
                ..Prepared::default()
            });
        }
        let ids = |ids: Vec<String>| futures::stream::iter(ids);
        let found_users: Vec<Option<DirUser>> = ids(users.iter().map(|u| u.id.clone()).collect())
            .map(move |id| async move { found(client.users().get(&id).await).map(|u| u.map(dir_user)) }.boxed())
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await?;
        let found_groups: Vec<Option<DirGroup>> = ids(groups.iter().map(|g| g.id.clone()).collect())
            .map(move |id| async move { found(client.groups().get(&id).await).map(|g| g.map(dir_group)) }.boxed())
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await?;
        let read = Directory {
            users: found_users.into_iter().flatten().map(|u| (u.id.clone(), u)).collect(),
            groups: found_groups.into_iter().flatten().map(|g| (g.id.clone(), g)).collect(),
            ..Directory::default()
        };
        let stored = Directory {
            users: users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            groups: groups.into_iter().map(|g| (g.id.clone(), g)).collect(),
            ..Directory::default()
        };
        Ok(Prepared {
            changes: diff(&stored, &read),
            users: read.users.keys().cloned().collect(),
            groups: read.groups.keys().cloned().collect(),
            last: true,
            ..Prepared::default()
        })
    }

    /// Ends the pass: its summary and the cursors incremental runs continue from, written as
    /// the run's end.
    async fn finish(mut self, started: std::time::Instant) -> std::result::Result<Value, Stop> {
        let store = &self.service.store;
        let state = self.state_json();
        let directory = store.directory_counts(self.account).await?;
        let s = &self.state;
        // The next incremental read starts no later than the pass began: a user or group that
        // changed after its page was read (a pass resumed hours later, or a long one) is read
        // again then.
        let began = OffsetDateTime::from_unix_timestamp(s.started).ok();
        let since = |newest: &Option<String>| {
            text(
                instant(newest.as_deref())
                    .min(began)
                    .or(Some(OffsetDateTime::UNIX_EPOCH)),
            )
        };
        let cursors = SyncCursors {
            users_since: since(&s.users_since),
            groups_since: since(&s.groups_since),
            log: Some(s.log.clone()),
        };
        let mut summary = json!({
            "full": true,
            "scope": s.scope,
            "requests": state["requests"],
            "events": s.events,
            "pages": s.pages,
            "resumed": s.resumed,
            "directory": directory,
        });
        let last_seq = store
            .write_sync(
                self.account,
                self.owner,
                &DirectoryChanges::default(),
                None,
                &SyncMark::Run {
                    full: true,
                    summary: &summary,
                    cursors: &cursors,
                },
            )
            .await?;
        summary["lastSeq"] = json!(last_seq);
        summary["tookMs"] = json!(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        Ok(summary)
    }
}

/// What a page read: the users or groups, and the newest user and group times among them.
type PageRead = (Directory, Option<OffsetDateTime>, Option<OffsetDateTime>);

/// Pages prepared for writing.
type Pages<'a> = BoxStream<'a, std::result::Result<Prepared, Stop>>;

/// A page of users.
fn users_read(users: Vec<okta_client::User>) -> PageRead {
    let since = users.iter().filter_map(|u| u.last_updated).max();
    let read = Directory {
        users: users.into_iter().map(|u| (u.id.clone(), dir_user(u))).collect(),
        ..Directory::default()
    };
    (read, since, None)
}

/// An app's user with the user embedded (`expand=user`).
#[derive(Deserialize)]
struct AppUserWithUser {
    #[serde(rename = "_embedded")]
    embedded: EmbeddedUser,
}

#[derive(Deserialize)]
struct EmbeddedUser {
    user: okta_client::User,
}

/// A page of a scope's users, without those the page before listed: that page is being
/// written while this one is compared with what is stored (a user in two of the scope's groups
/// can be on both), so comparing them again would say them twice.
fn without_previous(previous: &std::sync::Mutex<HashSet<String>>, users: Vec<okta_client::User>) -> PageRead {
    let mut previous = previous.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let users: Vec<okta_client::User> = users.into_iter().filter(|u| !previous.contains(&u.id)).collect();
    *previous = users.iter().map(|u| u.id.clone()).collect();
    users_read(users)
}

/// The pages of a scope's users from group `unit` (cursor `after`) on: each group's members
/// in turn (a user in two groups is listed twice, said once), or the app's users with the
/// users embedded. Every page is compared with what is stored of it. A group or app Okta no
/// longer has lists nobody.
fn scoped_users<'a>(
    store: &'a Store,
    account: &'a AccountName,
    client: &'a Client,
    scope: SyncScope,
    unit: usize,
    after: Option<String>,
) -> BoxStream<'a, std::result::Result<Prepared, Stop>> {
    let previous = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let read = move |users| without_previous(&previous, users);
    let units: Vec<(usize, bool, Pages<'a>)> = match scope {
        SyncScope::Groups(groups) => {
            let n = groups.len();
            groups
                .into_iter()
                .enumerate()
                .skip(unit)
                .map(|(i, gid)| {
                    let mut list = client.groups().members(&gid).limit(MEMBERS_PAGE);
                    if let (true, Some(a)) = (i == unit, &after) {
                        list = list.after(a.clone());
                    }
                    let read = read.clone();
                    (i, i + 1 == n, pages_of(Some(store), account, list, read))
                })
                .collect()
        }
        SyncScope::App(aid) => {
            let mut list = client
                .apps()
                .users(&aid)
                .limit(APP_USERS_PAGE)
                .param("expand", "user")
                .decode_as::<AppUserWithUser>();
            if let Some(a) = after {
                list = list.after(a);
            }
            let read_app =
                move |users: Vec<AppUserWithUser>| read(users.into_iter().map(|u| u.embedded.user).collect());
            vec![(0, true, pages_of(Some(store), account, list, read_app))]
        }
    };
    futures::stream::iter(units)
        .flat_map(|(i, last_unit, pages)| {
            pages.map(move |page| {
                let ended = Prepared {
                    unit: Some(i + 1),
                    last: last_unit,
                    ..Prepared::default()
                };
                match page {
                    // A group's last page: the scope goes on with the next group.
                    Ok(p) if p.last => Ok(Prepared {
                        unit: Some(i + 1),
                        last: last_unit,
                        ..p
                    }),
                    Ok(p) => Ok(p),
                    Err(Stop::Okta(e)) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => Ok(ended),
                    Err(e) => Err(e),
                }
            })
        })
        .boxed()
}

/// The groups of a scope, each asked for (those Okta no longer has left out): the scope's
/// groups, or the groups assigned to its app; and the groups `mapped` to roles.
async fn scoped_groups(
    client: &Client,
    scope: &SyncScope,
    mapped: Vec<String>,
) -> std::result::Result<Directory, Stop> {
    let ids = match scope {
        SyncScope::Groups(groups) => groups.clone(),
        SyncScope::App(aid) => match found(app_group_ids(client.clone())(aid.clone()).await)? {
            Some((_, ids)) => ids,
            None => Vec::new(),
        },
    };
    let ids: BTreeSet<String> = ids.into_iter().chain(mapped).collect();
    let groups: Vec<Option<DirGroup>> = futures::stream::iter(ids)
        .map(move |id| async move { found(client.groups().get(&id).await).map(|g| g.map(dir_group)) }.boxed())
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?;
    Ok(Directory {
        groups: groups.into_iter().flatten().map(|g| (g.id.clone(), g)).collect(),
        ..Directory::default()
    })
}

/// The pages of `list` from its `after` on, each `read` into a directory part and compared with
/// what `store` has of it (without a store: known to have none of it).
fn pages_of<'a, T: serde::de::DeserializeOwned + Send + 'static>(
    store: Option<&'a Store>,
    account: &'a AccountName,
    list: okta_client::List<T>,
    mut read: impl FnMut(Vec<T>) -> PageRead + Send + 'a,
) -> BoxStream<'a, std::result::Result<Prepared, Stop>> {
    list.pages()
        .map_err(Stop::from)
        .and_then(move |page| -> BoxFuture<'a, std::result::Result<Prepared, Stop>> {
            let (last, after) = (page.next.is_none(), page.next_cursor());
            let (part, users_since, groups_since) = read(page.items);
            async move {
                Ok(Prepared {
                    users_since,
                    groups_since,
                    ..Prepared::page(store, account, part, after, last).await?
                })
            }
            .boxed()
        })
        .boxed()
}

/// A group's member ids, all pages; a group deleted meanwhile has none to say (`None`): the
/// next runs see its deletion.
async fn group_members(client: &Client, gid: &str) -> std::result::Result<Option<BTreeSet<String>>, Stop> {
    let ids = client
        .groups()
        .members(gid)
        .limit(MEMBERS_PAGE)
        .decode_as::<Id>()
        .stream()
        .map_ok(|m| m.id)
        .try_collect()
        .await;
    found(ids)
}

/// What Okta answered, `None` for a 404 (the object is gone).
fn found<T>(answer: okta_client::Result<T>) -> std::result::Result<Option<T>, Stop> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => Ok(None),
        Err(e) => Err(Stop::Okta(e)),
    }
}

type MemberRead = (DirGroup, Option<BTreeSet<String>>, BTreeSet<String>);

/// A chunk of one group's (or app's) changed links: its rows and events, the objects read, and
/// the group or app it finishes (on its last chunk).
struct Unit {
    changes: DirectoryChanges,
    objects: usize,
    done: Option<String>,
}

/// The `links` of `group` (or of app `owner` without one) in chunks of at most
/// `MEMBERS_BATCH`, each made when it is wanted.
fn units(group: Option<DirGroup>, owner: String, links: Vec<Link>, objects: usize) -> impl Iterator<Item = Unit> {
    let n = links.len().div_ceil(MEMBERS_BATCH).max(1);
    (0..n).map(move |i| {
        let chunk = &links[(i * MEMBERS_BATCH).min(links.len())..((i + 1) * MEMBERS_BATCH).min(links.len())];
        Unit {
            changes: link_changes(group.as_ref(), &owner, chunk),
            objects: if i == 0 { objects } else { 0 },
            done: (i + 1 == n).then(|| owner.clone()),
        }
    })
}

/// Chunks written together, up to `MEMBERS_BATCH` events: the last group or app they finish is
/// the position after them.
fn batches(
    units: BoxStream<'_, std::result::Result<Unit, Stop>>,
) -> BoxStream<'_, std::result::Result<Prepared, Stop>> {
    futures::stream::try_unfold((units, false), move |(mut units, ended)| async move {
        if ended {
            return Ok(None);
        }
        let mut p = Prepared::default();
        loop {
            match units.next().await {
                None => {
                    p.last = true;
                    return Ok(Some((p, (units, true))));
                }
                Some(unit) => {
                    let unit = unit?;
                    p.changes.append(unit.changes);
                    p.objects += unit.objects;
                    if unit.done.is_some() {
                        p.after = unit.done;
                    }
                    if p.changes.events.len() >= MEMBERS_BATCH {
                        return Ok(Some((p, (units, false))));
                    }
                }
            }
        }
    })
    .boxed()
}
