//! Fresh access tokens for stored connections.
//!
//! A token is refreshed when it has less than the refresh margin left (at most half its
//! lifetime, so tokens shorter than the margin do not make every request a refresh), exactly
//! once per expiry across every task and every process sharing the database:
//! - within a process, one task per connection goes on (a per-account lock);
//! - across processes, that task must take the connection's *refresh lease* in the database (a
//!   single conditional `UPDATE`, so one taker wins, on SQLite and PostgreSQL alike). The lease
//!   is short ([`LEASE`]) and its holder renews it every [`HEARTBEAT`] while it works, so a live
//!   holder keeps it however slow the token endpoint is, and a dead one is visible within
//!   seconds;
//! - everyone else waits for the row's version to change and uses the tokens written there,
//!   never refreshing again; a wait that runs out is reported as such
//!   ([`Error::RefreshWaitTimeout`]), never as invalid credentials.
//!
//! The new token set is written with a compare-and-swap on the row's version (which also
//! clears the lease) *before* the new access token is used, so a rotated refresh token is never
//! lost; every other write (marking a connection `needs_reauth`, …) is conditional on the
//! version its writer read too, so a late refusal of old tokens cannot spoil new ones.
//!
//! A holder that dies after Okta rotated the refresh token but before the commit leaves a lease
//! that runs out while still held: [`Refresher::recover_abandoned`] (run at start-up and every
//! [`RECOVERY_TICK`] by [`Refresher::spawn_recovery`]) takes such a lease over and completes
//! the refresh at once with the stored (old) refresh token, which Okta still accepts within
//! its refresh-token leeway (30 s by default; 0–60 s). See docs/reliability.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use okta_client::{TokenSource, TokenSourceError};
use secrecy::ExposeSecret;

use crate::apps::Apps;
use crate::error::{Error, OAuthFailure, Result};
use crate::model::{AccessToken, AccountName, Connection, ConnectionStatus, Expiry, RefreshToken, TokenSet, now};
use crate::oauth::OAuthApp;
use crate::store::Store;

/// When a token is due for a refresh.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// When it has less than this left, at most half its lifetime (a request's refresh).
    Within(Duration),
    /// When it has less than this left (the background refresher's look ahead, once a tick).
    Ahead(Duration),
    /// Now, whatever its expiry.
    Now,
    /// Now, if the connection is still at this version (the org refused its token).
    Refused(i64),
}

/// Hands out access tokens for stored connections, refreshing them ahead of expiry.
#[derive(Debug)]
pub struct Refresher {
    store: Store,
    apps: Arc<Apps>,
    margin: Duration,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// This process's name in refresh leases.
    instance: String,
    /// How long a lease lasts (longer than a refresh ever should take).
    lease: Duration,
    /// How long to wait for another instance's refresh before giving up.
    wait: Duration,
    /// Refresh outcomes per (account, outcome), for metrics.
    outcomes: Mutex<std::collections::BTreeMap<(String, &'static str), u64>>,
}

/// How long a refresh lease lasts without a heartbeat. Its holder renews it every
/// [`HEARTBEAT`] while it works, so it bounds how long a *dead* holder blocks others: with the
/// store's whole-second clock and [`RECOVERY_TICK`], an abandoned refresh is taken over about
/// 6–7 s after its holder died, within Okta's default leeway (30 s) and a 10 s one.
pub const LEASE: Duration = Duration::from_secs(5);

/// How often a lease holder renews its lease while it works.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How often [`Refresher::spawn_recovery`] looks for abandoned refreshes.
pub const RECOVERY_TICK: Duration = Duration::from_secs(1);

/// How long to wait, by default, for another instance's refresh: longer than a refresh may
/// take while its holder is alive (three token attempts of at most 8 s each and their pauses).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Connections refreshed (or recovered) at once by the background work of one instance: a slow
/// or dead authorization server holds one of these, the other connections' refreshes go on.
pub const REFRESH_CONCURRENCY: usize = 8;

/// Aborts a spawned task when dropped (the lease heartbeat ends with the work it covers).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lease_until(lease: Duration) -> i64 {
    now().saturating_add(i64::try_from(lease.as_secs()).unwrap_or(i64::MAX / 2))
}

