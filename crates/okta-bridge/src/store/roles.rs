//! `app_roles`: the application's roles, replaced whole in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Pool, Store, with_pool};
use crate::error::{Conflict, Error, Result};
use crate::model::{AccountName, Role, RoleMapping, RoleMappings, now};

/// Re-evaluates the roles of every user of account `$a` in transaction `$tx` (a batch at a
/// time, in the order of their ids), writing a `user.updated` (`"changed": ["roles"]`) recorded
/// `$at` for each whose roles changed, numbered after the account's last event (its sync row
/// locked first). Answers how many events it wrote.
macro_rules! reevaluate_all {
    ($tx:ident, $a:expr, $at:expr) => {{
        let (a, at): (&str, i64) = ($a, $at);
        let locked = sqlx::query("UPDATE dir_sync SET next_seq = next_seq WHERE account = $1")
            .bind(a)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
        let config = super::roles::role_config!($tx, a);
        let mut said = 0_i64;
        if let (1, Some(config)) = (locked, &config) {
            let mut after = String::new();
            loop {
                let ids: Vec<(String,)> =
                    sqlx::query_as("SELECT id FROM dir_users WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3")
                        .bind(a)
                        .bind(&after)
                        .bind(i64::try_from(super::directory::BATCH).unwrap_or(1000))
                        .fetch_all(&mut *$tx)
                        .await?;
                let Some((last,)) = ids.last() else { break };
                after = last.clone();
                let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
                let evaluated = super::roles::evaluate_roles!($tx, a, &ids, config);
                let changed: std::collections::BTreeMap<&str, &Vec<String>> = evaluated
                    .iter()
                    .filter(|(_, _, c)| *c)
                    .map(|(id, r, _)| (id.as_str(), r))
                    .collect();
                if changed.is_empty() {
                    continue;
                }
                let events = super::roles::roles_events!(
                    $tx,
                    a,
                    evaluated.iter().filter(|(_, _, c)| *c).map(|(id, _, _)| id),
                    |id: &str| changed.get(id).copied()
                );
                let n = i64::try_from(events.len()).unwrap_or(0);
                let (next,): (i64,) = sqlx::query_as(
                    "UPDATE dir_sync SET next_seq = next_seq + $2 WHERE account = $1 RETURNING next_seq",
                )
                .bind(a)
                .bind(n)
                .fetch_one(&mut *$tx)
                .await?;
                super::directory::Bulk::events(&mut *$tx, a, next - n, at, &events).await?;
                said += n;
            }
        }
        said
    }};
}

/// The roles as stored, with when and by whom they were last declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRoles {
    /// Highest priority first.
    pub roles: Vec<Role>,
    /// When they were declared (none before the first declaration).
    pub updated_at: Option<i64>,
    /// Who declared them (`admin token`, `api key NAME (ak_…)`, `cli`).
    pub updated_by: Option<String>,
}

