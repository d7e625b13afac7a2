//! Delivering the change feed to webhook endpoints: per endpoint and connection, each event
//! after the stream's cursor is `POST`ed, signed, and the next one waits for its 2xx (in order,
//! at least once); a failure is retried with exponential backoff and jitter, for up to
//! [`DeliveryPolicy::give_up_after`], then the endpoint is marked failing. One instance delivers
//! a stream at a time (a lease in the database); the cursor moves in the database after each
//! delivery, so a process killed mid-stream delivers that event again, never skips one.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::Sha256;

use super::Service;
use crate::error::Result;
use crate::model::{AccountName, FeedEvent, Webhook, WebhookSecret, now};
use crate::store::{Attempt, Outcome, Stream};

/// How long a delivering instance holds a stream unless it renews it (after each event).
const STREAM_LEASE_SECONDS: i64 = 60;

/// Events read from the feed at once.
const EVENTS_PAGE: i64 = 100;

/// How often the webhook worker makes the streams a webhook and a connection written at once
/// both missed (each makes its own as it is written).
const ENSURE_STREAMS_EVERY: Duration = Duration::from_secs(10);

/// How deliveries are tried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeliveryPolicy {
    /// The wait after a first failure; each next one doubles, with ±20 % jitter.
    pub first_retry: Duration,
    /// The longest wait between tries.
    pub max_retry: Duration,
    /// How long an event is retried before its endpoint is marked failing.
    pub give_up_after: Duration,
    /// How long a receiver has to answer.
    pub timeout: Duration,
    /// Streams this instance delivers at once: a dead or slow receiver holds only the slots of
    /// its own streams.
    pub concurrency: usize,
    /// Streams of one endpoint delivered at once (each stream still strictly in order), so a
    /// receiver is not flooded.
    pub per_endpoint: usize,
    /// Consecutive failed attempts at an endpoint (across its streams) that open its circuit:
    /// then none of its streams is tried until one probe may go.
    pub circuit_after: u32,
    /// How long a circuit first stays open; each failed probe doubles it.
    pub circuit_open: Duration,
    /// The longest a circuit stays open before the next probe.
    pub circuit_max_open: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            timeout: Duration::from_secs(10),
            concurrency: 128,
            per_endpoint: 32,
            circuit_after: 5,
            circuit_open: Duration::from_secs(5),
            circuit_max_open: Duration::from_secs(600),
        }
    }
}

/// The `Okta-Bridge-Signature` header of `body` sent at `t`: `t=<t>,v1=<hex HMAC-SHA256(secret,
/// "<t>.<body>")>`, one `v1=` per secret signing now.
pub fn signature(t: i64, body: &str, secrets: &[WebhookSecret]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
            continue;
        };
        mac.update(format!("{t}.{body}").as_bytes());
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        header.push_str(",v1=");
        header.push_str(&hex);
    }
    header
}

/// Until when a stream's lease runs, renewed now.
fn lease_until() -> i64 {
    now() + STREAM_LEASE_SECONDS
}

/// An event's id for receivers to dedupe by: its connection and cursor.
fn event_id(account: &AccountName, seq: i64) -> String {
    format!("{account}:{seq}")
}

impl Service {
    /// Delivers what is due on every stream this instance can take, with `http`; answers how
    /// many events were delivered.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`] when the streams cannot be listed; a stream that fails
    /// is logged and the others go ahead.
    pub async fn deliver_due(&self, http: &reqwest::Client) -> Result<usize> {
        use futures::StreamExt;
        self.store.ensure_streams().await?;
        let due = self.store.due_streams(usize::MAX, usize::MAX).await?;
        // At most `per_endpoint` streams of one endpoint at once, `concurrency` in all.
        let mut endpoints: std::collections::HashMap<String, std::sync::Arc<tokio::sync::Semaphore>> =
            std::collections::HashMap::new();
        let work: Vec<_> = due
            .into_iter()
            .map(|stream| {
                let endpoint = endpoints
                    .entry(stream.webhook_id.clone())
                    .or_insert_with(|| {
                        std::sync::Arc::new(tokio::sync::Semaphore::new(self.delivery_policy.per_endpoint.max(1)))
                    })
                    .clone();
                (stream, endpoint)
            })
            .collect();
        let delivered = futures::stream::iter(work)
            .map(|(stream, endpoint)| async move {
                let _slot = endpoint.acquire_owned().await;
                self.deliver_logged(http, &stream).await
            })
            .buffer_unordered(self.delivery_policy.concurrency.max(1))
            .fold(0, |sum, n| std::future::ready(sum + n))
            .await;
        Ok(delivered)
    }

    /// [`deliver_stream`](Self::deliver_stream), a failure logged: events delivered.
    async fn deliver_logged(&self, http: &reqwest::Client, stream: &Stream) -> usize {
        self.deliver_checked(http, stream).await.unwrap_or(0)
    }

