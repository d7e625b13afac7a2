//! A scoped first sync against the whole-org one: an org of `--users` users (default 100,000)
//! with two groups of `--members` members each (default 1,000) made for the run, synced into
//! SQLite and into PostgreSQL by two accounts of one server — `scoped`, whose scope is the two
//! groups (`PUT /api/accounts/scoped/scope`), and `whole`, the whole org. Each first sync is
//! `POST /api/connections/{name}/sync`, timed end to end; its requests are what the run's summary
//! counts by endpoint (the client's count, which tests/it/sync.rs checks against the sandbox's);
//! the users stored are the summary's directory counts.
//!
//! ```text
//! cargo bench -p okta-bridge --bench scope
//! cargo bench -p okta-bridge --bench scope -- --users 20000 --db 1     # SQLite only (2: PostgreSQL)
//! ```

mod common;

use std::time::Instant;

use common::{api, arg};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "00benchScopeToken0123456789abcdefghijklmno";

/// A Management API call to the sandbox org with its API token.
async fn org(org: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{org}{path}"))
        .header("Authorization", format!("SSWS {TOKEN}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Two groups of `members` users each (the first `2 × members` users the org lists).
async fn two_groups(url: &str, members: usize) -> Vec<String> {
    let mut users: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    while users.len() < 2 * members {
        let path = match &after {
            Some(a) => format!("/api/v1/users?limit=200&after={a}"),
            None => "/api/v1/users?limit=200".to_owned(),
        };
        let page = org(url, Method::GET, &path, None).await;
        let ids: Vec<String> = page
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|u| u["id"].as_str().map(str::to_owned))
            .collect();
        after = ids.last().cloned();
        assert!(after.is_some(), "the org has fewer than {} users", 2 * members);
        users.extend(ids);
    }
    let mut groups = Vec::new();
    for (i, name) in ["Scoped one", "Scoped two"].into_iter().enumerate() {
        let g = org(
            url,
            Method::POST,
            "/api/v1/groups",
            Some(json!({ "profile": { "name": name } })),
        )
        .await;
        let gid = g["id"].as_str().unwrap().to_owned();
        let chunk = users[i * members..(i + 1) * members].to_vec();
        futures::stream::iter(chunk)
            .map(|u| {
                let gid = gid.clone();
                async move { org(url, Method::PUT, &format!("/api/v1/groups/{gid}/users/{u}"), None).await }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        groups.push(gid);
    }
    groups
}

/// Account `name` for `org`, connected with the API token.
async fn connect(server: &str, name: &str, org_url: &str) {
    let body = json!({ "name": name, "orgUrl": org_url });
    api(server, Method::POST, "/api/accounts", Some(body)).await;
    let body = json!({ "apiToken": TOKEN });
    api(
        server,
        Method::POST,
        &format!("/api/accounts/{name}/connect"),
        Some(body),
    )
    .await;
}

/// `name`'s first sync: seconds, and its summary.
async fn first_sync(server: &str, name: &str) -> (f64, Value) {
    let started = Instant::now();
    let summary = api(server, Method::POST, &format!("/api/connections/{name}/sync"), None).await;
    (started.elapsed().as_secs_f64(), summary)
}

fn row(db: &str, what: &str, seconds: f64, summary: &Value) {
    let requests = summary["requests"].as_object().cloned().unwrap_or_default();
    let n = |k: &str| requests.get(k).and_then(Value::as_u64).unwrap_or(0);
    let total: u64 = requests.values().filter_map(Value::as_u64).sum();
    let d = &summary["directory"];
    println!(
        "| {db} | {what} | {} | {} | {} | {total} | {} | {} | {seconds:.2} |",
        d["users"],
        d["groups"],
        d["memberships"],
        n("/api/v1/users"),
        summary["events"],
    );
}

#[tokio::main]
async fn main() {
    let users = arg("--users", 100_000);
    let members = arg("--members", 1_000);
    let which = arg("--db", 3);
    let args = [
        "--users".to_owned(),
        users.to_string(),
        "--groups".to_owned(),
        (users / 50).to_string(),
        "--memberships".to_owned(),
        (users * 2).to_string(),
        "--apps".to_owned(),
        "20".to_owned(),
        "--rate-limit-scale".to_owned(),
        "1000".to_owned(),
    ];
    let (_sandbox, org_url) = common::spawn_sandbox(TOKEN, &args).await;
    let groups = two_groups(&org_url, members).await;
    let dir = tempfile::tempdir().unwrap();
    let mut dbs: Vec<(&str, String)> = Vec::new();
    if which & 1 == 1 {
        dbs.push(("SQLite", format!("sqlite://{}/scope.db", dir.path().display())));
    }
    if which & 2 == 2 {
        match common::postgres_url("bench_scope").await {
            Some(pg) => dbs.push(("PostgreSQL", pg)),
            None => eprintln!("PostgreSQL is not reachable: its rows are skipped"),
        }
    }
    println!(
        "## The first sync of {users} users (with Everyone, {} groups, 20 apps) scoped to two groups of {members}, against the whole org\n",
        users / 50 + 3,
    );
    println!(
        "| database | scope | users stored | groups | memberships | requests | of them `/api/v1/users` | events | s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, db) in dbs {
        let (_server, server) = common::start_server(&db).await;
        connect(&server, "scoped", &org_url).await;
        api(
            &server,
            Method::PUT,
            "/api/accounts/scoped/scope",
            Some(json!({ "groups": groups })),
        )
        .await;
        let (s, summary) = first_sync(&server, "scoped").await;
        row(name, "two groups", s, &summary);
        connect(&server, "whole", &org_url).await;
        let (s, summary) = first_sync(&server, "whole").await;
        row(name, "whole org", s, &summary);
    }
}
