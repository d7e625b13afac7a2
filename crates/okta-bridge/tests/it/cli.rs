//! The `okta-bridge` binary, as a user runs it.

use std::collections::HashSet;

use okta_sandbox::{Sandbox, SandboxConfig};
use tokio::process::Command;

use crate::util::{AppOptions, Browser, TEST_KEY_B64, TestDb, connect, spawn_app};

fn okta_bridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_okta-bridge"));
    for var in [
        "OKTA_CLIENT_ORGURL",
        "OKTA_CLIENT_TOKEN",
        "OKTA_CLIENT_CLIENTID",
        "OKTA_CLIENT_CLIENTSECRET",
        "OKTA_BRIDGE_DATABASE_URL",
        "OKTA_BRIDGE_MASTER_KEY",
    ] {
        c.env_remove(var);
    }
    c.kill_on_drop(true);
    c
}

#[tokio::test]
async fn users_list_prints_every_user_of_a_1000_user_org() {
    let sandbox = Sandbox::spawn(SandboxConfig {
        users: 1000,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let out = okta_bridge()
        .args(["users", "list", "--format", "ndjson"])
        .env("OKTA_CLIENT_ORGURL", sandbox.url())
        .env("OKTA_CLIENT_TOKEN", sandbox.config().api_token_value())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ids: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1000, "distinct");
    assert_eq!(ids, sandbox.state().listed_user_ids());

    // The other formats carry the same users.
    for (format, count) in [("json", 1000), ("csv", 1001), ("table", 1001)] {
        let out = okta_bridge()
            .args([
                "users",
                "list",
                "--format",
                format,
                "--org-url",
                sandbox.url(),
                "--api-token",
                sandbox.config().api_token_value(),
            ])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{format}");
        let text = String::from_utf8(out.stdout).unwrap();
        let n = if format == "json" {
            serde_json::from_str::<Vec<serde_json::Value>>(&text).unwrap().len()
        } else {
            text.lines().count()
        };
        assert_eq!(n, count, "{format}");
    }
}

#[tokio::test]
async fn users_list_explains_bad_input() {
    let sandbox = Sandbox::spawn(SandboxConfig {
        users: 3,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let out = okta_bridge()
        .args(["users", "list", "--org-url", sandbox.url(), "--api-token", "wrong"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("E0000011") && err.contains("Invalid token provided") && !err.contains("wrong"),
        "{err}"
    );

    let out = okta_bridge().args(["users", "list"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--connection ACCOUNT, or --org-url and --api-token"));

    let out = okta_bridge()
        .args(["users", "list", "--org-url", "http://example.com", "--api-token", "x"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https is required"));
}

#[tokio::test]
async fn users_list_through_a_stored_connection() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    connect(&app, &mut Browser::new()).await;
    let account = format!("127-0-0-1-{}", app.sandbox.addr().port());
    let out = okta_bridge()
        .args([
            "users",
            "list",
            "--format",
            "ndjson",
            "--connection",
            &account,
            "--database-url",
            &db.url,
        ])
        .env("OKTA_BRIDGE_MASTER_KEY", &*TEST_KEY_B64)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        app.sandbox.state().listed_user_ids().len()
    );

    let out = okta_bridge()
        .args(["connections", "list", "--database-url", &db.url])
        .env("OKTA_BRIDGE_MASTER_KEY", &*TEST_KEY_B64)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&account) && text.contains(app.sandbox.url()), "{text}");

    let out = okta_bridge()
        .args(["users", "list", "--connection", "nope", "--database-url", &db.url])
        .env("OKTA_BRIDGE_MASTER_KEY", &*TEST_KEY_B64)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no connection named \"nope\""));
}
