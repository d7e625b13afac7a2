//! Okta's official SDKs, used as their users use them, against the sandbox. The SDKs come
//! from their registries: `.ci/run` installs them and points `OKTA_SANDBOX_PYTHON` at the
//! interpreter; elsewhere the test is skipped with a note (and required when `CI` is set).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{api, sandbox, send, ssws};

fn python() -> Option<String> {
    match std::env::var("OKTA_SANDBOX_PYTHON") {
        Ok(p) => Some(p),
        Err(_) if std::env::var_os("CI").is_some() => panic!("CI must set OKTA_SANDBOX_PYTHON (see .ci/run)"),
        Err(_) => {
            eprintln!("OKTA_SANDBOX_PYTHON is not set: skipping the Python SDK check (bash .ci/run sets it up)");
            None
        }
    }
}

#[tokio::test]
async fn okta_python_sdk_works_unchanged() {
    let Some(python) = python() else { return };
    let sb = sandbox(|c| c.users = 120).await;
    let everyone: Vec<Value> = api(&sb, "/api/v1/groups?q=Everyone", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    let everyone = everyone[0]["id"].as_str().unwrap().to_owned();
    // Exactly one 429 on the route the script reads last: the SDK must back off and retry.
    let rule = json!([{ "route": format!("/api/v1/groups/{everyone}/users"), "rateLimits": 1.0, "times": 1 }]);
    assert_eq!(
        send(&sb, Method::PUT, "/__sandbox/faults", Some(rule)).await.status(),
        200
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk-tests/python/check.py");
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(script)
        .arg(sb.url())
        .arg(sb.config().api_token_value())
        .arg(&everyone);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OKTA_CLIENT_")) {
        cmd.env_remove(k);
    }
    // The SDK's documented switch for a plain-http org URL (a loopback sandbox).
    let out = cmd
        .env("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python SDK failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();

    let users: Vec<String> = serde_json::from_value(seen["users"].clone()).unwrap();
    assert_eq!(
        users,
        sb.state().listed_user_ids(),
        "every user, across pages, in order"
    );
    let groups: Vec<Value> = api(&sb, "/api/v1/groups", &ssws(&sb)).await.json().await.unwrap();
    let group_ids: Vec<&str> = groups.iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(
        seen["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect::<Vec<_>>(),
        group_ids
    );
    let admin_groups: Vec<Value> = api(&sb, "/api/v1/users/admin@example.com/groups", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    let expected: HashSet<&str> = admin_groups.iter().map(|g| g["id"].as_str().unwrap()).collect();
    let got: HashSet<&str> = seen["adminGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        (seen["created"]["status"].as_str(), seen["created"]["after"].as_str()),
        (Some("ACTIVE"), Some("DEPROVISIONED"))
    );
    let types: Vec<&str> = seen["eventTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "user.lifecycle.create",
            "user.lifecycle.activate",
            "user.lifecycle.deactivate"
        ]
    );
    assert_eq!(
        seen["everyoneMembers"], 121,
        "120 generated users and the one the SDK created"
    );

    let counters: Value = send(&sb, Method::GET, "/__sandbox/counters", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counters["faultsInjected"]["rateLimits"], 1);
    assert_eq!(
        counters["requests"]["GET /api/v1/groups/{groupId}/users"], 2,
        "one 429, one retry"
    );
}
