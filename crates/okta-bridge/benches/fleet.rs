//! A fleet of customers on one machine: many orgs served by one `okta-bridge sandbox --orgs N`
//! process, three `okta-bridge serve` instances on one PostgreSQL, side by side in one run.
//!
//! ```text
//! cargo bench -p okta-bridge --bench fleet                                 # 1,000 orgs of 200 users, one of 100,000
//! cargo bench -p okta-bridge --bench fleet -- --orgs 100 --users 50        # a smaller fleet
//! cargo bench -p okta-bridge --bench fleet -- --big-users 0                # no big org
//! cargo bench -p okta-bridge --bench fleet -- --steady-minutes 3           # a shorter phase 4 (0: none)
//! cargo bench -p okta-bridge --bench fleet -- --per-endpoint 16            # OKTA_BRIDGE_DELIVERY_PER_ENDPOINT
//! ```
//!
//! 1. **First syncs.** Every org, and the big one (100,000 users, 2,000 groups, from a sandbox
//!    process of its own), is added and connected (API token) through the first
//!    instance, 16 at a time; each instance's scheduler (its default
//!    concurrency) syncs what is due (interval an hour: the later syncs are the bench's own). Measured: the time from the first connect until every
//!    connection's first sync is written (read from the database), and each `serve`'s peak
//!    resident memory (`VmHWM`). Limits lifted (`--rate-limit-scale 1000`).
//! 2. **Webhooks, a healthy endpoint beside a dead one.** One receiver in this process answers
//!    after 50 ms; another accepts connections and never answers. Both are subscribed to every
//!    connection. Ten changes in every org (the fleet's `churn/step`), then each org synced
//!    once, the syncs spread over one minute: from the moment a sync is asked for (its events
//!    are written before it answers) to their arrival at the healthy receiver (p50/p99/max; an
//!    upper bound: the sync's own time is in it), every event in order
//!    per connection. Then a burst: ten more changes in every org, every org synced (16 at a
//!    time): how far the healthy endpoint keeps up while the syncs write, and how fast it
//!    drains what is left once they are done.
//! 3. **A backlog drained.** Seventeen changes in every org, synced by `okta-bridge sync` processes
//!    while no instance runs (so nothing is delivered yet), then three instances started: the
//!    rate at which the healthy endpoint gets the whole backlog while the dead one fails; with
//!    the product's delivery limits, then with the earlier ones (16 streams at once, 4 of one
//!    endpoint). About 10,000 events; the rate is counted from the first delivery to the last.
//! 4. **Steady state under Okta's limits.** Every org at Okta's default rate limits, churning
//!    2 changes a minute, three instances syncing each connection every 300 s for 15 minutes
//!    (due times spread over the first interval), the big org's daily full pass due two
//!    minutes in: how late each scheduled run starts after it comes due (p50/p99/max, from each
//!    run's summary), and the big org's pass.
//!
//! PostgreSQL comes from `OKTA_BRIDGE_TEST_POSTGRES` (default
//! `postgres://root@127.0.0.1:5432/test`), in a schema of its own.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::arg;
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::Connection;

/// Changes in every org for the backlog phase: about 10,000 events of the endpoints' types
/// across 1,000 orgs.
const BACKLOG_CHANGES: usize = 17;

/// The big org's account.
const BIG: &str = "big-org";

/// The sync interval of the steady-state phase (seconds).
const STEADY_INTERVAL: i64 = 300;

/// The API token every org of the fleet takes (each org still checks its own).
const TOKEN: &str = "00benchFleetToken0123456789abcdefghijklmnop";

/// The events both endpoints take.
const SUBSCRIBED: [&str; 9] = [
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.suspended",
    "user.unsuspended",
    "user.deleted",
    "group.updated",
    "group.deleted",
    "group.user_removed",
];

