//! `connection_audit`: what happened to connections and accounts, kept after they are gone
//! (names and events, never secrets). Records are written in the transaction of the change.

use super::{Pool, Store, with_pool};
use crate::error::Result;
use crate::model::{AccountName, AuditRecord};

/// Inserts a record: account, org, event, detail, time.
pub(super) const INSERT: &str =
    "INSERT INTO connection_audit (account, org_url, event, detail, at) VALUES ($1, $2, $3, $4, $5)";

impl Store {
    /// The audit log of `account`, oldest first.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn audit(&self, account: &AccountName) -> Result<Vec<AuditRecord>> {
        let rows: Vec<(String, Option<String>, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT event, detail, at FROM connection_audit WHERE account = $1 ORDER BY at")
                .bind(account.as_str())
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(event, detail, at)| AuditRecord { event, detail, at })
            .collect())
    }
}
