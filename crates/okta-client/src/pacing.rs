//! Proactive pacing under Okta's rate limits.
//!
//! Okta counts requests per endpoint bucket in fixed windows and reports the state of the
//! request's bucket on every response (`X-Rate-Limit-Limit`, `-Remaining`, `-Reset`). The
//! [`Pacer`] keeps that state per bucket, shared by every clone of a client and every task
//! using it: a request is sent only while the bucket has requests left after those already in
//! flight; otherwise it waits until the window resets. A workload that goes through one client
//! therefore never sees a 429. The reset time is an instant on Okta's clock; it is converted
//! with the response's `Date` (which Okta's clock wrote), so a skewed local clock does not
//! matter, and since `Date` is truncated to the second the wait is never too short.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{DATE, HeaderMap};
use tokio::time::Instant;

use crate::page::RateLimit;

/// The bucket a request counts against, after Okta's published rate-limit buckets: the path's
/// family with ids replaced, and for users by id the method (reads have their own bucket).
pub(crate) fn bucket_of(method: &Method, path: &str) -> String {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "v1", "users"] => "/api/v1/users".to_owned(),
        ["api", "v1", "users", _] if method == Method::GET => "GET /api/v1/users/{id}".to_owned(),
        ["api", "v1", "users", _] => "/api/v1/users/{id}".to_owned(),
        ["api", "v1", "groups", _] => "/api/v1/groups/{id}".to_owned(),
        ["api", "v1", "groups", ..] => "/api/v1/groups".to_owned(),
        ["api", "v1", "apps", _] => "/api/v1/apps/{id}".to_owned(),
        ["api", "v1", "apps", ..] => "/api/v1/apps".to_owned(),
        ["api", "v1", "logs", ..] => "/api/v1/logs".to_owned(),
        ["oauth2", "v1", ..] => "/oauth2/v1".to_owned(),
        ["oauth2", _, "v1", endpoint @ ("authorize" | "token")] => format!("/oauth2/{{id}}/v1/{endpoint}"),
        ["oauth2", ..] => "/oauth2/{id}/v1".to_owned(),
        _ => "/api/v1".to_owned(),
    }
}

