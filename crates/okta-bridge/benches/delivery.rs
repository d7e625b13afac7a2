//! Webhook delivery and Okta Event Hooks in, end to end through the product's own processes:
//! `okta-bridge sandbox` (the org, limits lifted) and `okta-bridge serve` (on SQLite, then on
//! PostgreSQL), a webhook receiver on 127.0.0.1 in this process, side by side in one run.
//!
//! ```text
//! cargo bench -p okta-bridge --bench delivery
//! cargo bench -p okta-bridge --bench delivery -- --changes 300 --burst 5000 --every-ms 200
//! ```
//!
//! 1. **Throughput**: `--burst` changes at the org (the sandbox's churn), one incremental sync
//!    (`POST /api/connections/bench/sync`), then every event it wrote delivered to the one
//!    endpoint, in order, one at a time: events a second from the sync's answer (its commit)
//!    to the last event's arrival, and the first event's latency.
//! 2. **Change at the org → webhook, through the event hook** (the connection's hook registered
//!    with `POST /api/connections/bench/hooks`): a steady churn of `--changes` profile updates,
//!    one every `--every-ms`, each made by this process through the Management API; each one's
//!    latency runs from Okta's answer to the update to the arrival of the `user.updated` webhook
//!    that carries it (matched by the new value). The whole path: the org's hook call, the
//!    targeted sync, its commit, the delivery. Commit-to-delivery is a part of it, so it is at
//!    most this.
//!
//! PostgreSQL comes from `OKTA_BRIDGE_TEST_POSTGRES` (default
//! `postgres://root@127.0.0.1:5432/test`), in a schema of its own; its rows are skipped when it
//! is not reachable.

mod common;

use common::{api, arg, connect_bench, start_server, wait_for_line};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TOKEN: &str = "00benchDeliveryToken0123456789abcdefghijk";

async fn start_sandbox() -> (tokio::process::Child, String) {
    let mut child = common::sandbox_command(TOKEN)
        .args([
            "--users",
            "2000",
            "--groups",
            "40",
            "--memberships",
            "4000",
            "--apps",
            "3",
        ])
        .args(["--rate-limit-scale", "1000"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("okta-bridge sandbox starts");
    let url = wait_for_line(&mut child, "okta-sandbox org running at ").await;
    (child, url)
}

/// What the receiver got: each delivery's arrival and body.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(Instant, Value)>>>,
    arrived: Arc<tokio::sync::Notify>,
}

async fn receiver() -> (String, Receiver) {
    let r = Receiver::default();
    let handler = |axum::extract::State(r): axum::extract::State<Receiver>, body: String| async move {
        let at = Instant::now();
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        r.got.lock().unwrap().push((at, v));
        r.arrived.notify_waiters();
        "ok"
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(handler))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r)
}

