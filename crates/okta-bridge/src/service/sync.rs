//! Syncing a connection's directory: one run at a time per connection across every instance
//! (a lease in the database), a full read through the connection's okta-client, the
//! differences written with their events in one transaction.

use std::time::Instant;

use serde_json::{Value, json};

use super::Service;
use crate::crypto::random_secret;
use crate::error::{Conflict, Error, Result};
use crate::model::{AccountName, FeedEvent, SyncState};
use crate::sync::{counts, diff, read_directory};

/// How long a sync's lease lasts; a run that takes longer loses it to the next taker.
const SYNC_LEASE_SECONDS: i64 = 600;

/// The most events one read of the feed answers.
pub const MAX_EVENTS_PAGE: i64 = 1000;

impl Service {
    /// Syncs `account` now: reads the org's whole directory, writes what changed and an event
    /// for each change, and answers what the run did (events written, the directory's counts,
    /// the newest cursor, how long it took).
    ///
    /// # Errors
    /// [`Conflict::SyncRunning`] while another run (here or on another instance) holds the
    /// connection's lease; what reading the org gives ([`Error::Okta`], a connection that needs
    /// re-authorization, …), recorded as the run's error with nothing written;
    /// [`Error::Database`].
    pub async fn sync(&self, account: &AccountName) -> Result<Value> {
        let owner = random_secret();
        if !self.store.take_sync_lease(account, &owner, SYNC_LEASE_SECONDS).await? {
            return Err(Error::Conflict(Conflict::SyncRunning {
                account: account.to_string(),
            }));
        }
        let result = self.sync_holding_lease(account).await;
        if let Err(e) = &result {
            let message = e.to_string();
            if let Err(db) = self.store.record_sync_error(account, &message).await {
                tracing::warn!(account = %account, error = %db, "could not record the sync's error");
            }
        }
        if let Err(e) = self.store.release_sync_lease(account, &owner).await {
            tracing::warn!(account = %account, error = %e, "could not release the sync lease (it runs out by itself)");
        }
        result
    }

    async fn sync_holding_lease(&self, account: &AccountName) -> Result<Value> {
        let started = Instant::now();
        let read = self
            .call(account, |client| async move { read_directory(&client).await })
            .await?;
        let read_ms = started.elapsed().as_millis();
        let stored = self.store.directory(account).await?;
        let changes = diff(&stored, &read);
        let events = changes.events.len();
        let mut summary = json!({
            "full": true,
            "events": events,
            "directory": counts(&read),
            "readMs": u64::try_from(read_ms).unwrap_or(u64::MAX),
        });
        let last_seq = self
            .store
            .apply_directory_changes(account, &changes, true, &summary)
            .await?;
        summary["lastSeq"] = json!(last_seq);
        summary["tookMs"] = json!(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        tracing::info!(account = %account, events, last_seq, "synced");
        Ok(summary)
    }

    /// Whether `account` is a connection (the synced directory's routes answer 404 otherwise).
    ///
    /// # Errors
    /// [`Error::UnknownConnection`]; [`Error::Database`].
    pub async fn check_connection(&self, account: &AccountName) -> Result<()> {
        self.connection(account).await.map(|_| ())
    }

    /// The sync state of `account`.
    ///
    /// # Errors
    /// [`Error::UnknownConnection`]; [`Error::Database`].
    pub async fn sync_state(&self, account: &AccountName) -> Result<SyncState> {
        self.connection(account).await?;
        self.store.sync_state(account).await
    }

    /// Up to `limit` (1–1000) events of `account`'s feed after cursor `after` (0: from the
    /// start).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a limit or cursor out of range; [`Error::UnknownConnection`];
    /// [`Error::Database`].
    pub async fn events(&self, account: &AccountName, after: i64, limit: i64) -> Result<Vec<FeedEvent>> {
        if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_EVENTS_PAGE}, not {limit}"),
            ));
        }
        if after < 0 {
            return Err(Error::invalid("after", "a cursor is 0 or a number the feed gave"));
        }
        self.connection(account).await?;
        self.store.events_after(account, after, limit).await
    }
}
