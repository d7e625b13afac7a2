//! Role mappings over a large directory: an org of `--users` users (default 100,000) synced
//! through the API into SQLite and into PostgreSQL, then the account's groups mapped to roles
//! three times — the first mapping (every user's roles go from none to some), a change of one
//! group's roles (only its members'), and the same mapping again (nothing) — each one
//! `PUT /api/accounts/{name}/role-mappings`, which re-evaluates every user in its transaction
//! and writes a `user.updated` for each whose roles changed. Timed end to end (HTTP included),
//! side by side in one run; the events written read from the feed's cursor.
//!
//! ```text
//! cargo bench -p okta-bridge --bench roles
//! cargo bench -p okta-bridge --bench roles -- --users 20000 --db 1     # SQLite only (2: PostgreSQL)
//! ```

mod common;

use std::time::Instant;

use common::{api, arg};
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "00benchRolesToken0123456789abcdefghijklmno";

async fn start_sandbox(users: usize) -> (tokio::process::Child, String) {
    let args = [
        "--users".to_owned(),
        users.to_string(),
        "--groups".to_owned(),
        (users / 50).to_string(),
        "--memberships".to_owned(),
        (users * 2).to_string(),
        "--apps".to_owned(),
        "0".to_owned(),
        "--rate-limit-scale".to_owned(),
        "1000".to_owned(),
    ];
    common::spawn_sandbox(TOKEN, &args).await
}

async fn last_seq(server: &str) -> i64 {
    let state = api(server, Method::GET, "/api/connections/bench/sync", None).await;
    state["lastSeq"].as_i64().unwrap_or(0)
}

/// One mapping: seconds, events written.
async fn map(server: &str, body: Value) -> (f64, i64) {
    let before = last_seq(server).await;
    let started = Instant::now();
    api(server, Method::PUT, "/api/accounts/bench/role-mappings", Some(body)).await;
    let seconds = started.elapsed().as_secs_f64();
    (seconds, last_seq(server).await - before)
}

#[tokio::main]
async fn main() {
    let users = arg("--users", 100_000);
    let which = arg("--db", 3);
    let (_sandbox, org) = start_sandbox(users).await;
    let dir = tempfile::tempdir().unwrap();
    let mut dbs: Vec<(&str, String)> = Vec::new();
    if which & 1 == 1 {
        dbs.push(("SQLite", format!("sqlite://{}/roles.db", dir.path().display())));
    }
    if which & 2 == 2 {
        match common::postgres_url("bench_roles").await {
            Some(pg) => dbs.push(("PostgreSQL", pg)),
            None => eprintln!("PostgreSQL is not reachable: its rows are skipped"),
        }
    }
    println!(
        "## Role mappings over {users} users (a sandbox org of {} groups)\n",
        users / 50
    );
    println!(
        "| database | users | sync s | first mapping s | events | one group changed s | events | same again s | events |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, db) in dbs {
        let (_server, server) = common::start_server(&db).await;
        common::connect_bench(&server, &org, TOKEN).await;
        let started = Instant::now();
        api(&server, Method::POST, "/api/connections/bench/sync", None).await;
        let sync = started.elapsed().as_secs_f64();
        api(
            &server,
            Method::PUT,
            "/api/roles",
            Some(json!({ "roles": [
                { "slug": "admin", "name": "Admin" },
                { "slug": "member", "name": "Member" },
                { "slug": "viewer", "name": "Viewer" },
            ] })),
        )
        .await;
        let groups = api(
            &server,
            Method::GET,
            "/api/connections/bench/directory/groups?limit=20",
            None,
        )
        .await;
        let ids: Vec<&str> = groups
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["type"] != "BUILT_IN" && g["groupType"] != "BUILT_IN")
            .filter_map(|g| g["id"].as_str())
            .take(2)
            .collect();
        let first = json!({ "mappings": [
            { "group": ids[0], "roles": ["admin"] },
            { "group": ids[1], "roles": ["member"] },
        ], "default": "viewer" });
        let changed = json!({ "mappings": [
            { "group": ids[0], "roles": ["admin"] },
            { "group": ids[1], "roles": ["member", "viewer"] },
        ], "default": "viewer" });
        let (s1, e1) = map(&server, first).await;
        let (s2, e2) = map(&server, changed.clone()).await;
        let (s3, e3) = map(&server, changed).await;
        println!("| {name} | {users} | {sync:.1} | {s1:.2} | {e1} | {s2:.2} | {e2} | {s3:.2} | {e3} |");
    }
}