    /// [`deliver_stream`](Self::deliver_stream), a failure logged; `None` when it failed.
    async fn deliver_checked(&self, http: &reqwest::Client, stream: &Stream) -> Option<usize> {
        match self.deliver_stream(http, stream).await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(webhook = %stream.webhook_id, account = %stream.account, error = %e, "a webhook stream could not be delivered");
                None
            }
        }
    }

    /// Delivers webhooks as events are written (here, at once; another instance's, within a
    /// second) and retries as they come due. Each stream is delivered by a task of its own: at
    /// most [`DeliveryPolicy::concurrency`] at once and [`DeliveryPolicy::per_endpoint`] of one
    /// endpoint, so a receiver that never answers holds only its own streams' slots, each for
    /// at most [`DeliveryPolicy::timeout`], while every other endpoint's events go out.
    pub fn spawn_webhook_worker(self: std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let http = match self.apps.egress().http_client(self.delivery_policy.timeout) {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(error = %e, "no HTTP client for webhooks: none are delivered");
                    return;
                }
            };
            let mut written = self.feed_written.subscribe();
            let policy = self.delivery_policy;
            let runner = super::work::Runner::new("webhook_stream", policy.concurrency, policy.per_endpoint);
            self.register_work(&runner);
            let mut ensured: Option<Instant> = None;
            loop {
                if ensured.is_none_or(|at| at.elapsed() >= ENSURE_STREAMS_EVERY) {
                    match self.store.ensure_streams().await {
                        Ok(()) => ensured = Some(Instant::now()),
                        Err(e) => tracing::warn!(error = %e, "webhook streams could not be made"),
                    }
                }
                // Twice what can start: the listed ones another instance takes meanwhile are
                // made up for.
                match self
                    .store
                    .due_streams(
                        policy.per_endpoint.saturating_mul(2),
                        policy.concurrency.saturating_mul(2),
                    )
                    .await
                {
                    Ok(due) => {
                        for stream in due {
                            if runner.full() {
                                break;
                            }
                            let key = format!("{}/{}", stream.webhook_id, stream.account);
                            let endpoint = stream.webhook_id.clone();
                            let (this, http) = (self.clone(), http.clone());
                            runner.try_start(key, &endpoint, async move {
                                this.deliver_checked(&http, &stream).await.is_some()
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "webhook streams could not be listed"),
                }
                tokio::select! {
                    _ = written.changed() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = runner.one_finished() => {}
                }
            }
        })
    }

    async fn deliver_stream(&self, http: &reqwest::Client, stream: &Stream) -> Result<usize> {
        let owner = self.lease_owner();
        let (w, a) = (stream.webhook_id.as_str(), stream.account.as_str());
        // An endpoint that keeps failing is tried by one probe at a time, not by each stream.
        let policy = self.delivery_policy;
        let probe_until = now() + i64::try_from(policy.timeout.as_secs()).unwrap_or(60) + 5;
        let Some(probe) = self
            .store
            .pass_circuit(w, i64::from(policy.circuit_after), probe_until)
            .await?
        else {
            return Ok(0);
        };
        // The lease and where the stream stands, read in one statement: another instance may
        // have moved it since it was listed.
        let Some(fresh) = self.store.claim_stream(w, a, &owner, STREAM_LEASE_SECONDS).await? else {
            return Ok(0);
        };
        let result = self.deliver_holding_lease(http, &fresh, &owner, probe).await;
        if let Err(e) = self.store.release_stream_lease(w, a, &owner).await {
            tracing::warn!(webhook = %w, account = %a, error = %e, "could not release a webhook stream's lease (it runs out by itself)");
        }
        result
    }

    /// Delivers `stream`'s events under its lease; `probe` when its first attempt probes the
    /// endpoint's open circuit.
    async fn deliver_holding_lease(
        &self,
        http: &reqwest::Client,
        stream: &Stream,
        owner: &str,
        mut probe: bool,
    ) -> Result<usize> {
        let (w, a) = (stream.webhook_id.as_str(), stream.account.as_str());
        let Some(hook) = self.store.webhook(w).await? else {
            return Ok(0);
        };
        let account = AccountName::parse(a)?;
        let secrets = self.store.webhook_secrets(w).await?;
        let (mut cursor, mut attempts, mut failing_since, mut n) =
            (stream.delivered, stream.attempts, stream.failing_since, 0);
        // Where the stream stands in the database: each write moves it from there, or, when a
        // replay moved it meanwhile, writes nothing and this run ends.
        let mut recorded = stream.delivered;
        // Events not for this endpoint are passed over together: the cursor moves past them in
        // one write, before the next delivery or at the end of the page.
        let mut passed: Option<i64> = None;
        let mut closed = false;
        loop {
            let events = self.store.events_after(&account, cursor, EVENTS_PAGE).await?;
            let Some(last) = events.last().map(|e| e.seq) else {
                return Ok(n);
            };
            for e in events {
                if !hook.filter.matches(&account, e.event_type) {
                    passed = Some(e.seq);
                    if e.seq == last && !self.pass_over(w, a, owner, &mut recorded, &mut passed).await? {
                        return Ok(n);
                    }
                    cursor = e.seq;
                    continue;
                }
                if !self.pass_over(w, a, owner, &mut recorded, &mut passed).await? {
                    return Ok(n);
                }
                let (attempt, ok) = self.post(http, &hook, &account, &e, &secrets, attempts + 1).await;
                if ok {
                    crate::failpoint::hit("webhook.before_record");
                }
                // A success closes the circuit: the first of a run is enough (it had failures
                // then, if ever); each failure counts.
                if !ok || !closed {
                    self.circuit_outcome(w, ok, probe).await?;
                    closed = ok;
                }
                probe = false;
                let outcome = if ok {
                    Outcome::Delivered
                } else {
                    let policy = self.delivery_policy;
                    let wait = policy
                        .first_retry
                        .saturating_mul(2u32.saturating_pow(u32::try_from(attempts).unwrap_or(u32::MAX).min(20)))
                        .min(policy.max_retry);
                    let jitter = rand::rng().random_range(0.8..1.2);
                    let wait_ms = (wait.as_millis() as f64 * jitter) as i64;
                    let since = failing_since.unwrap_or(attempt.at);
                    Outcome::Failed {
                        next_at: attempt.at + (wait_ms + 999) / 1000,
                        error: attempt.excerpt.clone().unwrap_or_default(),
                        give_up: attempt.at - since
                            >= i64::try_from(policy.give_up_after.as_secs()).unwrap_or(i64::MAX),
                    }
                };
                // Delivered, the same write renews the lease.
                if !self
                    .store
                    .record_attempt(w, a, owner, Some(&attempt), recorded, e.seq, &outcome, lease_until())
                    .await?
                    || !ok
                {
                    return Ok(n);
                }
                recorded = e.seq;
                cursor = e.seq;
                (attempts, failing_since) = (0, None);
                n += 1;
            }
        }
    }

    /// Records an attempt at endpoint `w` in its circuit (opening it after too many failures in
    /// a row, for longer each time a probe fails).
    async fn circuit_outcome(&self, w: &str, ok: bool, probe: bool) -> Result<()> {
        let policy = self.delivery_policy;
        let open_for = |opened: i64| {
            let secs = policy
                .circuit_open
                .saturating_mul(2u32.saturating_pow(u32::try_from(opened).unwrap_or(u32::MAX).min(20)))
                .min(policy.circuit_max_open)
                .as_secs();
            i64::try_from(secs).unwrap_or(i64::MAX).max(1)
        };
        if let Some(until) = self
            .store
            .circuit_outcome(w, ok, probe, i64::from(policy.circuit_after), open_for)
            .await?
        {
            tracing::warn!(webhook = %w, open_until = until, "a webhook endpoint keeps failing: its circuit is open, none of its streams is tried until a probe may go");
        }
        Ok(())
    }

    /// Moves a stream's cursor past the events `passed` over (not for this endpoint), if any;
    /// whether the stream is still this run's.
    async fn pass_over(
        &self,
        w: &str,
        a: &str,
        owner: &str,
        recorded: &mut i64,
        passed: &mut Option<i64>,
    ) -> Result<bool> {
        match passed.take() {
            Some(seq) => {
                let moved = self
                    .store
                    .record_attempt(w, a, owner, None, *recorded, seq, &Outcome::Delivered, lease_until())
                    .await?;
                *recorded = seq;
                Ok(moved)
            }
            None => Ok(true),
        }
    }

    /// POSTs event `e` to `hook`, signed; the attempt and whether the receiver took it (2xx).
    async fn post(
        &self,
        http: &reqwest::Client,
        hook: &Webhook,
        account: &AccountName,
        e: &FeedEvent,
        secrets: &[WebhookSecret],
        attempt: i64,
    ) -> (Attempt, bool) {
        let id = event_id(account, e.seq);
        let body = json!({
            "id": id,
            "type": e.event_type.as_str(),
            "connection": account,
            "cursor": e.seq.to_string(),
            "occurredAt": e.occurred_at,
            "data": e.data,
        })
        .to_string();
        let t = now();
        let started = Instant::now();
        let answer = http
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("okta-bridge-event-id", &id)
            .header("okta-bridge-signature", signature(t, &body, secrets))
            .body(body)
            .send()
            .await;
        let (status, excerpt, ok) = match answer {
            Ok(res) => {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                let excerpt: String = text.chars().take(200).collect();
                (Some(i64::from(status.as_u16())), Some(excerpt), status.is_success())
            }
            Err(err) => (None, Some(format!("no answer: {err}")), false),
        };
        let attempt = Attempt {
            account: account.to_string(),
            seq: e.seq,
            attempt,
            at: t,
            status,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            excerpt,
        };
        (attempt, ok)
    }
}
