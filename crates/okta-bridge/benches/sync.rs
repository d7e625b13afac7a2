//! Directory sync of an org shaped like a real one (100,000 users, 2,000 groups besides
//! Everyone, 200,000 memberships, rate limits lifted): the initial sync into SQLite and into
//! PostgreSQL, then after 1,000 changes at the org the incremental sync, a full re-read, and
//! re-reading every group's members (what Nango's Okta template does every run), side by side
//! in one run.
//!
//! ```text
//! cargo bench -p okta-bridge --bench sync                        # 100,000 users
//! cargo bench -p okta-bridge --bench sync -- --users 20000       # a smaller org
//! cargo bench -p okta-bridge --bench sync -- --okta-limits       # under Okta's default limits
//! cargo bench -p okta-bridge --bench sync -- --compare-with OLD   # OLD's incremental run beside ours
//! ```
//!
//! `--compare-with` names an `okta-bridge` binary of another build: its incremental run goes
//! first, on a copy of the SQLite database as it stands then, so both runs read the same
//! changes from the same state.
//!
//! Each sync is the product's own: `okta-bridge sync bench [--full]` as a process of its own,
//! timed with `/usr/bin/time` (wall seconds and peak resident memory), against a connection
//! made with `okta-bridge accounts add` and `accounts connect --api-token-stdin`. The sandbox
//! runs as its own process too (`okta-bridge sandbox`, limits lifted with
//! `--rate-limit-scale 1000`), and counts the requests (`/__sandbox/counters`).
//!
//! `--okta-limits` keeps Okta's default rate limits (a minute's window; users 600, groups 500,
//! apps 100 a minute) and runs one initial sync into SQLite with half of each bucket (the
//! default `OKTA_BRIDGE_SYNC_BUDGET`): its wall time against the floor those limits set for the
//! requests it made (a sync using more than its share would beat that floor), and the 429s the
//! org answered. PostgreSQL comes from `OKTA_BRIDGE_TEST_POSTGRES` (default
//! `postgres://root@127.0.0.1:5432/test`), in a schema of its own; its rows are skipped when
//! it is not reachable.

mod common;

use common::arg;

use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const TOKEN: &str = "00benchSyncToken0123456789abcdefghijklmnop";

/// The master key of the bench's databases (32 bytes of 7, base64).
const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

struct Row {
    what: String,
    requests: u64,
    events: u64,
    seconds: f64,
    peak_rss_mb: Option<f64>,
}

