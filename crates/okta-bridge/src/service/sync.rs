//! Syncing a connection's directory: one run at a time per connection across every instance
//! (a lease in the database), an incremental read from the cursors the last run left (a full
//! read the first time, when asked, and once per full-sync period), the differences written
//! with their events and the new cursors in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::Service;
use crate::error::{Conflict, Error, Result};
use crate::model::{AccountName, ConnectionStatus, Directory, FeedEvent, SyncCursors, SyncState, now, status_of};
use crate::store::Store;
use crate::sync::{StoredRows, diff, read_changes};

/// How long a sync's lease lasts unless renewed: a run renews it every third of that while it
/// lives, so a process killed mid-run holds it at most this long.
const SYNC_LEASE_SECONDS: i64 = 60;

/// The most events one read of the feed answers.
pub const MAX_EVENTS_PAGE: i64 = 1000;

/// The longest a read of the feed waits for new events.
pub const MAX_EVENTS_WAIT: Duration = Duration::from_secs(60);

/// A run's requests by rate-limit bucket, as the summary says them.
fn requests_json(sent: &[(String, u64)]) -> Value {
    Value::Object(sent.iter().map(|(b, n)| (b.clone(), json!(n))).collect())
}

/// How far a full pass has got, as its last written page left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncProgress {
    pub account: String,
    /// What it reads now: users, deprovisioned, groups, members, apps, deletions, done.
    pub phase: String,
    /// Users, groups, members and app users read.
    pub objects: u64,
    pub events: u64,
    pub requests: u64,
}

impl SyncProgress {
    /// The progress a pass's written `state` says.
    pub(super) fn of(account: &AccountName, state: &Value) -> Self {
        let n = |k: &str| state[k].as_u64().unwrap_or(0);
        Self {
            account: account.to_string(),
            phase: state["phase"].as_str().unwrap_or_default().to_owned(),
            objects: n("objects"),
            events: n("events"),
            requests: state["requests"]
                .as_object()
                .map_or(0, |m| m.values().filter_map(Value::as_u64).sum()),
        }
    }
}

/// How a connection's directory is synced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncPolicy {
    /// A run reads everything when the last full read is older than this (the reconciliation
    /// that catches what incremental reads cannot see).
    pub full_every: Duration,
    /// How far before the high-water marks an incremental read asks for users and groups.
    pub overlap: Duration,
    /// How long the feed keeps events.
    pub retention: Duration,
    /// The share (0–1) of each of the org's rate-limit buckets a sync uses; the rest of every
    /// window stays for the application's own calls.
    pub budget: f64,
    /// How often the scheduler syncs each connection (`None`: only on demand).
    pub interval: Option<Duration>,
    /// Scheduled syncs of different connections this instance runs at once: a big or slow org
    /// holds one slot, the others keep syncing on time.
    pub concurrency: usize,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        Self {
            full_every: Duration::from_secs(24 * 3600),
            overlap: Duration::from_secs(120),
            retention: Duration::from_secs(30 * 24 * 3600),
            budget: 0.5,
            interval: None,
            concurrency: 4,
        }
    }
}

/// A scheduled run: taken only while the connection's last run is at or before `cutoff` (unix
/// seconds; another instance may have run it meanwhile), and due since `due_at`.
#[derive(Debug, Clone, Copy)]
struct Scheduled {
    cutoff: i64,
    due_at: i64,
}

impl Service {
    /// Syncs `account` now: reads what changed since the last run (everything when `full`, the
    /// first time, or once per [`SyncPolicy::full_every`]), writes what changed and an event
    /// for each change, and answers what the run did (full or not, events written, the
    /// directory's counts, the newest cursor, how long it took).
    ///
    /// # Errors
    /// [`Conflict::SyncRunning`] while another run (here or on another instance) holds the
    /// connection's lease; what reading the org gives ([`Error::Okta`], a connection that needs
    /// re-authorization, …), recorded as the run's error with nothing written;
    /// [`Error::Database`].
    pub async fn sync(&self, account: &AccountName, full: bool) -> Result<Value> {
        self.sync_if(account, full, None).await?.ok_or_else(|| {
            Error::Conflict(Conflict::SyncRunning {
                account: account.to_string(),
            })
        })
    }

