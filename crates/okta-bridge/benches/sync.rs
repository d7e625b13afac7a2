//! Directory sync of an org shaped like a real one (100,000 users, 2,000 groups besides
//! Everyone, 200,000 memberships, rate limits lifted): the initial sync into SQLite and into
//! PostgreSQL, then a sync after 1,000 changes at the org, side by side in one run.
//!
//! ```text
//! cargo bench -p okta-bridge --bench sync                        # 100,000 users
//! cargo bench -p okta-bridge --bench sync -- --users 20000       # a smaller org
//! ```
//!
//! The sandbox runs as its own process (`okta-bridge sandbox`), so the peak memory read from
//! `/proc/self/status` (`VmHWM`) is the sync's alone. PostgreSQL comes from
//! `OKTA_BRIDGE_TEST_POSTGRES` (default `postgres://root@127.0.0.1:5432/test`), in a schema of
//! its own; its row is skipped when it is not reachable. Requests are counted by the sandbox
//! (`/__sandbox/counters`).

use std::time::Instant;

use okta_bridge::model::AccountName;
use okta_bridge::settings::StoreSettings;
use okta_bridge::store::Store;
use okta_bridge::sync::{diff, read_directory};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const TOKEN: &str = "00benchSyncToken0123456789abcdefghijklmnop";

struct Row {
    what: String,
    requests: u64,
    events: usize,
    read_s: f64,
    write_s: f64,
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn start_sandbox(users: usize) -> (tokio::process::Child, String) {
    let groups = (users / 50).to_string();
    let memberships = (users * 2).to_string();
    let users = users.to_string();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--api-token",
            TOKEN,
            "--seed",
            "7",
        ])
        .args([
            "--users",
            &users,
            "--groups",
            &groups,
            "--memberships",
            &memberships,
            "--apps",
            "3",
        ])
        // Lifted limits: a one-second window with Okta's per-minute numbers, and a high users bucket.
        .args(["--rate-limit-window", "1", "--users-rate-limit", "1000000"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("okta-bridge sandbox starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(u) = line.strip_prefix("okta-sandbox org running at ") {
            url = Some(u.to_owned());
        }
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url.expect("the sandbox prints its URL"))
}

async fn control(url: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .header("authorization", format!("SSWS {TOKEN}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// Requests the sandbox served so far (control routes aside).
async fn requests(url: &str) -> u64 {
    let counters = control(url, reqwest::Method::GET, "/__sandbox/counters", None).await;
    counters["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !k.contains("/__sandbox/"))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

async fn open(url: &str) -> Store {
    let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    StoreSettings::new(url, Some(SecretString::from(key)))
        .open()
        .await
        .expect("the store opens")
}

async fn postgres_url() -> Option<String> {
    use sqlx::Connection;
    let base =
        std::env::var("OKTA_BRIDGE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
    let schema = format!("okta_bridge_bench_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )))
    .execute(&mut conn)
    .await
    .ok()?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// One sync: read the org, compare with what `store` holds, write the changes and events.
async fn sync(what: &str, url: &str, client: &okta_client::Client, store: &Store) -> Row {
    let account = AccountName::parse("bench").unwrap();
    let before = requests(url).await;
    let started = Instant::now();
    let read = read_directory(client).await.expect("the org reads");
    let read_s = started.elapsed().as_secs_f64();
    let requests = requests(url).await - before;
    let written = Instant::now();
    let stored = store.directory(&account).await.unwrap();
    let changes = diff(&stored, &read);
    store
        .apply_directory_changes(&account, &changes, true, &json!({}))
        .await
        .unwrap();
    Row {
        what: what.to_owned(),
        requests,
        events: changes.events.len(),
        read_s,
        write_s: written.elapsed().as_secs_f64(),
    }
}

#[tokio::main]
async fn main() {
    let users = arg("--users", 100_000);
    let started = Instant::now();
    let (_sandbox, url) = start_sandbox(users).await;
    eprintln!(
        "sandbox with {users} users ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let client = okta_client::Client::builder(&url)
        .unwrap()
        .api_token(TOKEN)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = open(&format!("sqlite://{}", dir.path().join("bench.db").display())).await;
    let postgres = match postgres_url().await {
        Some(u) => Some(open(&u).await),
        None => {
            eprintln!("PostgreSQL is not reachable: its rows are skipped");
            None
        }
    };
    let mut rows = Vec::new();
    rows.push(sync("initial sync → SQLite", &url, &client, &sqlite).await);
    if let Some(pg) = &postgres {
        rows.push(sync("initial sync → PostgreSQL", &url, &client, pg).await);
    }
    let changes = control(
        &url,
        reqwest::Method::POST,
        "/__sandbox/churn/step",
        Some(json!({ "changes": 1000 })),
    )
    .await;
    assert_eq!(changes["changes"].as_array().map(Vec::len), Some(1000));
    rows.push(sync("after 1,000 changes (full re-read) → SQLite", &url, &client, &sqlite).await);
    if let Some(pg) = &postgres {
        rows.push(sync("after 1,000 changes (full re-read) → PostgreSQL", &url, &client, pg).await);
    }
    println!("\n{users} users, {} groups, {} memberships", users / 50, users * 2);
    println!("| sync | requests | events | read (s) | write (s) | total (s) |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            r.what,
            r.requests,
            r.events,
            r.read_s,
            r.write_s,
            r.read_s + r.write_s
        );
    }
    println!("peak RSS of the syncing process (VmHWM): {:.0} MB", peak_rss_mb());
}