async fn start_sandbox(users: usize, lifted: bool) -> (tokio::process::Child, String) {
    let groups = (users / 50).to_string();
    let memberships = (users * 2).to_string();
    let users = users.to_string();
    let mut child = common::sandbox_command(TOKEN)
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
        // Lifted limits: each bucket a thousand times Okta's.
        .args(if lifted {
            &["--rate-limit-scale", "1000"][..]
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

/// `okta-bridge` with `args` against the database at `db`; its output (it must succeed).
async fn cli(db: &str, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args(args)
        .args(["--database-url", db, "--dev-allow-private-orgs"])
        .env("OKTA_BRIDGE_MASTER_KEY", MASTER_KEY)
        .env("OKTA_BRIDGE_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("okta-bridge runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "okta-bridge {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The connection `bench` to the org at `url`, in the database at `db`.
async fn connect(db: &str, url: &str) {
    cli(db, &["accounts", "add", "bench", "--org-url", url], "").await;
    cli(db, &["accounts", "connect", "bench", "--api-token-stdin"], TOKEN).await;
}

/// One sync as its own process, `okta-bridge sync bench [--full]` under `/usr/bin/time`: its
/// requests (the sandbox's count), events (its summary line), wall time and peak memory.
async fn sync(what: &str, url: &str, db: &str, full: bool) -> Row {
    sync_with(env!("CARGO_BIN_EXE_okta-bridge"), what, url, db, full).await
}

/// [`sync`] by the `okta-bridge` binary at `bin`.
async fn sync_with(bin: &str, what: &str, url: &str, db: &str, full: bool) -> Row {
    let before = requests(url).await;
    let mut args = vec![
        "-f",
        "%M %e",
        bin,
        "sync",
        "bench",
        "--database-url",
        db,
        "--dev-allow-private-orgs",
    ];
    if full {
        args.push("--full");
    }
    let out = tokio::process::Command::new("/usr/bin/time")
        .args(&args)
        .env("OKTA_BRIDGE_MASTER_KEY", MASTER_KEY)
        .env("OKTA_BRIDGE_LOG", "warn")
        .output()
        .await
        .expect("/usr/bin/time runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the sync failed: {stderr}");
    // "Synced bench (full): 502022 events (cursor …"
    let events = stdout
        .split("): ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a summary line: {stdout}"));
    let mut timed = stderr.lines().last().unwrap_or_default().split(' ');
    let kb: f64 = timed.next().and_then(|v| v.parse().ok()).expect("peak RSS");
    let seconds: f64 = timed.next().and_then(|v| v.parse().ok()).expect("wall seconds");
    eprintln!("{what}: {}", stdout.trim());
    Row {
        what: what.to_owned(),
        requests: requests(url).await - before,
        events,
        seconds,
        peak_rss_mb: Some(kb / 1024.0),
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
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_mb: None,
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
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    connect(&sqlite, &url).await;
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let t0 = epoch();
    let row = sync("initial sync under Okta's limits → SQLite", &url, &sqlite, false).await;
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
    let total = row.seconds;
    println!(
        "\nrequests {}, events {}, wall {total:.1} s, peak RSS {:.0} MB; the floor the limits set from this start: {floor_s:.1} s; wall ÷ floor: {:.3}",
        row.requests,
        row.events,
        row.peak_rss_mb.unwrap_or(0.0),
        total / floor_s
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
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    connect(&sqlite, &url).await;
    let postgres = common::postgres_url("okta_bridge_bench").await;
    match &postgres {
        Some(pg) => connect(pg, &url).await,
        None => eprintln!("PostgreSQL is not reachable: its rows are skipped"),
    }
    let mut rows = Vec::new();
    rows.push(sync("initial sync → SQLite", &url, &sqlite, false).await);
    if let Some(pg) = &postgres {
        rows.push(sync("initial sync → PostgreSQL", &url, pg, false).await);
    }
    let changes = control(
        &url,
        reqwest::Method::POST,
        "/__sandbox/churn/step",
        Some(json!({ "changes": 1000 })),
    )
    .await;
    assert_eq!(changes["changes"].as_array().map(Vec::len), Some(1000));
    // The same incremental run by an earlier build, on a copy of the same database.
    if let Some(bin) = std::env::args().skip_while(|a| a != "--compare-with").nth(1) {
        let copy = dir.path().join("before.db");
        std::fs::copy(dir.path().join("bench.db"), &copy).unwrap();
        // What the last process left in SQLite's write-ahead log, if it left anything.
        let wal = dir.path().join("bench.db-wal");
        if wal.exists() {
            std::fs::copy(wal, dir.path().join("before.db-wal")).unwrap();
        }
        let copy = format!("sqlite://{}", copy.display());
        let what = format!("after 1,000 changes, incremental → SQLite, by {bin}");
        rows.push(sync_with(&bin, &what, &url, &copy, false).await);
    }
    rows.push(sync("after 1,000 changes, incremental → SQLite", &url, &sqlite, false).await);
    if let Some(pg) = &postgres {
        rows.push(sync("after 1,000 changes, incremental → PostgreSQL", &url, pg, false).await);
    }
    rows.push(sync("then a full re-read → SQLite", &url, &sqlite, true).await);
    rows.push(every_groups_members(&url, &client).await);
    println!("\n{users} users, {} groups, {} memberships", users / 50, users * 2);
    println!("| sync | requests | events | seconds | peak RSS (MB) |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {} |",
            r.what,
            r.requests,
            r.events,
            r.seconds,
            r.peak_rss_mb.map_or("–".to_owned(), |m| format!("{m:.0}"))
        );
    }
}
