//! `oauth_states`: pending authorizations, single-use and expiring (hashes only; the PKCE
//! verifier sealed).

use secrecy::ExposeSecret;

use super::keys::pending_ctx;
use super::{Pool, Store, with_pool};
use crate::error::{Error, Result};
use crate::model::{AccountName, PendingAuthorization, PkceVerifier, now};

#[derive(sqlx::FromRow)]
struct StateRow {
    browser_hash: String,
    pkce_verifier: Vec<u8>,
    account: Option<String>,
    expires_at: i64,
}

impl Store {
    /// Records a pending authorization (and forgets expired ones).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn put_pending(&self, p: &PendingAuthorization) -> Result<()> {
        let verifier = self
            .key
            .seal(&pending_ctx(&p.state_hash), p.pkce_verifier.expose_secret().as_bytes());
        let now = now();
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1").bind(now).execute(pool).await?;
            sqlx::query(
                "INSERT INTO oauth_states (state_hash, browser_hash, pkce_verifier, account, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&p.state_hash)
            .bind(&p.browser_hash)
            .bind(verifier)
            .bind(p.account.as_ref().map(AccountName::as_str))
            .bind(now)
            .bind(p.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes and returns the pending authorization with this state hash: a state can be
    /// taken once, whatever happens next.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Decrypt`], [`Error::Unreadable`].
    pub async fn take_pending(&self, state_hash: &str) -> Result<Option<PendingAuthorization>> {
        let row: Option<StateRow> = with_pool!(self, pool => {
            sqlx::query_as("DELETE FROM oauth_states WHERE state_hash = $1 RETURNING browser_hash, pkce_verifier, account, expires_at")
                .bind(state_hash)
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else { return Ok(None) };
        let verifier = self.open_text(&pending_ctx(state_hash), &row.pkce_verifier)?;
        let account = match row.account.as_deref() {
            None => None,
            Some(a) => Some(AccountName::parse(a).map_err(|_| Error::Unreadable {
                table: "oauth_states",
                row: state_hash.to_owned(),
                column: "account",
                value: a.to_owned(),
            })?),
        };
        Ok(Some(PendingAuthorization {
            state_hash: state_hash.to_owned(),
            browser_hash: row.browser_hash,
            pkce_verifier: PkceVerifier::new(verifier),
            account,
            expires_at: row.expires_at,
        }))
    }
}
