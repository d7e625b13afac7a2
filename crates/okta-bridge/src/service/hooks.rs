//! Okta Event Hooks in: the org calls okta-bridge as changes happen, so they reach the feed
//! and the webhooks within seconds instead of a sync interval. A call is checked (the
//! connection's secret, in constant time), recorded and answered at once — Okta waits 3 s —
//! and a worker then reads exactly the objects its events name (a targeted sync). Calls and
//! System Log events already taken are ignored (Okta delivers at least once); polling stays
//! the backstop for a call that never comes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use url::Url;

use super::Service;
use crate::crypto::random_secret;
use crate::error::{Error, Result};
use crate::model::{AccountName, HOOK_EVENT_TYPES, HookSecret, HookTarget, now, targets_of};
use crate::store::{HookCall, SyncMark};
use crate::sync::{apply_named, diff, ids_named, read_groups, read_named};

/// The header the org sends the hook secret in.
pub const HOOK_AUTH_HEADER: &str = "Authorization";

/// The most objects one targeted sync reads (the rest wait for the next).
const TARGETS_PER_RUN: i64 = 200;

/// How long a targeted sync's lease lasts unless released.
const HOOK_LEASE_SECONDS: i64 = 60;

/// How long a connection whose targeted sync failed waits before the next try.
const RETRY_AFTER_ERROR: i64 = 30;

/// How long the calls and events taken are remembered (Okta retries within minutes).
const SEEN_FOR: i64 = 7 * 24 * 3600;

/// Where the org calls a connection's hook, under okta-bridge's public URL.
pub fn hook_uri(public_url: &Url, account: &AccountName) -> String {
    format!("{}/hooks/okta/{account}", public_url.as_str().trim_end_matches('/'))
}

/// An Okta answer in plain words for a registration that failed.
fn registration_error(account: &AccountName, e: &Error) -> Error {
    let reason = match e {
        Error::Okta(o) if o.status() == Some(reqwest::StatusCode::FORBIDDEN) => {
            "the org refused (403): the connection needs the okta.eventHooks.manage scope (grant it to the app in Okta's admin console, then connect again), and an admin role that may manage event hooks".to_owned()
        }
        Error::Okta(o) if o.status() == Some(reqwest::StatusCode::BAD_REQUEST) => format!(
            "the org did not take the hook ({o}); it must reach okta-bridge's public URL over https, and okta-bridge must answer its verification"
        ),
        Error::Okta(o) => format!("{o} (the org must reach okta-bridge at its public URL, and okta-bridge must answer there)"),
        other => other.to_string(),
    };
    let refused = matches!(e, Error::Okta(o) if o.status().is_some_and(|s| s.is_client_error()));
    Error::HookRegistration {
        account: account.to_string(),
        reason,
        refused,
    }
}

impl Service {
    /// The connection named `account` (as the hook's URL has it), if `presented` (the call's
    /// `Authorization` value) is its hook secret, compared in constant time.
    ///
    /// # Security
    /// Strangers learn nothing from the answer: a name that is not a connection, is not a
    /// valid name, or has no hook secret is refused exactly as a wrong secret is, after a
    /// comparison of the same cost.
    ///
    /// # Errors
    /// [`Error::HookUnauthorized`]; [`Error::Database`], [`Error::Decrypt`].
    pub async fn check_hook_secret(&self, account: &str, presented: Option<&str>) -> Result<AccountName> {
        let name = AccountName::parse(account).ok();
        let secret = match &name {
            Some(n) if self.store.connection(n).await?.is_some() => self.store.stored_hook_secret(n).await?,
            _ => None,
        };
        let presented = presented.unwrap_or_default().trim().as_bytes();
        let ok = match &secret {
            Some(s) => bool::from(s.expose_secret().as_bytes().ct_eq(presented)),
            None => {
                // The same work as for a real secret; the answer is no regardless.
                let _ = bool::from(crate::crypto::hash(account).as_bytes().ct_eq(presented));
                false
            }
        };
        match name {
            Some(name) if ok => Ok(name),
            _ => {
                tracing::warn!(account = %account.escape_debug(), "an event hook call without a connection's secret was refused");
                Err(Error::HookUnauthorized {
                    account: account.to_owned(),
                })
            }
        }
    }

