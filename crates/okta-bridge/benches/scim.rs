//! SCIM push end to end through the product's own processes: `okta-bridge sandbox` as Okta's
//! provisioning client and `okta-bridge serve` (on SQLite, then on PostgreSQL), side by side in
//! one run.
//!
//! ```text
//! cargo bench -p okta-bridge --bench scim
//! cargo bench -p okta-bridge --bench scim -- --users 10000 --groups 200 --directory 100000
//! cargo bench -p okta-bridge --bench scim -- --push 0            # the filters only
//! cargo bench -p okta-bridge --bench scim -- --db 2               # PostgreSQL only (1: SQLite)
//! ```
//!
//! 1. **Push**: an org of `--users` users and `--groups` groups; a SCIM app gets the `Everyone`
//!    group assigned (every user is pushed: the `userName eq` check, then `POST /Users`), then a
//!    Group Push mapping for each group (`POST /Groups`, then a `PATCH` of its members). Users
//!    a second (wall time from the assignment until the org says everything is pushed), groups
//!    a second, and each request's latency as the org measured it (p50 / p99 / max).
//! 2. **Filters on a large directory**: `--directory` users pushed straight to `POST /Users`
//!    (16 at a time), then 1,000 `GET /Users?filter=userName eq "…"` of random users (Okta's
//!    check before each create) and 20 `userName co "…"` (a scan), timed here end to end.
//!
//! PostgreSQL comes from `OKTA_BRIDGE_TEST_POSTGRES` (default
//! `postgres://root@127.0.0.1:5432/test`), in a schema of its own; its rows are skipped when it
//! is not reachable.

mod common;

use common::{api, arg, start_server};

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TOKEN: &str = "00benchScimToken0123456789abcdefghijklmnop";

async fn start_sandbox(users: usize, groups: usize) -> (tokio::process::Child, String) {
    let args = [
        "--users".to_owned(),
        users.to_string(),
        "--groups".to_owned(),
        groups.to_string(),
        "--memberships".to_owned(),
        (users * 2).to_string(),
        "--rate-limit-scale".to_owned(),
        "1000".to_owned(),
    ];
    common::spawn_sandbox(TOKEN, &args).await
}

/// A call to the org as its admin; the answer's JSON.
async fn org(http: &reqwest::Client, org: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = http
        .request(method, format!("{org}{path}"))
        .header("authorization", format!("SSWS {TOKEN}"))
        .timeout(Duration::from_secs(900));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn stats(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN),
    )
}

struct Push {
    users: usize,
    user_seconds: f64,
    groups: usize,
    group_seconds: f64,
    requests: usize,
    failed: usize,
    latency: (f64, f64, f64),
}

async fn push(db: &str, users: usize, groups: usize) -> Push {
    let http = reqwest::Client::new();
    let (_sandbox, org_url) = start_sandbox(users, groups).await;
    let (_server, server) = start_server(db).await;
    api(
        &server,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({ "name": "bench", "orgUrl": org_url })),
    )
    .await;
    let scim = api(&server, reqwest::Method::POST, "/api/accounts/bench/scim", None).await;
    use reqwest::Method;
    let app = org(
        &http,
        &org_url,
        Method::POST,
        "/api/v1/apps",
        Some(json!({ "label": "okta-bridge", "signOnMode": "BOOKMARK" })),
    )
    .await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    org(
        &http,
        &org_url,
        Method::POST,
        &format!("/api/v1/apps/{app_id}/connections/default"),
        Some(json!({ "baseUrl": scim["baseUrl"], "profile": { "authScheme": "TOKEN", "token": scim["token"] } })),
    )
    .await;
    let on = json!({ "status": "ENABLED" });
    org(
        &http,
        &org_url,
        Method::PUT,
        &format!("/api/v1/apps/{app_id}/features/USER_PROVISIONING"),
        Some(json!({ "capabilities": { "create": { "lifecycleCreate": on }, "update": { "profile": on, "lifecycleDeactivate": on } } })),
    )
    .await;
    let all_groups: Vec<Value> = org(&http, &org_url, Method::GET, "/api/v1/groups?limit=10000", None)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default();
    let everyone = all_groups
        .iter()
        .find(|g| g["type"] == "BUILT_IN")
        .and_then(|g| g["id"].as_str())
        .unwrap()
        .to_owned();
    let started = Instant::now();
    org(
        &http,
        &org_url,
        Method::PUT,
        &format!("/api/v1/apps/{app_id}/groups/{everyone}"),
        Some(json!({})),
    )
    .await;
    let after_users = org(
        &http,
        &org_url,
        Method::GET,
        "/__sandbox/provisioning?settled=true",
        None,
    )
    .await;
    let user_seconds = started.elapsed().as_secs_f64();
    let pushed_users = after_users["apps"][&app_id]["users"].as_object().map_or(0, |m| m.len());
    let started = Instant::now();
    let mut pushed_groups = 0;
    for g in all_groups.iter().filter(|g| g["type"] == "OKTA_GROUP") {
        org(
            &http,
            &org_url,
            Method::POST,
            &format!("/api/v1/apps/{app_id}/group-push/mappings"),
            Some(json!({ "sourceGroupId": g["id"], "status": "ACTIVE" })),
        )
        .await;
        pushed_groups += 1;
    }
    let report = org(
        &http,
        &org_url,
        Method::GET,
        "/__sandbox/provisioning?settled=true",
        None,
    )
    .await;
    let group_seconds = started.elapsed().as_secs_f64();
    let sent = report["sent"].as_array().cloned().unwrap_or_default();
    let failed = sent
        .iter()
        .filter(|r| !(200..300).contains(&r["status"].as_u64().unwrap_or(0)))
        .count();
    let latency = stats(sent.iter().filter_map(|r| r["millis"].as_f64()).collect());
    Push {
        users: pushed_users,
        user_seconds,
        groups: pushed_groups,
        group_seconds,
        requests: sent.len(),
        failed,
        latency,
    }
}

