//! An org that changes by itself: churn steps applied through the Management API's paths,
//! each change in the System Log exactly once and in the export; churn at a rate.

use std::collections::{HashMap, HashSet};

use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::spec::MANAGEMENT;
use crate::util::{sandbox, send};

async fn step(sb: &okta_sandbox::Sandbox, n: usize) -> Vec<Value> {
    let res = send(sb, Method::POST, "/__sandbox/churn/step", Some(json!({ "changes": n }))).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["changes"].as_array().unwrap().clone()
}

async fn get_json(sb: &okta_sandbox::Sandbox, path: &str) -> (u16, Value) {
    let res = send(sb, Method::GET, path, None).await;
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// Every System Log event stored since `since`, following `next` links until a page is empty.
async fn all_events(sb: &okta_sandbox::Sandbox, since: &str) -> Vec<Value> {
    let mut query = format!("?since={since}&limit=1000");
    let mut out = Vec::new();
    loop {
        let (page, next) = crate::syslog::logs(sb, &query).await;
        if page.is_empty() {
            return out;
        }
        out.extend(page);
        query = next.expect("a polling query always has a next link");
    }
}

fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("a time"), &Rfc3339).expect("an RFC 3339 time")
}

/// The System Log event types each kind of change records.
fn expected_types(change: &str) -> &'static [&'static str] {
    match change {
        "user.update_profile" => &["user.account.update_profile"],
        "user.deactivate" => &["user.lifecycle.deactivate"],
        "user.reactivate" => &["user.lifecycle.reactivate"],
        "user.suspend" => &["user.lifecycle.suspend"],
        "user.unsuspend" => &["user.lifecycle.unsuspend"],
        "user.delete" => &["user.lifecycle.delete.initiated", "user.lifecycle.delete.completed"],
        "group.create" => &["group.lifecycle.create"],
        "group.rename" => &["group.profile.update"],
        "group.delete" => &["group.lifecycle.delete"],
        "group.add_member" => &["group.user_membership.add"],
        "group.remove_member" => &["group.user_membership.remove"],
        "app.assign_user" => &["application.user_membership.add"],
        "app.unassign_user" => &["application.user_membership.remove"],
        other => panic!("unknown change {other}"),
    }
}

