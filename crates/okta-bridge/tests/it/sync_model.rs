//! A model-based property test of directory sync: generated sequences of org changes (churn
//! steps and direct API calls), syncs in between under injected faults (5xx, 429, cut
//! connections on a tenth of the org's answers), late System Log records, and sync processes
//! SIGKILLed at random moments. After a last run (and the incremental run that follows it) the
//! stored directory is the sandbox's export exactly, folding the feed from the start gives it,
//! no object is created or deleted twice in the feed, and every user created is in it.

use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::sync::{assert_exact, churn, connect_with_token, sync_process};
use crate::util::{AppOptions, TestApp, TestDb, api, org_call as org, set_faults, spawn_app};

/// One step of a generated sequence.
#[derive(Debug, Clone)]
enum Op {
    /// The org's own churn: this many changes.
    Churn(usize),
    CreateUser,
    UpdateUser(usize),
    Deactivate(usize),
    Suspend(usize),
    Delete(usize),
    CreateGroup,
    RenameGroup(usize),
    DeleteGroup(usize),
    AddMember(usize, usize),
    RemoveMember(usize),
    /// A sync through the server under faults (it may fail; nothing is lost then).
    Sync {
        full: bool,
    },
    /// A sync process under faults, SIGKILLed after this many milliseconds.
    KilledSync {
        full: bool,
        after_ms: u64,
    },
    /// A sync process under faults that stops dead at a failpoint (`POINTS`), its n-th hit.
    StoppedSync {
        full: bool,
        point: usize,
        nth: usize,
    },
}

/// Where a stopped sync process stops: after a page of a full pass, with a transaction open,
/// after an incremental read, after a run's commit.
const POINTS: &[&str] = &[
    "sync.page_committed",
    "sync.before_commit",
    "sync.after_read",
    "sync.after_commit",
];

fn op() -> impl Strategy<Value = Op> {
    let i = 0..1000usize;
    prop_oneof![
        (1..40usize).prop_map(Op::Churn),
        Just(Op::CreateUser),
        i.clone().prop_map(Op::UpdateUser),
        i.clone().prop_map(Op::Deactivate),
        i.clone().prop_map(Op::Suspend),
        i.clone().prop_map(Op::Delete),
        Just(Op::CreateGroup),
        i.clone().prop_map(Op::RenameGroup),
        i.clone().prop_map(Op::DeleteGroup),
        (i.clone(), i.clone()).prop_map(|(g, u)| Op::AddMember(g, u)),
        i.prop_map(Op::RemoveMember),
        any::<bool>().prop_map(|full| Op::Sync { full }),
        (any::<bool>(), 0..150u64).prop_map(|(full, after_ms)| Op::KilledSync { full, after_ms }),
        (any::<bool>(), 0..POINTS.len(), 1..6usize).prop_map(|(full, point, nth)| Op::StoppedSync { full, point, nth }),
    ]
}

/// Faults on a tenth of the org's answers while a sync runs.
async fn faults_on(app: &TestApp) {
    set_faults(
        app,
        json!([{ "route": "/api/v1", "errors": 0.05, "rateLimits": 0.03, "cuts": 0.02 }]),
    )
    .await;
}

