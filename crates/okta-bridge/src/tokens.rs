//! Fresh access tokens for stored connections.
//!
//! A token is refreshed when it has less than the refresh margin left, exactly once per expiry
//! across every task and every process sharing the database:
//! - within a process, one task per connection goes on (a per-account lock);
//! - across processes, that task must take the connection's *refresh lease* in the database (a
//!   single conditional `UPDATE`, so one taker wins, on SQLite and PostgreSQL alike). The lease
//!   runs out by itself, so a process that dies holding it blocks no one for long;
//! - everyone else waits for the row's version to change and uses the tokens written there,
//!   never refreshing again; a wait that runs out is reported as such
//!   ([`Error::RefreshWaitTimeout`]), never as invalid credentials.
//!
//! The new token set is written with a compare-and-swap on the row's version (which also
//! clears the lease) *before* the new access token is used, so a rotated refresh token is never
//! lost.

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
    /// This process's name in refresh leases.
    instance: String,
    /// How long a lease lasts (longer than a refresh ever should take).
    lease: Duration,
    /// How long to wait for another instance's refresh before giving up.
    wait: Duration,
}

/// How long a refresh lease lasts by default.
const LEASE: Duration = Duration::from_secs(30);

impl Refresher {
    /// `oauth` is the app that refreshes tokens (`None` when no OAuth client is configured:
    /// then expired connections cannot be refreshed).
    pub fn new(store: Store, oauth: Option<OAuthApp>, margin: Duration) -> Self {
        Self {
            store,
            oauth,
            margin,
            locks: Mutex::new(HashMap::new()),
            instance: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            lease: LEASE,
            wait: LEASE + Duration::from_secs(5),
        }
    }

    /// Sets how long to wait for another instance's refresh (default: the lease and 5 s).
    #[must_use]
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    fn lock_for(&self, account: &AccountName) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("locks mutex")
            .entry(account.to_string())
            .or_default()
            .clone()
    }

    async fn load(&self, account: &AccountName) -> Result<crate::store::Connection> {
        self.store
            .connection(account)
            .await?
            .ok_or_else(|| Error::UnknownConnection(account.to_string()))
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
        let conn = self.load(account).await?;
        if self.fresh(conn.expires_at) {
            return Ok(conn.access_token);
        }
        let lock = self.lock_for(account);
        let _guard = lock.lock().await;
        // Someone may have refreshed while we waited.
        let conn = self.load(account).await?;
        if self.fresh(conn.expires_at) {
            return Ok(conn.access_token);
        }
        // Across processes: take the lease, or wait for whoever holds it.
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let until = time::OffsetDateTime::now_utc().unix_timestamp() + self.lease.as_secs() as i64;
            if self.store.take_refresh_lease(account, &self.instance, until).await? {
                break;
            }
            if started.elapsed() >= self.wait {
                return Err(Error::RefreshWaitTimeout {
                    account: account.to_string(),
                    waited_ms: started.elapsed().as_millis(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
            let now = self.load(account).await?;
            if now.version != conn.version {
                // The holder wrote new tokens: use them, never refresh again.
                return Ok(now.access_token);
            }
        }
        let result = self.refresh_holding_lease(account).await;
        if result.is_err() {
            // Let another instance try; the lease would run out anyway.
            if let Err(e) = self.store.release_refresh_lease(account, &self.instance).await {
                tracing::warn!(account = %account, error = %e, "could not release the refresh lease");
            }
        }
        result
    }

    /// The refresh itself, by the holder of the lease.
    async fn refresh_holding_lease(&self, account: &AccountName) -> Result<SecretString> {
        // Another instance may have refreshed between our read and our lease.
        let conn = self.load(account).await?;
        if self.fresh(conn.expires_at) {
            self.store.release_refresh_lease(account, &self.instance).await?;
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
        let conn = self.load(account).await?;
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