#[tokio::test]
async fn every_churn_change_is_logged_once_and_the_export_reflects_it() {
    let sb = sandbox(|c| {
        c.users = 300;
        c.groups = 20;
        c.apps = 3;
    })
    .await;
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let since = before.format(&Rfc3339).unwrap();
    let changes = step(&sb, 400).await;
    assert_eq!(changes.len(), 400);
    let kinds: HashSet<&str> = changes.iter().map(|c| c["change"].as_str().unwrap()).collect();
    assert!(kinds.len() >= 12, "a realistic mix of changes: {kinds:?}");

    // Each change's events are in the System Log exactly once, and nothing else is.
    let events = all_events(&sb, &since).await;
    let mut by_uuid: HashMap<&str, Vec<&Value>> = HashMap::new();
    for e in &events {
        by_uuid.entry(e["uuid"].as_str().unwrap()).or_default().push(e);
    }
    let mut reported = 0;
    for c in &changes {
        let change = c["change"].as_str().unwrap();
        let types: Vec<&str> = c["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventType"].as_str().unwrap())
            .collect();
        if change == "user.create" {
            assert_eq!(types[0], "user.lifecycle.create", "{c}");
            assert!(
                types[1..]
                    .iter()
                    .all(|t| *t == "user.lifecycle.activate" || *t == "group.user_membership.add"),
                "{c}"
            );
        } else {
            assert_eq!(types, expected_types(change), "{c}");
        }
        for e in c["events"].as_array().unwrap() {
            reported += 1;
            let logged = by_uuid.get(e["uuid"].as_str().unwrap()).map_or(0, Vec::len);
            assert_eq!(logged, 1, "{e} is in the System Log once");
            let logged = by_uuid[e["uuid"].as_str().unwrap()][0];
            assert_eq!(logged["eventType"], e["eventType"]);
            MANAGEMENT.assert_valid("LogEvent", logged);
            // Targets name the objects as Okta does.
            let targets = logged["target"].as_array().unwrap();
            match logged["eventType"].as_str().unwrap() {
                "group.user_membership.add" | "group.user_membership.remove" => {
                    assert_eq!(targets[0]["type"], "User");
                    assert_eq!(targets[0]["id"], c["userId"]);
                    assert_eq!(targets[1]["type"], "UserGroup");
                    if change != "user.create" {
                        assert_eq!(targets[1]["id"], c["groupId"]);
                    }
                }
                "application.user_membership.add" | "application.user_membership.remove" => {
                    assert_eq!(targets[0]["type"], "AppUser");
                    assert_eq!(targets[0]["id"], c["userId"]);
                    assert_eq!(targets[1]["type"], "AppInstance");
                    assert_eq!(targets[1]["id"], c["appId"]);
                }
                t if t.starts_with("group.") => {
                    assert_eq!(targets[0]["type"], "UserGroup");
                    assert_eq!(targets[0]["id"], c["groupId"]);
                }
                _ => {
                    assert_eq!(targets[0]["type"], "User");
                    assert_eq!(targets[0]["id"], c["userId"]);
                }
            }
        }
    }
    assert_eq!(
        events.len(),
        reported,
        "the log holds the churn's events and nothing else"
    );

    // The export is the org after the changes, in order.
    let (status, export) = get_json(&sb, "/__sandbox/export").await;
    assert_eq!(status, 200);
    let users: HashMap<&str, &Value> = export["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u))
        .collect();
    let groups: HashMap<&str, &Value> = export["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_str().unwrap(), g))
        .collect();
    let member = |gid: &str, uid: &str| groups[gid]["members"].as_array().unwrap().iter().any(|m| m == uid);
    let app_user = |aid: &str, uid: &str| {
        export["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == aid)
            .is_some_and(|a| a["users"].as_array().unwrap().iter().any(|u| u["id"] == uid))
    };
    let mut user_status: HashMap<&str, Option<&[&str]>> = HashMap::new();
    let mut group_exists: HashMap<&str, bool> = HashMap::new();
    let mut memberships: HashMap<(&str, &str), bool> = HashMap::new();
    let mut assignments: HashMap<(&str, &str), bool> = HashMap::new();
    let mut renamed: HashSet<&str> = HashSet::new();
    for c in &changes {
        let (uid, gid, aid) = (c["userId"].as_str(), c["groupId"].as_str(), c["appId"].as_str());
        match c["change"].as_str().unwrap() {
            "user.create" => {
                user_status.insert(uid.unwrap(), Some(&["STAGED", "PROVISIONED", "ACTIVE"]));
            }
            "user.update_profile" => {
                user_status.entry(uid.unwrap()).or_insert(Some(&[]));
            }
            "user.deactivate" => {
                user_status.insert(uid.unwrap(), Some(&["DEPROVISIONED"]));
            }
            "user.reactivate" => {
                user_status.insert(uid.unwrap(), Some(&["ACTIVE", "PROVISIONED"]));
            }
            "user.suspend" => {
                user_status.insert(uid.unwrap(), Some(&["SUSPENDED"]));
            }
            "user.unsuspend" => {
                user_status.insert(uid.unwrap(), Some(&["ACTIVE"]));
            }
            "user.delete" => {
                user_status.insert(uid.unwrap(), None);
            }
            "group.create" => {
                group_exists.insert(gid.unwrap(), true);
            }
            "group.rename" => {
                group_exists.insert(gid.unwrap(), true);
                renamed.insert(gid.unwrap());
            }
            "group.delete" => {
                group_exists.insert(gid.unwrap(), false);
            }
            "group.add_member" => {
                memberships.insert((gid.unwrap(), uid.unwrap()), true);
            }
            "group.remove_member" => {
                memberships.insert((gid.unwrap(), uid.unwrap()), false);
            }
            "app.assign_user" => {
                assignments.insert((aid.unwrap(), uid.unwrap()), true);
            }
            "app.unassign_user" => {
                assignments.insert((aid.unwrap(), uid.unwrap()), false);
            }
            other => panic!("unknown change {other}"),
        }
    }
    for (uid, expected) in &user_status {
        match expected {
            None => {
                assert!(!users.contains_key(uid), "deleted user {uid} is gone from the export");
                let (status, _) = get_json(&sb, &format!("/api/v1/users/{uid}")).await;
                assert_eq!(status, 404, "deleted user {uid} answers 404");
                assert!(
                    groups
                        .values()
                        .all(|g| !g["members"].as_array().unwrap().iter().any(|m| m == uid)),
                    "a deleted user is in no group"
                );
            }
            Some(statuses) => {
                let u = users.get(uid).unwrap_or_else(|| panic!("user {uid} exists"));
                let status = u["status"].as_str().unwrap();
                assert!(
                    statuses.is_empty() || statuses.contains(&status),
                    "{uid}: {status} not in {statuses:?}"
                );
                assert!(time_of(&u["lastUpdated"]) >= before, "{uid}'s lastUpdated moved");
            }
        }
    }
    for (gid, exists) in &group_exists {
        assert_eq!(groups.contains_key(gid), *exists, "group {gid}");
        if *exists && renamed.contains(gid) {
            assert!(time_of(&groups[gid]["lastUpdated"]) >= before);
        }
    }
    let mut checked = 0;
    for ((gid, uid), is_member) in &memberships {
        if groups.contains_key(gid) && users.contains_key(uid) {
            assert_eq!(member(gid, uid), *is_member, "{uid} in {gid}");
            assert!(time_of(&groups[gid]["lastMembershipUpdated"]) >= before);
            checked += 1;
        }
    }
    assert!(checked > 20, "memberships checked: {checked}");
    for ((aid, uid), assigned) in &assignments {
        if users.contains_key(uid) {
            assert_eq!(app_user(aid, uid), *assigned, "{uid} assigned to {aid}");
        }
    }
}

#[tokio::test]
async fn churn_is_deterministic_from_its_seed() {
    let run = |seed: u64| async move {
        let sb = sandbox(|c| {
            c.users = 100;
            c.groups = 8;
            c.apps = 2;
            c.seed = 11;
            // The web app's id is its client id, random unless given.
            c.client_id = "0oachurnwebapp000001".to_owned();
        })
        .await;
        let res = send(
            &sb,
            Method::PUT,
            "/__sandbox/churn",
            Some(json!({ "rate": 0, "seed": seed })),
        )
        .await;
        assert_eq!(res.status(), 200);
        step(&sb, 80)
            .await
            .iter()
            .map(|c| {
                (
                    c["change"].clone(),
                    c["userId"].clone(),
                    c["groupId"].clone(),
                    c["appId"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let a = run(5).await;
    assert_eq!(a, run(5).await, "the same seed makes the same changes");
    assert_ne!(a, run(6).await, "another seed makes others");
}

#[tokio::test]
async fn churn_runs_at_its_rate_until_stopped() {
    // `--churn` starts it with the org.
    let sb = sandbox(|c| {
        c.users = 100;
        c.groups = 8;
        c.churn = 3_000.0;
    })
    .await;
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(50));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        poll.tick().await;
        let (_, status) = get_json(&sb, "/__sandbox/churn").await;
        assert_eq!(status["running"], true, "{status}");
        if status["applied"].as_u64().unwrap() >= 20 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "20 changes at 50 a second: {status}"
        );
    }
    assert!(
        sb.state().events().len() >= 20,
        "the churn's changes are in the System Log"
    );

    let res = send(&sb, Method::DELETE, "/__sandbox/churn", None).await;
    assert_eq!(res.status(), 204);
    let (_, status) = get_json(&sb, "/__sandbox/churn").await;
    assert_eq!(status["running"], false, "{status}");
    assert_eq!(status["rate"], 0.0);

    // Restarted at run time, with its own seed.
    let res = send(
        &sb,
        Method::PUT,
        "/__sandbox/churn",
        Some(json!({ "rate": 600, "seed": 3 })),
    )
    .await;
    assert_eq!(res.status(), 200);
    let status: Value = res.json().await.unwrap();
    assert_eq!(
        (status["rate"].as_f64(), status["seed"].as_u64()),
        (Some(600.0), Some(3))
    );
    assert_eq!(status["running"], true);

    // Bad requests answer Okta's errors.
    for (method, path, body) in [
        (Method::PUT, "/__sandbox/churn", json!({ "rate": -1 })),
        (Method::PUT, "/__sandbox/churn", json!({ "rate": "fast" })),
        (Method::POST, "/__sandbox/churn/step", json!({ "changes": 0 })),
        (Method::POST, "/__sandbox/churn/step", json!({ "changes": 1_000_000 })),
    ] {
        let res = send(&sb, method.clone(), path, Some(body.clone())).await;
        assert_eq!(res.status(), 400, "{method} {path} {body}");
        let e: Value = res.json().await.unwrap();
        assert!(e["errorCode"].as_str().unwrap().starts_with("E0000"), "{e}");
    }
    let res = crate::util::http_for(&sb)
        .get(crate::util::on_listener(&sb, "/__sandbox/churn"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the control endpoints need the API token");
}