/// How many of the feed's events are of the subscribed types.
async fn subscribed_events(db: &mut sqlx::PgConnection) -> usize {
    let mut q = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM dir_events WHERE event_type IN (");
    let mut list = q.separated(", ");
    for t in SUBSCRIBED {
        list.push_bind(t);
    }
    list.push_unseparated(")");
    let (n,): (i64,) = q.build_query_as().fetch_one(db).await.unwrap();
    usize::try_from(n).unwrap_or(0)
}

/// How many requests the bench has in flight at once.
const AT_ONCE: usize = 16;

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Per connection, each event's cursor and arrival.
type Arrivals = BTreeMap<String, Vec<(i64, Instant)>>;

/// What the healthy receiver got.
#[derive(Clone, Default)]
struct Healthy {
    got: Arc<Mutex<Arrivals>>,
}

impl Healthy {
    fn count(&self) -> usize {
        self.got.lock().unwrap().values().map(Vec::len).sum()
    }

    /// When the first event after `t` arrived.
    fn first_after(&self, t: Instant) -> Option<Instant> {
        self.got
            .lock()
            .unwrap()
            .values()
            .flat_map(|events| events.iter().map(|(_, at)| *at))
            .filter(|at| *at >= t)
            .min()
    }
}

/// A receiver that answers every delivery after 50 ms.
async fn healthy() -> (String, Healthy) {
    let h = Healthy::default();
    let handler = |axum::extract::State(h): axum::extract::State<Healthy>, body: String| async move {
        let at = Instant::now();
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let events = match &v["events"] {
            Value::Array(a) => a.clone(),
            _ => vec![v.clone()],
        };
        {
            let mut got = h.got.lock().unwrap();
            for e in events {
                let connection = e["connection"].as_str().unwrap_or_default().to_owned();
                let cursor = e["cursor"]
                    .as_str()
                    .and_then(|c| c.parse().ok())
                    .or_else(|| e["cursor"].as_i64())
                    .unwrap_or(-1);
                got.entry(connection).or_default().push((cursor, at));
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        "ok"
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(handler))
        .with_state(h.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, h)
}

/// A receiver that accepts connections and never answers.
async fn dead() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// Syncs `name` on `server` now; the instant it was asked (its events are written after it,
/// before its answer; deliveries may start before the answer comes back) and how many.
async fn sync_now(server: &str, name: &str) -> (String, Instant, i64) {
    let asked = Instant::now();
    let run = common::api(
        server,
        reqwest::Method::POST,
        &format!("/api/connections/{name}/sync"),
        None,
    )
    .await;
    (name.to_owned(), asked, run["events"].as_i64().unwrap_or(0))
}

#[tokio::main]
async fn main() {
    let orgs_n = arg("--orgs", 1000);
    let users = arg("--users", 200);
    let Some(pg) = common::postgres_url("okta_bridge_fleet").await else {
        eprintln!("PostgreSQL is not reachable: the fleet bench needs it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let listing = dir.path().join("orgs.json");
    let started = Instant::now();
    let (sandbox, fleet) = start_fleet(&listing, orgs_n, users, 10, 42).await;
    let orgs: Vec<String> = fleet["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["url"].as_str().unwrap().to_owned())
        .collect();
    let sandbox_rss = peak_rss_mb(sandbox.id().unwrap());
    eprintln!(
        "{} orgs of {users} users served in {:.1} s ({sandbox_rss:.0} MB)",
        orgs.len(),
        started.elapsed().as_secs_f64()
    );
    // The big org: a fleet of one, in a process of its own.
    let big_users = arg("--big-users", 100_000);
    let big_listing = dir.path().join("big.json");
    let (_big_sandbox, big) = if big_users > 0 {
        let (child, listing) = start_fleet(&big_listing, 1, big_users, 2000, 7).await;
        (Some(child), Some(listing))
    } else {
        (None, None)
    };
    let big_url = big.as_ref().map(|b| b["orgs"][0]["url"].as_str().unwrap().to_owned());
    let all_orgs = orgs.len() + usize::from(big_url.is_some());

    // First syncs are due at once; the next not before the bench is over (its syncs are asked).
    let per_endpoint = arg("--per-endpoint", 32).to_string();
    let env = [
        ("OKTA_BRIDGE_SYNC_INTERVAL", "3600"),
        ("OKTA_BRIDGE_DELIVERY_PER_ENDPOINT", per_endpoint.as_str()),
    ];
    let (first, url) = common::start_server_with(&pg, &env).await;
    let mut servers = vec![(first, url)];
    for _ in 1..3 {
        servers.push(common::start_server_with(&pg, &env).await);
    }
    let api = servers[0].1.clone();

    // 1. First syncs.
    let started = Instant::now();
    futures::stream::iter(orgs.iter().enumerate())
        .map(|(i, org)| {
            let api = api.clone();
            async move {
                let name = format!("org-{i:04}");
                let body = json!({ "name": name, "orgUrl": org });
                common::api(&api, reqwest::Method::POST, "/api/accounts", Some(body)).await;
                let body = json!({ "apiToken": TOKEN });
                let path = format!("/api/accounts/{name}/connect");
                common::api(&api, reqwest::Method::POST, &path, Some(body)).await;
            }
        })
        .buffer_unordered(AT_ONCE)
        .collect::<Vec<()>>()
        .await;
    if let Some(org) = &big_url {
        let body = json!({ "name": BIG, "orgUrl": org });
        common::api(&api, reqwest::Method::POST, "/api/accounts", Some(body)).await;
        let path = format!("/api/accounts/{BIG}/connect");
        common::api(&api, reqwest::Method::POST, &path, Some(json!({ "apiToken": TOKEN }))).await;
    }
    let connected = started.elapsed().as_secs_f64();
    let mut db = sqlx::PgConnection::connect(&pg).await.unwrap();
    let synced_in = loop {
        let (done,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM dir_sync WHERE last_run_at IS NOT NULL AND last_error IS NULL")
                .fetch_one(&mut db)
                .await
                .unwrap();
        if usize::try_from(done).unwrap_or(0) >= all_orgs {
            break started.elapsed().as_secs_f64();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "first syncs take over 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let rss: Vec<f64> = servers.iter().map(|(c, _)| peak_rss_mb(c.id().unwrap())).collect();
    println!(
        "\n1. First syncs of {} orgs of {users} users and one of {big_users} users (2,000 groups), 3 instances: connected in {connected:.1} s, every first sync written {synced_in:.1} s after the first connect; peak RSS of each serve {:.0} / {:.0} / {:.0} MB; the sandbox {:.0} MB",
        orgs.len(),
        rss[0],
        rss[1],
        rss[2],
        peak_rss_mb(sandbox.id().unwrap())
    );

    // 2. Webhooks: a healthy endpoint beside a dead one.
    let (healthy_url, healthy) = healthy().await;
    let dead_url = dead().await;
    // Subscribed to what changes after a first sync (a first sync says only `*.created`,
    // `group.user_added` and `app.user_assigned`): a new endpoint's streams start at the
    // feed's beginning, and the first syncs' events are passed over, not delivered.
    for url in [&healthy_url, &dead_url] {
        common::api(
            &api,
            reqwest::Method::POST,
            "/api/webhooks",
            Some(json!({ "url": url, "events": SUBSCRIBED })),
        )
        .await;
    }
    let control = fleet["control"].as_str().unwrap();
    let control_token = fleet["controlToken"].as_str().unwrap();
    let http = reqwest::Client::new();
    let churn = |n: usize| {
        http.post(format!("{control}/__fleet/churn/step"))
            .header("authorization", format!("SSWS {control_token}"))
            .json(&json!({ "changes": n }))
            .send()
    };
    let subscribed_before = subscribed_events(&mut db).await;
    churn(10).await.unwrap().error_for_status().unwrap();
    let names: Vec<String> = (0..orgs.len()).map(|i| format!("org-{i:04}")).collect();
    let spread = Duration::from_secs(60) / u32::try_from(names.len()).unwrap_or(1);
    let servers_urls: Vec<String> = servers.iter().map(|(_, u)| u.clone()).collect();
    let before = healthy.count();
    let mut ticker = tokio::time::interval(spread);
    let mut writes = Vec::new();
    let mut pending = futures::stream::FuturesUnordered::new();
    for (i, name) in names.iter().enumerate() {
        ticker.tick().await;
        let server = servers_urls[i % servers_urls.len()].clone();
        let name = name.clone();
        pending.push(async move { sync_now(&server, &name).await });
        while let Some(Some(w)) = futures::FutureExt::now_or_never(pending.next()) {
            writes.push(w);
        }
    }
    while let Some(w) = pending.next().await {
        writes.push(w);
    }
    let written: i64 = writes.iter().map(|w| w.2).sum();
    let for_endpoints = subscribed_events(&mut db).await - subscribed_before;
    let want = before + for_endpoints;
    let deadline = Instant::now() + Duration::from_secs(300);
    while healthy.count() < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let when: BTreeMap<&str, Instant> = writes.iter().map(|(n, at, _)| (n.as_str(), *at)).collect();
    let mut latencies: Vec<f64> = Vec::new();
    let mut out_of_order = 0;
    {
        let got = healthy.got.lock().unwrap();
        for (connection, events) in got.iter() {
            if events.windows(2).any(|w| w[0].0 >= w[1].0) {
                out_of_order += 1;
            }
            if let Some(written) = when.get(connection.as_str()) {
                latencies.extend(
                    events
                        .iter()
                        .map(|(_, at)| at.saturating_duration_since(*written).as_secs_f64() * 1000.0),
                );
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let got_now = healthy.count();
    println!(
        "2. Webhooks: {written} events from {} syncs spread over a minute, {for_endpoints} of the subscribed types; {} reached the healthy endpoint (a dead one beside it); from asking for a sync to arrival p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; connections out of order: {out_of_order}",
        writes.len(),
        got_now - before,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN)
    );

    // A burst while the instances deliver, with the product's delivery limits.
    let ctx = Burst {
        db: &mut db,
        healthy: &healthy,
        names: &names,
        churn: &churn,
    };
    ctx.run(
        "the product's limits (128 streams at once, 32 of one endpoint, per instance)",
        &servers_urls,
    )
    .await;
    let rss: Vec<f64> = servers.iter().map(|(c, _)| peak_rss_mb(c.id().unwrap())).collect();
    println!(
        "   Peak RSS of each serve: {:.0} / {:.0} / {:.0} MB",
        rss[0], rss[1], rss[2]
    );
    stop(&mut servers).await;

    // A backlog drained: ten changes in every org synced while no instance delivers (each sync
    // a process of its own), then three instances started to deliver it, with the product's
    // delivery limits and then with higher ones.
    let limits: [(&str, &[(&str, &str)]); 2] = [
        (
            "the product's limits (128 streams at once, 32 of one endpoint, per instance)",
            &[],
        ),
        (
            "the earlier limits (16 streams at once, 4 of one endpoint, per instance)",
            &[
                ("OKTA_BRIDGE_DELIVERY_CONCURRENCY", "16"),
                ("OKTA_BRIDGE_DELIVERY_PER_ENDPOINT", "4"),
            ],
        ),
    ];
    for (what, more) in limits {
        let subscribed_before = subscribed_events(&mut db).await;
        // About 10,000 events of the endpoints' types with 1,000 orgs.
        churn(BACKLOG_CHANGES).await.unwrap().error_for_status().unwrap();
        let written = Instant::now();
        futures::stream::iter(names.iter())
            .map(|name| {
                tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
                    .args(["sync", name, "--database-url", &pg, "--dev-allow-private-orgs"])
                    .env("OKTA_BRIDGE_MASTER_KEY", common::MASTER_KEY)
                    .env("OKTA_BRIDGE_LOG", "warn")
                    .stdout(std::process::Stdio::null())
                    .status()
            })
            .buffer_unordered(8)
            .for_each(|s| async move { assert!(s.unwrap().success(), "a sync process failed") })
            .await;
        let for_endpoints = subscribed_events(&mut db).await - subscribed_before;
        let written = written.elapsed().as_secs_f64();
        let before = healthy.count();
        let mut env = vec![("OKTA_BRIDGE_SYNC_INTERVAL", "3600")];
        env.extend_from_slice(more);
        let started = Instant::now();
        let mut servers = Vec::new();
        for _ in 0..3 {
            servers.push(common::start_server_with(&pg, &env).await);
        }
        let deadline = Instant::now() + Duration::from_secs(900);
        while healthy.count() < before + for_endpoints && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let drained = started.elapsed().as_secs_f64();
        let arrived = healthy.count() - before;
        // From the first delivery (the instances up and delivering) to the last.
        let delivering = healthy
            .first_after(started)
            .map_or(drained, |first| drained - first.duration_since(started).as_secs_f64());
        let rss: Vec<f64> = servers.iter().map(|(c, _)| peak_rss_mb(c.id().unwrap())).collect();
        println!(
            "3. A backlog of {for_endpoints} events for the endpoints (written by {} sync processes in {written:.1} s, no instance delivering), delivered with {what}: {arrived} at the healthy endpoint {drained:.1} s after the instances started ({:.0} events/s), {delivering:.1} s from the first delivery to the last: {:.0} events/s (the dead one failing beside it); peak RSS {:.0} / {:.0} / {:.0} MB",
            names.len(),
            arrived as f64 / drained,
            arrived as f64 / delivering,
            rss[0],
            rss[1],
            rss[2]
        );
        stop(&mut servers).await;
    }
    // 4. Okta's limits, syncs every 300 s, churn everywhere, the big org's daily full pass.
    let minutes = arg("--steady-minutes", 15);
    if minutes > 0 {
        let controls: Vec<(String, String)> = std::iter::once(&fleet)
            .chain(big.as_ref())
            .map(|f| {
                (
                    f["control"].as_str().unwrap().to_owned(),
                    f["controlToken"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        steady_state(&pg, &mut db, &http, &controls, &names, big_url.is_some(), minutes).await;
    }

    let got = healthy.got.lock().unwrap();
    let out_of_order = got
        .values()
        .filter(|events| events.windows(2).any(|w| w[0].0 >= w[1].0))
        .count();
    println!(
        "   Connections whose events reached the healthy endpoint out of order, over the whole run: {out_of_order}"
    );
}

/// SIGTERM to each instance: each gives its leases up at once and exits.
async fn stop(servers: &mut Vec<(tokio::process::Child, String)>) {
    for (child, _) in servers.iter_mut() {
        let pid = child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        child.wait().await.unwrap();
    }
    servers.clear();
}

/// A burst: ten changes in every org, every org synced (16 at a time over the instances), and
/// how the healthy endpoint keeps up while the writes go on and drains what is left after.
struct Burst<'a, C> {
    db: &'a mut sqlx::PgConnection,
    healthy: &'a Healthy,
    names: &'a [String],
    churn: &'a C,
}

impl<C, F> Burst<'_, C>
where
    C: Fn(usize) -> F,
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    async fn run(self, what: &str, servers: &[String]) {
        let subscribed_before = subscribed_events(self.db).await;
        (self.churn)(10).await.unwrap().error_for_status().unwrap();
        let before = self.healthy.count();
        let started = Instant::now();
        let burst: Vec<(String, Instant, i64)> = futures::stream::iter(self.names.iter().enumerate())
            .map(|(i, name)| {
                let server = servers[i % servers.len()].clone();
                async move { sync_now(&server, name).await }
            })
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
        let written: i64 = burst.iter().map(|w| w.2).sum();
        let synced = started.elapsed().as_secs_f64();
        let at_sync_end = self.healthy.count() - before;
        let for_endpoints = subscribed_events(self.db).await - subscribed_before;
        let deadline = Instant::now() + Duration::from_secs(600);
        while self.healthy.count() < before + for_endpoints && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let drained = started.elapsed().as_secs_f64();
        let arrived = self.healthy.count() - before;
        let left = arrived - at_sync_end;
        println!(
            "   Burst, {what}: {written} events written by {} syncs in {synced:.1} s, {for_endpoints} for the endpoints; {at_sync_end} had reached the healthy one when the last sync ended ({:.0}/s), the {left} left drained in {:.1} s ({:.0}/s); all {arrived} in {drained:.1} s",
            burst.len(),
            at_sync_end as f64 / synced,
            drained - synced,
            left as f64 / (drained - synced).max(0.001)
        );
    }
}

/// `okta-bridge sandbox --orgs N` of `users` users and `groups` groups each (seeds from
/// `seed`), Okta's limits lifted; the process and its listing (written to `listing`).
async fn start_fleet(
    listing: &std::path::Path,
    orgs: usize,
    users: usize,
    groups: usize,
    seed: u64,
) -> (tokio::process::Child, Value) {
    let mut sandbox = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args(["sandbox", "--listen", "127.0.0.1:0", "--api-token", TOKEN])
        .args(["--rate-limit-scale", "1000", "--seed", &seed.to_string()])
        .args(["--orgs", &orgs.to_string(), "--users", &users.to_string()])
        .args(["--groups", &groups.to_string(), "--orgs-out"])
        .arg(listing)
        .env("OKTA_BRIDGE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the sandbox starts");
    common::wait_for_line(&mut sandbox, "Press Ctrl-C").await;
    let fleet = serde_json::from_slice(&std::fs::read(listing).unwrap()).unwrap();
    (sandbox, fleet)
}

/// Every connection's sync state: its account, last run's summary and when that run ended.
async fn sync_rows(db: &mut sqlx::PgConnection) -> Vec<(String, Option<String>, Option<i64>)> {
    sqlx::query_as("SELECT account, last_summary, last_run_at FROM dir_sync")
        .fetch_all(db)
        .await
        .unwrap()
}

/// Sends `body` to every org of the fleets behind `controls` (`/__fleet/{path}`).
async fn to_fleets(
    http: &reqwest::Client,
    controls: &[(String, String)],
    method: reqwest::Method,
    path: &str,
    body: Value,
) {
    for (control, token) in controls {
        http.request(method.clone(), format!("{control}/__fleet/{path}"))
            .header("authorization", format!("SSWS {token}"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
}

/// Phase 4: every org at Okta's default rate limits and churning, three instances syncing each
/// connection every [`STEADY_INTERVAL`] seconds for `minutes` (the due times spread over the
/// first interval, as a fleet's are), the big org's daily full pass coming due two minutes in.
/// Each scheduled run's summary says when it came due and when it started (`lateSeconds`); the
/// database is read every few seconds for them.
async fn steady_state(
    pg: &str,
    db: &mut sqlx::PgConnection,
    http: &reqwest::Client,
    controls: &[(String, String)],
    names: &[String],
    with_big: bool,
    minutes: usize,
) {
    to_fleets(
        http,
        controls,
        reqwest::Method::PUT,
        "rate-limits",
        json!({ "scale": 1 }),
    )
    .await;
    let t0 = time::OffsetDateTime::now_utc().unix_timestamp();
    let n = i64::try_from(names.len()).unwrap_or(1).max(1);
    for (i, name) in names.iter().enumerate() {
        // Due from 30 s on, one after the other across the interval.
        let due = t0 + 30 + i64::try_from(i).unwrap_or(0) * STEADY_INTERVAL / n;
        sqlx::query("UPDATE dir_sync SET last_run_at = $2 WHERE account = $1")
            .bind(name)
            .bind(due - STEADY_INTERVAL)
            .execute(&mut *db)
            .await
            .unwrap();
    }
    if with_big {
        sqlx::query("UPDATE dir_sync SET last_run_at = $2, last_full_at = $3 WHERE account = $1")
            .bind(BIG)
            .bind(t0 + 120 - STEADY_INTERVAL)
            .bind(t0 - 2 * 86_400)
            .execute(&mut *db)
            .await
            .unwrap();
    }
    to_fleets(http, controls, reqwest::Method::PUT, "churn", json!({ "rate": 2.0 })).await;
    let env = [("OKTA_BRIDGE_SYNC_INTERVAL", "300")];
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(common::start_server_with(pg, &env).await);
    }
    let started = Instant::now();
    let steady = Duration::from_secs(60 * u64::try_from(minutes).unwrap_or(15));
    // (account, startedAt) → lateSeconds, of the scheduled runs.
    let mut late: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut big_full: Option<(String, i64, i64)> = None;
    loop {
        for (account, summary, last_run_at) in sync_rows(db).await {
            let Some(summary) = summary.and_then(|s| serde_json::from_str::<Value>(&s).ok()) else {
                continue;
            };
            let (Some(at), Some(l)) = (summary["startedAt"].as_str(), summary["lateSeconds"].as_i64()) else {
                continue;
            };
            let began = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .map_or(0, |t| t.unix_timestamp());
            // Runs of this phase only (the first syncs were scheduled runs too).
            if began < t0 {
                continue;
            }
            if account == BIG && summary["full"] == true && big_full.is_none() {
                big_full = Some((at.to_owned(), l, last_run_at.unwrap_or(began) - began));
            }
            late.insert((account, at.to_owned()), l);
        }
        let over = started.elapsed() >= steady;
        if over && (!with_big || big_full.is_some() || started.elapsed() >= steady * 3) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    // Due now and not started: as late as they are so far.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let waiting: Vec<i64> = sync_rows(db)
        .await
        .into_iter()
        .filter_map(|(_, _, last)| last.map(|l| now - (l + STEADY_INTERVAL)))
        .filter(|w| *w > 0)
        .collect();
    to_fleets(http, controls, reqwest::Method::DELETE, "churn", Value::Null).await;
    let rss: Vec<f64> = servers.iter().map(|(c, _)| peak_rss_mb(c.id().unwrap())).collect();
    stop(&mut servers).await;
    // The runs before the phase (first syncs, the bench's own) said no lateSeconds.
    let mut sorted: Vec<f64> = late.values().map(|l| *l as f64).collect();
    sorted.sort_by(f64::total_cmp);
    println!(
        "\n4. Okta's limits on every org, syncs every {STEADY_INTERVAL} s, 2 changes a minute in every org, {:.1} min, 3 instances: {} scheduled runs started {:.0} / {:.0} / {:.0} s late (p50 / p99 / max); {} due and not started at the end (longest waiting {} s); peak RSS {:.0} / {:.0} / {:.0} MB",
        started.elapsed().as_secs_f64() / 60.0,
        sorted.len(),
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        sorted.last().copied().unwrap_or(0.0),
        waiting.len(),
        waiting.iter().max().copied().unwrap_or(0),
        rss[0],
        rss[1],
        rss[2]
    );
    match big_full {
        Some((at, l, took)) => println!(
            "   The big org's daily full pass (Okta's limits): started {at}, {l} s late, took {took} s, while the others kept their schedule"
        ),
        None if with_big => println!("   The big org's daily full pass did not finish in the phase"),
        None => {}
    }
}