    /// Records an event hook call to `account` (its secret already checked): its `eventId`,
    /// the System Log events it carries and the objects they name, for the worker to read.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a body that is not an event hook call; [`Error::Database`].
    pub async fn receive_hook_call(&self, account: &AccountName, body: &Value) -> Result<HookCall> {
        let event_id = body["eventId"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::invalid("eventId", "an event hook call has an eventId"))?;
        let events = body.pointer("/data/events").and_then(Value::as_array).ok_or_else(|| {
            Error::invalid(
                "data",
                "an event hook call has data.events, a list of System Log events",
            )
        })?;
        let events: Vec<(String, Vec<HookTarget>)> = events
            .iter()
            .map(|e| {
                let uuid = e["uuid"].as_str().filter(|u| !u.is_empty());
                uuid.map(|u| (u.to_owned(), targets_of(e)))
                    .ok_or_else(|| Error::invalid("data", "each System Log event has a uuid"))
            })
            .collect::<Result<_>>()?;
        let call = self.store.record_hook_call(account, event_id, &events).await?;
        tracing::info!(account = %account, event_id, events = events.len(), new_events = call.new_events, targets = call.targets, duplicate = call.duplicate, "event hook call taken");
        if call.targets > 0 {
            self.hooks_received.send_modify(|n| *n += 1);
        }
        Ok(call)
    }

    /// Creates (or updates) `account`'s event hook at the org — called at `public_url`'s
    /// `/hooks/okta/{account}`, for the event types the sync follows, with a secret of its own
    /// — activates it and has the org verify it (this server, or another instance on the same
    /// database, answers the challenge). Answers the hook's status.
    ///
    /// # Errors
    /// [`Error::HookRegistration`] saying why (a missing `okta.eventHooks.manage` scope, a
    /// URL the org cannot reach, a verification that failed); [`Error::UnknownConnection`];
    /// [`Error::Database`].
    pub async fn register_hook(&self, account: &AccountName, public_url: &Url) -> Result<Value> {
        self.connection(account).await?;
        let uri = hook_uri(public_url, account);
        let secret = self
            .store
            .hook_secret(account, || HookSecret::new(random_secret()))
            .await?;
        let known = self.store.hook_state(account).await?.and_then(|s| s.okta_hook_id);
        let name = format!("okta-bridge ({account})");
        let hook = self
            .call(account, |client| {
                let (uri, secret, known, name) = (&uri, &secret, &known, &name);
                async move {
                    let new = okta_client::NewEventHook {
                        name,
                        uri,
                        events: HOOK_EVENT_TYPES,
                        auth_header: HOOK_AUTH_HEADER,
                        auth_value: secret.expose_secret(),
                    };
                    let hooks = client.event_hooks();
                    // The hook this connection registered before (kept, or found by its URI).
                    let existing = match known {
                        Some(id) => Some(id.clone()),
                        None => hooks
                            .list()
                            .await?
                            .into_iter()
                            .find(|h| h.uri() == Some(uri.as_str()))
                            .map(|h| h.id),
                    };
                    let hook = match existing {
                        Some(id) => match hooks.replace(&id, &new).await {
                            Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => hooks.create(&new).await?,
                            other => other?,
                        },
                        None => hooks.create(&new).await?,
                    };
                    if hook.status.as_deref() != Some("ACTIVE") {
                        hooks.activate(&hook.id).await?;
                    }
                    hooks.verify(&hook.id).await
                }
            })
            .await
            .map_err(|e| match e {
                Error::Okta(_) => registration_error(account, &e),
                other => other,
            })?;
        self.store.set_hook_registration(account, &hook.id, &uri).await?;
        tracing::info!(account = %account, hook = %hook.id, %uri, "event hook registered and verified");
        self.hook_status(account).await
    }