    /// Syncs every connection that is due: connected and not synced for `interval`. A
    /// connection another instance is syncing, or synced meanwhile, is left alone; one that
    /// needs re-authorization waits for it. Answers how many ran.
    ///
    /// # Errors
    /// [`Error::Database`] when the due connections cannot be listed; a run that fails is
    /// recorded in its sync state (and logged), and the others go ahead.
    pub async fn sync_due(&self, interval: Duration) -> Result<usize> {
        use futures::StreamExt;
        let interval = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
        let due = self.store.sync_due(interval).await?;
        let cutoff = now() - interval;
        let ran = futures::stream::iter(due)
            .map(|(account, due_at)| async move { self.scheduled_sync(&account, Scheduled { cutoff, due_at }).await })
            .buffer_unordered(self.sync_policy.concurrency.max(1))
            .filter(|ran| std::future::ready(*ran))
            .count()
            .await;
        Ok(ran)
    }

    /// A scheduled run of `account` if it is still due; whether it ran.
    async fn scheduled_sync(&self, account: &AccountName, scheduled: Scheduled) -> bool {
        self.scheduled_sync_checked(account, scheduled).await.unwrap_or(false)
    }

    /// [`scheduled_sync`](Self::scheduled_sync); `None` when the run failed.
    async fn scheduled_sync_checked(&self, account: &AccountName, scheduled: Scheduled) -> Option<bool> {
        match self.sync_if(account, false, Some(scheduled)).await {
            Ok(ran) => Some(ran.is_some()),
            Err(e) => {
                tracing::warn!(account = %account, error = %e, "a scheduled sync failed; the next interval tries again");
                None
            }
        }
    }

    /// Syncs each connection that comes due every `interval` (checking a few times per
    /// interval, so a new connection is synced soon), each run a task of its own: at most
    /// [`SyncPolicy::concurrency`] at once, so a big or slow org holds its own slot while the
    /// others are synced on time.
    pub fn spawn_sync_scheduler(self: std::sync::Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let tick = interval.min(Duration::from_secs(10)).max(Duration::from_millis(100));
        let runner = super::work::Runner::new("scheduled_sync", self.sync_policy.concurrency, 1);
        self.register_work(&runner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(tick);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let interval = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
            loop {
                match self.store.sync_due(interval).await {
                    Ok(due) => {
                        let cutoff = now() - interval;
                        for (account, due_at) in due {
                            if runner.full() {
                                break;
                            }
                            let this = self.clone();
                            let key = account.to_string();
                            runner.try_start(key.clone(), &key, async move {
                                this.scheduled_sync_checked(&account, Scheduled { cutoff, due_at })
                                    .await
                                    .is_some()
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "scheduled syncs could not list the connections"),
                }
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = runner.one_finished() => {}
                }
            }
        })
    }

    /// A run under the connection's lease, taken without waiting (and, for a scheduled run,
    /// only while its last run is still at or before its cutoff); `None` when not taken.
    async fn sync_if(&self, account: &AccountName, full: bool, scheduled: Option<Scheduled>) -> Result<Option<Value>> {
        let owner = self.lease_owner();
        if !self
            .store
            .take_sync_lease(account, &owner, SYNC_LEASE_SECONDS, scheduled.map(|s| s.cutoff))
            .await?
        {
            return Ok(None);
        }
        // The lease is renewed while the run lives (a run that outlives it anyway finds out
        // when it writes: nothing is written then).
        let renew = async {
            let every = Duration::from_secs(u64::try_from(SYNC_LEASE_SECONDS / 3).unwrap_or(20));
            loop {
                tokio::time::sleep(every).await;
                match self
                    .store
                    .take_sync_lease(account, &owner, SYNC_LEASE_SECONDS, None)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(account = %account, "another run took this sync's lease over"),
                    Err(e) => tracing::warn!(account = %account, error = %e, "could not renew the sync's lease"),
                }
            }
        };
        let result = tokio::select! {
            r = self.sync_holding_lease(account, &owner, full, scheduled.map(|s| s.due_at)) => r,
            // Renewing never ends; were it to, the run would be as good as without a lease.
            () = renew => Err(Error::Conflict(Conflict::SyncLeaseLost { account: account.to_string() })),
        };
        if let Err(e) = &result {
            let message = e.to_string();
            if let Err(db) = self.store.record_sync_error(account, &message).await {
                tracing::warn!(account = %account, error = %db, "could not record the sync's error");
            }
        }
        if let Err(e) = self.store.release_sync_lease(account, &owner).await {
            tracing::warn!(account = %account, error = %e, "could not release the sync lease (it runs out by itself)");
        }
        result.map(Some)
    }

