//! `app_roles`: the application's roles, replaced whole in one transaction.

use super::{Pool, Store, with_pool};
use crate::error::Result;
use crate::model::{Role, now};

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
    /// Replaces the application's roles with `roles` (in their order), declared by `actor`.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn put_roles(&self, roles: &[Role], actor: &str) -> Result<()> {
        let at = now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM app_roles").execute(&mut *tx).await?;
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
