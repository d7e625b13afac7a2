//! Okta's API through okta-bridge's proxy (`/api/connections/{name}/okta/api/v1/…`) against the
//! same org directly, side by side in one run: `okta-bridge sandbox` (the org, limits lifted)
//! and `okta-bridge serve` (SQLite) with an API-token connection to it, both processes on this
//! machine, called over loopback by this process.
//!
//! ```text
//! cargo bench -p okta-bridge --bench proxy
//! cargo bench -p okta-bridge --bench proxy -- --users 20000 --rounds 200
//! ```
//!
//! 1. **One user** (`GET /api/v1/users/{id}`): `--rounds` requests each way, alternating
//!    direct and proxied so both see the same machine; p50 and p99 latency.
//! 2. **Every user** (`GET /api/v1/users?limit=200`, following each `Link: rel="next"`): the
//!    whole org, three times each way, alternating; users a second.

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN, arg, connect_bench, start_server, wait_for_line};

const TOKEN: &str = "00benchProxyToken0123456789abcdefghijklmn";

fn next_link(res: &reqwest::Response) -> Option<String> {
    res.headers().get_all("link").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        if !v.contains("rel=\"next\"") {
            return None;
        }
        Some(v[v.find('<')? + 1..v.find('>')?].to_owned())
    })
}

/// Every user, page by page from `first`, with `auth`; how many.
async fn export(http: &reqwest::Client, first: String, auth: &str) -> usize {
    let mut next = Some(first);
    let mut n = 0;
    while let Some(url) = next {
        let res = http.get(&url).header("authorization", auth).send().await.unwrap();
        assert!(res.status().is_success(), "{url}: {}", res.status());
        next = next_link(&res);
        let page: Vec<serde_json::Value> = res.json().await.unwrap();
        n += page.len();
    }
    n
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let users = arg("--users", 10_000);
    let rounds = arg("--rounds", 300);
    let mut sandbox = common::sandbox_command(TOKEN)
        .args(["--users", &users.to_string(), "--rate-limit-scale", "1000"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("okta-bridge sandbox starts");
    let org = wait_for_line(&mut sandbox, "okta-sandbox org running at ").await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("proxy.db").display());
    let (_server, server) = start_server(&db).await;
    connect_bench(&server, &org, TOKEN).await;
    let http = reqwest::Client::new();
    let ssws = format!("SSWS {TOKEN}");
    let bearer = format!("Bearer {ADMIN}");
    let through = format!("{server}/api/connections/bench/okta");

    // A user to read: the first one listed.
    let first: Vec<serde_json::Value> = http
        .get(format!("{org}/api/v1/users?limit=1"))
        .header("authorization", &ssws)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = first[0]["id"].as_str().unwrap().to_owned();

    // Warm both paths (connections, the proxy's client for the connection).
    for _ in 0..20 {
        http.get(format!("{org}/api/v1/users/{id}"))
            .header("authorization", &ssws)
            .send()
            .await
            .unwrap();
        http.get(format!("{through}/api/v1/users/{id}"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
    }
    let (mut direct, mut proxied) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        for (url, auth, into) in [
            (format!("{org}/api/v1/users/{id}"), &ssws, &mut direct),
            (format!("{through}/api/v1/users/{id}"), &bearer, &mut proxied),
        ] {
            let t = Instant::now();
            let res = http
                .get(&url)
                .header("authorization", auth.as_str())
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success());
            res.bytes().await.unwrap();
            into.push(t.elapsed());
        }
    }
    direct.sort();
    proxied.sort();
    println!("One user, GET /api/v1/users/{{id}}, {rounds} requests each way, alternating:");
    println!("| path | p50 | p99 |");
    println!("|---|---|---|");
    for (name, d) in [("direct to the org", &direct), ("through okta-bridge", &proxied)] {
        println!(
            "| {name} | {:.2} ms | {:.2} ms |",
            ms(percentile(d, 0.5)),
            ms(percentile(d, 0.99))
        );
    }
    println!(
        "| added by the proxy | {:.2} ms | {:.2} ms |",
        ms(percentile(&proxied, 0.5)) - ms(percentile(&direct, 0.5)),
        ms(percentile(&proxied, 0.99)) - ms(percentile(&direct, 0.99))
    );

    println!("\nEvery user ({users}), GET /api/v1/users?limit=200 following Link, 3 runs each way, alternating:");
    println!("| path | run 1 | run 2 | run 3 | users/s (best) |");
    println!("|---|---|---|---|---|");
    let (mut d_runs, mut p_runs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(
            export(&http, format!("{org}/api/v1/users?limit=200"), &ssws).await,
            users
        );
        d_runs.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(
            export(&http, format!("{through}/api/v1/users?limit=200"), &bearer).await,
            users
        );
        p_runs.push(t.elapsed());
    }
    for (name, runs) in [("direct to the org", &d_runs), ("through okta-bridge", &p_runs)] {
        let best = runs.iter().min().unwrap();
        println!(
            "| {name} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} |",
            ms(runs[0]),
            ms(runs[1]),
            ms(runs[2]),
            users as f64 / best.as_secs_f64()
        );
    }
}
