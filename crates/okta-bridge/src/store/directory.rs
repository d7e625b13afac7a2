//! `dir_*`: each connected org's directory as sync last saw it, its change feed, and the sync
//! state with its lease. A sync's rows and the events that say what changed are written in one
//! transaction: no event without its change, no change without its event.

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::{Pool, Store, with_pool};
use crate::error::{Conflict, Error, Result};
use crate::model::{
    AccountName, DirApp, DirGroup, DirUser, Directory, DirectoryChanges, EventType, FeedEvent, NewEvent, SyncCursors,
    SyncState, now,
};

/// The webhook streams of a connection whose feed begins (`$1`): one per endpoint, from the
/// feed's first event. (`WHERE true`: SQLite reads an `ON` right after a `FROM` as a join's.)
pub(super) const NEW_FEED_STREAMS: &str = "INSERT INTO webhook_streams (webhook_id, account, delivered) \
     SELECT id, $1, 0 FROM webhooks WHERE true ON CONFLICT (webhook_id, account) DO NOTHING";

/// Rows a statement writes at most (13 columns × 1,000 stays under SQLite's and PostgreSQL's
/// limits on bound values).
pub(super) const BATCH: usize = 1000;

pub(super) type UserRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

pub(super) const SELECT_USERS: &str = "SELECT id, status, login, email, first_name, last_name, created, activated, status_changed, last_login, last_updated, profile, external_id FROM dir_users WHERE account = $1";

fn unreadable(table: &'static str, row: &str, column: &'static str, value: &str) -> Error {
    Error::Unreadable {
        table,
        row: row.to_owned(),
        column,
        value: value.chars().take(80).collect(),
    }
}

pub(super) fn user_of(r: UserRow) -> Result<DirUser> {
    let profile: Map<String, Value> =
        serde_json::from_str(&r.11).map_err(|_| unreadable("dir_users", &r.0, "profile", &r.11))?;
    Ok(DirUser {
        id: r.0,
        status: r.1,
        login: r.2,
        email: r.3,
        first_name: r.4,
        last_name: r.5,
        created: r.6,
        activated: r.7,
        status_changed: r.8,
        last_login: r.9,
        last_updated: r.10,
        profile,
        external_id: r.12,
    })
}

pub(super) type GroupRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub(super) fn group_of(r: GroupRow) -> DirGroup {
    DirGroup {
        id: r.0,
        group_type: r.1,
        name: r.2,
        description: r.3,
        created: r.4,
        last_updated: r.5,
        last_membership_updated: r.6,
    }
}

/// An app's columns and its number of users.
type AppCountRow = (String, String, Option<String>, Option<String>, Option<String>, i64);

/// The largest inserts of a sync (events, memberships), the fastest way each database takes
/// them: batched `VALUES` on SQLite, one statement over arrays (`UNNEST`) on PostgreSQL.
pub(super) trait Bulk {
    /// Inserts `events` numbered from `first`, recorded `at`.
    fn events<'a>(
        &'a mut self,
        account: &'a str,
        first: i64,
        at: i64,
        events: &'a [NewEvent],
    ) -> BoxFuture<'a, std::result::Result<(), sqlx::Error>>;
    /// Inserts the memberships `pairs` (group, user) that are not there yet.
    fn members<'a>(
        &'a mut self,
        account: &'a str,
        pairs: &'a [(String, String)],
    ) -> BoxFuture<'a, std::result::Result<(), sqlx::Error>>;
}

impl Bulk for sqlx::SqliteConnection {
    fn events<'a>(
        &'a mut self,
        account: &'a str,
        first: i64,
        at: i64,
        events: &'a [NewEvent],
    ) -> BoxFuture<'a, std::result::Result<(), sqlx::Error>> {
        Box::pin(async move {
            let numbered: Vec<(i64, &NewEvent)> = (first..).zip(events.iter()).collect();
            for chunk in numbered.chunks(BATCH) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO dir_events (account, seq, event_type, object_id, occurred_at, recorded_at, data) ",
                );
                q.push_values(chunk, |mut row, (seq, e)| {
                    row.push_bind(account)
                        .push_bind(*seq)
                        .push_bind(e.event_type.as_str())
                        .push_bind(&e.object_id)
                        .push_bind(&e.occurred_at)
                        .push_bind(at)
                        .push_bind(e.data.to_string());
                });
                q.build().execute(&mut *self).await?;
            }
            Ok(())
        })
    }

    fn members<'a>(
        &'a mut self,
        account: &'a str,
        pairs: &'a [(String, String)],
    ) -> BoxFuture<'a, std::result::Result<(), sqlx::Error>> {
        Box::pin(async move {
            for chunk in pairs.chunks(BATCH) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO dir_members (account, group_id, user_id) ");
                q.push_values(chunk, |mut row, (g, u)| {
                    row.push_bind(account).push_bind(g).push_bind(u);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *self).await?;
            }
            Ok(())
        })
    }
}

