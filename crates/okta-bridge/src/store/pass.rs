//! What a full pass reads back from the stored directory as it goes (src/service/pass.rs):
//! the stored rows of each page read, a group's stored members, the users and groups it has
//! not seen, and where a pass in progress stands.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{Value, json};

use super::directory::{GroupRow, SELECT_USERS, UserRow, group_of, user_of};
use super::{Pool, Store, push_in, with_pool};
use crate::error::{Conflict, Result};
use crate::model::{AccountName, DirApp, DirGroup, DirUser, Directory};

const SELECT_GROUPS: &str = "SELECT id, group_type, name, description, created, last_updated, last_membership_updated FROM dir_groups WHERE account = ";

/// How many ids one lookup names.
const BATCH: usize = 500;

// The lookups a pass makes page after page are not prepared once and kept (`persistent(false)`):
// PostgreSQL would keep the plan it made while the tables were empty (a sequential scan) for the
// whole pass, each lookup slower than the last as the tables fill.

impl Store {
    /// The pass in progress for `account`: its number and where it resumes from.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn sync_pass(&self, account: &AccountName) -> Result<Option<(i64, Value)>> {
        let row: Option<(i64, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT pass_run, pass_state FROM dir_sync WHERE account = $1")
                .bind(account.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.and_then(|(run, state)| Some((run, serde_json::from_str(&state?).ok()?))))
    }

