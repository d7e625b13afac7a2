//! Server time of exporting a whole org: every user of a 100,000-user org in 200-user pages,
//! through the sandbox's router in-process (no sockets), on one core (a current-thread runtime).
//!
//! `cargo bench -p okta-sandbox --bench list_users`

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use okta_sandbox::{SandboxConfig, SandboxState, router};
use tower::ServiceExt;

async fn export(app: &axum::Router, token: &str) -> (usize, usize) {
    let mut path = "/api/v1/users?limit=200".to_owned();
    let (mut pages, mut bytes) = (0, 0);
    loop {
        let req = Request::get(&path)
            .header(header::AUTHORIZATION, token)
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert!(res.status().is_success());
        let next = res
            .headers()
            .get_all(header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.ends_with("rel=\"next\""))
            .map(|v| v[v.find("/api/").unwrap()..v.find('>').unwrap()].to_owned());
        bytes += to_bytes(res.into_body(), usize::MAX).await.unwrap().len();
        pages += 1;
        match next {
            Some(n) => path = n,
            None => return (pages, bytes),
        }
    }
}

/// Resident memory of this process in bytes (Linux).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

/// Memory of an org per user at several sizes: linear means the same figure at each size.
fn memory_per_user() {
    for users in [10_000, 100_000, 300_000] {
        let before = rss();
        let state = SandboxState::new(
            SandboxConfig {
                users,
                ..SandboxConfig::default()
            },
            &"http://127.0.0.1:8055".parse().unwrap(),
        )
        .unwrap();
        let grown = rss().saturating_sub(before);
        eprintln!(
            "memory: {users} users -> {:.1} MB resident, {} bytes per user",
            grown as f64 / 1e6,
            grown / users
        );
        drop(state);
    }
}

fn bench(c: &mut Criterion) {
    memory_per_user();
    let users = 100_000;
    let config = SandboxConfig {
        users,
        users_rate_limit: u32::MAX,
        ..SandboxConfig::default()
    };
    let token = format!("SSWS {}", config.api_token_value());
    let state: Arc<SandboxState> = SandboxState::new(config, &"http://127.0.0.1:8055".parse().unwrap()).unwrap();
    let app = router(state);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (pages, bytes) = rt.block_on(export(&app, &token));
    assert_eq!(pages, users / 200);
    eprintln!("one export: {pages} pages, {:.1} MB of JSON", bytes as f64 / 1e6);
    let mut group = c.benchmark_group("sandbox");
    group.sample_size(10);
    group.bench_function("list 100k users in 200-user pages", |b| {
        b.iter(|| rt.block_on(export(&app, &token)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