/// Requests of a window of `limit` kept for others by a client that may use `share` of it.
fn reserve(limit: u32, share: f64) -> u32 {
    if share >= 1.0 {
        return 0;
    }
    let kept = (f64::from(limit) * (1.0 - share.max(0.0))).ceil();
    // At most the whole limit; a share of 0 still sends one request a window.
    if kept >= f64::from(limit) {
        limit.saturating_sub(1)
    } else {
        // In range: 0 ≤ kept < limit ≤ u32::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let kept = kept as u32;
        kept
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    limit: u32,
    remaining: u32,
    /// The window's reset on Okta's clock (epoch seconds), to tell windows apart.
    reset_epoch: i64,
    /// The same moment on our clock.
    reset_at: Instant,
    /// False until a response told this bucket's numbers.
    known: bool,
    /// The window has ended and no response of the next one came yet: `remaining` is the
    /// limit, assumed for the new window, and `reset_at` a placeholder.
    assumed: bool,
    in_flight: u32,
}

/// Rate-limit state per bucket, shared by all clones of a client.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pacer {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

/// A request's place in its bucket: released when dropped (also when the request is
/// cancelled), so the count of requests in flight stays right.
#[derive(Debug)]
pub(crate) struct Permit {
    pacer: Pacer,
    bucket: String,
    /// Whether this request still counts as in flight in its bucket.
    counted: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.counted
            && let Some(b) = self.pacer.lock().get_mut(&self.bucket)
        {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
    }
}

impl Pacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bucket>> {
        // The map holds plain numbers: a panic elsewhere cannot leave it inconsistent.
        self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `bucket` has a request left in its window, then takes it; when that wait
    /// would be longer than `max_wait`, does not wait: `Err` holds how long it would be.
    /// With a `share` below 1, a request is sent only while more than `1 - share` of the
    /// window's limit is left: what the window holds beyond that share stays for others.
    pub(crate) async fn acquire(
        &self,
        bucket: &str,
        max_wait: Option<Duration>,
        share: f64,
    ) -> Result<Permit, Duration> {
        loop {
            let wait_until = {
                let mut buckets = self.lock();
                let b = buckets.entry(bucket.to_owned()).or_insert(Bucket {
                    limit: 0,
                    remaining: 0,
                    reset_epoch: 0,
                    reset_at: Instant::now(),
                    known: false,
                    assumed: false,
                    in_flight: 0,
                });
                if b.known && Instant::now() >= b.reset_at {
                    // A new window begins with the whole limit, as far as we know until its
                    // first response (so a crowd of waiting tasks does not burst past it).
                    b.remaining = b.limit;
                    b.reset_at = Instant::now() + Duration::from_secs(60);
                    b.assumed = true;
                }
                let reserve = reserve(b.limit, share);
                if !b.known || b.remaining > b.in_flight.saturating_add(reserve) {
                    b.in_flight += 1;
                    return Ok(Permit {
                        pacer: self.clone(),
                        bucket: bucket.to_owned(),
                        counted: true,
                    });
                }
                let wait = b.reset_at.saturating_duration_since(Instant::now());
                if max_wait.is_some_and(|max| wait > max) {
                    return Err(wait);
                }
                b.reset_at
            };
            tracing::debug!(bucket, "rate limit reached: waiting for the window to reset");
            tokio::time::sleep_until(wait_until + jitter()).await;
        }
    }

    /// Takes in what a response said of its bucket.
    pub(crate) fn observe(&self, permit: &mut Permit, headers: &HeaderMap) {
        let Some(rl) = RateLimit::from_headers(headers) else {
            return;
        };
        let reset_at = reset_instant(rl.reset, headers);
        let mut buckets = self.lock();
        let Some(b) = buckets.get_mut(&permit.bucket) else {
            return;
        };
        if permit.counted {
            // From now on this request is reflected in `remaining`, not in flight.
            b.in_flight = b.in_flight.saturating_sub(1);
            permit.counted = false;
        }
        if !b.known || rl.reset > b.reset_epoch {
            // A new window: Okta's numbers replace ours.
            *b = Bucket {
                limit: rl.limit,
                remaining: rl.remaining,
                reset_epoch: rl.reset,
                reset_at,
                known: true,
                assumed: false,
                in_flight: b.in_flight,
            };
        } else if rl.reset == b.reset_epoch && !b.assumed {
            // Responses arrive out of order: the lowest remaining is the latest.
            b.remaining = b.remaining.min(rl.remaining);
            b.limit = rl.limit;
        }
    }

    /// A 429: nothing is left in this window, whatever the headers say of `remaining`.
    /// A 429's reset is the one to wait for, even if it is not the one we knew.
    pub(crate) fn exhausted(&self, permit: &mut Permit, headers: &HeaderMap) {
        self.observe(permit, headers);
        let mut buckets = self.lock();
        let Some(b) = buckets.get_mut(&permit.bucket) else {
            return;
        };
        match RateLimit::from_headers(headers) {
            Some(rl) => {
                b.remaining = 0;
                b.reset_epoch = rl.reset;
                b.reset_at = reset_instant(rl.reset, headers);
                b.known = true;
                b.assumed = false;
            }
            None => b.known = false,
        }
    }

    /// Whether the bucket's window is known (a 429 without rate-limit headers leaves it unknown).
    pub(crate) fn knows(&self, bucket: &str) -> bool {
        self.lock().get(bucket).is_some_and(|b| b.known)
    }

    /// The state of every bucket seen in a window that has not ended.
    pub(crate) fn snapshot(&self) -> Vec<(String, RateLimit)> {
        let now = Instant::now();
        let mut v: Vec<(String, RateLimit)> = self
            .lock()
            .iter()
            .filter(|(_, b)| b.known && !b.assumed && b.reset_at > now)
            .map(|(k, b)| {
                (
                    k.clone(),
                    RateLimit {
                        limit: b.limit,
                        remaining: b.remaining,
                        reset: b.reset_epoch,
                    },
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// When `reset` (epoch seconds on Okta's clock) comes on ours: `reset - Date` from now. `Date`
/// is truncated to the second, so this is never early (at most a second late).
fn reset_instant(reset: i64, headers: &HeaderMap) -> Instant {
    let server_now = headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        // Without a Date, trust our own clock.
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
    let ahead = u64::try_from(reset.saturating_sub(server_now)).unwrap_or(0).min(3600);
    Instant::now() + Duration::from_secs(ahead)
}

/// Up to 250 ms, so that waiting tasks do not all wake at once.
pub(crate) fn jitter() -> Duration {
    Duration::from_millis(fastrand::u64(0..250))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: u32, remaining: u32, reset: i64, date_epoch: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-limit", limit.into());
        h.insert("x-rate-limit-remaining", remaining.into());
        h.insert("x-rate-limit-reset", reset.into());
        let date = std::time::UNIX_EPOCH + Duration::from_secs(date_epoch as u64);
        h.insert(DATE, httpdate::fmt_http_date(date).parse().unwrap());
        h
    }

    #[test]
    fn buckets_follow_okta_families() {
        let get = Method::GET;
        assert_eq!(bucket_of(&get, "/api/v1/users"), "/api/v1/users");
        assert_eq!(bucket_of(&Method::POST, "/api/v1/users"), "/api/v1/users");
        assert_eq!(bucket_of(&get, "/api/v1/users/00u1"), "GET /api/v1/users/{id}");
        assert_eq!(bucket_of(&Method::PUT, "/api/v1/users/00u1"), "/api/v1/users/{id}");
        assert_eq!(bucket_of(&get, "/api/v1/groups/00g1/users"), "/api/v1/groups");
        assert_eq!(bucket_of(&get, "/api/v1/groups/00g1"), "/api/v1/groups/{id}");
        assert_eq!(bucket_of(&get, "/api/v1/logs"), "/api/v1/logs");
        assert_eq!(bucket_of(&get, "/api/v1/users/00u1/groups"), "/api/v1");
        assert_eq!(bucket_of(&Method::POST, "/oauth2/v1/token"), "/oauth2/v1");
        assert_eq!(
            bucket_of(&Method::POST, "/oauth2/default/v1/token"),
            "/oauth2/{id}/v1/token"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_share_leaves_the_rest_of_the_window_to_others() {
        let pacer = Pacer::default();
        let mut p = pacer.acquire("b", None, 0.5).await.unwrap();
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        // 10 a window, 6 left: half of 10 is kept for others, so one more request goes.
        pacer.observe(&mut p, &headers(10, 6, t + 30, t));
        drop(p);
        let one = pacer.acquire("b", None, 0.5).await.unwrap();
        let second = pacer.acquire("b", Some(Duration::from_secs(5)), 0.5).await;
        assert!(second.is_err(), "the other half stays for others");
        // Without a share, the rest of the window is there.
        let _all = pacer.acquire("b", None, 1.0).await.unwrap();
        drop(one);
        assert_eq!(reserve(10, 0.5), 5);
        assert_eq!(reserve(10, 0.0), 9, "a share of 0 still sends one request a window");
        assert_eq!(reserve(600, 0.25), 450);
        assert_eq!(reserve(10, 1.0), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_the_reset_when_the_window_is_spent() {
        let pacer = Pacer::default();
        let mut p = pacer.acquire("b", None, 1.0).await.unwrap();
        // Okta's clock is an hour ahead of ours: only the difference reset - Date counts.
        let skewed = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
        pacer.observe(&mut p, &headers(10, 1, skewed + 5, skewed));
        drop(p);
        let started = Instant::now();
        let one = pacer.acquire("b", None, 1.0).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO, "one request left");
        // In flight, not yet answered: the last request of the window is taken.
        let second = pacer.acquire("b", None, 1.0);
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_secs(4), &mut second).await.is_err(),
            "no request left until the reset"
        );
        drop(one);
        let _p = second.await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(5) && waited < Duration::from_millis(5_300),
            "{waited:?}"
        );
        assert!(pacer.snapshot().is_empty(), "the window is over");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_longer_than_allowed_is_refused_at_once() {
        let pacer = Pacer::default();
        let mut p = pacer.acquire("b", None, 1.0).await.unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        pacer.observe(&mut p, &headers(10, 0, now + 30, now));
        drop(p);
        let started = Instant::now();
        let wait = pacer
            .acquire("b", Some(Duration::from_secs(10)), 1.0)
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO, "no wait");
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        // A wait within the bound is waited.
        let _p = pacer.acquire("b", Some(Duration::from_secs(31)), 1.0).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_request_gives_its_place_back() {
        let pacer = Pacer::default();
        let mut p = pacer.acquire("b", None, 1.0).await.unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        pacer.observe(&mut p, &headers(10, 2, now + 30, now));
        let a = pacer.acquire("b", None, 1.0).await.unwrap();
        let b = pacer.acquire("b", None, 1.0).await.unwrap();
        drop(a);
        let started = Instant::now();
        let _c = pacer.acquire("b", None, 1.0).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
        drop(b);
        let (_, rl) = &pacer.snapshot()[0];
        assert_eq!((rl.limit, rl.remaining), (10, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn older_windows_do_not_overwrite_newer_ones() {
        let pacer = Pacer::default();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut p = pacer.acquire("b", None, 1.0).await.unwrap();
        pacer.observe(&mut p, &headers(10, 9, now + 60, now));
        let mut late = pacer.acquire("b", None, 1.0).await.unwrap();
        pacer.observe(&mut late, &headers(10, 0, now, now - 1));
        let mut same = pacer.acquire("b", None, 1.0).await.unwrap();
        pacer.observe(&mut same, &headers(10, 4, now + 60, now));
        let (_, rl) = &pacer.snapshot()[0];
        assert_eq!(rl.remaining, 4);
    }
}
