//! `event_hooks`, `hook_seen`, `hook_targets`: each connection's event hook (its sealed secret,
//! where it is registered, counters), the calls and System Log events already taken, and the
//! objects named that a targeted sync has yet to read.

use std::collections::BTreeSet;

use secrecy::ExposeSecret;

use super::keys::hook_ctx;
use super::{Pool, Store, with_pool};
use crate::error::Result;
use crate::model::{AccountName, HookSecret, HookState, HookTarget, now};

/// What became of an event hook call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookCall {
    /// The call was taken before (same `eventId`): nothing recorded.
    pub duplicate: bool,
    /// System Log events new to okta-bridge, and the objects they named.
    pub new_events: usize,
    pub targets: usize,
}

impl Store {
    /// `account`'s event hook secret, made with `make` (and sealed) the first time.
    ///
    /// # Errors
    /// [`crate::error::Error::Decrypt`]/[`crate::error::Error::UnknownKey`];
    /// [`crate::error::Error::Database`].
    pub async fn hook_secret(&self, account: &AccountName, make: impl FnOnce() -> HookSecret) -> Result<HookSecret> {
        if let Some(s) = self.stored_hook_secret(account).await? {
            return Ok(s);
        }
        let fresh = make();
        let sealed = self
            .key
            .seal(&hook_ctx(account.as_str()), fresh.expose_secret().as_bytes());
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO event_hooks (account, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (account) DO NOTHING")
                .bind(account.as_str())
                .bind(sealed)
                .bind(now())
                .execute(pool)
                .await?;
        });
        // Another instance may have made one first: the stored one is the one.
        Ok(self.stored_hook_secret(account).await?.unwrap_or(fresh))
    }

    /// `account`'s event hook secret, if it has one.
    ///
    /// # Errors
    /// [`crate::error::Error::Decrypt`]/[`crate::error::Error::UnknownKey`];
    /// [`crate::error::Error::Database`].
    pub async fn stored_hook_secret(&self, account: &AccountName) -> Result<Option<HookSecret>> {
        let sealed: Option<Vec<u8>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT secret FROM event_hooks WHERE account = $1")
                .bind(account.as_str())
                .fetch_optional(pool)
                .await?
        });
        sealed
            .map(|s| self.open_text(&hook_ctx(account.as_str()), &s).map(HookSecret::new))
            .transpose()
    }

    /// Records that `account`'s hook is registered at the org as `okta_hook_id`, called at
    /// `uri`, and says so in the audit log.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn set_hook_registration(&self, account: &AccountName, okta_hook_id: &str, uri: &str) -> Result<()> {
        let t = now();
        with_pool!(self, pool => {
            sqlx::query("UPDATE event_hooks SET okta_hook_id = $2, uri = $3, registered_at = $4 WHERE account = $1")
                .bind(account.as_str())
                .bind(okta_hook_id)
                .bind(uri)
                .bind(t)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO connection_audit (account, org_url, event, detail, at) \
                 SELECT account, org_url, 'event_hook_registered', $2, $3 FROM connections WHERE account = $1",
            )
            .bind(account.as_str())
            .bind(format!("{okta_hook_id} {uri}"))
            .bind(t)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// `account`'s event hook as kept (`None` before it has a secret).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn hook_state(&self, account: &AccountName) -> Result<Option<HookState>> {
        type Row = (
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            i64,
            i64,
            i64,
            Option<i64>,
            Option<String>,
            i64,
        );
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT okta_hook_id, uri, registered_at, last_received_at, received, duplicates, syncs, last_sync_at, last_sync_error, \
                 (SELECT COUNT(*) FROM hook_targets t WHERE t.account = h.account) FROM event_hooks h WHERE account = $1",
            )
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(
            |(
                okta_hook_id,
                uri,
                registered_at,
                last_received_at,
                received,
                duplicates,
                syncs,
                last_sync_at,
                last_sync_error,
                pending,
            )| {
                HookState {
                    okta_hook_id,
                    uri,
                    registered_at,
                    last_received_at,
                    received,
                    duplicates,
                    syncs,
                    last_sync_at,
                    last_sync_error,
                    pending,
                }
            },
        ))
    }

    /// Records event hook call `event_id` of `account`, carrying System Log `events` (uuid and
    /// the objects each names), in one transaction: a call taken before records nothing; an
    /// event taken before (in another call: Okta delivers at least once) queues nothing.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn record_hook_call(
        &self,
        account: &AccountName,
        event_id: &str,
        events: &[(String, Vec<HookTarget>)],
    ) -> Result<HookCall> {
        let (a, t) = (account.as_str(), now());
        let call = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query("INSERT INTO hook_seen (account, id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(a)
                .bind(format!("call:{event_id}"))
                .bind(t)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            let mut call = HookCall { duplicate: !fresh, new_events: 0, targets: 0 };
            if fresh {
                for (uuid, targets) in events {
                    let new = sqlx::query("INSERT INTO hook_seen (account, id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                        .bind(a)
                        .bind(format!("log:{uuid}"))
                        .bind(t)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                    if !new {
                        continue;
                    }
                    call.new_events += 1;
                    for target in targets {
                        let (kind, object, other) = target.row();
                        sqlx::query("INSERT INTO hook_targets (account, kind, object_id, other_id, at) VALUES ($1, $2, $3, $4, $5)")
                            .bind(a)
                            .bind(kind)
                            .bind(object)
                            .bind(other)
                            .bind(t)
                            .execute(&mut *tx)
                            .await?;
                        call.targets += 1;
                    }
                }
            }
            let duplicate = i64::from(call.duplicate || (call.new_events == 0 && !events.is_empty()));
            sqlx::query(
                "UPDATE event_hooks SET received = received + 1, duplicates = duplicates + $2, last_received_at = $3 WHERE account = $1",
            )
            .bind(a)
            .bind(duplicate)
            .bind(t)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            call
        });
        Ok(call)
    }

    /// The connections with objects named and not yet read, the longest-waiting first; one
    /// whose last targeted sync failed only once that was before `retry_cutoff`.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn hook_pending_accounts(&self, retry_cutoff: i64) -> Result<Vec<AccountName>> {
        let rows: Vec<(String,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT t.account FROM hook_targets t JOIN event_hooks h ON h.account = t.account \
                 WHERE h.last_sync_error IS NULL OR h.last_sync_at < $1 GROUP BY t.account ORDER BY MIN(t.id)",
            )
            .bind(retry_cutoff)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(a,)| AccountName::parse(&a).ok())
            .collect())
    }

    /// Up to `limit` of the objects `account`'s events named, oldest first, and the queue
    /// position of the last (for [`Store::finish_hook_targets`]).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn hook_targets(&self, account: &AccountName, limit: i64) -> Result<(BTreeSet<HookTarget>, i64)> {
        let rows: Vec<(i64, String, String, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, kind, object_id, other_id FROM hook_targets WHERE account = $1 ORDER BY id LIMIT $2")
                .bind(account.as_str())
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        let through = rows.last().map_or(0, |r| r.0);
        let targets = rows
            .into_iter()
            .filter_map(|(_, kind, object, other)| HookTarget::from_row(&kind, object, other))
            .collect();
        Ok((targets, through))
    }

    /// Takes `account`'s targets up to queue position `through` off the queue and records the
    /// targeted sync that read them (`error`: why it failed; they stay queued then).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn finish_hook_targets(&self, account: &AccountName, through: i64, error: Option<&str>) -> Result<()> {
        let (a, t) = (account.as_str(), now());
        with_pool!(self, pool => {
            if error.is_none() {
                sqlx::query("DELETE FROM hook_targets WHERE account = $1 AND id <= $2")
                    .bind(a)
                    .bind(through)
                    .execute(pool)
                    .await?;
            }
            sqlx::query(
                "UPDATE event_hooks SET syncs = syncs + $2, last_sync_at = $3, last_sync_error = $4 WHERE account = $1",
            )
            .bind(a)
            .bind(i64::from(error.is_none()))
            .bind(t)
            .bind(error)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Forgets the calls and events taken before `cutoff` (unix seconds): Okta retries a call
    /// within minutes, never days later.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn prune_hook_seen(&self, cutoff: i64) -> Result<u64> {
        Ok(with_pool!(self, pool => {
            sqlx::query("DELETE FROM hook_seen WHERE at < $1").bind(cutoff).execute(pool).await?.rows_affected()
        }))
    }
}