    /// `account`'s event hook: what okta-bridge keeps (calls taken, duplicates, targeted
    /// syncs, objects waiting) and what the org says of it (`status`, `verificationStatus`,
    /// the event types), or why the org could not be asked.
    ///
    /// # Errors
    /// [`Error::UnknownConnection`]; [`Error::Database`].
    pub async fn hook_status(&self, account: &AccountName) -> Result<Value> {
        self.connection(account).await?;
        let state = self.store.hook_state(account).await?.unwrap_or_default();
        let okta = match &state.okta_hook_id {
            None => json!({ "registered": false, "hint": format!("okta-bridge hooks register {account}") }),
            Some(id) => match self
                .call(account, |client| async move { client.event_hooks().get(id).await })
                .await
            {
                Ok(h) => json!({
                    "registered": true,
                    "id": h.id,
                    "status": h.status,
                    "verificationStatus": h.verification_status,
                    "events": h.events.items,
                    "uri": h.uri(),
                }),
                Err(e) => json!({ "registered": true, "id": id, "error": e.to_string() }),
            },
        };
        Ok(json!({ "connection": account, "okta": okta, "local": state }))
    }

    /// Runs a targeted sync of every connection with objects named and waiting (each under its
    /// sync lease; one busy with a polling run waits for it); answers how many ran.
    ///
    /// # Errors
    /// [`Error::Database`] when the waiting connections cannot be listed; a run that fails is
    /// recorded in the hook's state (and logged), and the others go ahead.
    pub async fn sync_hooked(&self) -> Result<usize> {
        use futures::StreamExt;
        let pending = self.store.hook_pending_accounts(now() - RETRY_AFTER_ERROR).await?;
        // Each connection's targeted sync on its own, up to the sync concurrency at once.
        let ran = futures::stream::iter(pending)
            .map(|account| async move {
                match self.sync_named(&account).await {
                    Ok(ran) => ran.is_some(),
                    Err(e) => {
                        tracing::warn!(account = %account, error = %e, "a targeted sync failed; it is tried again shortly, and polling catches the changes anyway");
                        false
                    }
                }
            })
            .buffer_unordered(self.sync_policy.concurrency.max(1))
            .filter(|ran| std::future::ready(*ran))
            .count()
            .await;
        Ok(ran)
    }

