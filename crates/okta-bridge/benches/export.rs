//! Exporting every user of a sandbox org, side by side in one run: okta-client in process,
//! `okta-bridge users list --format ndjson`, and Okta's official Python and Node.js SDKs with
//! their own pagination, all against the same sandbox.
//!
//! ```text
//! cargo bench -p okta-bridge --bench export                      # 100,000 users, all four
//! cargo bench -p okta-bridge --bench export -- --memory          # CLI peak memory, 10k to 1M
//! cargo bench -p okta-bridge --bench export -- --rate-limited    # 600 requests a minute
//! ```
//!
//! The SDKs come from `OKTA_SANDBOX_PYTHON` and `OKTA_SANDBOX_NODE_PATH`, as `.ci/run` sets them
//! up (`target/sdk-venv`, `target/sdk-node`); without them their rows are skipped. Peak memory
//! of the processes is read with `/usr/bin/time -f %M`. The sandbox runs on a runtime of its
//! own with one worker thread; its rate limits are lifted except in `--rate-limited`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use okta_sandbox::{Sandbox, SandboxConfig};

struct Row {
    what: String,
    users: usize,
    seconds: f64,
    peak_mb: Option<f64>,
}

/// The sandbox's own runtime: one worker thread.
fn sandbox_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn sandbox(rt: &tokio::runtime::Runtime, users: usize, users_rate_limit: u32) -> Sandbox {
    let started = Instant::now();
    let sb = rt
        .block_on(Sandbox::spawn(SandboxConfig {
            users,
            groups: 20,
            users_rate_limit,
            ..SandboxConfig::default()
        }))
        .expect("the sandbox starts");
    eprintln!(
        "sandbox with {users} users ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    sb
}

/// Runs `cmd` under `/usr/bin/time`; its stdout's last line must be the user count (or, for
/// ndjson, the number of lines is counted).
fn timed(what: &str, cmd: Command, count_lines: bool) -> Option<Row> {
    let stats = std::env::temp_dir().join(format!("okta-export-bench-{}", std::process::id()));
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M").arg("-o").arg(&stats).arg(cmd.get_program());
    timed.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    timed.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let started = Instant::now();
    let out = match timed.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{what}: cannot run: {e}");
            return None;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!("{what}: failed ({})", out.status);
        return None;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let users = if count_lines {
        stdout.lines().count()
    } else {
        stdout.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0)
    };
    let peak_kb: Option<f64> = std::fs::read_to_string(&stats)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    let _ = std::fs::remove_file(&stats);
    Some(Row {
        what: what.to_owned(),
        users,
        seconds,
        peak_mb: peak_kb.map(|k| k / 1024.0),
    })
}

fn cli(sb: &Sandbox) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_okta-bridge"));
    c.args(["users", "list", "--format", "ndjson", "--org-url", sb.url()])
        .env("OKTA_CLIENT_TOKEN", sb.config().api_token_value());
    c
}

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

fn in_process(sb: &Sandbox) -> Row {
    // As an application runs it: tokio's multi-thread runtime (one worker per core).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = okta_client::Client::builder(sb.url())
        .unwrap()
        .api_token(sb.config().api_token_value())
        .build()
        .unwrap();
    let started = Instant::now();
    let users = rt.block_on(async {
        client
            .users()
            .list()
            .limit(200)
            .stream()
            .try_fold(0usize, |n, _| async move { Ok(n + 1) })
            .await
            .unwrap()
    });
    Row {
        what: "okta-client (in process, Rust)".into(),
        users,
        seconds: started.elapsed().as_secs_f64(),
        peak_mb: None,
    }
}

/// A table; `relative` adds each row's time as a multiple of the first row's.
fn print(rows: &[Row], relative: bool) {
    let first = rows.first().map_or(1.0, |r| r.seconds);
    println!("| exporter | users | seconds | users/s | time ÷ first row | peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.2} | {:.0} | {} | {} |",
            r.what,
            r.users,
            r.seconds,
            r.users as f64 / r.seconds,
            if relative {
                format!("{:.1}×", r.seconds / first)
            } else {
                "–".to_owned()
            },
            r.peak_mb.map_or("–".to_owned(), |m| format!("{m:.1} MB"))
        );
    }
}

