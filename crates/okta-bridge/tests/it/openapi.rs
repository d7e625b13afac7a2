//! The OpenAPI 3.1 document: served at `/api/openapi.json` without a key, the same as
//! `docs/openapi.json`, and every answer of a running `okta-bridge serve --sandbox` conforms to
//! it under schemathesis (pinned in `sdk-tests/schemathesis/requirements.txt`; `.ci/run`
//! installs it and sets `OKTA_SANDBOX_SCHEMATHESIS`).

use std::fmt::Write as _;
use std::process::Stdio;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::util::{AppOptions, Browser, TEST_KEY_B64, TestDb, sign_in_to_org_as, spawn_app};

#[tokio::test]
async fn the_document_is_served_and_docs_hold_the_current_one() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let res = reqwest::get(format!("{}/api/openapi.json", app.url)).await.unwrap();
    assert_eq!(res.status(), 200, "no key needed");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let served: Value = res.json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    let paths = served["paths"].as_object().unwrap();
    for path in [
        "/api/accounts",
        "/api/connections/{account}/okta/api/v1/{path}",
        "/api/api-keys",
        "/api/webhooks/{id}/replay",
        "/api/connections/{account}/events",
    ] {
        assert!(paths.contains_key(path), "{path} documented");
    }
    let ids: Vec<&str> = paths
        .values()
        .flat_map(|p| p.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "operation ids are unique: {ids:?}");
    assert_eq!(served["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert!(
        committed == served,
        "docs/openapi.json is not the document the code makes: run `cargo run -q -p okta-bridge -- openapi > docs/openapi.json`"
    );
}

fn st_command() -> Option<String> {
    match std::env::var("OKTA_SANDBOX_SCHEMATHESIS") {
        Ok(p) => Some(p),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must set OKTA_SANDBOX_SCHEMATHESIS (see .ci/run)")
        }
        Err(_) => {
            eprintln!("OKTA_SANDBOX_SCHEMATHESIS is not set: skipping the API fuzzing (bash .ci/run sets it up)");
            None
        }
    }
}

