//! Directory sync of an org shaped like a real one (100,000 users, 2,000 groups besides
//! Everyone, 200,000 memberships, rate limits lifted): the initial sync into SQLite and into
//! PostgreSQL, then after 1,000 changes at the org the incremental sync, a full re-read, and
//! re-reading every group's members (what Nango's Okta template does every run), side by side
//! in one run.
//!
//! ```text
//! cargo bench -p okta-bridge --bench sync                        # 100,000 users
//! cargo bench -p okta-bridge --bench sync -- --users 20000       # a smaller org
//! cargo bench -p okta-bridge --bench sync -- --okta-limits --users 20000
//! ```
//!
//! `--okta-limits` keeps Okta's default rate limits (a minute's window; users 600, groups 500,
//! apps 100 a minute) and runs one initial sync into SQLite with half of each bucket (the
//! default `OKTA_BRIDGE_SYNC_BUDGET`): its wall time against the floor those limits set for the
//! requests it made (a sync using more than its share would beat that floor), and the 429s the
//! org answered.
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
use okta_bridge::sync::{diff, read_changes, read_directory};
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

async fn start_sandbox(users: usize, lifted: bool) -> (tokio::process::Child, String) {
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
        .args(if lifted {
            &["--rate-limit-window", "1", "--users-rate-limit", "1000000"][..]
        } else {
            &[][..]
        })
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Incremental,
}

