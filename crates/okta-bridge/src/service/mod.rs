//! The workflows the server and the CLI both call: add, replace and remove accounts; connect
//! them (the authorization-code flow, an API token, a service app); disconnect; an okta-client
//! for a connection; sync a connection's directory and read its change feed; deliver it to
//! webhooks; take Okta event hook calls and sync what they name. Built on the store, the apps
//! and the refresher; it knows nothing of HTTP or terminals.

mod accounts;
mod api_keys;
mod connect;
mod connections;
mod delivery;
mod hooks;
mod pass;
mod proxy;
mod roles;
mod scim;
mod scope;
mod setup;
mod sync;
mod webhooks;
mod work;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::apps::Apps;
use crate::store::Store;
use crate::tokens::Refresher;

pub use connect::Connected;
pub use connections::ClientStamp;
pub use delivery::{DeliveryPolicy, signature};
pub use hooks::{HOOK_AUTH_HEADER, hook_uri};
pub use proxy::{Proxied, is_read};
pub use scim::{MAX_SCIM_OVERLAP, MAX_SCIM_PAGE, ScimPage, Skipped, parse_filter};
pub use scope::{OrgGroup, SETUP_GROUPS_LISTED};
pub use setup::{
    CHECK_WINDOW_SECS, CHECKS_PER_WINDOW, DEFAULT_LINK_TTL, FIRST_PUSHES_SHOWN, SETUP_SCOPES, ScimHealth, SetupHealth,
    SetupInput, SetupKey, SetupOutcome, SetupSteps, explain, setup_binding,
};
pub use sync::{MAX_EVENTS_PAGE, MAX_EVENTS_WAIT, SyncPolicy, SyncProgress};
pub use webhooks::{MAX_SECRET_OVERLAP, WebhookChange};
pub use work::WorkStats;

/// The workflows, on one store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Service {
    store: Store,
    apps: Arc<Apps>,
    refresher: Arc<Refresher>,
    /// okta-clients of connections, kept (with their rate-limit pacing) while the connection is
    /// the same one.
    clients: Mutex<HashMap<String, (ClientStamp, okta_client::Client)>>,
    /// The longest a call waits for a spent rate-limit window (`None`: as long as it takes).
    rate_limit_wait: Option<Duration>,
    sync_policy: sync::SyncPolicy,
    delivery_policy: delivery::DeliveryPolicy,
    /// Bumped when a sync run here writes events (wakes long polls of the feed).
    feed_written: tokio::sync::watch::Sender<u64>,
    /// Where this instance's last full-pass page left its run.
    sync_progress: tokio::sync::watch::Sender<SyncProgress>,
    /// Bumped when an event hook call here names objects to read (wakes the hook worker).
    hooks_received: tokio::sync::watch::Sender<u64>,
    /// The kinds of background work running here, for `/metrics`.
    work: Mutex<Vec<Arc<work::Runner>>>,
    /// This instance: the prefix of the leases it takes on streams and syncs, so that it can
    /// give them all up at shutdown.
    instance: String,
}

impl Service {
    /// The workflows on `store`, connecting and refreshing with `apps`, refreshing tokens
    /// `refresh_margin` before they expire.
    pub fn new(store: Store, apps: Arc<Apps>, refresh_margin: Duration) -> Self {
        let refresher = Arc::new(Refresher::new(store.clone(), apps.clone(), refresh_margin));
        Self {
            store,
            apps,
            refresher,
            clients: Mutex::new(HashMap::new()),
            rate_limit_wait: None,
            sync_policy: sync::SyncPolicy::default(),
            delivery_policy: delivery::DeliveryPolicy::default(),
            feed_written: tokio::sync::watch::Sender::new(0),
            sync_progress: tokio::sync::watch::Sender::new(SyncProgress::default()),
            hooks_received: tokio::sync::watch::Sender::new(0),
            work: Mutex::new(Vec::new()),
            instance: crate::crypto::random_secret()[..16].to_owned(),
        }
    }

    /// A new owner for a lease this instance takes: its instance prefix and a random part.
    fn lease_owner(&self) -> String {
        format!("{}.{}", self.instance, crate::crypto::random_secret())
    }

    /// Stops background work: nothing new is claimed; what runs gets `grace` to finish; what
    /// still runs then is stopped, and every stream and sync lease this instance holds is given
    /// up, so another instance takes the work over at once (a stopped delivery is delivered
    /// again from its cursor: at least once, never skipped). Answers how many items were
    /// stopped.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        let runners: Vec<Arc<work::Runner>> = self.work.lock().expect("work lock").clone();
        let stopped = futures::future::join_all(runners.iter().map(|r| r.stop(grace)))
            .await
            .into_iter()
            .sum();
        match self.store.release_leases_of(&format!("{}.", self.instance)).await {
            Ok(n) if n > 0 => tracing::info!(
                leases = n,
                stopped,
                "gave up the leases of work still running at shutdown"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not give up this instance's leases at shutdown (they run out by themselves)")
            }
        }
        stopped
    }

    fn register_work(&self, runner: &Arc<work::Runner>) {
        self.work.lock().expect("work lock").push(runner.clone());
    }

    /// What each kind of background work started here is doing: running, its limit, done and
    /// failed counts.
    pub fn work_stats(&self) -> Vec<WorkStats> {
        self.work.lock().expect("work lock").iter().map(|r| r.stats()).collect()
    }

    /// Where the runs of this instance are: changed after each page a full pass writes (for a
    /// progress bar).
    pub fn sync_progress(&self) -> tokio::sync::watch::Receiver<SyncProgress> {
        self.sync_progress.subscribe()
    }

    /// How directories are synced.
    pub fn sync_policy(&self) -> &sync::SyncPolicy {
        &self.sync_policy
    }

    /// Syncs directories by `policy`.
    #[must_use]
    pub fn with_sync_policy(mut self, policy: sync::SyncPolicy) -> Self {
        self.sync_policy = policy;
        self
    }

    /// Delivers webhooks by `policy`.
    #[must_use]
    pub fn with_delivery_policy(mut self, policy: delivery::DeliveryPolicy) -> Self {
        self.delivery_policy = policy;
        self
    }

    /// Calls through connections wait at most `wait` for a spent rate-limit window, then fail
    /// with Okta's `RateLimited` error saying when to try again (the server answers 429 with
    /// `Retry-After`), instead of holding their caller for up to a minute.
    #[must_use]
    pub fn with_rate_limit_wait(mut self, wait: Duration) -> Self {
        self.rate_limit_wait = Some(wait);
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The apps.
    pub fn apps(&self) -> &Arc<Apps> {
        &self.apps
    }

    /// The refresher.
    pub fn refresher(&self) -> &Arc<Refresher> {
        &self.refresher
    }

    /// The okta-clients in use, by account (for rate-limit metrics).
    pub fn clients_in_use(&self) -> Vec<(String, okta_client::Client)> {
        self.clients
            .lock()
            .expect("clients lock")
            .iter()
            .map(|(a, (_, c))| (a.clone(), c.clone()))
            .collect()
    }

    fn forget_client(&self, account: &str) {
        self.clients.lock().expect("clients lock").remove(account);
    }
}