    /// Runs [`Service::sync_hooked`] as calls are taken (here, at once; on another instance,
    /// within a second), and forgets calls taken more than a week ago.
    pub fn spawn_hook_worker(self: std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut received = self.hooks_received.subscribe();
            let mut last_prune = Instant::now();
            loop {
                if let Err(e) = self.sync_hooked().await {
                    tracing::warn!(error = %e, "connections waiting for a targeted sync could not be listed");
                }
                if last_prune.elapsed() > Duration::from_secs(3600) {
                    last_prune = Instant::now();
                    if let Err(e) = self.store.prune_hook_seen(now() - SEEN_FOR).await {
                        tracing::warn!(error = %e, "event hook calls taken could not be pruned");
                    }
                }
                tokio::select! {
                    _ = received.changed() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }

    /// A targeted sync of `account`'s waiting objects, under its sync lease taken without
    /// waiting; `None` when another run holds it.
    ///
    /// # Errors
    /// What reading the org gives (recorded in the hook's state; the objects stay waiting);
    /// [`Error::Database`].
    pub async fn sync_named(&self, account: &AccountName) -> Result<Option<Value>> {
        let owner = self.lease_owner();
        if !self
            .store
            .take_sync_lease(account, &owner, HOOK_LEASE_SECONDS, None)
            .await?
        {
            return Ok(None);
        }
        let result = self.sync_named_holding_lease(account, &owner).await;
        if let Err(e) = self.store.release_sync_lease(account, &owner).await {
            tracing::warn!(account = %account, error = %e, "could not release the sync lease (it runs out by itself)");
        }
        result.map(Some)
    }

    async fn sync_named_holding_lease(&self, account: &AccountName, owner: &str) -> Result<Value> {
        let started = Instant::now();
        let (targets, through) = self.store.hook_targets(account, TARGETS_PER_RUN).await?;
        if self.store.sync_state(account).await?.last_full_at.is_none() {
            // Before the first full read there is nothing to compare with: that read takes
            // everything, these objects too.
            self.store.finish_hook_targets(account, through, None).await?;
            return Ok(json!({ "targets": targets.len(), "events": 0, "skipped": "no full sync yet" }));
        }
        if self.store.scope(account).await?.scope.is_some() {
            // An object an event names may be outside the account's scope: the next run reads
            // the scope whole, these objects with it.
            self.store.finish_hook_targets(account, through, None).await?;
            return Ok(
                json!({ "targets": targets.len(), "events": 0, "skipped": "scoped: the next sync run reads the scope" }),
            );
        }
        match self.read_and_write_named(account, owner, &targets).await {
            Ok(mut summary) => {
                self.store.finish_hook_targets(account, through, None).await?;
                summary["tookMs"] = json!(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
                tracing::info!(account = %account, targets = targets.len(), events = %summary["events"], took_ms = %summary["tookMs"], "targeted sync");
                Ok(summary)
            }
            Err(e) => {
                self.store
                    .finish_hook_targets(account, through, Some(&e.to_string()))
                    .await?;
                Err(e)
            }
        }
    }

    async fn read_and_write_named(
        &self,
        account: &AccountName,
        owner: &str,
        targets: &BTreeSet<HookTarget>,
    ) -> Result<Value> {
        let budget = self.sync_policy.budget;
        let mut named = self
            .call(account, |client| async move {
                read_named(&client.with_rate_share(budget), targets).await
            })
            .await?;
        // A deleted user's memberships went with it: its groups' times moved without an event
        // saying so, and are read again.
        let gone: Vec<String> = named
            .users
            .iter()
            .filter(|(_, u)| u.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        if !gone.is_empty() {
            let their_groups: BTreeSet<String> = self
                .store
                .stored_around(account, &gone, &[])
                .await?
                .members
                .into_iter()
                .map(|(g, _)| g)
                .filter(|g| !named.groups.contains_key(g))
                .collect();
            let more = self
                .call(account, |client| {
                    let ids = &their_groups;
                    async move { read_groups(&client.with_rate_share(budget), ids).await }
                })
                .await?;
            named.requests += more.len();
            named.groups.extend(more);
        }
        // The part of the stored directory around what was read: the users and groups named,
        // and the groups Okta now lists for the users whose memberships were named.
        let (mut users, mut groups) = ids_named(targets);
        groups.extend(named.memberships.values().flatten().map(|g| g.id.clone()));
        // A deleted group's members lose what they were assigned through it.
        for (gid, _) in named.groups.iter().filter(|(_, g)| g.is_none()) {
            users.extend(self.store.member_ids(account, gid).await?);
        }
        users.sort();
        users.dedup();
        let stored = self.store.stored_around(account, &users, &groups).await?;
        let read = apply_named(&stored, &named);
        let changes = diff(&stored, &read);
        let events = changes.events.len();
        let last_seq = self
            .store
            .write_sync(account, owner, &changes, None, &SyncMark::Hook)
            .await?;
        if events > 0 {
            self.feed_written.send_modify(|n| *n += 1);
        }
        Ok(json!({
            "targets": targets.len(),
            "requests": named.requests,
            "events": events,
            "lastSeq": last_seq,
        }))
    }
}