    /// A run; `due_at`, for a scheduled one, when it came due: its summary says when it
    /// started and, scheduled, how late (`startedAt`, `dueAt`, `lateSeconds`).
    async fn sync_holding_lease(
        &self,
        account: &AccountName,
        owner: &str,
        full: bool,
        due_at: Option<i64>,
    ) -> Result<Value> {
        let started = Instant::now();
        let started_at = now();
        let state = self.store.sync_state(account).await?;
        let policy = self.sync_policy;
        let due = state
            .last_full_at
            .is_none_or(|t| u64::try_from(now() - t).unwrap_or(0) >= policy.full_every.as_secs());
        // A pass a stopped run left is finished first.
        let pending = self.store.sync_pass(account).await?.is_some();
        // A scope is read whole each run: its listings (members, app users) are what it is, and
        // what they no longer name is what left it.
        let scoped = self.store.scope(account).await?.scope.is_some();
        let mut summary = if full || due || pending || scoped || !state.cursors.complete() {
            self.pass_now(account, owner).await?
        } else {
            match self.incremental(account, owner, &state.cursors, started).await {
                // A cursor that cannot be followed: read everything instead.
                Err(Error::Okta(okta_client::Error::Pagination(why))) => {
                    tracing::warn!(account = %account, %why, "the sync's cursors cannot be followed; reading everything");
                    self.pass_now(account, owner).await?
                }
                other => other?,
            }
        };
        summary["startedAt"] = json!(crate::model::rfc3339(started_at));
        if let Some(due_at) = due_at {
            summary["dueAt"] = json!(crate::model::rfc3339(due_at));
            summary["lateSeconds"] = json!((started_at - due_at).max(0));
        }
        // The summary as the run answers it, with the directory's counts after the write.
        self.store.record_run_summary(account, owner, &summary).await?;
        let cutoff = now() - i64::try_from(policy.retention.as_secs()).unwrap_or(i64::MAX);
        let pruned = self.store.prune_events(account, cutoff).await?;
        if pruned > 0 {
            tracing::info!(account = %account, pruned, "events older than the feed's retention deleted");
        }
        tracing::info!(account = %account, full = summary["full"] == true, events = %summary["events"], last_seq = %summary["lastSeq"], "synced");
        Ok(summary)
    }