struct Filters {
    users: usize,
    load_seconds: f64,
    eq: (f64, f64, f64),
    co: (f64, f64, f64),
}

async fn filters(db: &str, users: usize) -> Filters {
    let (_sandbox, org_url) = start_sandbox(10, 2).await;
    let (_server, server) = start_server(db).await;
    api(
        &server,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({ "name": "bench", "orgUrl": org_url })),
    )
    .await;
    let scim = api(&server, reqwest::Method::POST, "/api/accounts/bench/scim", None).await;
    let base = scim["baseUrl"].as_str().unwrap().to_owned();
    let token = scim["token"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (http, base, token, next) = (http.clone(), base.clone(), token.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= users {
                    break;
                }
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("User{i}@Example.com"),
                    "name": { "givenName": format!("Given{i}"), "familyName": "Bench" },
                    "emails": [{ "value": format!("user{i}@example.com"), "type": "work", "primary": true }],
                    "externalId": format!("00u{i:08}"),
                    "active": true,
                });
                let res = http
                    .post(format!("{base}/Users"))
                    .bearer_auth(&token)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201, "{}", res.text().await.unwrap_or_default());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let load_seconds = started.elapsed().as_secs_f64();
    let time = |filter: String| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("filter", &filter)
                .append_pair("startIndex", "1")
                .append_pair("count", "100")
                .finish();
            let t = Instant::now();
            let res = http
                .get(format!("{base}/Users?{q}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let page: Value = res.json().await.unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            (ms, page["totalResults"].as_u64().unwrap_or(0))
        }
    };
    let mut eq = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..1000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let i = (rng % users as u64) as usize;
        let (ms, n) = time(format!("userName eq \"user{i}@example.com\"")).await;
        assert_eq!(n, 1, "user{i} is found in any case");
        eq.push(ms);
    }
    let mut co = Vec::new();
    for k in 0..20 {
        let (ms, n) = time(format!("userName co \"{}7@\"", k % 10)).await;
        assert!(n > 0);
        co.push(ms);
    }
    Filters {
        users,
        load_seconds,
        eq: stats(eq),
        co: stats(co),
    }
}

#[tokio::main]
async fn main() {
    let users = arg("--users", 10_000);
    let groups = arg("--groups", 200);
    let directory = arg("--directory", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/scim.db", dir.path().display());
    let sqlite2 = format!("sqlite://{}/scim-filters.db", dir.path().display());
    // `--db 1`: SQLite only; `--db 2`: PostgreSQL only; both unless said.
    let which = arg("--db", 3);
    let mut dbs: Vec<(&str, String, String)> = Vec::new();
    if which & 1 == 1 {
        dbs.push(("SQLite", sqlite, sqlite2));
    }
    if which & 2 == 2 {
        if let (Some(pg), Some(pg2)) = (
            common::postgres_url("bench_scim_push").await,
            common::postgres_url("bench_scim_filters").await,
        ) {
            dbs.push(("PostgreSQL", pg, pg2));
        } else {
            eprintln!("PostgreSQL is not reachable: its rows are skipped");
        }
    }
    println!("## Push: {users} users and {groups} groups from the sandbox (as Okta) into one account\n");
    println!(
        "| database | users pushed | users/s | groups pushed | groups/s | requests | failed | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, db, _) in dbs.iter().filter(|_| arg("--push", 1) == 1) {
        let p = push(db, users, groups).await;
        println!(
            "| {name} | {} | {:.0} | {} | {:.1} | {} | {} | {:.2} | {:.2} | {:.2} |",
            p.users,
            p.users as f64 / p.user_seconds,
            p.groups,
            p.groups as f64 / p.group_seconds,
            p.requests,
            p.failed,
            p.latency.0,
            p.latency.1,
            p.latency.2
        );
    }
    println!("\n## Filters on a {directory}-user SCIM directory (end to end, HTTP included)\n");
    println!(
        "| database | load (POST /Users, 16 at a time) | userName eq p50 / p99 / max ms | userName co p50 / p99 / max ms |"
    );
    println!("|---|---|---|---|");
    for (name, _, db) in &dbs {
        let f = filters(db, directory).await;
        println!(
            "| {name} | {} users in {:.0} s ({:.0}/s) | {:.2} / {:.2} / {:.2} | {:.0} / {:.0} / {:.0} |",
            f.users,
            f.load_seconds,
            f.users as f64 / f.load_seconds,
            f.eq.0,
            f.eq.1,
            f.eq.2,
            f.co.0,
            f.co.1,
            f.co.2
        );
    }
}