impl Store {
    /// Replaces the application's roles with `roles` (in their order), declared by `actor`,
    /// unless an account's role mappings name one that `roles` leaves out.
    ///
    /// # Errors
    /// [`Conflict::RoleInUse`]; [`crate::error::Error::Database`].
    pub async fn put_roles(&self, roles: &[Role], actor: &str) -> Result<()> {
        let at = now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // The old roles go first (their rows locked until the commit), then what the
            // mappings name is read: a mapping set meanwhile, which reads the roles under a
            // share lock, either commits first and is read here, or waits and reads these.
            let old: Vec<(String,)> = sqlx::query_as("DELETE FROM app_roles RETURNING slug").fetch_all(&mut *tx).await?;
            let mut removed: Vec<String> =
                old.into_iter().map(|(s,)| s).filter(|s| !roles.iter().any(|r| r.slug == *s)).collect();
            removed.sort();
            // Only the roles this declaration leaves out are looked for (at most 100), each in
            // a statement of its own that answers at most a few accounts: never every mapping.
            for slug in removed {
                let pattern = format!("%\"{}\"%", slug.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
                let accounts: Vec<(String,)> = sqlx::query_as(
                    "SELECT account FROM role_mappings WHERE roles LIKE $1 ESCAPE '\\' \
                     UNION SELECT account FROM role_defaults WHERE role = $2 ORDER BY 1 LIMIT 11",
                )
                .bind(&pattern)
                .bind(&slug)
                .fetch_all(&mut *tx)
                .await?;
                if !accounts.is_empty() {
                    let more = accounts.len() > 10;
                    let mut named: Vec<String> = accounts.into_iter().take(10).map(|(a,)| a).collect();
                    if more {
                        named.push("…".into());
                    }
                    return Err(Conflict::RoleInUse {
                        role: slug,
                        accounts: named.join(", "),
                    }
                    .into());
                }
            }
            for (position, r) in (0_i64..).zip(roles) {
                sqlx::query(
                    "INSERT INTO app_roles (slug, name, position, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&r.slug)
                .bind(&r.name)
                .bind(position)
                .bind(at)
                .bind(actor)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The application's roles, highest priority first.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn roles(&self) -> Result<StoredRoles> {
        let rows: Vec<(String, String, i64, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT slug, name, updated_at, updated_by FROM app_roles ORDER BY position")
                .fetch_all(pool)
                .await?
        });
        let mut out = StoredRoles::default();
        for (slug, name, at, by) in rows {
            out.updated_at = Some(at);
            out.updated_by = Some(by);
            out.roles.push(Role { slug, name });
        }
        Ok(out)
    }
}

/// An account's role mappings as stored, with when and by whom they were last set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredMappings {
    pub mappings: RoleMappings,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

impl Store {
    /// Replaces `account`'s role mappings with `m`, set by `actor`, audited, and re-evaluates
    /// the roles of every user of the account (a batch at a time) with a `user.updated` event
    /// for each whose roles changed — all in one transaction. Answers how many events it wrote.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `m` names a role no longer declared;
    /// [`crate::error::Error::Database`].
    pub async fn put_role_mappings(&self, account: &AccountName, m: &RoleMappings, actor: &str) -> Result<i64> {
        let a = account.as_str();
        let declared_sql = match self.dialect() {
            super::scim_sql::Dialect::Sqlite => "SELECT slug FROM app_roles",
            super::scim_sql::Dialect::Postgres => "SELECT slug FROM app_roles FOR SHARE",
        };
        let at = now();
        let detail = format!(
            "{} group(s) mapped to roles; default role: {}",
            m.mappings.len(),
            m.default.as_deref().unwrap_or("none")
        );
        let said = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM role_mappings WHERE account = $1").bind(a).execute(&mut *tx).await?;
            // The roles as declared now (checked before, but a declaration may have come
            // since): a mapping never names a role that is not declared.
            let declared: Vec<(String,)> = sqlx::query_as(declared_sql).fetch_all(&mut *tx).await?;
            let named = m.mappings.iter().flat_map(|x| x.roles.iter()).chain(m.default.iter());
            for slug in named {
                if !declared.iter().any(|(d,)| d == slug) {
                    return Err(Error::invalid(
                        "mappings",
                        format!("role {slug:?} is no longer declared (the roles changed meanwhile): read them again (GET /api/roles)"),
                    ));
                }
            }
            for mapping in &m.mappings {
                sqlx::query("INSERT INTO role_mappings (account, group_id, roles) VALUES ($1, $2, $3)")
                    .bind(a)
                    .bind(&mapping.group)
                    .bind(serde_json::to_string(&mapping.roles).unwrap_or_else(|_| "[]".into()))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO role_defaults (account, role, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(a)
            .bind(m.default.as_deref())
            .bind(at)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            sqlx::query(super::audit::INSERT_SETTING)
                .bind(a)
                .bind("role_mappings_set")
            .bind(&detail)
            .bind(at)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            let said = reevaluate_all!(tx, a, at);
            tx.commit().await?;
            said
        });
        Ok(said)
    }

    /// `account`'s role mappings (groups in the order of their ids).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`]; [`crate::error::Error::Unreadable`] for a mapping
    /// this version cannot read.
    pub async fn role_mappings(&self, account: &AccountName) -> Result<StoredMappings> {
        let a = account.as_str();
        type DefaultRow = Option<(Option<String>, i64, String)>;
        let (rows, default): (Vec<(String, String)>, DefaultRow) = with_pool!(self, pool => {
            let rows = sqlx::query_as("SELECT group_id, roles FROM role_mappings WHERE account = $1 ORDER BY group_id")
                .bind(a)
                .fetch_all(pool)
                .await?;
            let default = sqlx::query_as("SELECT role, updated_at, updated_by FROM role_defaults WHERE account = $1")
                .bind(a)
                .fetch_optional(pool)
                .await?;
            (rows, default)
        });
        let mut out = StoredMappings::default();
        for (group, roles) in rows {
            let parsed = serde_json::from_str(&roles).map_err(|_| Error::Unreadable {
                table: "role_mappings",
                row: format!("{a}/{group}"),
                column: "roles",
                value: roles.clone(),
            })?;
            let roles = parsed;
            out.mappings.mappings.push(RoleMapping { group, roles });
        }
        if let Some((role, at, by)) = default {
            out.mappings.default = role;
            out.updated_at = Some(at);
            out.updated_by = Some(by);
        }
        Ok(out)
    }
}

/// A user's roles: those of every mapped group in `groups`, else `default`; alphabetical, once
/// each.
pub(super) fn roles_of<'g>(
    groups: impl Iterator<Item = &'g String>,
    mapped: &BTreeMap<String, Vec<String>>,
    default: Option<&String>,
) -> Vec<String> {
    let mut roles: BTreeSet<String> = groups.filter_map(|g| mapped.get(g)).flatten().cloned().collect();
    if roles.is_empty()
        && let Some(d) = default
    {
        roles.insert(d.clone());
    }
    roles.into_iter().collect()
}

/// The roles stored in a `dir_users.roles` value (none: never evaluated, which says the same
/// as no roles).
pub(super) fn stored_roles(value: Option<&str>) -> Vec<String> {
    value.and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
}

/// Whether an event of type `t` is about a user who is still there (its data is the user).
pub(super) fn about_a_user(t: crate::model::EventType) -> bool {
    use crate::model::EventType as T;
    matches!(
        t,
        T::UserCreated
            | T::UserUpdated
            | T::UserDeactivated
            | T::UserReactivated
            | T::UserSuspended
            | T::UserUnsuspended
    )
}

/// The payload of the `user.updated` event that says `user`'s roles changed to `roles`.
pub(super) fn roles_event(user: &crate::model::DirUser, roles: &[String]) -> crate::model::NewEvent {
    let mut data = serde_json::to_value(user).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut data {
        m.insert("roles".into(), json!(roles));
        m.insert("changed".into(), json!(["roles"]));
    }
    crate::model::NewEvent {
        event_type: crate::model::EventType::UserUpdated,
        object_id: user.id.clone(),
        occurred_at: None,
        data,
    }
}

/// The `user.updated` events (`"changed": ["roles"]`) of the users `$ids` (`&String`s, at most a
/// batch) of account `$a`, read in transaction `$tx`, each with the roles `$roles` (a function
/// of the user's id) gives it, in the order of their ids.
macro_rules! roles_events {
    ($tx:ident, $a:expr, $ids:expr, $roles:expr) => {{
        let mut q = sqlx::QueryBuilder::new(super::directory::SELECT_USERS.trim_end_matches("$1"));
        q.push_bind($a);
        super::push_in!(q, "id", $ids);
        q.push(" ORDER BY id");
        let rows: Vec<super::directory::UserRow> = q.build_query_as().persistent(false).fetch_all(&mut *$tx).await?;
        let roles_of = $roles;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let user = super::directory::user_of(row)?;
            if let Some(r) = roles_of(user.id.as_str()) {
                events.push(super::roles::roles_event(&user, r));
            }
        }
        events
    }};
}
pub(super) use roles_events;