impl Refresher {
    /// Refreshes with the apps of `apps` (shared with the service, which connects with them),
    /// `margin` before tokens expire.
    pub fn new(store: Store, apps: Arc<Apps>, margin: Duration) -> Self {
        Self {
            store,
            apps,
            margin,
            locks: Mutex::new(HashMap::new()),
            instance: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
            lease: LEASE,
            wait: DEFAULT_WAIT,
            outcomes: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Sets how long to wait for another instance's refresh (default: [`DEFAULT_WAIT`]).
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

    async fn load(&self, account: &AccountName) -> Result<Connection> {
        self.store
            .connection(account)
            .await?
            .ok_or_else(|| Error::UnknownConnection(account.to_string()))
    }

    /// Whether `conn`'s access token is not `due` yet.
    fn fresh(conn: &Connection, due: Due) -> bool {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let margin = match (due, conn.expires_at) {
            (Due::Now, _) => return false,
            (Due::Refused(v), _) => return conn.version != v,
            (Due::Ahead(ahead), _) => secs(ahead),
            // Never more than half the token's lifetime: a server that issues tokens shorter
            // than the margin must not turn every request into a refresh. The row was written
            // when the token was issued, so `updated_at` stands for its issue time.
            (Due::Within(margin), Expiry::At(t)) => secs(margin).min(t.saturating_sub(conn.updated_at).max(0) / 2),
            (Due::Within(margin), Expiry::Never) => secs(margin),
        };
        conn.expires_at.fresh_at(now(), margin)
    }

    fn count(&self, account: &AccountName, outcome: &'static str) {
        *self
            .outcomes
            .lock()
            .expect("outcomes mutex")
            .entry((account.to_string(), outcome))
            .or_default() += 1;
    }

    /// Refresh outcomes so far, per account: `refreshed`, `recovered` (an abandoned refresh
    /// completed), `needs_reauth`, `app_rejected` (Okta refused the app), `failed` (a transient
    /// failure), `kept` (the current token stayed in use after a transient failure).
    pub fn outcomes(&self) -> Vec<(String, &'static str, u64)> {
        self.outcomes
            .lock()
            .expect("outcomes mutex")
            .iter()
            .map(|((a, o), n)| (a.clone(), *o, *n))
            .collect()
    }

    /// A valid access token of `account`.
    ///
    /// # Errors
    /// [`Error::UnknownConnection`], [`Error::Reconnect`] when it cannot be refreshed (and the
    /// connection is then marked `needs_reauth`), [`Error::AppRejected`] when Okta refuses the
    /// app (marked `app_rejected`), [`Error::RefreshWaitTimeout`],
    /// [`Error::OAuth`]/[`Error::Database`] on failures.
    pub async fn access_token(&self, account: &AccountName) -> Result<AccessToken> {
        self.token_with_margin(account, Due::Within(self.margin)).await
    }

    /// Refreshes `account`'s token now, whatever its expiry (same lease and write as any
    /// refresh).
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn refresh_now(&self, account: &AccountName) -> Result<AccessToken> {
        self.token_with_margin(account, Due::Now).await
    }

    /// Refreshes every connected connection whose token expires within `ahead`, as the
    /// background refresher does on each tick. Returns how many were refreshed.
    ///
    /// # Errors
    /// [`Error::Database`] when the connections cannot be listed; a connection that fails is
    /// logged and counted, and the others still go ahead.
    pub async fn refresh_due(&self, ahead: Duration) -> Result<usize> {
        use futures::StreamExt;
        let ahead = ahead.max(self.margin);
        let due = self.store.connections().await?.into_iter().filter(|c| {
            c.status == ConnectionStatus::Connected && c.refresh_token.is_some() && !Self::fresh(c, Due::Ahead(ahead))
        });
        // Each connection's refresh on its own (up to REFRESH_CONCURRENCY at once): one slow
        // authorization server does not hold up the others.
        let refreshed = futures::stream::iter(due)
            .map(|c| async move {
                match self.token_with_margin(&c.account, Due::Ahead(ahead)).await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(account = %c.account, error = %e, "background refresh failed");
                        false
                    }
                }
            })
            .buffer_unordered(REFRESH_CONCURRENCY)
            .filter(|ok| std::future::ready(*ok))
            .count()
            .await;
        Ok(refreshed)
    }

