//! `dir_*`: each connected org's directory as sync last saw it, its change feed, and the sync
//! state with its lease. A sync's rows and the events that say what changed are written in one
//! transaction: no event without its change, no change without its event.

use serde_json::{Map, Value};

use super::{Pool, Store, with_pool};
use crate::error::{Error, Result};
use crate::model::{
    AccountName, DirApp, DirGroup, DirUser, Directory, DirectoryChanges, EventType, FeedEvent, SyncState, now,
};

type UserRow = (
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
);

const SELECT_USERS: &str = "SELECT id, status, login, email, first_name, last_name, created, activated, status_changed, last_login, last_updated, profile FROM dir_users WHERE account = $1";

fn unreadable(table: &'static str, row: &str, column: &'static str, value: &str) -> Error {
    Error::Unreadable {
        table,
        row: row.to_owned(),
        column,
        value: value.chars().take(80).collect(),
    }
}

fn user_of(r: UserRow) -> Result<DirUser> {
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
    })
}

type GroupRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

type AppRow = (String, String, Option<String>, Option<String>, Option<String>);

fn group_of(r: GroupRow) -> DirGroup {
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

impl Store {
    /// The directory stored for `account` (empty before its first sync).
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`] for a profile that is not JSON.
    pub async fn directory(&self, account: &AccountName) -> Result<Directory> {
        let a = account.as_str();
        let (users, groups, members, apps, app_users) = with_pool!(self, pool => {
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
            let apps: Vec<AppRow> =
                sqlx::query_as("SELECT id, label, name, status, sign_on_mode FROM dir_apps WHERE account = $1")
                    .bind(a)
                    .fetch_all(pool)
                    .await?;
            let app_users: Vec<(String, String, Option<String>)> =
                sqlx::query_as("SELECT app_id, user_id, scope FROM dir_app_users WHERE account = $1")
                    .bind(a)
                    .fetch_all(pool)
                    .await?;
            (users, groups, members, apps, app_users)
        });
        let mut dir = Directory::default();
        for r in users {
            let u = user_of(r)?;
            dir.users.insert(u.id.clone(), u);
        }
        for r in groups {
            let g = group_of(r);
            dir.groups.insert(g.id.clone(), g);
        }
        dir.members = members.into_iter().collect();
        for (id, label, name, status, sign_on_mode) in apps {
            dir.apps.insert(
                id.clone(),
                DirApp {
                    id,
                    label,
                    name,
                    status,
                    sign_on_mode,
                },
            );
        }
        dir.app_users = app_users.into_iter().map(|(a, u, s)| ((a, u), s)).collect();
        Ok(dir)
    }

    /// Writes one sync's `changes` and their events in one transaction, numbering the events
    /// after the last one of `account`, and records the run (`summary`; `full` for a full
    /// read). Answers the cursor of the last event written (the previous one when none).
    ///
    /// # Errors
    /// [`Error::Database`]; nothing is written then.
    pub async fn apply_directory_changes(
        &self,
        account: &AccountName,
        changes: &DirectoryChanges,
        full: bool,
        summary: &Value,
    ) -> Result<i64> {
        let a = account.as_str();
        let n = i64::try_from(changes.events.len()).unwrap_or(i64::MAX);
        let at = now();
        let summary = summary.to_string();
        let last = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO dir_sync (account) VALUES ($1) ON CONFLICT (account) DO NOTHING")
                .bind(a)
                .execute(&mut *tx)
                .await?;
            // Numbers for this run's events, reserved in its transaction.
            let (next,): (i64,) = sqlx::query_as(
                "UPDATE dir_sync SET next_seq = next_seq + $2, last_run_at = $3, last_error = NULL, last_summary = $4, \
                 last_full_at = CASE WHEN $5 THEN $3 ELSE last_full_at END \
                 WHERE account = $1 RETURNING next_seq",
            )
            .bind(a)
            .bind(n)
            .bind(at)
            .bind(&summary)
            .bind(full)
            .fetch_one(&mut *tx)
            .await?;
            let first = next - n;
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
                        "DELETE FROM dir_groups WHERE account = $1 AND id = $2",
                    ],
                    &changes.delete_groups,
                ),
                (
                    &[
                        "DELETE FROM dir_app_users WHERE account = $1 AND app_id = $2",
                        "DELETE FROM dir_apps WHERE account = $1 AND id = $2",
                    ],
                    &changes.delete_apps,
                ),
            ];
            for (statements, ids) in deletions {
                for id in ids {
                    for sql in statements {
                        sqlx::query(*sql).bind(a).bind(id).execute(&mut *tx).await?;
                    }
                }
            }
            for u in &changes.upsert_users {
                sqlx::query(
                    "INSERT INTO dir_users (account, id, status, login, email, first_name, last_name, created, activated, status_changed, last_login, last_updated, profile) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT (account, id) DO UPDATE SET status = excluded.status, login = excluded.login, email = excluded.email, \
                     first_name = excluded.first_name, last_name = excluded.last_name, created = excluded.created, activated = excluded.activated, \
                     status_changed = excluded.status_changed, last_login = excluded.last_login, last_updated = excluded.last_updated, profile = excluded.profile",
                )
                .bind(a)
                .bind(&u.id)
                .bind(&u.status)
                .bind(&u.login)
                .bind(&u.email)
                .bind(&u.first_name)
                .bind(&u.last_name)
                .bind(&u.created)
                .bind(&u.activated)
                .bind(&u.status_changed)
                .bind(&u.last_login)
                .bind(&u.last_updated)
                .bind(Value::Object(u.profile.clone()).to_string())
                .execute(&mut *tx)
                .await?;
            }
            for g in &changes.upsert_groups {
                sqlx::query(
                    "INSERT INTO dir_groups (account, id, group_type, name, description, created, last_updated, last_membership_updated) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (account, id) DO UPDATE SET group_type = excluded.group_type, name = excluded.name, description = excluded.description, \
                     created = excluded.created, last_updated = excluded.last_updated, last_membership_updated = excluded.last_membership_updated",
                )
                .bind(a)
                .bind(&g.id)
                .bind(&g.group_type)
                .bind(&g.name)
                .bind(&g.description)
                .bind(&g.created)
                .bind(&g.last_updated)
                .bind(&g.last_membership_updated)
                .execute(&mut *tx)
                .await?;
            }
            for (sql, pairs) in [
                ("DELETE FROM dir_members WHERE account = $1 AND group_id = $2 AND user_id = $3", &changes.remove_members),
                ("INSERT INTO dir_members (account, group_id, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", &changes.add_members),
                ("DELETE FROM dir_app_users WHERE account = $1 AND app_id = $2 AND user_id = $3", &changes.remove_app_users),
            ] {
                for (x, u) in pairs {
                    sqlx::query(sql).bind(a).bind(x).bind(u).execute(&mut *tx).await?;
                }
            }
            for app in &changes.upsert_apps {
                sqlx::query(
                    "INSERT INTO dir_apps (account, id, label, name, status, sign_on_mode) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (account, id) DO UPDATE SET label = excluded.label, name = excluded.name, status = excluded.status, sign_on_mode = excluded.sign_on_mode",
                )
                .bind(a)
                .bind(&app.id)
                .bind(&app.label)
                .bind(&app.name)
                .bind(&app.status)
                .bind(&app.sign_on_mode)
                .execute(&mut *tx)
                .await?;
            }
            for (app, u, scope) in &changes.set_app_users {
                sqlx::query(
                    "INSERT INTO dir_app_users (account, app_id, user_id, scope) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (account, app_id, user_id) DO UPDATE SET scope = excluded.scope",
                )
                .bind(a)
                .bind(app)
                .bind(u)
                .bind(scope)
                .execute(&mut *tx)
                .await?;
            }
            for (i, e) in changes.events.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO dir_events (account, seq, event_type, object_id, occurred_at, recorded_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(a)
                .bind(first + i64::try_from(i).unwrap_or(i64::MAX))
                .bind(e.event_type.as_str())
                .bind(&e.object_id)
                .bind(&e.occurred_at)
                .bind(at)
                .bind(e.data.to_string())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            next - 1
        });
        Ok(last)
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
        });
        Ok(())
    }

    /// Takes the sync lease of `account` for `owner` until `seconds` from now, unless another
    /// owner holds one that has not run out. One conditional `UPDATE`: one taker wins.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn take_sync_lease(&self, account: &AccountName, owner: &str, seconds: i64) -> Result<bool> {
        let t = now();
        let taken = with_pool!(self, pool => {
            sqlx::query("INSERT INTO dir_sync (account) VALUES ($1) ON CONFLICT (account) DO NOTHING")
                .bind(account.as_str())
                .execute(pool)
                .await?;
            sqlx::query(
                "UPDATE dir_sync SET lease_owner = $2, lease_until = $3 \
                 WHERE account = $1 AND (lease_owner IS NULL OR lease_until < $4 OR lease_owner = $2)",
            )
            .bind(account.as_str())
            .bind(owner)
            .bind(t + seconds)
            .bind(t)
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
        );
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT next_seq, last_run_at, last_full_at, last_error, last_summary, lease_owner, lease_until FROM dir_sync WHERE account = $1",
            )
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(match row {
            None => SyncState::default(),
            Some((next, run, full, error, summary, owner, until)) => SyncState {
                last_seq: next - 1,
                last_run_at: run,
                last_full_at: full,
                last_error: error,
                last_summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
                running: owner.is_some() && until.is_some_and(|u| u >= now()),
            },
        })
    }

    /// Up to `limit` events of `account` after cursor `after`, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`] for an event this version does not know.
    pub async fn events_after(&self, account: &AccountName, after: i64, limit: i64) -> Result<Vec<FeedEvent>> {
        let rows: Vec<(i64, String, String, Option<String>, i64, String)> = with_pool!(self, pool => {
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
        rows.into_iter()
            .map(|(seq, t, object_id, occurred_at, recorded_at, data)| {
                let row = seq.to_string();
                Ok(FeedEvent {
                    seq,
                    event_type: EventType::parse(&t).ok_or_else(|| unreadable("dir_events", &row, "event_type", &t))?,
                    object_id,
                    occurred_at,
                    recorded_at,
                    data: serde_json::from_str(&data).map_err(|_| unreadable("dir_events", &row, "data", &data))?,
                })
            })
            .collect()
    }

    /// Up to `limit` stored users of `account` in id order after `after`, of `status` when
    /// given.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn directory_users(
        &self,
        account: &AccountName,
        after: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DirUser>> {
        let rows: Vec<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, status, login, email, first_name, last_name, created, activated, status_changed, last_login, last_updated, profile \
                 FROM dir_users WHERE account = $1 AND id > $2 AND ($3 IS NULL OR status = $3) ORDER BY id LIMIT $4",
            )
            .bind(account.as_str())
            .bind(after.unwrap_or(""))
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(user_of).collect()
    }
}