fn compare(users: usize) {
    let rt = sandbox_runtime();
    let sb = sandbox(&rt, users, u32::MAX);
    // A first export warms the sandbox (and the machine's caches) for everyone.
    let _ = in_process(&sb);
    let mut rows = vec![in_process(&sb)];
    rows.extend(timed("okta-bridge users list --format ndjson", cli(&sb), true));
    match std::env::var("OKTA_SANDBOX_PYTHON") {
        Ok(python) => {
            let mut c = Command::new(python);
            c.arg(repo_file("sdk-tests/python/export.py"))
                .arg(sb.url())
                .arg(sb.config().api_token_value())
                .env("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true");
            rows.extend(timed("Okta Python SDK (okta 3.4.6)", c, false));
        }
        Err(_) => eprintln!("OKTA_SANDBOX_PYTHON not set: skipping the Python SDK"),
    }
    match std::env::var("OKTA_SANDBOX_NODE_PATH") {
        Ok(path) => {
            let mut c = Command::new("node");
            c.arg(repo_file("sdk-tests/node/export.js"))
                .arg(sb.url())
                .arg(sb.config().api_token_value())
                .env("NODE_PATH", path);
            rows.extend(timed("Okta Node.js SDK (@okta/okta-sdk-nodejs 8.1.0)", c, false));
        }
        Err(_) => eprintln!("OKTA_SANDBOX_NODE_PATH not set: skipping the Node.js SDK"),
    }
    for r in &rows {
        assert_eq!(r.users, users, "{} listed every user", r.what);
    }
    println!("\n### Export of {users} users (pages of 200)\n");
    print(&rows, true);
}

fn memory() {
    println!("\n### Peak memory of `okta-bridge users list --format ndjson`\n");
    let mut rows = Vec::new();
    for users in [10_000, 100_000, 1_000_000] {
        let rt = sandbox_runtime();
        let sb = sandbox(&rt, users, u32::MAX);
        if let Some(mut r) = timed("okta-bridge users list --format ndjson", cli(&sb), true) {
            assert_eq!(r.users, users);
            r.what = format!("{users} users");
            rows.push(r);
        }
        drop(sb);
        rt.shutdown_timeout(Duration::from_secs(5));
    }
    print(&rows, false);
}

/// 600 requests a minute on the users bucket, Okta's default: how close does a paced export
/// come to that, and does it ever see a 429?
fn rate_limited() {
    let rt = sandbox_runtime();
    // 2,000 pages of 200: three and a bit windows.
    let users = 400_000;
    let sb = sandbox(&rt, users, 600);
    let client = okta_client::Client::builder(sb.url())
        .unwrap()
        .api_token(sb.config().api_token_value())
        .build()
        .unwrap();
    let crt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut per_window: std::collections::BTreeMap<i64, u32> = std::collections::BTreeMap::new();
    let listed = crt.block_on(async {
        let mut pages = std::pin::pin!(client.users().list().limit(200).pages());
        let mut n = 0;
        while let Some(page) = pages.try_next().await.unwrap() {
            n += page.items.len();
            let reset = page.rate_limit.map_or(0, |r| r.reset);
            *per_window.entry(reset).or_default() += 1;
        }
        n
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(listed, users);
    let requests: u32 = per_window.values().sum();
    let full: Vec<u32> = per_window
        .values()
        .copied()
        .skip(1)
        .take(per_window.len().saturating_sub(2))
        .collect();
    println!("\n### Paced export under 600 requests a minute\n");
    println!(
        "{requests} requests ({users} users) in {elapsed:.1} s: {:.1} requests a minute overall; 429s seen by the sandbox: {}",
        f64::from(requests) / elapsed * 60.0,
        sb.state().rate_limited()
    );
    println!(
        "requests per window (first and last are partial): {:?}",
        per_window.values().collect::<Vec<_>>()
    );
    let full_share = full.iter().map(|n| f64::from(*n) / 600.0).fold(f64::INFINITY, f64::min);
    println!(
        "lowest share of the limit used in a full window: {:.1} %",
        full_share * 100.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; our own switches pick the measurement.
    if args.iter().any(|a| a == "--memory") {
        memory();
    } else if args.iter().any(|a| a == "--rate-limited") {
        rate_limited();
    } else {
        let users = args
            .windows(2)
            .find(|w| w[0] == "--users")
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(100_000);
        compare(users);
    }
}