    /// A full pass (or the rest of one a stopped run left), page by page.
    async fn pass_now(&self, account: &AccountName, owner: &str) -> Result<Value> {
        let budget = self.sync_policy.budget;
        self.call(account, |client| -> futures::future::BoxFuture<'_, _> {
            Box::pin(async move {
                let client = client.with_rate_share(budget);
                self.full_pass(account, owner, &client).await
            })
        })
        .await?
    }

    /// An incremental run: what changed since `cursors`, compared with the stored directory
    /// and written in one transaction.
    async fn incremental(
        &self,
        account: &AccountName,
        owner: &str,
        cursors: &SyncCursors,
        started: Instant,
    ) -> Result<Value> {
        let policy = self.sync_policy;
        let overlap = time::Duration::try_from(policy.overlap).unwrap_or(time::Duration::MINUTE);
        let rows = StoredPart {
            store: &self.store,
            account,
            rows: AtomicUsize::new(0),
        };
        let (inc, sent) = self
            .call(account, |client| {
                let rows = &rows;
                async move {
                    let client = client.with_rate_share(policy.budget);
                    // Okta's refusals go back to `call` (a refresh, or the connection marked);
                    // the store's errors come out of it.
                    match read_changes(&client, rows, cursors, overlap).await {
                        Ok(read) => Ok(Ok((read, client.requests_sent()))),
                        Err(Error::Okta(e)) => Err(e),
                        Err(e) => Ok(Err(e)),
                    }
                }
            })
            .await??;
        crate::failpoint::hit("sync.after_read");
        let read_ms = started.elapsed().as_millis();
        let changes = diff(&inc.stored, &inc.dir);
        let events = changes.events.len();
        let mut summary = json!({
            "requests": requests_json(&sent),
            "full": false,
            "logEvents": inc.log_events,
            "usersRead": inc.users_read,
            "groupsRead": inc.groups_read,
            "groupsReread": inc.groups_reread,
            "assignmentsChecked": inc.assignments_checked,
            "events": events,
            "storedRowsRead": rows.rows.load(Ordering::Relaxed),
            "readMs": u64::try_from(read_ms).unwrap_or(u64::MAX),
        });
        drop(inc.stored);
        let last_seq = self
            .store
            .apply_directory_changes(account, owner, &changes, false, &summary, &inc.cursors)
            .await?;
        crate::failpoint::hit("sync.after_commit");
        // The counts of the whole directory, once the changes are in (the run's caller records
        // the summary with them).
        summary["directory"] = self.store.directory_counts(account).await?;
        if events > 0 {
            self.feed_written.send_modify(|n| *n += 1);
        }
        summary["lastSeq"] = json!(last_seq);
        summary["tookMs"] = json!(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
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
        let connection = self.connection(account).await?;
        let mut state = self.store.sync_state(account).await?;
        if connection.status != ConnectionStatus::Connected {
            let (status, reason) = status_of(Some(&connection));
            state.paused = Some(match reason {
                Some(r) => format!("{status}: {r}"),
                None => status.to_owned(),
            });
        }
        Ok(state)
    }

    /// Up to `limit` (1–1000) events of `account`'s feed after cursor `after` (0: from the
    /// start). With nothing new, waits up to `wait` for a run (here or on another instance) to
    /// write some, then answers what there is (possibly nothing).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a limit, cursor or wait out of range; [`Error::CursorExpired`]
    /// for a cursor older than retention keeps; [`Error::UnknownConnection`];
    /// [`Error::Database`].
    pub async fn events(
        &self,
        account: &AccountName,
        after: i64,
        limit: i64,
        wait: Duration,
    ) -> Result<Vec<FeedEvent>> {
        if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_EVENTS_PAGE}, not {limit}"),
            ));
        }
        if after < 0 {
            return Err(Error::invalid("after", "a cursor is 0 or a number the feed gave"));
        }
        if wait > MAX_EVENTS_WAIT {
            return Err(Error::invalid(
                "wait",
                format!("wait is at most {} seconds", MAX_EVENTS_WAIT.as_secs()),
            ));
        }
        self.connection(account).await?;
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribed before the first read, so a write in between still wakes us.
        let mut written = self.feed_written.subscribe();
        loop {
            let pruned_through = self.store.pruned_through(account).await?;
            if after < pruned_through {
                return Err(Error::CursorExpired {
                    account: account.to_string(),
                    after,
                    pruned_through,
                });
            }
            let page = self.store.events_after(account, after, limit).await?;
            let now = tokio::time::Instant::now();
            if !page.is_empty() || now >= deadline {
                return Ok(page);
            }
            // Woken by a run of this instance; another instance's runs are seen by reading
            // again every second.
            let nap = (deadline - now).min(Duration::from_secs(1));
            tokio::select! {
                _ = written.changed() => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }
}

/// The stored rows of one account an incremental read asks for, counted.
struct StoredPart<'a> {
    store: &'a Store,
    account: &'a AccountName,
    rows: AtomicUsize,
}

impl StoredPart<'_> {
    fn count(&self, n: usize) {
        self.rows.fetch_add(n, Ordering::Relaxed);
    }
}

impl StoredRows for StoredPart<'_> {
    fn near<'a>(&'a self, users: &'a [String], groups: &'a [String]) -> BoxFuture<'a, Result<Directory>> {
        Box::pin(async move {
            let part = self.store.stored_near(self.account, users, groups).await?;
            self.count(part.users.len() + part.groups.len() + part.members.len() + part.app_users.len());
            Ok(part)
        })
    }

    fn apps(&self) -> BoxFuture<'_, Result<Directory>> {
        Box::pin(async move {
            let part = self.store.directory_apps_only(self.account).await?;
            self.count(part.apps.len() + part.app_groups.len());
            Ok(part)
        })
    }

    fn members<'a>(&'a self, gid: &'a str) -> BoxFuture<'a, Result<BTreeSet<String>>> {
        Box::pin(async move {
            let ids = self.store.member_ids(self.account, gid).await?;
            self.count(ids.len());
            Ok(ids)
        })
    }

    fn sizes<'a>(&'a self, groups: &'a [String]) -> BoxFuture<'a, Result<(usize, BTreeMap<String, usize>)>> {
        Box::pin(async move {
            let sizes = self.store.group_sizes(self.account, groups).await?;
            self.count(1 + sizes.1.len());
            Ok(sizes)
        })
    }

    fn built_in(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let ids = self.store.built_in_groups(self.account).await?;
            self.count(ids.len());
            Ok(ids)
        })
    }
}
