//! Okta's official SDKs, used as their users use them, against the sandbox. The SDKs come
//! from their registries: `.ci/run` installs them and sets `OKTA_SANDBOX_PYTHON` (a Python with
//! `okta`) and `OKTA_SANDBOX_NODE_PATH` (a `node_modules` with `@okta/okta-sdk-nodejs`);
//! elsewhere the tests are skipped with a note (and required when `CI` is set).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{api, sandbox, send, ssws};

fn setting(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(p) => Some(p),
        Err(_) if std::env::var_os("CI").is_some() => panic!("CI must set {var} (see .ci/run)"),
        Err(_) => {
            eprintln!("{var} is not set: skipping this SDK check (bash .ci/run sets it up)");
            None
        }
    }
}

/// Makes `cmd` trust `sb`'s CA the way users of each SDK do (`SSL_CERT_FILE` for Python's
/// OpenSSL, `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS` for Node.js), with no testing switch:
/// the org is https. The file lives as long as the value returned.
fn trust_the_sandbox(cmd: &mut tokio::process::Command, sb: &okta_sandbox::Sandbox) -> tempfile::NamedTempFile {
    assert!(sb.url().starts_with("https://"), "{}", sb.url());
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), sb.ca_pem().unwrap()).unwrap();
    cmd.env_remove("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK")
        .env("SSL_CERT_FILE", ca.path())
        .env("REQUESTS_CA_BUNDLE", ca.path())
        .env("NODE_EXTRA_CA_CERTS", ca.path());
    ca
}

#[tokio::test]
async fn okta_python_sdk_works_unchanged() {
    let Some(python) = setting("OKTA_SANDBOX_PYTHON") else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk-tests/python/check.py");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script);
    check_sdk(cmd).await;
}

#[tokio::test]
async fn okta_node_sdk_works_unchanged() {
    let Some(node_path) = setting("OKTA_SANDBOX_NODE_PATH") else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk-tests/node/check.js");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script).env("NODE_PATH", node_path);
    check_sdk(cmd).await;
}

/// Runs an SDK's check script (`SCRIPT ORG_URL API_TOKEN EVERYONE_GROUP_ID`) and asserts
/// what it saw against the sandbox.
async fn check_sdk(mut cmd: tokio::process::Command) {
    let sb = sandbox(|c| {
        c.users = 120;
        c.tls = true;
    })
    .await;
    let _ca = trust_the_sandbox(&mut cmd, &sb);
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

    cmd.arg(sb.url()).arg(sb.config().api_token_value()).arg(&everyone);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OKTA_CLIENT_")) {
        cmd.env_remove(k);
    }
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "the SDK failed:\n{}",
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

/// Runs an SDK's service-app script (`SCRIPT ORG_URL CLIENT_ID PEM_FILE KEY_ID`) against a
/// sandbox whose service app requires DPoP, and asserts it listed every user with one token.
async fn check_service_app(mut cmd: tokio::process::Command, name: &str) {
    let key = crate::service_apps::key(&format!("{name}-key"));
    let jwks = serde_json::from_value(json!({ "keys": [key.jwk] })).unwrap();
    let client_id = format!("0oaSdk{name}");
    let id = client_id.clone();
    let sb = sandbox(move |c| {
        c.users = 90;
        c.tls = true;
        c.service_apps = vec![okta_sandbox::ServiceApp {
            client_id: id,
            jwks,
            client_secret: None,
            scopes: vec!["okta.users.read".into()],
            require_dpop: true,
        }];
    })
    .await;
    let dir = std::env::temp_dir().join(format!("okta-sandbox-sdk-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("key.pem");
    std::fs::write(&pem, &key.pem).unwrap();
    let _ca = trust_the_sandbox(&mut cmd, &sb);
    cmd.arg(sb.url()).arg(&client_id).arg(&pem).arg(format!("{name}-key"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OKTA_CLIENT_")) {
        cmd.env_remove(k);
    }
    let out = cmd.output().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "the SDK failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let users: Vec<String> = serde_json::from_value(seen["users"].clone()).unwrap();
    assert_eq!(users, sb.state().listed_user_ids(), "every user, across pages");
    assert_eq!(
        sb.state().token_grants(&client_id),
        1,
        "one DPoP-bound token (after the nonce round trip), reused for every page"
    );
}

#[tokio::test]
async fn okta_python_sdk_as_a_service_app_with_private_key_jwt_and_dpop() {
    let Some(python) = setting("OKTA_SANDBOX_PYTHON") else {
        return;
    };
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../sdk-tests/python/service_app.py"
    ));
    check_service_app(cmd, "Python").await;
}

#[tokio::test]
async fn okta_node_sdk_as_a_service_app_with_private_key_jwt_and_dpop() {
    let Some(node_path) = setting("OKTA_SANDBOX_NODE_PATH") else {
        return;
    };
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../sdk-tests/node/service_app.js"
    ))
    .env("NODE_PATH", node_path);
    check_service_app(cmd, "Node").await;
}
