//! `app_roles`: the application's roles, replaced whole in one transaction.

use super::{Pool, Store, with_pool};
use crate::error::{Conflict, Error, Result};
use crate::model::{AccountName, Role, RoleMapping, RoleMappings, now};

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
            sqlx::query("DELETE FROM app_roles").execute(&mut *tx).await?;
            let named: Vec<(String, String)> = sqlx::query_as(
                "SELECT account, roles FROM role_mappings UNION ALL \
                 SELECT account, '[\"' || role || '\"]' FROM role_defaults WHERE role IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await?;
            let mut in_use: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
            for (account, slugs) in named {
                for slug in serde_json::from_str::<Vec<String>>(&slugs).unwrap_or_default() {
                    if !roles.iter().any(|r| r.slug == slug) {
                        in_use.entry(slug).or_default().insert(account.clone());
                    }
                }
            }
            if let Some((role, accounts)) = in_use.into_iter().next() {
                return Err(Conflict::RoleInUse {
                    role,
                    accounts: accounts.into_iter().collect::<Vec<_>>().join(", "),
                }
                .into());
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
    /// Replaces `account`'s role mappings with `m`, set by `actor`, audited, in one transaction.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `m` names a role no longer declared;
    /// [`crate::error::Error::Database`].
    pub async fn put_role_mappings(&self, account: &AccountName, m: &RoleMappings, actor: &str) -> Result<()> {
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
        with_pool!(self, pool => {
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
            sqlx::query(
                "INSERT INTO connection_audit (account, org_url, event, detail, at, actor) VALUES ($1, '', 'role_mappings_set', $2, $3, $4)",
            )
            .bind(a)
            .bind(&detail)
            .bind(at)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
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