impl Bulk for sqlx::PgConnection {
    fn events<'a>(
        &'a mut self,
        account: &'a str,
        first: i64,
        at: i64,
        events: &'a [NewEvent],
    ) -> BoxFuture<'a, std::result::Result<(), sqlx::Error>> {
        Box::pin(async move {
            if events.is_empty() {
                return Ok(());
            }
            let seqs: Vec<i64> = (first..).take(events.len()).collect();
            let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
            let objects: Vec<&str> = events.iter().map(|e| e.object_id.as_str()).collect();
            let occurred: Vec<Option<&str>> = events.iter().map(|e| e.occurred_at.as_deref()).collect();
            let data: Vec<String> = events.iter().map(|e| e.data.to_string()).collect();
            sqlx::query(
                "INSERT INTO dir_events (account, seq, event_type, object_id, occurred_at, recorded_at, data) \
                 SELECT $1, s, t, o, w, $2, d FROM UNNEST($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[]) AS e(s, t, o, w, d)",
            )
            .bind(account)
            .bind(at)
            .bind(seqs)
            .bind(types)
            .bind(objects)
            .bind(occurred)
            .bind(data)
            .execute(&mut *self)
            .await?;
            Ok(())
        })
    }

    fn members<'a>(
        &'a mut self,
        account: &'a str,
        pairs: &'a [(String, String)],
    ) -> BoxFuture<'a, std::result::Result<(), sqlx::Error>> {
        Box::pin(async move {
            if pairs.is_empty() {
                return Ok(());
            }
            let groups: Vec<&str> = pairs.iter().map(|(g, _)| g.as_str()).collect();
            let users: Vec<&str> = pairs.iter().map(|(_, u)| u.as_str()).collect();
            sqlx::query(
                "INSERT INTO dir_members (account, group_id, user_id) \
                 SELECT $1, g, u FROM UNNEST($2::text[], $3::text[]) AS m(g, u) ON CONFLICT DO NOTHING",
            )
            .bind(account)
            .bind(groups)
            .bind(users)
            .execute(&mut *self)
            .await?;
            Ok(())
        })
    }
}

/// What a write of sync changes records besides them.
#[derive(Debug, Clone, Copy)]
pub enum SyncMark<'a> {
    /// A run's end: what it did, whether it read everything, where the next incremental read
    /// starts. A full pass in progress is over.
    Run {
        full: bool,
        summary: &'a Value,
        cursors: &'a SyncCursors,
    },
    /// A page of a full pass: where the pass resumes from if it stops here.
    Page { state: &'a Value },
    /// A targeted sync of the objects event hooks named: the changes only (the cursors of
    /// the polling runs stay where they are; they read the same changes again and find them
    /// stored).
    Hook,
}

/// The users and groups a page of full pass `run` saw.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub run: i64,
    pub users: &'a [String],
    pub groups: &'a [String],
}

/// A row of `dir_events`: seq, type, object, occurred, recorded, data.
type EventRow = (i64, String, String, Option<String>, i64, String);

fn event_of((seq, t, object_id, occurred_at, recorded_at, data): EventRow) -> Result<FeedEvent> {
    let row = seq.to_string();
    Ok(FeedEvent {
        seq,
        event_type: EventType::parse(&t).ok_or_else(|| unreadable("dir_events", &row, "event_type", &t))?,
        object_id,
        occurred_at,
        recorded_at,
        data: serde_json::from_str(&data).map_err(|_| unreadable("dir_events", &row, "data", &data))?,
    })
}

/// Which stored users a listing answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserQuery<'a> {
    /// Users with ids after this one (paging).
    pub after: Option<&'a str>,
    /// Only this status.
    pub status: Option<&'a str>,
    /// A prefix of the login, email, first or last name (case-insensitive).
    pub prefix: Option<&'a str>,
    /// Only members of this group.
    pub group: Option<&'a str>,
    /// Only users whose `lastUpdated` is in this second (`YYYY-MM-DDTHH:MM:SS`, UTC) or later.
    pub updated_since: Option<&'a str>,
}

/// Deletes every row an account has in the directory's tables (`$1`: the account).
pub(super) const ACCOUNT_TABLES: &[&str] = &[
    "DELETE FROM dir_users WHERE account = $1",
    "DELETE FROM dir_groups WHERE account = $1",
    "DELETE FROM dir_members WHERE account = $1",
    "DELETE FROM dir_apps WHERE account = $1",
    "DELETE FROM dir_app_users WHERE account = $1",
    "DELETE FROM dir_app_groups WHERE account = $1",
    "DELETE FROM dir_events WHERE account = $1",
    "DELETE FROM dir_sync WHERE account = $1",
    "DELETE FROM event_hooks WHERE account = $1",
    "DELETE FROM hook_seen WHERE account = $1",
    "DELETE FROM hook_targets WHERE account = $1",
    "DELETE FROM role_mappings WHERE account = $1",
    "DELETE FROM role_defaults WHERE account = $1",
    "DELETE FROM sync_scopes WHERE account = $1",
];