/// One sync: read the org (everything, or what changed since `store`'s cursors), compare with
/// what `store` holds, write the changes, their events and the cursors.
async fn sync(what: &str, url: &str, client: &okta_client::Client, store: &Store, mode: Mode) -> Row {
    let account = AccountName::parse("bench").unwrap();
    let before = requests(url).await;
    let started = Instant::now();
    let stored = store.directory(&account).await.unwrap();
    let (read, cursors) = match mode {
        Mode::Full => read_directory(client).await.expect("the org reads"),
        Mode::Incremental => {
            let state = store.sync_state(&account).await.unwrap();
            let inc = read_changes(client, &stored, &state.cursors, time::Duration::minutes(2))
                .await
                .expect("the changes read");
            (inc.dir, inc.cursors)
        }
    };
    let read_s = started.elapsed().as_secs_f64();
    let requests = requests(url).await - before;
    let written = Instant::now();
    let changes = diff(&stored, &read);
    assert!(store.take_sync_lease(&account, "bench", 3600, None).await.unwrap());
    store
        .apply_directory_changes(&account, "bench", &changes, mode == Mode::Full, &json!({}), &cursors)
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

/// Re-reads every group's members (the groups list, then each group's members), as a sync
/// that cannot see removals otherwise must; nothing written.
async fn every_groups_members(url: &str, client: &okta_client::Client) -> Row {
    use futures::{StreamExt, TryStreamExt};
    let before = requests(url).await;
    let started = Instant::now();
    let groups: Vec<okta_client::Group> = client.groups().list().limit(1000).stream().try_collect().await.unwrap();
    let counts: Vec<usize> = futures::stream::iter(groups)
        .map(|g| {
            let client = client.clone();
            async move { client.groups().members(&g.id).limit(1000).stream().count().await }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    Row {
        what: format!(
            "every group's members re-read ({} memberships)",
            counts.iter().sum::<usize>()
        ),
        requests: requests(url).await - before,
        events: 0,
        read_s: started.elapsed().as_secs_f64(),
        write_s: 0.0,
    }
}

/// The sandbox's bucket (Okta's default limit a minute) of a route it counts requests by.
fn bucket_of(route: &str) -> Option<(&'static str, u32)> {
    let path = route.split_once(' ')?.1.strip_prefix("/api/v1/")?;
    let segments: Vec<&str> = path.split('/').collect();
    Some(match (segments[0], segments.len()) {
        ("users", 1) => ("users", 600),
        ("groups", 2) => ("groups/{id}", 1_000),
        ("groups", _) => ("groups", 500),
        ("apps", 2) => ("apps/{id}", 500),
        ("apps", _) => ("apps", 100),
        ("logs", _) => ("logs", 120),
        _ => return None,
    })
}

/// One initial sync under Okta's default limits with half of each bucket.
async fn under_okta_limits(users: usize) {
    let started = Instant::now();
    let (_sandbox, url) = start_sandbox(users, false).await;
    eprintln!(
        "sandbox with {users} users ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let share = 0.5;
    let client = okta_client::Client::builder(&url)
        .unwrap()
        .api_token(TOKEN)
        .build()
        .unwrap()
        .with_rate_share(share);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = open(&format!("sqlite://{}", dir.path().join("bench.db").display())).await;
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let t0 = epoch();
    let row = sync(
        "initial sync under Okta's limits → SQLite",
        &url,
        &client,
        &sqlite,
        Mode::Full,
    )
    .await;
    let t1 = epoch();
    let counters = control(&url, reqwest::Method::GET, "/__sandbox/counters", None).await;
    let mut per_bucket: std::collections::BTreeMap<&str, (u32, u64)> = std::collections::BTreeMap::new();
    for (route, n) in counters["requests"].as_object().unwrap() {
        if let Some((bucket, limit)) = bucket_of(route) {
            per_bucket.entry(bucket).or_insert((limit, 0)).1 += n.as_u64().unwrap_or(0);
        }
    }
    // Okta's windows are fixed minutes. The read goes bucket after bucket (users, then groups
    // and their members, then apps); a bucket needing k windows at the share can finish no
    // sooner than the start of the k-th window counted from the one it starts in.
    let windows_touched = ((t1 / 60.0).floor() - (t0 / 60.0).floor()) + 1.0;
    let mut t = t0;
    println!(
        "\n{users} users, {} groups, {} memberships; Okta's default limits, a {share} share",
        users / 50,
        users * 2
    );
    println!(
        "| bucket | limit a minute | requests | windows needed at the share | most the share allowed in the windows the run spanned |"
    );
    println!("|---|---|---|---|---|");
    for bucket in ["users", "groups", "apps"] {
        let Some((limit, n)) = per_bucket.get(bucket) else {
            continue;
        };
        let per_window = (f64::from(*limit) * share).floor().max(1.0);
        #[allow(clippy::cast_precision_loss)]
        let windows = (*n as f64 / per_window).ceil();
        t = t.max(((t / 60.0).floor() + windows - 1.0) * 60.0);
        let allowed = per_window * windows_touched;
        #[allow(clippy::cast_precision_loss)]
        let respected = if (*n as f64) <= allowed {
            "respected"
        } else {
            "EXCEEDED"
        };
        println!("| {bucket} | {limit} | {n} | {windows} | {allowed} ({respected}) |");
    }
    let floor_s = t - t0;
    let total = row.read_s + row.write_s;
    println!(
        "\nrequests {}, events {}, wall {total:.1} s (read {:.1} s, write {:.1} s); the floor the limits set from this start: {floor_s:.1} s; wall − floor: {:.1} s",
        row.requests,
        row.events,
        row.read_s,
        row.write_s,
        total - floor_s
    );
    println!("429s answered by the org: {}", counters["rateLimited"]);
}

#[tokio::main]
async fn main() {
    let users = arg("--users", 100_000);
    if std::env::args().any(|a| a == "--okta-limits") {
        under_okta_limits(users).await;
        return;
    }
    let started = Instant::now();
    let (_sandbox, url) = start_sandbox(users, true).await;
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
    rows.push(sync("initial sync → SQLite", &url, &client, &sqlite, Mode::Full).await);
    if let Some(pg) = &postgres {
        rows.push(sync("initial sync → PostgreSQL", &url, &client, pg, Mode::Full).await);
    }
    let changes = control(
        &url,
        reqwest::Method::POST,
        "/__sandbox/churn/step",
        Some(json!({ "changes": 1000 })),
    )
    .await;
    assert_eq!(changes["changes"].as_array().map(Vec::len), Some(1000));
    rows.push(
        sync(
            "after 1,000 changes, incremental → SQLite",
            &url,
            &client,
            &sqlite,
            Mode::Incremental,
        )
        .await,
    );
    if let Some(pg) = &postgres {
        rows.push(
            sync(
                "after 1,000 changes, incremental → PostgreSQL",
                &url,
                &client,
                pg,
                Mode::Incremental,
            )
            .await,
        );
    }
    rows.push(sync("then a full re-read → SQLite", &url, &client, &sqlite, Mode::Full).await);
    rows.push(every_groups_members(&url, &client).await);
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