/// The role configuration of account `$a` in transaction `$tx`: `None` when it has none (its
/// users carry no roles), else its mapped groups' roles and its default role.
macro_rules! role_config {
    ($tx:ident, $a:expr) => {{
        let config: Option<(Option<String>,)> = sqlx::query_as("SELECT role FROM role_defaults WHERE account = $1")
            .bind($a)
            .fetch_optional(&mut *$tx)
            .await?;
        match config {
            None => None,
            Some((default,)) => {
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SELECT group_id, roles FROM role_mappings WHERE account = $1")
                        .bind($a)
                        .fetch_all(&mut *$tx)
                        .await?;
                let mapped: std::collections::BTreeMap<String, Vec<String>> = rows
                    .into_iter()
                    .map(|(g, r)| (g, super::roles::stored_roles(Some(&r))))
                    .collect();
                Some((mapped, default))
            }
        }
    }};
}
pub(super) use role_config;

/// Evaluates the roles of the users `$ids` (at most a batch) of account `$a` in transaction
/// `$tx` under `$config` (from [`role_config`]), stores those that changed (or were never
/// evaluated), and answers each user found with its roles and whether they changed.
macro_rules! evaluate_roles {
    ($tx:ident, $a:expr, $ids:expr, $config:expr) => {{
        let (a, ids, (mapped, default)): (
            &str,
            &[String],
            &(std::collections::BTreeMap<String, Vec<String>>, Option<String>),
        ) = ($a, $ids, $config);
        let mut q = sqlx::QueryBuilder::new("SELECT id, roles FROM dir_users WHERE account = ");
        q.push_bind(a);
        super::push_in!(q, "id", ids);
        let stored: Vec<(String, Option<String>)> = q.build_query_as().persistent(false).fetch_all(&mut *$tx).await?;
        let mut q = sqlx::QueryBuilder::new("SELECT user_id, group_id FROM dir_members WHERE account = ");
        q.push_bind(a);
        super::push_in!(q, "user_id", ids);
        let memberships: Vec<(String, String)> = q.build_query_as().persistent(false).fetch_all(&mut *$tx).await?;
        let mut groups: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
        for (u, g) in memberships {
            groups.entry(u).or_default().push(g);
        }
        let mut out: Vec<(String, Vec<String>, bool)> = Vec::with_capacity(stored.len());
        // The users to write, by their new roles (a few distinct sets): one statement each.
        let mut writes: std::collections::BTreeMap<String, Vec<&String>> = std::collections::BTreeMap::new();
        for (id, before) in &stored {
            let roles = super::roles::roles_of(groups.get(id).into_iter().flatten(), mapped, default.as_ref());
            let changed = roles != super::roles::stored_roles(before.as_deref());
            if changed || before.is_none() {
                writes
                    .entry(serde_json::to_string(&roles).unwrap_or_else(|_| "[]".into()))
                    .or_default()
                    .push(id);
            }
            out.push((id.clone(), roles, changed));
        }
        for (roles, users) in writes {
            let mut q = sqlx::QueryBuilder::new("UPDATE dir_users SET roles = ");
            q.push_bind(roles).push(" WHERE account = ").push_bind(a);
            super::push_in!(q, "id", users);
            q.build().persistent(false).execute(&mut *$tx).await?;
        }
        out
    }};
}
pub(super) use evaluate_roles;

impl Store {
    /// The roles of those of `ids` (users of `account`, at most a page) that carry roles (an
    /// account with role mappings); the others are left out.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn user_roles(&self, account: &AccountName, ids: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(super::directory::BATCH) {
            let rows: Vec<(String, String)> = with_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new("SELECT id, roles FROM dir_users WHERE roles IS NOT NULL AND account = ");
                q.push_bind(account.as_str());
                super::push_in!(q, "id", chunk);
                q.build_query_as().persistent(false).fetch_all(pool).await?
            });
            out.extend(rows.into_iter().map(|(id, r)| (id, stored_roles(Some(&r)))));
        }
        Ok(out)
    }
}
