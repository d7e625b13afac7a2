//! `connection_audit`: what happened to connections and accounts, kept after they are gone
//! (names, events and who did them, never secrets). Records are written in the transaction of
//! the change.

use super::{Pool, Store, with_pool};
use crate::error::Result;
use crate::model::{AccountName, AuditRecord, now};

/// Inserts a record: account, org, event, detail, time.
pub(super) const INSERT: &str =
    "INSERT INTO connection_audit (account, org_url, event, detail, at) VALUES ($1, $2, $3, $4, $5)";

/// Inserts a record of an account's setting changed by someone: account, event, detail, time,
/// who.
pub(super) const INSERT_SETTING: &str =
    "INSERT INTO connection_audit (account, org_url, event, detail, at, actor) VALUES ($1, '', $2, $3, $4, $5)";

impl Store {
    /// The audit log of `account`, oldest first.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn audit(&self, account: &AccountName) -> Result<Vec<AuditRecord>> {
        let rows: Vec<(String, Option<String>, Option<String>, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT event, detail, actor, at FROM connection_audit WHERE account = $1 ORDER BY at")
                .bind(account.as_str())
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(event, detail, actor, at)| AuditRecord {
                event,
                detail,
                actor,
                at,
            })
            .collect())
    }

    /// Records that `actor` did `event` (`detail`: what, never a secret) to `account` at `org`.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn audit_by(
        &self,
        account: &AccountName,
        org: &str,
        event: &str,
        detail: &str,
        actor: &str,
    ) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO connection_audit (account, org_url, event, detail, at, actor) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(account.as_str())
            .bind(org)
            .bind(event)
            .bind(detail)
            .bind(now())
            .bind(actor)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