/// A JSON call with `key`; the answer's JSON.
async fn call(url: &str, key: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_against_serve_sandbox() {
    let Some(st) = st_command() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let admin = "fuzz-admin-token-0123456789abcdefghijklmnop";
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args([
            "serve",
            "--sandbox",
            "--sandbox-plain-http",
            "--sandbox-listen",
            "127.0.0.1:0",
            // Fuzzing spends Okta's windows in seconds; a sync would then wait them out.
            "--sandbox-rate-limit-scale",
            "100",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OKTA_BRIDGE_LISTEN", "127.0.0.1:0")
        .env("OKTA_BRIDGE_ADMIN_TOKEN", admin)
        .env("OKTA_BRIDGE_MASTER_KEY", TEST_KEY_B64.as_str())
        .env("OKTA_BRIDGE_SYNC_INTERVAL", "0")
        .env("OKTA_BRIDGE_LOG", "okta_bridge=error")
        .env(
            "OKTA_CLIENT_SCOPES",
            "okta.users.read okta.users.manage okta.groups.read okta.apps.read okta.logs.read offline_access",
        )
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let (mut url, mut login) = (None, None);
    while login.is_none() {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("serve prints its address and the sandbox's admin");
        if let Some(rest) = line.strip_prefix("okta-bridge listening on ") {
            url = Some(rest.split_whitespace().next().unwrap().trim_end_matches('/').to_owned());
        }
        if let Some((_, who)) = line.split_once("sign in to the sandbox as ") {
            let (l, p) = who.split_once(" / ").unwrap();
            login = Some((l.to_owned(), p.to_owned()));
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = url.unwrap();
    let (login, password) = login.unwrap();

    // A connection to fuzz through (the sandbox's sign-in, as a person would), synced.
    let mut browser = Browser::new();
    browser.sign_in(&url, admin).await;
    let res = browser.start_connect(&url, None).await;
    let res = sign_in_to_org_as(&mut browser, res, &login, &password).await;
    assert_eq!(res.url().path(), "/", "connected");
    // An admin key does the fuzzing: keys work wherever the admin token does.
    let key = call(
        &url,
        admin,
        Method::POST,
        "/api/api-keys",
        Some(json!({ "name": "fuzz", "scope": "admin" })),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_owned();
    // What the fuzzer may revoke, delete or disconnect is its own: schemathesis reuses ids it
    // saw in answers, and the key and the connection must last the run.
    let spare = call(
        &url,
        admin,
        Method::POST,
        "/api/api-keys",
        Some(json!({ "name": "spare", "scope": "directory:read" })),
    )
    .await;
    let spare = spare["id"].as_str().unwrap().to_owned();
    let conns = call(&url, &key, Method::GET, "/api/connections", None).await;
    let account = conns[0]["account"].as_str().unwrap().to_owned();
    call(
        &url,
        &key,
        Method::POST,
        &format!("/api/connections/{account}/sync?full=true"),
        None,
    )
    .await;
    let users = call(
        &url,
        &key,
        Method::GET,
        &format!("/api/connections/{account}/directory/users?limit=1"),
        None,
    )
    .await;
    let user = users[0]["id"].as_str().unwrap().to_owned();
    let groups = call(
        &url,
        &key,
        Method::GET,
        &format!("/api/connections/{account}/directory/groups?limit=1"),
        None,
    )
    .await;
    let group = groups[0]["id"].as_str().unwrap().to_owned();

    // Operations on the connection get its name (disconnecting and removing get others, so the
    // connection lasts the run); the feed's long poll does not wait.
    let mut config = String::from("# Generated by the fuzz test.\n");
    let fixed: &[(&str, &[(&str, &str)])] = &[
        ("api_users", &[("path.account", &account)]),
        ("directory_sync_state", &[("path.account", &account)]),
        ("directory_sync_now", &[("path.account", &account)]),
        ("directory_events", &[("path.account", &account), ("query.wait", "0")]),
        ("directory_users", &[("path.account", &account)]),
        ("directory_user", &[("path.account", &account), ("path.id", &user)]),
        ("directory_groups", &[("path.account", &account)]),
        ("directory_apps", &[("path.account", &account)]),
        ("directory_members", &[("path.account", &account), ("path.id", &group)]),
        ("hooks_status", &[("path.account", &account)]),
        ("proxy_forward", &[("path.account", &account)]),
        ("accounts_get", &[("path.name", &account)]),
        ("setup_list", &[("path.name", &account)]),
        ("setup_audit", &[("path.name", &account)]),
        ("keys_revoke", &[("path.id", &spare)]),
        ("api_disconnect", &[("path.account", "not-connected")]),
        ("accounts_remove", &[("path.name", "not-an-account")]),
    ];
    for (operation, params) in fixed {
        let values: Vec<String> = params.iter().map(|(k, v)| format!("\"{k}\" = \"{v}\"")).collect();
        writeln!(
            config,
            "\n[[operations]]\ninclude-operation-id = \"{operation}\"\nparameters = {{ {} }}",
            values.join(", ")
        )
        .unwrap();
    }
    let config_path = dir.path().join("schemathesis.toml");
    std::fs::write(&config_path, &config).unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(600),
        tokio::process::Command::new(st)
            .current_dir(dir.path())
            .arg("--config-file")
            .arg(&config_path)
            .arg("run")
            .arg(format!("{url}/api/openapi.json"))
            .arg("--header")
            .arg(format!("Authorization: Bearer {key}"))
            .arg("--checks")
            .arg("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance")
            .arg("--phases")
            .arg("examples,fuzzing")
            .arg("--max-examples")
            .arg("30")
            .arg("--workers")
            .arg("2")
            .arg("--seed")
            .arg("20261204")
            .arg("--request-timeout")
            .arg("60")
            .arg("--no-color")
            .output(),
    )
    .await
    .expect("schemathesis finishes within 10 minutes")
    .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{}", stdout.rsplit("SUMMARY").next().unwrap_or_default());
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}\nconfig:\n{config}",
        String::from_utf8_lossy(&out.stderr)
    );
    let documented = reqwest::get(format!("{url}/api/openapi.json"))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum::<usize>();
    assert!(
        stdout.contains(&format!("Selected: {documented}/{documented}")),
        "every operation was fuzzed:\n{stdout}"
    );
    // The key lasted the run (revoking was given a key of its own).
    let keys = call(&url, admin, Method::GET, "/api/api-keys", None).await;
    let fuzz = keys.as_array().unwrap().iter().find(|k| k["name"] == "fuzz").unwrap();
    assert!(fuzz["revokedAt"].is_null(), "{keys}");
    let _ = server.kill().await;
}