/// Writes `$changes` into the directory's tables in transaction `$tx` of account `$a`: deletions,
/// rows in batches, memberships and assignments, then its events numbered from `$first`,
/// recorded `$at`; the users and groups `$unchanged_users`/`$unchanged_groups` (and those
/// upserted) marked seen by pass `$seen_run`. When the account maps groups to roles, the roles
/// of the users the changes touch are evaluated too: each user event says them, and a user
/// whose roles changed without one gets a `user.updated` (`"changed": ["roles"]`) numbered after
/// `$changes`' events; the macro's value is how many of those it added. A macro: the statements
/// are the same on both databases, the transaction's type is not.
macro_rules! write_changes {
    ($tx:ident, $a:expr, $first:expr, $at:expr, $changes:expr, $seen_run:expr, $unchanged_users:expr, $unchanged_groups:expr) => {{
        let (a, first, at, changes, seen_run): (&str, i64, i64, &DirectoryChanges, i64) = ($a, $first, $at, $changes, $seen_run);
        let (unchanged_users, unchanged_groups): (&Vec<String>, &Vec<String>) = ($unchanged_users, $unchanged_groups);
        // Roles (when the account maps groups to them): the users whose roles these changes
        // may change — those written, whose memberships change, and the members of mapped
        // groups that go (read before they go).
        let role_config = super::roles::role_config!($tx, a);
        let mut role_users: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        if let Some((mapped, _)) = &role_config {
            role_users.extend(changes.upsert_users.iter().map(|u| u.id.clone()));
            role_users.extend(changes.add_members.iter().chain(&changes.remove_members).map(|(_, u)| u.clone()));
            role_users.extend(
                changes
                    .events
                    .iter()
                    .filter(|e| super::roles::about_a_user(e.event_type))
                    .map(|e| e.object_id.clone()),
            );
            for g in changes.delete_groups.iter().filter(|g| mapped.contains_key(*g)) {
                let members: Vec<(String,)> =
                    sqlx::query_as("SELECT user_id FROM dir_members WHERE account = $1 AND group_id = $2")
                        .bind(a)
                        .bind(g)
                        .fetch_all(&mut *$tx)
                        .await?;
                role_users.extend(members.into_iter().map(|(u,)| u));
            }
            for u in &changes.delete_users {
                role_users.remove(u);
            }
        }
        let deletions: [(&[&str], &Vec<String>); 3] = [
            (
                &[
                    "DELETE FROM dir_members WHERE account = $1 AND user_id = $2",
                    "DELETE FROM dir_app_users WHERE account = $1 AND user_id = $2",
                    "DELETE FROM dir_users WHERE account = $1 AND id = $2",
                ],
                &changes.delete_users,
            ),
            (
                &[
                    "DELETE FROM dir_members WHERE account = $1 AND group_id = $2",
                    "DELETE FROM dir_app_groups WHERE account = $1 AND group_id = $2",
                    "DELETE FROM dir_groups WHERE account = $1 AND id = $2",
                ],
                &changes.delete_groups,
            ),
            (
                &[
                    "DELETE FROM dir_app_users WHERE account = $1 AND app_id = $2",
                    "DELETE FROM dir_app_groups WHERE account = $1 AND app_id = $2",
                    "DELETE FROM dir_apps WHERE account = $1 AND id = $2",
                ],
                &changes.delete_apps,
            ),
        ];
        for (statements, ids) in deletions {
            for id in ids {
                for sql in statements {
                    sqlx::query(*sql).bind(a).bind(id).execute(&mut *$tx).await?;
                }
            }
        }
        // Rows go in batches (one statement of up to BATCH rows each), so an initial sync of
        // a large org is a few hundred statements, not a million.
        for chunk in changes.upsert_users.chunks(BATCH) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO dir_users (account, id, status, login, email, first_name, last_name, created, activated, status_changed, last_login, last_updated, profile, external_id, seen) ",
            );
            q.push_values(chunk, |mut row, u| {
                row.push_bind(a)
                    .push_bind(&u.id)
                    .push_bind(&u.status)
                    .push_bind(&u.login)
                    .push_bind(&u.email)
                    .push_bind(&u.first_name)
                    .push_bind(&u.last_name)
                    .push_bind(&u.created)
                    .push_bind(&u.activated)
                    .push_bind(&u.status_changed)
                    .push_bind(&u.last_login)
                    .push_bind(&u.last_updated)
                    .push_bind(Value::Object(u.profile.clone()).to_string())
                    .push_bind(&u.external_id)
                    .push_bind(seen_run);
            });
            q.push(
                " ON CONFLICT (account, id) DO UPDATE SET status = excluded.status, login = excluded.login, email = excluded.email, \
                 first_name = excluded.first_name, last_name = excluded.last_name, created = excluded.created, activated = excluded.activated, \
                 status_changed = excluded.status_changed, last_login = excluded.last_login, last_updated = excluded.last_updated, profile = excluded.profile, \
                 external_id = excluded.external_id, seen = CASE WHEN excluded.seen = 0 THEN dir_users.seen ELSE excluded.seen END",
            );
            q.build().execute(&mut *$tx).await?;
        }
        for chunk in changes.upsert_groups.chunks(BATCH) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO dir_groups (account, id, group_type, name, description, created, last_updated, last_membership_updated, seen) ",
            );
            q.push_values(chunk, |mut row, g| {
                row.push_bind(a)
                    .push_bind(&g.id)
                    .push_bind(&g.group_type)
                    .push_bind(&g.name)
                    .push_bind(&g.description)
                    .push_bind(&g.created)
                    .push_bind(&g.last_updated)
                    .push_bind(&g.last_membership_updated)
                    .push_bind(seen_run);
            });
            q.push(
                " ON CONFLICT (account, id) DO UPDATE SET group_type = excluded.group_type, name = excluded.name, description = excluded.description, \
                 created = excluded.created, last_updated = excluded.last_updated, last_membership_updated = excluded.last_membership_updated, \
                 seen = CASE WHEN excluded.seen = 0 THEN dir_groups.seen ELSE excluded.seen END",
            );
            q.build().execute(&mut *$tx).await?;
        }
        // What a pass saw unchanged is marked seen too.
        for (table, ids) in [("dir_users", unchanged_users), ("dir_groups", unchanged_groups)] {
            for chunk in ids.chunks(BATCH) {
                let mut q = sqlx::QueryBuilder::new(if table == "dir_users" {
                    "UPDATE dir_users SET seen = "
                } else {
                    "UPDATE dir_groups SET seen = "
                });
                q.push_bind(seen_run).push(" WHERE account = ").push_bind(a).push(" AND id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id);
                }
                list.push_unseparated(")");
                q.build().execute(&mut *$tx).await?;
            }
        }
        for (sql, pairs) in [
            ("DELETE FROM dir_members WHERE account = $1 AND group_id = $2 AND user_id = $3", &changes.remove_members),
            ("DELETE FROM dir_app_users WHERE account = $1 AND app_id = $2 AND user_id = $3", &changes.remove_app_users),
            ("DELETE FROM dir_app_groups WHERE account = $1 AND app_id = $2 AND group_id = $3", &changes.remove_app_groups),
        ] {
            for (x, u) in pairs {
                sqlx::query(sql).bind(a).bind(x).bind(u).execute(&mut *$tx).await?;
            }
        }
        Bulk::members(&mut *$tx, a, &changes.add_members).await?;
        for chunk in changes.add_app_groups.chunks(BATCH) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO dir_app_groups (account, app_id, group_id) ");
            q.push_values(chunk, |mut row, (app, g)| {
                row.push_bind(a).push_bind(app).push_bind(g);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build().execute(&mut *$tx).await?;
        }
        for chunk in changes.upsert_apps.chunks(BATCH) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO dir_apps (account, id, label, name, status, sign_on_mode) ");
            q.push_values(chunk, |mut row, app| {
                row.push_bind(a)
                    .push_bind(&app.id)
                    .push_bind(&app.label)
                    .push_bind(&app.name)
                    .push_bind(&app.status)
                    .push_bind(&app.sign_on_mode);
            });
            q.push(
                " ON CONFLICT (account, id) DO UPDATE SET label = excluded.label, name = excluded.name, status = excluded.status, sign_on_mode = excluded.sign_on_mode",
            );
            q.build().execute(&mut *$tx).await?;
        }
        for chunk in changes.set_app_users.chunks(BATCH) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO dir_app_users (account, app_id, user_id, scope) ");
            q.push_values(chunk, |mut row, (app, u, scope)| {
                row.push_bind(a).push_bind(app).push_bind(u).push_bind(scope);
            });
            q.push(" ON CONFLICT (account, app_id, user_id) DO UPDATE SET scope = excluded.scope");
            q.build().execute(&mut *$tx).await?;
        }
        match &role_config {
            None => {
                Bulk::events(&mut *$tx, a, first, at, &changes.events).await?;
                0_i64
            }
            Some(config) => {
                // Each user event says the user's roles; a user whose roles changed without
                // one gets a user.updated of its own, numbered after the changes' events.
                let ids: Vec<String> = role_users.into_iter().collect();
                let mut roles: std::collections::BTreeMap<String, (Vec<String>, bool)> = std::collections::BTreeMap::new();
                for chunk in ids.chunks(BATCH) {
                    for (id, r, changed) in super::roles::evaluate_roles!($tx, a, chunk, config) {
                        roles.insert(id, (r, changed));
                    }
                }
                let mut events = changes.events.clone();
                let mut covered: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
                for e in &mut events {
                    if let (true, Some((r, changed)), Value::Object(m)) =
                        (super::roles::about_a_user(e.event_type), roles.get(&e.object_id), &mut e.data)
                    {
                        m.insert("roles".into(), serde_json::json!(r));
                        if *changed && e.event_type == crate::model::EventType::UserUpdated {
                            if let Some(Value::Array(c)) = m.get_mut("changed") {
                                c.push(serde_json::json!("roles"));
                            }
                        }
                        covered.insert(e.object_id.clone());
                    }
                }
                let unsaid: Vec<&String> = roles.iter().filter(|(id, (_, changed))| *changed && !covered.contains(*id)).map(|(id, _)| id).collect();
                for chunk in unsaid.chunks(BATCH) {
                    let said = super::roles::roles_events!($tx, a, chunk.iter(), |id: &str| roles
                        .get(id)
                        .map(|(r, _)| r));
                    events.extend(said);
                }
                let extra = i64::try_from(events.len() - changes.events.len()).unwrap_or(0);
                if extra > 0 {
                    sqlx::query("UPDATE dir_sync SET next_seq = next_seq + $2 WHERE account = $1")
                        .bind(a)
                        .bind(extra)
                        .execute(&mut *$tx)
                        .await?;
                }
                Bulk::events(&mut *$tx, a, first, at, &events).await?;
                extra
            }
        }
    }};
}
pub(super) use write_changes;