    /// Runs [`refresh_due`](Self::refresh_due) every `every` until the task is dropped.
    pub fn spawn_background(self: Arc<Self>, every: Duration, ahead: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.refresh_due(ahead).await {
                    tracing::warn!(error = %e, "background refresh could not list connections");
                }
            }
        })
    }

    /// Completes every refresh whose holder died mid-way (its lease ran out while still held):
    /// takes the lease over (one instance does) and refreshes at once with the stored refresh
    /// token, which Okta accepts again within its leeway if the dead holder's request rotated
    /// it. Returns how many were completed.
    ///
    /// # Errors
    /// [`Error::Database`] when the connections cannot be read; a connection whose refresh
    /// fails is logged and counted, and the others still go ahead.
    pub async fn recover_abandoned(&self) -> Result<usize> {
        use futures::StreamExt;
        let abandoned = self.store.abandoned_leases().await?;
        let outcomes: Vec<Result<bool>> = futures::stream::iter(abandoned)
            .map(|(account, dead)| async move { self.recover(&account, &dead).await })
            .buffer_unordered(REFRESH_CONCURRENCY)
            .collect()
            .await;
        let mut recovered = 0;
        for outcome in outcomes {
            recovered += usize::from(outcome?);
        }
        Ok(recovered)
    }

    /// Completes the refresh of `account` that `dead` abandoned, if this instance takes its
    /// lease over; whether it did.
    async fn recover(&self, account: &AccountName, dead: &str) -> Result<bool> {
        let lock = self.lock_for(account);
        let _guard = lock.lock().await;
        if !self
            .store
            .take_abandoned_lease(account, dead, &self.instance, lease_until(self.lease))
            .await?
        {
            return Ok(false); // Another instance took it over (or its holder came back).
        }
        tracing::warn!(account = %account, holder = %dead, "a refresh was abandoned mid-way; completing it now");
        match self.under_lease(account, Due::Now).await {
            Ok(_) => {
                self.count(account, "recovered");
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(account = %account, error = %e, "could not complete the abandoned refresh");
                Ok(false)
            }
        }
    }

    /// Runs [`recover_abandoned`](Self::recover_abandoned) now (start-up) and every `every`
    /// until the task is dropped.
    pub fn spawn_recovery(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.recover_abandoned().await {
                    tracing::warn!(error = %e, "could not look for abandoned refreshes");
                }
            }
        })
    }

    /// After the org refused the access token of `account` at `refused_version`: refreshes it
    /// once (Okta may have revoked the access token alone), unless the connection moved past
    /// that version already (then its current token is the one to try). At most one forced
    /// refresh per token, however many requests were refused at once.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn refresh_refused(&self, account: &AccountName, refused_version: i64) -> Result<AccessToken> {
        self.token_with_margin(account, Due::Refused(refused_version)).await
    }

    async fn token_with_margin(&self, account: &AccountName, due: Due) -> Result<AccessToken> {
        let conn = self.load(account).await?;
        conn.usable()?;
        if Self::fresh(&conn, due) {
            return Ok(conn.access_token);
        }
        let lock = self.lock_for(account);
        let _guard = lock.lock().await;
        // Someone may have refreshed while we waited.
        let conn = self.load(account).await?;
        if Self::fresh(&conn, due) {
            return Ok(conn.access_token);
        }
        // Across processes: take the lease, or wait for whoever holds it.
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            if self
                .store
                .take_refresh_lease(account, &self.instance, lease_until(self.lease))
                .await?
            {
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
                // The holder wrote new tokens (or marked the connection): use them, never
                // refresh again.
                now.usable()?;
                return Ok(now.access_token);
            }
        }
        self.under_lease(account, due).await
    }

    /// The refresh by the holder of the lease, renewing the lease every [`HEARTBEAT`] while it
    /// works, then giving it back.
    async fn under_lease(&self, account: &AccountName, due: Due) -> Result<AccessToken> {
        let heartbeat = {
            let (store, account, owner, lease) =
                (self.store.clone(), account.clone(), self.instance.clone(), self.lease);
            AbortOnDrop(tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    match store.renew_refresh_lease(&account, &owner, lease_until(lease)).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(account = %account, "lost the refresh lease while refreshing; the write will check the version");
                            return;
                        }
                        Err(e) => tracing::warn!(account = %account, error = %e, "could not renew the refresh lease"),
                    }
                }
            }))
        };
        let result = self.refresh_holding_lease(account, due).await;
        drop(heartbeat);
        // A successful write cleared the lease already; otherwise let another instance try.
        if let Err(e) = self.store.release_refresh_lease(account, &self.instance).await {
            tracing::warn!(account = %account, error = %e, "could not release the refresh lease");
        }
        result
    }

    /// The refresh itself, by the holder of the lease.
    async fn refresh_holding_lease(&self, account: &AccountName, due: Due) -> Result<AccessToken> {
        // Another instance may have refreshed (or marked it) between our read and our lease.
        let conn = self.load(account).await?;
        conn.usable()?;
        if Self::fresh(&conn, due) {
            return Ok(conn.access_token);
        }
        let refresh_token = conn.refresh_token.as_ref().ok_or_else(|| Error::Reconnect {
            account: account.to_string(),
            reason: "the access token expired and there is no refresh token (ask for the offline_access scope)".into(),
        })?;
        let oauth = self.apps.web_app(account).await?;
        let oauth = oauth
            .as_ref()
            .filter(|o| o.org() == &conn.org_url)
            .ok_or_else(|| Error::Reconnect {
                account: account.to_string(),
                reason: format!(
                    "no OAuth client is configured for {}, so its token cannot be refreshed",
                    conn.org_url
                ),
            })?;
        let tokens = match self.refresh_with_retries(oauth, account, refresh_token).await {
            Ok(t) => t,
            Err(Error::Reconnect { reason, .. }) => {
                // Okta refused the refresh token: only a new connection helps, unless new
                // tokens were written meanwhile (then the refusal was of old ones).
                let status = ConnectionStatus::NeedsReauth(reason.clone());
                if !self.store.mark_connection(account, conn.version, &status).await? {
                    return self.current_after_lost_write(account).await;
                }
                self.count(account, "needs_reauth");
                tracing::warn!(account = %account, %reason, "connection needs to be connected again");
                return Err(Error::Reconnect {
                    account: account.to_string(),
                    reason,
                });
            }
            Err(Error::OAuth {
                kind: OAuthFailure::ClientRejected,
                detail,
                ..
            }) => {
                // Okta refused the app (a rotated client secret, a removed app): no retry,
                // no new connection helps; the account's credentials must change.
                let status = ConnectionStatus::AppRejected(detail.clone());
                if !self.store.mark_connection(account, conn.version, &status).await? {
                    return self.current_after_lost_write(account).await;
                }
                self.count(account, "app_rejected");
                tracing::warn!(account = %account, reason = %detail, "Okta rejected the account's app");
                return Err(Error::AppRejected {
                    account: account.to_string(),
                    reason: detail,
                });
            }
            Err(e) if Self::fresh(&conn, Due::Within(Duration::ZERO)) => {
                // Transient: the current token is still valid, so it stays in use.
                self.count(account, "kept");
                tracing::warn!(account = %account, error = %e, "refresh failed; the current access token stays in use until it expires");
                return Ok(conn.access_token);
            }
            Err(e) => {
                self.count(account, "failed");
                return Err(e);
            }
        };
        crate::failpoint::hit("refresh.after_token_answer");
        if self.store.update_tokens(account, conn.version, &tokens).await? {
            self.count(account, "refreshed");
            tracing::info!(account = %account, "access token refreshed");
            return Ok(tokens.access_token);
        }
        // Another writer replaced the tokens first; theirs are the current ones.
        self.current_after_lost_write(account).await
    }

    /// The current token after another writer changed the row first.
    async fn current_after_lost_write(&self, account: &AccountName) -> Result<AccessToken> {
        let conn = self.load(account).await?;
        conn.usable()?;
        Ok(conn.access_token)
    }
}

impl Refresher {
    /// The refresh grant, retried with backoff on transient failures only (Okta unreachable,
    /// 5xx): three attempts. A refusal (`invalid_grant`, `invalid_client`, …) is final.
    async fn refresh_with_retries(
        &self,
        oauth: &OAuthApp,
        account: &AccountName,
        refresh_token: &RefreshToken,
    ) -> Result<TokenSet> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match oauth.refresh(account, refresh_token).await {
                Err(Error::OAuth {
                    kind: OAuthFailure::Transient,
                    detail,
                    ..
                }) if attempt < 3 => {
                    tracing::debug!(account = %account, attempt, %detail, "refresh failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
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
    async fn access_token(&self) -> Result<okta_client::AccessToken, TokenSourceError> {
        match self.refresher.access_token(&self.account).await {
            Ok(t) => Ok(okta_client::AccessToken::new(t.expose_secret())),
            Err(e) => Err(TokenSourceError::with_source(e.to_string(), e)),
        }
    }
}