/// The ids a listing answers (its first page).
async fn ids(app: &TestApp, path: &str) -> Vec<String> {
    let (_, list) = org(app, Method::GET, path, None).await;
    list.as_array()
        .map(|a| a.iter().filter_map(|o| o["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn pick(ids: &[String], i: usize) -> Option<&str> {
    (!ids.is_empty()).then(|| ids[i % ids.len()].as_str())
}

/// Applies `op`; answers the changes it made that the feed must show (as churn steps say them).
async fn apply(app: &TestApp, db: &TestDb, n: usize, op: &Op) -> Vec<Value> {
    let users = || ids(app, "/api/v1/users?limit=200");
    let groups = || ids(app, "/api/v1/groups?limit=200");
    match *op {
        Op::Churn(k) => return churn(app, k).await,
        Op::CreateUser => {
            let login = format!("prop{n}@example.com");
            let profile = json!({ "profile": { "firstName": "Prop", "lastName": format!("N{n}"), "email": login, "login": login } });
            let (status, user) = org(app, Method::POST, "/api/v1/users?activate=true", Some(profile)).await;
            assert_eq!(status, 200, "{user}");
            return vec![json!({ "change": "user.create", "userId": user["id"] })];
        }
        Op::UpdateUser(i) => {
            if let Some(u) = pick(&users().await, i) {
                let body = json!({ "profile": { "title": format!("Title {n}") } });
                org(app, Method::POST, &format!("/api/v1/users/{u}"), Some(body)).await;
            }
        }
        Op::Deactivate(i) | Op::Suspend(i) => {
            let verb = if matches!(op, Op::Deactivate(_)) {
                "deactivate"
            } else {
                "suspend"
            };
            if let Some(u) = pick(&users().await, i) {
                org(app, Method::POST, &format!("/api/v1/users/{u}/lifecycle/{verb}"), None).await;
            }
        }
        Op::Delete(i) => {
            let gone = ids(app, "/api/v1/users?search=status%20eq%20%22DEPROVISIONED%22").await;
            if let Some(u) = pick(&gone, i) {
                let (status, _) = org(app, Method::DELETE, &format!("/api/v1/users/{u}"), None).await;
                if status == 204 {
                    return vec![json!({ "change": "user.delete", "userId": u })];
                }
            }
        }
        Op::CreateGroup => {
            let body = json!({ "profile": { "name": format!("prop-{n}"), "description": "generated" } });
            org(app, Method::POST, "/api/v1/groups", Some(body)).await;
        }
        Op::RenameGroup(i) => {
            if let Some(g) = pick(&groups().await, i) {
                let body = json!({ "profile": { "name": format!("renamed-{n}") } });
                org(app, Method::PUT, &format!("/api/v1/groups/{g}"), Some(body)).await;
            }
        }
        Op::DeleteGroup(i) => {
            if let Some(g) = pick(&groups().await, i) {
                org(app, Method::DELETE, &format!("/api/v1/groups/{g}"), None).await;
            }
        }
        Op::AddMember(gi, ui) => {
            if let (Some(g), Some(u)) = (pick(&groups().await, gi), pick(&users().await, ui)) {
                org(app, Method::PUT, &format!("/api/v1/groups/{g}/users/{u}"), None).await;
            }
        }
        Op::RemoveMember(gi) => {
            if let Some(g) = pick(&groups().await, gi) {
                let members = ids(app, &format!("/api/v1/groups/{g}/users")).await;
                if let Some(u) = pick(&members, gi) {
                    org(app, Method::DELETE, &format!("/api/v1/groups/{g}/users/{u}"), None).await;
                }
            }
        }
        Op::Sync { full } => {
            faults_on(app).await;
            let path = format!("/api/connections/model/sync{}", if full { "?full=true" } else { "" });
            let (status, summary) = api(app, Method::POST, &path, None).await;
            assert!(status == 200 || status.as_u16() >= 409, "{status}: {summary}");
            set_faults(app, json!([])).await;
        }
        Op::KilledSync { full, .. } | Op::StoppedSync { full, .. } => {
            faults_on(app).await;
            let args: &[&str] = if full {
                &["sync", "model", "--full"]
            } else {
                &["sync", "model"]
            };
            match *op {
                Op::KilledSync { after_ms, .. } => {
                    sync_process(db, args, "", Some(std::time::Duration::from_millis(after_ms))).await;
                }
                Op::StoppedSync { point, nth, .. } => {
                    sync_process(db, args, &format!("{}@{nth}", POINTS[point]), None).await;
                }
                _ => {}
            }
            set_faults(app, json!([])).await;
        }
    }
    Vec::new()
}

async fn run_case(db: TestDb, ops: Vec<Op>) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 60;
                c.groups = 5;
                c.apps = 1;
                c.late_events = 0.2;
                c.rate_limit_window = std::time::Duration::from_secs(1);
                c.rate_limit_scale = 100;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect_with_token(&app, "model").await;
    let (status, summary) = api(&app, Method::POST, "/api/connections/model/sync", None).await;
    assert_eq!(status, 200, "{summary}");
    let mut changes = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        changes.extend(apply(&app, &db, n, op).await);
    }
    let pending = app
        .store
        .sync_pass(&okta_bridge::model::AccountName::parse("model").unwrap())
        .await
        .unwrap();
    eprintln!(
        "{} steps, {} changes, a pass left to resume: {}",
        ops.len(),
        changes.len(),
        pending.is_some()
    );
    // The last run finishes what a killed one left (or reads what changed); the incremental
    // run after it catches what changed in the part of a resumed pass read before.
    for _ in 0..2 {
        let (status, summary) = api(&app, Method::POST, "/api/connections/model/sync", None).await;
        assert_eq!(status, 200, "{summary}");
    }
    assert_exact(&app, "model", &changes).await;
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 12,
        max_shrink_iters: 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn run(postgres: bool) {
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(&proptest::collection::vec(op(), 4..16), |ops| {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let db = if postgres {
                TestDb::postgres().await
            } else {
                Some(TestDb::sqlite())
            };
            if let Some(db) = db {
                run_case(db, ops).await;
            }
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn generated_changes_faults_and_kills_end_exact_sqlite() {
    run(false);
}

#[test]
fn generated_changes_faults_and_kills_end_exact_postgres() {
    run(true);
}
