//! Generating an org shaped like a real one: 100,000 users, 2,000 groups besides Everyone and
//! 200,000 memberships (the size the directory-sync benchmark needs), from a seed.
//!
//! `cargo bench -p okta-sandbox --bench generate`

use criterion::{Criterion, criterion_group, criterion_main};
use okta_sandbox::{SandboxConfig, SandboxState};

fn config() -> SandboxConfig {
    SandboxConfig {
        users: 100_000,
        groups: 2_000,
        memberships: Some(200_000),
        ..SandboxConfig::default()
    }
}

fn generate(c: &mut Criterion) {
    let url = url::Url::parse("http://127.0.0.1:8055").unwrap();
    let state = SandboxState::new(config(), &url).unwrap();
    let sizes = state.snapshot().group_sizes();
    eprintln!(
        "groups {}, memberships {}, largest group {}, median group {}, smallest {}",
        sizes.len(),
        sizes.iter().sum::<usize>(),
        sizes[0],
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1]
    );
    drop(state);
    let mut g = c.benchmark_group("generate");
    g.sample_size(10);
    g.bench_function("100k users, 2k groups, 200k memberships", |b| {
        b.iter(|| SandboxState::new(config(), &url).unwrap());
    });
    g.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