    /// Starts a new full pass of `account` at `state`, if `owner` holds the sync lease, and
    /// answers its number.
    ///
    /// # Errors
    /// [`Conflict::SyncLeaseLost`]; [`crate::error::Error::Database`].
    pub async fn start_sync_pass(&self, account: &AccountName, owner: &str, state: &Value) -> Result<i64> {
        let run: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE dir_sync SET pass_run = pass_run + 1, pass_state = $2 WHERE account = $1 AND lease_owner = $3 RETURNING pass_run",
            )
            .bind(account.as_str())
            .bind(state.to_string())
            .bind(owner)
            .fetch_optional(pool)
            .await?
        });
        run.map(|(r,)| r).ok_or_else(|| {
            Conflict::SyncLeaseLost {
                account: account.to_string(),
            }
            .into()
        })
    }

    /// What `account` has stored of the users `users` and the groups `groups` (the rest of the
    /// directory left empty).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`]; [`crate::error::Error::Unreadable`].
    pub async fn stored_part(&self, account: &AccountName, users: &[String], groups: &[String]) -> Result<Directory> {
        /// `… AND id IN (ids)`.
        macro_rules! in_list {
            ($select:expr, $ids:expr) => {{
                let mut q = sqlx::QueryBuilder::new($select);
                q.push_bind(account.as_str()).push(" AND id IN (");
                let mut list = q.separated(", ");
                for id in $ids {
                    list.push_bind(id);
                }
                list.push_unseparated(")");
                q
            }};
        }
        let mut dir = Directory::default();
        for chunk in users.chunks(1000) {
            let rows: Vec<UserRow> = with_pool!(self, pool => {
                in_list!(SELECT_USERS.trim_end_matches("$1"), chunk).build_query_as().persistent(false).fetch_all(pool).await?
            });
            for r in rows {
                let u = user_of(r)?;
                dir.users.insert(u.id.clone(), u);
            }
        }
        for chunk in groups.chunks(1000) {
            let rows: Vec<GroupRow> = with_pool!(self, pool => {
                in_list!(SELECT_GROUPS, chunk).build_query_as().persistent(false).fetch_all(pool).await?
            });
            dir.groups
                .extend(rows.into_iter().map(group_of).map(|g| (g.id.clone(), g)));
        }
        Ok(dir)
    }

    /// What `account` has stored around `users` and `groups`: those users and groups, every
    /// membership of those users and the groups they are in, their app assignments, and the
    /// apps and the groups assigned to them (the rest of the directory left empty). A part a
    /// targeted sync changes and compares whole.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`]; [`crate::error::Error::Unreadable`].
    pub async fn stored_around(&self, account: &AccountName, users: &[String], groups: &[String]) -> Result<Directory> {
        let mut dir = self.stored_near(account, users, groups).await?;
        let apps = self.directory_apps_only(account).await?;
        dir.apps = apps.apps;
        dir.app_groups = apps.app_groups;
        Ok(dir)
    }

    /// [`Store::stored_around`] without the apps and their groups: read a batch of ids at a
    /// time.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`]; [`crate::error::Error::Unreadable`].
    pub async fn stored_near(&self, account: &AccountName, users: &[String], groups: &[String]) -> Result<Directory> {
        let a = account.as_str();
        let mut members = BTreeSet::new();
        let mut app_users = BTreeMap::new();
        for chunk in users.chunks(BATCH) {
            let (m, au) = with_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new("SELECT group_id, user_id FROM dir_members WHERE account = ");
                q.push_bind(a);
                push_in!(q, "user_id", chunk);
                let m: Vec<(String, String)> = q.build_query_as().persistent(false).fetch_all(pool).await?;
                let mut q = sqlx::QueryBuilder::new("SELECT app_id, user_id, scope FROM dir_app_users WHERE account = ");
                q.push_bind(a);
                push_in!(q, "user_id", chunk);
                let au: Vec<(String, String, Option<String>)> = q.build_query_as().persistent(false).fetch_all(pool).await?;
                (m, au)
            });
            members.extend(m);
            app_users.extend(au.into_iter().map(|(app, u, s)| ((app, u), s)));
        }
        let groups: Vec<String> = groups
            .iter()
            .cloned()
            .chain(members.iter().map(|(g, _): &(String, String)| g.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut dir = self.stored_part(account, users, &groups).await?;
        dir.members = members;
        dir.app_users = app_users;
        Ok(dir)
    }

    /// How many users `account` has stored, and how many stored members each of `groups` has
    /// (groups with none left out).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn group_sizes(
        &self,
        account: &AccountName,
        groups: &[String],
    ) -> Result<(usize, BTreeMap<String, usize>)> {
        let a = account.as_str();
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        let (users,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM dir_users WHERE account = $1").bind(a).fetch_one(pool).await?
        });
        let mut sizes = BTreeMap::new();
        for chunk in groups.chunks(BATCH) {
            let rows: Vec<(String, i64)> = with_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new("SELECT group_id, COUNT(*) FROM dir_members WHERE account = ");
                q.push_bind(a);
                push_in!(q, "group_id", chunk);
                q.push(" GROUP BY group_id");
                q.build_query_as().persistent(false).fetch_all(pool).await?
            });
            sizes.extend(rows.into_iter().map(|(g, n)| (g, count(n))));
        }
        Ok((count(users), sizes))
    }

    /// The ids of `account`'s stored built-in groups (Okta's `Everyone`).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn built_in_groups(&self, account: &AccountName) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM dir_groups WHERE account = $1 AND group_type = 'BUILT_IN'")
                .bind(account.as_str())
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Whether `account` has no stored users and groups.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn directory_is_empty(&self, account: &AccountName) -> Result<bool> {
        let (users, groups): (bool, bool) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM dir_users WHERE account = $1), EXISTS (SELECT 1 FROM dir_groups WHERE account = $1)",
            )
            .bind(account.as_str())
            .fetch_one(pool)
            .await?
        });
        Ok(!users && !groups)
    }

    /// The ids of `account`'s stored users.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn user_ids(&self, account: &AccountName) -> Result<HashSet<String>> {
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM dir_users WHERE account = $1")
                .bind(account.as_str())
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The stored groups of `account` with ids after `after`, in id order.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn groups_after(&self, account: &AccountName, after: &str) -> Result<Vec<DirGroup>> {
        let rows: Vec<GroupRow> = with_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(SELECT_GROUPS);
            q.push_bind(account.as_str()).push(" AND id > ").push_bind(after).push(" ORDER BY id");
            q.build_query_as().fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(group_of).collect())
    }

    /// The ids of `account`'s stored groups that full pass `run` has seen.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn groups_seen(&self, account: &AccountName, run: i64) -> Result<HashSet<String>> {
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM dir_groups WHERE account = $1 AND seen = $2")
                .bind(account.as_str())
                .bind(run)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The ids of the stored members of group `gid` of `account`.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn member_ids(&self, account: &AccountName, gid: &str) -> Result<BTreeSet<String>> {
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT user_id FROM dir_members WHERE account = $1 AND group_id = $2")
                .bind(account.as_str())
                .bind(gid)
                .persistent(false)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The ids of `account`'s stored apps after `after`, in order.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn app_ids_after(&self, account: &AccountName, after: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM dir_apps WHERE account = $1 AND id > $2 ORDER BY id")
                .bind(account.as_str())
                .bind(after)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The stored users of app `app` of `account`, with their scopes.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn app_user_scopes(&self, account: &AccountName, app: &str) -> Result<BTreeMap<String, Option<String>>> {
        let rows: Vec<(String, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT user_id, scope FROM dir_app_users WHERE account = $1 AND app_id = $2")
                .bind(account.as_str())
                .bind(app)
                .persistent(false)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().collect())
    }

    /// `account`'s stored apps, their users and their groups (the rest of the directory left
    /// empty).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn directory_app_part(&self, account: &AccountName) -> Result<Directory> {
        let mut dir = self.directory_apps_only(account).await?;
        let app_users: Vec<(String, String, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT app_id, user_id, scope FROM dir_app_users WHERE account = $1")
                .bind(account.as_str())
                .fetch_all(pool)
                .await?
        });
        dir.app_users = app_users.into_iter().map(|(a, u, s)| ((a, u), s)).collect();
        Ok(dir)
    }

    /// `account`'s stored apps and the groups assigned to them (not their users).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn directory_apps_only(&self, account: &AccountName) -> Result<Directory> {
        type AppRow = (String, String, Option<String>, Option<String>, Option<String>);
        let a = account.as_str();
        let (apps, app_groups) = with_pool!(self, pool => {
            let apps: Vec<AppRow> =
                sqlx::query_as("SELECT id, label, name, status, sign_on_mode FROM dir_apps WHERE account = $1")
                    .bind(a)
                    .fetch_all(pool)
                    .await?;
            let app_groups: Vec<(String, String)> =
                sqlx::query_as("SELECT app_id, group_id FROM dir_app_groups WHERE account = $1")
                    .bind(a)
                    .fetch_all(pool)
                    .await?;
            (apps, app_groups)
        });
        let mut dir = Directory::default();
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
        dir.app_groups = app_groups.into_iter().collect();
        Ok(dir)
    }

    /// The stored users and groups of `account` that full pass `run` has not seen.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`]; [`crate::error::Error::Unreadable`].
    pub async fn unseen(&self, account: &AccountName, run: i64) -> Result<(Vec<DirUser>, Vec<DirGroup>)> {
        let (users, groups): (Vec<UserRow>, Vec<GroupRow>) = with_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(SELECT_USERS.trim_end_matches("$1"));
            q.push_bind(account.as_str()).push(" AND seen <> ").push_bind(run);
            let users = q.build_query_as().fetch_all(pool).await?;
            let mut q = sqlx::QueryBuilder::new(SELECT_GROUPS);
            q.push_bind(account.as_str()).push(" AND seen <> ").push_bind(run);
            let groups = q.build_query_as().fetch_all(pool).await?;
            (users, groups)
        });
        let users = users.into_iter().map(user_of).collect::<Result<Vec<_>>>()?;
        Ok((users, groups.into_iter().map(group_of).collect()))
    }

    /// Counts of `account`'s stored directory, as a sync's summary says them.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn directory_counts(&self, account: &AccountName) -> Result<Value> {
        let a = account.as_str();
        type Counts = (i64, i64, i64, i64, i64);
        let (by_status, counts): (Vec<(String, i64)>, Counts) = with_pool!(self, pool => {
            let by_status = sqlx::query_as("SELECT status, COUNT(*) FROM dir_users WHERE account = $1 GROUP BY status ORDER BY status")
                .bind(a)
                .fetch_all(pool)
                .await?;
            let counts = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM dir_groups WHERE account = $1), \
                 (SELECT COUNT(DISTINCT group_id) FROM dir_members WHERE account = $1), \
                 (SELECT COUNT(*) FROM dir_members WHERE account = $1), \
                 (SELECT COUNT(*) FROM dir_apps WHERE account = $1), \
                 (SELECT COUNT(*) FROM dir_app_users WHERE account = $1)",
            )
            .bind(a)
            .fetch_one(pool)
            .await?;
            (by_status, counts)
        });
        let users: i64 = by_status.iter().map(|(_, n)| n).sum();
        let by_status: serde_json::Map<String, Value> = by_status.into_iter().map(|(s, n)| (s, json!(n))).collect();
        let (groups, with_members, memberships, apps, assignments) = counts;
        Ok(json!({
            "users": users,
            "usersByStatus": by_status,
            "groups": groups,
            "groupsWithMembers": with_members,
            "memberships": memberships,
            "apps": apps,
            "appAssignments": assignments,
        }))
    }
}
