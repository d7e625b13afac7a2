//! Retries and pacing against the sandbox's fault injection and rate limits.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use okta_client::{Client, RetryPolicy};
use okta_sandbox::faults::FaultRule;
use okta_sandbox::{Sandbox, SandboxConfig};

fn fast_retries(sb: &Sandbox, max_retries: u32) -> Client {
    Client::builder(sb.url())
        .unwrap()
        .api_token(sb.config().api_token_value())
        .retry(RetryPolicy {
            max_retries,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_export_under_ten_percent_faults_returns_every_user_exactly_once() {
    let sb = Sandbox::spawn(SandboxConfig {
        users: 3_000,
        // The sandbox decides faults with a generator seeded by the org's seed: this seed gives
        // every kind of fault over the export's 120 pages, every time.
        seed: 1,
        faults: vec![
            "/api/v1/users:errors=0.04,429=0.03,cuts=0.03"
                .parse::<FaultRule>()
                .unwrap(),
        ],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let client = fast_retries(&sb, 10);
    let ids: Vec<String> = client
        .users()
        .list()
        .limit(25)
        .stream()
        .map_ok(|u| u.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, sb.state().listed_user_ids(), "every user once, in order");
    let counters = crate::util::server(&sb, "/__sandbox/counters").await;
    let injected = &counters["faultsInjected"];
    let kinds = ["errors", "rateLimits", "cuts"].map(|k| injected[k].as_u64().unwrap_or(0));
    assert!(
        kinds.iter().all(|n| *n > 0),
        "each kind of fault happened over 120 pages: {injected}"
    );
    let requests = counters["requests"]["GET /api/v1/users"].as_u64().unwrap();
    assert_eq!(
        requests,
        120 + kinds.iter().sum::<u64>(),
        "one retry per fault, nothing more"
    );
}

#[tokio::test]
async fn retries_stop_at_the_limit_and_report_the_last_error() {
    let sb = Sandbox::spawn(SandboxConfig {
        users: 5,
        faults: vec!["/api/v1/users:errors=1".parse::<FaultRule>().unwrap()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let err = fast_retries(&sb, 3).users().list().send().await.unwrap_err();
    assert!(matches!(err.status().map(|s| s.as_u16()), Some(500 | 503)), "{err}");
    assert_eq!(err.error_code(), Some("E0000009"));
}

/// A client limited to half of each bucket (a background sync's) leaves the other half of every
/// window: after each of its pages, Okta's count of requests left is at least half the limit,
/// where the same export with the whole bucket spends windows to the end. No 429 either way.
#[tokio::test]
async fn a_rate_share_leaves_the_rest_of_each_window_to_others() {
    let sb = Sandbox::spawn(SandboxConfig {
        users: 40,
        users_rate_limit: 8,
        rate_limit_window: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let lowest_left = |share: f64| {
        let client = fast_retries(&sb, 0).with_rate_share(share);
        async move {
            let mut pages = std::pin::pin!(client.users().list().limit(4).pages());
            let mut lowest = u32::MAX;
            let mut users = 0;
            while let Some(page) = pages.next().await {
                users += page.expect("no 429: retries are off").items.len();
                let limits = client.rate_limits();
                if let Some((_, rl)) = limits.iter().find(|(b, _)| b == "/api/v1/users") {
                    lowest = lowest.min(rl.remaining);
                }
            }
            (users, lowest)
        }
    };
    let (users, lowest) = lowest_left(0.5).await;
    assert_eq!(users, 40);
    assert!(
        lowest >= 4,
        "half of the 8 a window stays for others: {lowest} left at the lowest"
    );
    let (_, lowest) = lowest_left(1.0).await;
    assert!(lowest < 4, "the whole bucket is used without a share: {lowest}");
    assert_eq!(sb.state().rate_limited(), 0, "the sandbox refused nothing");
}

#[tokio::test]
async fn pacing_keeps_concurrent_exports_under_the_limit_with_no_429() {
    // Four requests per one-second window on the users bucket; two exports of 15 pages each
    // at once, through clones of one client.
    let sb = Sandbox::spawn(SandboxConfig {
        users: 60,
        users_rate_limit: 4,
        rate_limit_window: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let client = fast_retries(&sb, 0);
    let export = |c: Client| async move {
        c.users()
            .list()
            .limit(4)
            .stream()
            .map_ok(|u| u.id)
            .try_collect::<Vec<_>>()
            .await
    };
    let (a, b) = tokio::join!(export(client.clone()), export(client.clone()));
    let expected = sb.state().listed_user_ids();
    assert_eq!(
        a.expect("no 429: retries are off, so one would fail the export"),
        expected
    );
    assert_eq!(b.unwrap(), expected);
    assert_eq!(sb.state().rate_limited(), 0, "the sandbox refused nothing");
    let limits = client.rate_limits();
    let users = limits.iter().find(|(b, _)| b == "/api/v1/users");
    assert!(
        users.is_none_or(|(_, rl)| rl.limit == 4),
        "the caller sees the bucket's limit: {limits:?}"
    );
}

#[tokio::test]
async fn a_429_waits_for_the_reset_then_succeeds() {
    let sb = Sandbox::spawn(SandboxConfig {
        users: 5,
        faults: vec!["/api/v1/users:429=1,times=1".parse::<FaultRule>().unwrap()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let page = fast_retries(&sb, 2).users().list().send().await.unwrap();
    assert_eq!(page.items.len(), 5);
    // The injected 429 says the window resets within a second: the client waited for it
    // rather than retrying at once (its own backoff here is at most 20 ms).
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}