/// The connections due for a scheduled sync (`$1`: the last run before which one is due); those
/// whose directory SCIM pushes are never due.
macro_rules! due_syncs {
    () => {
        "FROM connections c LEFT JOIN dir_sync s ON s.account = c.account \
         WHERE c.status = 'connected' AND c.method <> 'scim' AND (s.last_run_at IS NULL OR s.last_run_at <= $1)"
    };
}

impl Store {
    /// The connections whose directory is due a sync every `interval` seconds: connected (one
    /// that needs re-authorization waits for it), not synced for `interval`, and not being
    /// synced now; the longest-waiting first, each with when it came due (its last run plus
    /// `interval`, or when it was connected).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sync_due(&self, interval: i64) -> Result<Vec<(AccountName, i64)>> {
        let t = now();
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT c.account, COALESCE(s.last_run_at + $3, c.created_at) FROM connections c \
                 LEFT JOIN dir_sync s ON s.account = c.account \
                 WHERE c.status = 'connected' AND c.method <> 'scim' AND (s.last_run_at IS NULL OR s.last_run_at <= $1) \
                 AND (s.lease_owner IS NULL OR s.lease_until < $2) \
                 ORDER BY COALESCE(s.last_run_at, 0), c.account",
            )
            .bind(t.saturating_sub(interval))
            .bind(t)
            .bind(interval)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(a, due)| AccountName::parse(&a).ok().map(|a| (a, due)))
            .collect())
    }

    /// The connections due for a scheduled sync every `interval` seconds (running ones
    /// included), and since when the longest-waiting one has been due: across instances, for
    /// `/metrics`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sync_backlog(&self, interval: i64) -> Result<(i64, Option<i64>)> {
        let row: (i64, Option<i64>) = with_pool!(self, pool => {
            sqlx::query_as(
                concat!("SELECT COUNT(*), MIN(COALESCE(s.last_run_at + $2, c.created_at)) ", due_syncs!()),
            )
            .bind(now() - interval)
            .bind(interval)
            .fetch_one(pool)
            .await?
        });
        Ok(row)
    }

    /// Up to `limit` connections due for a scheduled sync every `interval` seconds, the
    /// longest-waiting first, with since when each has been due (unix seconds).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn late_syncs(&self, interval: i64, limit: i64) -> Result<Vec<(String, i64)>> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                concat!(
                    "SELECT c.account, COALESCE(s.last_run_at + $2, c.created_at) AS due ",
                    due_syncs!(),
                    " ORDER BY due, c.account LIMIT $3"
                ),
            )
            .bind(now() - interval)
            .bind(interval)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Up to `limit` connections whose last sync failed, the latest first: the account, when
    /// (unix seconds) and why.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn failed_syncs(&self, limit: i64) -> Result<Vec<(String, Option<i64>, String)>> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT account, last_run_at, last_error FROM dir_sync WHERE last_error IS NOT NULL \
                 ORDER BY last_run_at DESC, account LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The directory stored for `account` (empty before its first sync).
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`] for a profile that is not JSON.
    pub async fn directory(&self, account: &AccountName) -> Result<Directory> {
        let a = account.as_str();
        let (users, groups, members) = with_pool!(self, pool => {
            let users: Vec<UserRow> = sqlx::query_as(SELECT_USERS).bind(a).fetch_all(pool).await?;
            let groups: Vec<GroupRow> = sqlx::query_as(
                "SELECT id, group_type, name, description, created, last_updated, last_membership_updated FROM dir_groups WHERE account = $1",
            )
            .bind(a)
            .fetch_all(pool)
            .await?;
            let members: Vec<(String, String)> =
                sqlx::query_as("SELECT group_id, user_id FROM dir_members WHERE account = $1")
                    .bind(a)
                    .fetch_all(pool)
                    .await?;
            (users, groups, members)
        });
        let mut dir = self.directory_app_part(account).await?;
        for r in users {
            let u = user_of(r)?;
            dir.users.insert(u.id.clone(), u);
        }
        for r in groups {
            let g = group_of(r);
            dir.groups.insert(g.id.clone(), g);
        }
        dir.members = members.into_iter().collect();
        Ok(dir)
    }

    /// Writes one sync's `changes` and their events in one transaction, numbering the events
    /// after the last one of `account`, and records the run (`summary`; `full` for a full
    /// read) and where the next incremental read starts (`cursors`), if `owner` still holds
    /// the sync lease. Answers the cursor of the last event written (the previous one when
    /// none).
    ///
    /// # Errors
    /// [`Conflict::SyncLeaseLost`] when another run took the lease over (this run outlived
    /// it); [`Error::Database`]. Nothing is written then.
    pub async fn apply_directory_changes(
        &self,
        account: &AccountName,
        owner: &str,
        changes: &DirectoryChanges,
        full: bool,
        summary: &Value,
        cursors: &SyncCursors,
    ) -> Result<i64> {
        self.write_sync(account, owner, changes, None, &SyncMark::Run { full, summary, cursors })
            .await
    }

    /// Writes `changes` and their events in one transaction (numbered after the last event of
    /// `account`), marks the users and groups a full pass `seen`, and records `mark`: a run's
    /// end (its summary and cursors; any pass in progress is over) or where a pass in progress
    /// resumes — if `owner` still holds the sync lease. Answers the cursor of the last event
    /// written (the previous one when none).
    ///
    /// # Errors
    /// [`Conflict::SyncLeaseLost`] when another run took the lease over (this run outlived
    /// it); [`Error::Database`]. Nothing is written then.
    pub async fn write_sync(
        &self,
        account: &AccountName,
        owner: &str,
        changes: &DirectoryChanges,
        seen: Option<&Seen<'_>>,
        mark: &SyncMark<'_>,
    ) -> Result<i64> {
        let a = account.as_str();
        let n = i64::try_from(changes.events.len()).unwrap_or(i64::MAX);
        let at = now();
        let seen_run = seen.map_or(0, |s| s.run);
        let (unchanged_users, unchanged_groups) = match seen {
            Some(s) => {
                let upserted: std::collections::HashSet<&str> = changes
                    .upsert_users
                    .iter()
                    .map(|u| u.id.as_str())
                    .chain(changes.upsert_groups.iter().map(|g| g.id.as_str()))
                    .collect();
                let rest = |ids: &[String]| -> Vec<String> {
                    ids.iter()
                        .filter(|id| !upserted.contains(id.as_str()))
                        .cloned()
                        .collect()
                };
                (rest(s.users), rest(s.groups))
            }
            None => (Vec::new(), Vec::new()),
        };
        let last = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let first = sqlx::query("INSERT INTO dir_sync (account) VALUES ($1) ON CONFLICT (account) DO NOTHING")
                .bind(a)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if first == 1 {
                sqlx::query(NEW_FEED_STREAMS).bind(a).execute(&mut *tx).await?;
            }
            // Numbers for this run's events, reserved in its transaction, while the lease is
            // this run's.
            let reserved: Option<(i64,)> = match mark {
                SyncMark::Run { full, summary, cursors } => sqlx::query_as(
                    "UPDATE dir_sync SET next_seq = next_seq + $2, last_run_at = $3, last_error = NULL, last_summary = $4, \
                     last_full_at = CASE WHEN $5 THEN $3 ELSE last_full_at END, \
                     users_since = $6, groups_since = $7, log_cursor = $8, pass_state = NULL \
                     WHERE account = $1 AND lease_owner = $9 RETURNING next_seq",
                )
                .bind(a)
                .bind(n)
                .bind(at)
                .bind(summary.to_string())
                .bind(*full)
                .bind(&cursors.users_since)
                .bind(&cursors.groups_since)
                .bind(&cursors.log)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?,
                SyncMark::Page { state } => sqlx::query_as(
                    "UPDATE dir_sync SET next_seq = next_seq + $2, pass_state = $3 \
                     WHERE account = $1 AND lease_owner = $4 RETURNING next_seq",
                )
                .bind(a)
                .bind(n)
                .bind(state.to_string())
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?,
                SyncMark::Hook => sqlx::query_as(
                    "UPDATE dir_sync SET next_seq = next_seq + $2 WHERE account = $1 AND lease_owner = $3 RETURNING next_seq",
                )
                .bind(a)
                .bind(n)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?,
            };
            let Some((next,)) = reserved else {
                return Err(Conflict::SyncLeaseLost { account: a.to_owned() }.into());
            };
            let first = next - n;
            // Events the roles add (a user whose roles changed) are numbered after these.
            let extra = write_changes!(tx, a, first, at, changes, seen_run, &unchanged_users, &unchanged_groups);
            crate::failpoint::hit("sync.before_commit");
            tx.commit().await?;
            next - 1 + extra
        });
        Ok(last)
    }

    /// Replaces the summary of `account`'s last run (one whose counts are known only once its
    /// changes are written), if `owner` still holds the sync lease.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn record_run_summary(&self, account: &AccountName, owner: &str, summary: &Value) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE dir_sync SET last_summary = $2 WHERE account = $1 AND lease_owner = $3")
                .bind(account.as_str())
                .bind(summary.to_string())
                .bind(owner)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records that a sync of `account` failed with `error` (what it wrote before stays).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn record_sync_error(&self, account: &AccountName, error: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO dir_sync (account, last_run_at, last_error) VALUES ($1, $2, $3) \
                 ON CONFLICT (account) DO UPDATE SET last_run_at = excluded.last_run_at, last_error = excluded.last_error",
            )
            .bind(account.as_str())
            .bind(now())
            .bind(error)
            .execute(pool)
            .await?;
            sqlx::query(NEW_FEED_STREAMS).bind(account.as_str()).execute(pool).await?;
        });
        Ok(())
    }

    /// Takes the sync lease of `account` for `owner` until `seconds` from now, unless another
    /// owner holds one that has not run out (or, given `due_before`, the last run is later
    /// than that: another instance ran it meanwhile). One conditional `UPDATE`: one taker wins.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn take_sync_lease(
        &self,
        account: &AccountName,
        owner: &str,
        seconds: i64,
        due_before: Option<i64>,
    ) -> Result<bool> {
        let t = now();
        let taken = with_pool!(self, pool => {
            let first = sqlx::query("INSERT INTO dir_sync (account) VALUES ($1) ON CONFLICT (account) DO NOTHING")
                .bind(account.as_str())
                .execute(pool)
                .await?
                .rows_affected();
            if first == 1 {
                sqlx::query(NEW_FEED_STREAMS).bind(account.as_str()).execute(pool).await?;
            }
            sqlx::query(
                "UPDATE dir_sync SET lease_owner = $2, lease_until = $3 \
                 WHERE account = $1 AND (lease_owner IS NULL OR lease_until < $4 OR lease_owner = $2) \
                 AND ($5 IS NULL OR last_run_at IS NULL OR last_run_at <= $5)",
            )
            .bind(account.as_str())
            .bind(owner)
            .bind(t + seconds)
            .bind(t)
            .bind(due_before)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(taken == 1)
    }

    /// Gives the sync lease of `account` back, if `owner` still holds it.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn release_sync_lease(&self, account: &AccountName, owner: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE dir_sync SET lease_owner = NULL, lease_until = NULL WHERE account = $1 AND lease_owner = $2")
                .bind(account.as_str())
                .bind(owner)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The sync state of `account`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn sync_state(&self, account: &AccountName) -> Result<SyncState> {
        type Row = (
            i64,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT next_seq, last_run_at, last_full_at, last_error, last_summary, lease_owner, lease_until, \
                 users_since, groups_since, log_cursor FROM dir_sync WHERE account = $1",
            )
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(match row {
            None => SyncState::default(),
            Some((next, run, full, error, summary, owner, until, users_since, groups_since, log)) => SyncState {
                last_seq: next - 1,
                last_run_at: run,
                last_full_at: full,
                last_error: error,
                last_summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
                running: owner.is_some() && until.is_some_and(|u| u >= now()),
                cursors: SyncCursors {
                    users_since,
                    groups_since,
                    log,
                },
                paused: None,
            },
        })
    }

    /// Deletes `account`'s events recorded before `cutoff` (epoch seconds) and remembers the
    /// newest cursor deleted, in one transaction. Answers how many went.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn prune_events(&self, account: &AccountName, cutoff: i64) -> Result<u64> {
        let a = account.as_str();
        let n = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (newest,): (Option<i64>,) =
                sqlx::query_as("SELECT MAX(seq) FROM dir_events WHERE account = $1 AND recorded_at < $2")
                    .bind(a)
                    .bind(cutoff)
                    .fetch_one(&mut *tx)
                    .await?;
            // Nothing an active webhook endpoint has yet to get goes.
            let (undelivered,): (Option<i64>,) = sqlx::query_as(
                "SELECT MIN(st.delivered) FROM webhook_streams st JOIN webhooks w ON w.id = st.webhook_id \
                 WHERE st.account = $1 AND w.status = 'active'",
            )
            .bind(a)
            .fetch_one(&mut *tx)
            .await?;
            let newest = match (newest, undelivered) {
                (Some(n), Some(d)) => Some(n.min(d)).filter(|n| *n > 0),
                (n, _) => n,
            };
            let mut n = 0;
            if let Some(newest) = newest {
                sqlx::query("UPDATE dir_sync SET pruned_through = $2 WHERE account = $1 AND pruned_through < $2")
                    .bind(a)
                    .bind(newest)
                    .execute(&mut *tx)
                    .await?;
                n = sqlx::query("DELETE FROM dir_events WHERE account = $1 AND seq <= $2")
                    .bind(a)
                    .bind(newest)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            n
        });
        Ok(n)
    }

    /// The newest cursor of `account` that retention deleted (0: none).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn pruned_through(&self, account: &AccountName) -> Result<i64> {
        let row: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT pruned_through FROM dir_sync WHERE account = $1")
                .bind(account.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map_or(0, |(p,)| p))
    }

    /// Up to `limit` events of `account` after cursor `after`, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`] for an event this version does not know.
    pub async fn events_after(&self, account: &AccountName, after: i64, limit: i64) -> Result<Vec<FeedEvent>> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, event_type, object_id, occurred_at, recorded_at, data FROM dir_events \
                 WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(account.as_str())
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(event_of).collect()
    }

    /// The newest `limit` events of `account`'s feed, newest first; only those about
    /// `object` (a user's or a group's id) when given.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn recent_events(
        &self,
        account: &AccountName,
        object: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FeedEvent>> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, event_type, object_id, occurred_at, recorded_at, data FROM dir_events \
                 WHERE account = $1 AND ($2 = '' OR object_id = $2) ORDER BY seq DESC LIMIT $3",
            )
            .bind(account.as_str())
            .bind(object.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(event_of).collect()
    }

    /// One stored group of `account`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn directory_group(&self, account: &AccountName, id: &str) -> Result<Option<DirGroup>> {
        let row: Option<GroupRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, group_type, name, description, created, last_updated, last_membership_updated FROM dir_groups \
                 WHERE account = $1 AND id = $2",
            )
            .bind(account.as_str())
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(group_of))
    }

    /// A page of `account`'s stored apps in id order after `after`, each with the ids of the
    /// groups assigned to it and its number of users.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn directory_apps(
        &self,
        account: &AccountName,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(DirApp, Vec<String>, i64)>> {
        let a = account.as_str();
        let (apps, groups) = with_pool!(self, pool => {
            let apps: Vec<AppCountRow> = sqlx::query_as(
                "SELECT id, label, name, status, sign_on_mode, \
                 (SELECT COUNT(*) FROM dir_app_users au WHERE au.account = a.account AND au.app_id = a.id) \
                 FROM dir_apps a WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(a)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let groups: Vec<(String, String)> =
                sqlx::query_as("SELECT app_id, group_id FROM dir_app_groups WHERE account = $1 AND app_id > $2 ORDER BY app_id, group_id")
                    .bind(a)
                    .bind(after.unwrap_or(""))
                    .fetch_all(pool)
                    .await?;
            (apps, groups)
        });
        Ok(apps
            .into_iter()
            .map(|(id, label, name, status, sign_on_mode, users)| {
                let assigned = groups
                    .iter()
                    .filter(|(app, _)| *app == id)
                    .map(|(_, g)| g.clone())
                    .collect();
                let app = DirApp {
                    id,
                    label,
                    name,
                    status,
                    sign_on_mode,
                };
                (app, assigned, users)
            })
            .collect())
    }

    /// A page of `account`'s stored users in id order after `q.after`, as `q` selects them.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`] for a profile that is not JSON.
    pub async fn directory_users(&self, account: &AccountName, q: &UserQuery<'_>, limit: i64) -> Result<Vec<DirUser>> {
        // `q` is a prefix: LIKE's own characters in it are escaped.
        let prefix = q.prefix.map(|p| {
            let escaped: String = p
                .to_lowercase()
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            format!("{escaped}%")
        });
        let rows: Vec<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, status, login, email, first_name, last_name, created, activated, status_changed, last_login, last_updated, profile, external_id \
                 FROM dir_users u WHERE account = $1 AND id > $2 AND ($3 IS NULL OR status = $3) \
                 AND ($4 IS NULL OR lower(login) LIKE $4 ESCAPE '\\' OR lower(email) LIKE $4 ESCAPE '\\' \
                      OR lower(first_name) LIKE $4 ESCAPE '\\' OR lower(last_name) LIKE $4 ESCAPE '\\') \
                 AND ($5 IS NULL OR EXISTS (SELECT 1 FROM dir_members m WHERE m.account = u.account AND m.group_id = $5 AND m.user_id = u.id)) \
                 AND ($6 IS NULL OR substr(last_updated, 1, 19) >= $6) \
                 ORDER BY id LIMIT $7",
            )
            .bind(account.as_str())
            .bind(q.after.unwrap_or(""))
            .bind(q.status)
            .bind(&prefix)
            .bind(q.group)
            .bind(q.updated_since)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(user_of).collect()
    }
}

