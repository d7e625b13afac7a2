//! `sync_scopes`: which of an org's users each account's directory holds (no row: the whole
//! org).

use serde_json::{Value, json};

use super::{Pool, Store, with_pool};
use crate::error::{Error, Result};
use crate::model::{AccountName, SyncScope, now, rfc3339};

/// An account's scope as stored, with who set it and when (`None`s: never set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredScope {
    /// `None`: the whole org.
    pub scope: Option<SyncScope>,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

impl StoredScope {
    /// As the API and the CLI show it: `all`, `groups` or `app` (the others null), and who set
    /// it when (RFC 3339).
    pub fn view(&self, account: &AccountName) -> Value {
        let (groups, app) = match &self.scope {
            None => (None, None),
            Some(SyncScope::Groups(g)) => (Some(g), None),
            Some(SyncScope::App(a)) => (None, Some(a)),
        };
        json!({
            "account": account,
            "all": self.scope.is_none(),
            "groups": groups,
            "app": app,
            "updatedAt": self.updated_at.and_then(rfc3339),
            "updatedBy": self.updated_by,
        })
    }
}

impl Store {
    /// Sets `account`'s scope (`None`: the whole org), audited with `actor`; the next sync run
    /// reads the org whole (a full pass under the new scope), so that it says exactly the
    /// difference.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn put_scope(&self, account: &AccountName, scope: Option<&SyncScope>, actor: &str) -> Result<()> {
        let a = account.as_str();
        let at = now();
        let detail = format!("the directory holds {}", SyncScope::describe(scope));
        let json = scope.map(|s| serde_json::to_string(s).unwrap_or_default());
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            match &json {
                Some(json) => {
                    sqlx::query(
                        "INSERT INTO sync_scopes (account, scope, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (account) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    )
                    .bind(a)
                    .bind(json)
                    .bind(at)
                    .bind(actor)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM sync_scopes WHERE account = $1").bind(a).execute(&mut *tx).await?;
                }
            }
            // The next run is a full pass (a pass in progress under another scope is left:
            // the next run starts again under this one).
            sqlx::query("UPDATE dir_sync SET last_full_at = NULL WHERE account = $1")
                .bind(a)
                .execute(&mut *tx)
                .await?;
            sqlx::query(super::audit::INSERT_SETTING)
                .bind(a)
                .bind("sync_scope_set")
            .bind(&detail)
            .bind(at)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// `account`'s scope.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`] for a scope this version cannot read.
    pub async fn scope(&self, account: &AccountName) -> Result<StoredScope> {
        let row: Option<(String, i64, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT scope, updated_at, updated_by FROM sync_scopes WHERE account = $1")
                .bind(account.as_str())
                .fetch_optional(pool)
                .await?
        });
        let Some((json, at, by)) = row else {
            return Ok(StoredScope::default());
        };
        let scope = serde_json::from_str(&json).map_err(|_| Error::Unreadable {
            table: "sync_scopes",
            row: account.to_string(),
            column: "scope",
            value: json.clone(),
        })?;
        Ok(StoredScope {
            scope: Some(scope),
            updated_at: Some(at),
            updated_by: Some(by),
        })
    }
}