impl Receiver {
    /// Waits (up to `limit`) until `done` holds for what arrived.
    async fn until(&self, limit: Duration, done: impl Fn(&[(Instant, Value)]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let arrived = self.arrived.notified();
            if done(&self.got.lock().unwrap()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return done(&self.got.lock().unwrap());
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Results {
    db: &'static str,
    burst_events: usize,
    burst_seconds: f64,
    first_ms: f64,
    latencies_ms: Vec<f64>,
    missing: usize,
}

async fn run(db_name: &'static str, db_url: &str, changes: usize, burst: usize, every: Duration) -> Results {
    let (_sandbox, org) = start_sandbox().await;
    let (_server, server) = start_server(db_url).await;
    connect_bench(&server, &org, TOKEN).await;
    api(&server, reqwest::Method::POST, "/api/connections/bench/sync", None).await;
    let (hook_url, received) = receiver().await;
    api(
        &server,
        reqwest::Method::POST,
        "/api/webhooks",
        Some(json!({ "url": hook_url })),
    )
    .await;

    // 1. Throughput: a burst of changes, one sync, every event delivered.
    let control = reqwest::Client::new();
    let res = control
        .post(format!("{org}/__sandbox/churn/step"))
        .header("authorization", format!("SSWS {TOKEN}"))
        .json(&json!({ "changes": burst }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let summary = api(&server, reqwest::Method::POST, "/api/connections/bench/sync", None).await;
    let committed = Instant::now();
    let burst_events = summary["events"].as_u64().unwrap() as usize;
    let all = received
        .until(Duration::from_secs(600), |got| got.len() >= burst_events)
        .await;
    assert!(all, "every event of the burst is delivered");
    let (first, last) = {
        let got = received.got.lock().unwrap();
        (got[0].0, got[burst_events - 1].0)
    };
    let burst_seconds = (last - committed).as_secs_f64();
    let first_ms = first.saturating_duration_since(committed).as_secs_f64() * 1000.0;
    received.got.lock().unwrap().clear();

    // 2. A steady churn at the org, through the event hook.
    api(&server, reqwest::Method::POST, "/api/connections/bench/hooks", None).await;
    let client = okta_client::Client::builder(&org)
        .unwrap()
        .api_token(TOKEN)
        .build()
        .unwrap();
    let users: Vec<String> = {
        use futures::TryStreamExt;
        let all: Vec<okta_client::User> = client.users().list().limit(200).stream().try_collect().await.unwrap();
        all.into_iter()
            .filter(|u| u.status.as_str() == "ACTIVE")
            .map(|u| u.id)
            .take(changes.max(1))
            .collect()
    };
    let mut made: HashMap<String, Instant> = HashMap::new();
    let mut ticks = tokio::time::interval(every);
    for i in 0..changes {
        ticks.tick().await;
        let title = format!("bench-{i}");
        let mut change = serde_json::Map::new();
        change.insert("title".into(), json!(title));
        client
            .users()
            .update_profile(&users[i % users.len()], change)
            .await
            .unwrap();
        made.insert(title, Instant::now());
    }
    let title_of = |v: &Value| v["data"]["profile"]["title"].as_str().map(str::to_owned);
    received
        .until(Duration::from_secs(60), |got| {
            let seen: std::collections::HashSet<String> = got.iter().filter_map(|(_, v)| title_of(v)).collect();
            made.keys().all(|t| seen.contains(t))
        })
        .await;
    let got = received.got.lock().unwrap().clone();
    let mut latencies_ms = Vec::new();
    for (title, at) in &made {
        if let Some((arrived, _)) = got.iter().find(|(_, v)| title_of(v).as_deref() == Some(title)) {
            latencies_ms.push(arrived.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    Results {
        db: db_name,
        burst_events,
        burst_seconds,
        first_ms,
        missing: made.len() - latencies_ms.len(),
        latencies_ms,
    }
}

#[tokio::main]
async fn main() {
    let changes = arg("--changes", 300);
    let burst = arg("--burst", 5000);
    let every = Duration::from_millis(arg("--every-ms", 200) as u64);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("delivery.db").display());
    let mut results = vec![run("SQLite", &sqlite, changes, burst, every).await];
    match common::postgres_url("okta_bridge_bench_delivery").await {
        Some(pg) => results.push(run("PostgreSQL", &pg, changes, burst, every).await),
        None => eprintln!("PostgreSQL is not reachable: its rows are skipped"),
    }
    println!("\nThroughput: a burst of {burst} changes at the org, one incremental sync, every event to one endpoint");
    println!("| database | events | sync answered → last delivered | events/s | first event |");
    println!("|---|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {} | {:.2} s | {:.0} | {:.0} ms |",
            r.db,
            r.burst_events,
            r.burst_seconds,
            r.burst_events as f64 / r.burst_seconds,
            r.first_ms
        );
    }
    println!(
        "\nChange at the org → webhook, through the event hook: {changes} profile updates, one every {} ms",
        every.as_millis()
    );
    println!("| database | delivered | p50 | p95 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &results {
        let l = &r.latencies_ms;
        println!(
            "| {} | {} of {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
            r.db,
            l.len(),
            l.len() + r.missing,
            percentile(l, 50.0),
            percentile(l, 95.0),
            percentile(l, 99.0),
            l.last().copied().unwrap_or(f64::NAN)
        );
    }
}