impl Store {
    /// One stored user of `account`, with the ids of its groups.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn directory_user(&self, account: &AccountName, id: &str) -> Result<Option<(DirUser, Vec<String>)>> {
        let (row, groups): (Option<UserRow>, Vec<(String,)>) = with_pool!(self, pool => {
            let row = sqlx::query_as(
                "SELECT id, status, login, email, first_name, last_name, created, activated, status_changed, last_login, last_updated, profile, external_id \
                 FROM dir_users WHERE account = $1 AND id = $2",
            )
            .bind(account.as_str())
            .bind(id)
            .fetch_optional(pool)
            .await?;
            let groups = sqlx::query_as("SELECT group_id FROM dir_members WHERE account = $1 AND user_id = $2 ORDER BY group_id")
                .bind(account.as_str())
                .bind(id)
                .fetch_all(pool)
                .await?;
            (row, groups)
        });
        row.map(|r| Ok((user_of(r)?, groups.into_iter().map(|(g,)| g).collect())))
            .transpose()
    }

    /// Up to `limit` stored groups of `account` in id order after `after`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn directory_groups(
        &self,
        account: &AccountName,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DirGroup>> {
        let rows: Vec<GroupRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, group_type, name, description, created, last_updated, last_membership_updated FROM dir_groups \
                 WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(account.as_str())
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(group_of).collect())
    }

    /// Up to `limit` stored members of group `group` of `account`, in id order after `after`;
    /// `None` when there is no such group.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn directory_members(
        &self,
        account: &AccountName,
        group: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<DirUser>>> {
        let (exists, rows): (Option<(String,)>, Vec<UserRow>) = with_pool!(self, pool => {
            let exists = sqlx::query_as("SELECT id FROM dir_groups WHERE account = $1 AND id = $2")
                .bind(account.as_str())
                .bind(group)
                .fetch_optional(pool)
                .await?;
            let rows = sqlx::query_as(
                "SELECT u.id, u.status, u.login, u.email, u.first_name, u.last_name, u.created, u.activated, u.status_changed, u.last_login, u.last_updated, u.profile, u.external_id \
                 FROM dir_members m JOIN dir_users u ON u.account = m.account AND u.id = m.user_id \
                 WHERE m.account = $1 AND m.group_id = $2 AND m.user_id > $3 ORDER BY m.user_id LIMIT $4",
            )
            .bind(account.as_str())
            .bind(group)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            (exists, rows)
        });
        if exists.is_none() {
            return Ok(None);
        }
        rows.into_iter().map(user_of).collect::<Result<Vec<_>>>().map(Some)
    }
}
