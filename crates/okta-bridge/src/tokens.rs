//! Fresh access tokens for stored connections.
//!
//! A token is refreshed when it has less than the refresh margin left. Within a process one
//! refresh per connection runs at a time (a per-account lock); the new token set is written
//! with a compare-and-swap on the row's version *before* the new access token is used, so a
//! rotated refresh token is never lost. If another writer got there first, its tokens are used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use okta_client::{AccessToken, TokenSource, TokenSourceError};
use secrecy::{ExposeSecret, SecretString};

use crate::connect::OAuthApp;
use crate::domain::AccountName;
use crate::error::{Error, Result};
use crate::store::Store;

/// Hands out access tokens for stored connections, refreshing them ahead of expiry.
#[derive(Debug)]
pub struct Refresher {
    store: Store,
    oauth: Option<OAuthApp>,
    margin: Duration,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Refresher {
    /// `oauth` is the app that refreshes tokens (`None` when no OAuth client is configured:
    /// then expired connections cannot be refreshed).
    pub fn new(store: Store, oauth: Option<OAuthApp>, margin: Duration) -> Self {
        Self {
            store,
            oauth,
            margin,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock_for(&self, account: &AccountName) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("locks mutex")
            .entry(account.to_string())
            .or_default()
            .clone()
    }

    fn fresh(&self, expires_at: i64) -> bool {
        expires_at - self.margin.as_secs() as i64 > time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// A valid access token of `account`.
    ///
    /// # Errors
    /// [`Error::UnknownConnection`], [`Error::Reconnect`] when it cannot be refreshed,
    /// [`Error::OAuth`]/[`Error::Database`] on failures.
    pub async fn access_token(&self, account: &AccountName) -> Result<SecretString> {
        let conn = self
            .store
            .connection(account)
            .await?
            .ok_or_else(|| Error::UnknownConnection(account.to_string()))?;
        if self.fresh(conn.expires_at) {
            return Ok(conn.access_token);
        }
        let lock = self.lock_for(account);
        let _guard = lock.lock().await;
        // Someone may have refreshed while we waited.
        let conn = self
            .store
            .connection(account)
            .await?
            .ok_or_else(|| Error::UnknownConnection(account.to_string()))?;
        if self.fresh(conn.expires_at) {
            return Ok(conn.access_token);
        }
        let refresh_token = conn.refresh_token.as_ref().ok_or_else(|| Error::Reconnect {
            account: account.to_string(),
            reason: "the access token expired and there is no refresh token (ask for the offline_access scope)".into(),
        })?;
        let oauth = self
            .oauth
            .as_ref()
            .filter(|o| o.org() == &conn.org_url)
            .ok_or_else(|| Error::Reconnect {
                account: account.to_string(),
                reason: format!(
                    "no OAuth client is configured for {}, so its token cannot be refreshed",
                    conn.org_url
                ),
            })?;
        let tokens = oauth.refresh(account, refresh_token).await?;
        if self.store.update_tokens(account, conn.version, &tokens).await? {
            tracing::info!(account = %account, "access token refreshed");
            return Ok(tokens.access_token);
        }
        // Another writer replaced the tokens first; theirs are the current ones.
        let conn = self
            .store
            .connection(account)
            .await?
            .ok_or_else(|| Error::UnknownConnection(account.to_string()))?;
        Ok(conn.access_token)
    }
}

/// The [`TokenSource`] of one stored connection, for `okta_client::Client`.
#[derive(Debug, Clone)]
pub struct ConnectionTokenSource {
    refresher: Arc<Refresher>,
    account: AccountName,
}

impl ConnectionTokenSource {
    /// Tokens of `account`.
    pub fn new(refresher: Arc<Refresher>, account: AccountName) -> Self {
        Self { refresher, account }
    }
}

#[async_trait]
impl TokenSource for ConnectionTokenSource {
    async fn access_token(&self) -> Result<AccessToken, TokenSourceError> {
        match self.refresher.access_token(&self.account).await {
            Ok(t) => Ok(AccessToken::new(t.expose_secret())),
            Err(e) => Err(TokenSourceError::with_source(e.to_string(), e)),
        }
    }
}
