//! `okta-bridge serve --sandbox`, the README's first command, as a new user runs it.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::util::Browser;

/// The text after `marker` on the first line holding it.
fn after<'a>(lines: &'a [String], marker: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.split_once(marker).map(|(_, rest)| rest.trim()))
}

#[tokio::test]
async fn serve_with_a_sandbox_shows_the_whole_flow() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args([
            "serve",
            "--sandbox",
            "--listen",
            "127.0.0.1:0",
            "--sandbox-ca-out",
            "ca.pem",
        ])
        .current_dir(dir.path())
        .env_remove("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS")
        .env_remove("OKTA_CLIENT_ORGURL")
        .env_remove("OKTA_BRIDGE_DATABASE_URL")
        .env_remove("OKTA_BRIDGE_ADMIN_TOKEN")
        .env_remove("OKTA_BRIDGE_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read what it prints until the sign-in instructions (the last line before serving).
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    while let Some(line) = out.next_line().await.unwrap() {
        let done = line.contains("sign in to the sandbox as");
        lines.push(line);
        if done {
            break;
        }
    }
    let url = after(&lines, "okta-bridge listening on")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let admin_token = after(&lines, "admin token:")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let creds = after(&lines, "sign in to the sandbox as").unwrap();
    let (login, password) = creds.split_once(" / ").unwrap();

    // The built-in org is served over https, with a CA the browser is told to trust.
    let org = after(&lines, "Built-in sandbox org at").unwrap();
    assert!(org.starts_with("https://127.0.0.1:"), "{org}");
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();

    // As a person would: sign in with the admin token, then connect the sandbox org.
    let mut browser = Browser::trusting(Some(&ca));
    browser.sign_in(&url, &admin_token).await;
    let page = browser.start_connect(&url, None).await;
    let page_url = page.url().clone();
    let html = page.text().await.unwrap();
    let index = browser
        .submit(&page_url, &html, &[("username", login), ("password", password)])
        .await
        .text()
        .await
        .unwrap();
    assert!(index.contains("127-0-0-1-"), "the connection is listed: {index}");

    let conns: Vec<serde_json::Value> = reqwest::Client::new()
        .get(format!("{url}/api/connections"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = conns[0]["account"].as_str().unwrap();
    let users: Vec<serde_json::Value> = reqwest::Client::new()
        .get(format!("{url}/api/connections/{account}/users"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users.len(), 100, "the built-in sandbox has 100 users");
    // Over https no development switch was needed: other orgs on private addresses are still
    // refused.
    let res = reqwest::Client::new()
        .post(format!("{url}/api/accounts"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({ "name": "elsewhere", "orgUrl": "https://127.0.0.2:8443" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "{}", res.text().await.unwrap());
    assert!(dir.path().join("okta-bridge-sandbox.db").exists());
    assert!(
        dir.path().join("okta-bridge-sandbox.master.key").exists(),
        "the key file sits next to the database"
    );
    child.kill().await.unwrap();
}

/// An empty or short admin token (an unset compose variable, `--admin-token ''`) fails closed:
/// the server does not start, and says how to make one. Nothing is created.
#[tokio::test]
async fn an_empty_or_short_admin_token_refuses_to_start() {
    for (token, says) in [("", "empty"), ("   ", "empty"), ("short-token", "too short")] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
            .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OKTA_BRIDGE_ADMIN_TOKEN", token)
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{token:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("OKTA_BRIDGE_ADMIN_TOKEN") && err.contains(says) && err.contains("at least 16"),
            "{token:?}: {err}"
        );
        assert!(err.contains("openssl rand"), "says how to make one: {err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing created");
    }
    // The same rule holds for every server, however it is built.
    let db = crate::util::TestDb::sqlite();
    let mut settings = crate::util::server_settings(db.settings(), "");
    let err = okta_bridge::app::App::build(&settings, okta_bridge::app::OrgSource::Configured, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("OKTA_BRIDGE_ADMIN_TOKEN"), "{err}");
    settings.admin_token = Some(secrecy::SecretString::from("sixteen-chars-ok".to_owned()));
    assert!(
        okta_bridge::app::App::build(&settings, okta_bridge::app::OrgSource::Configured, None)
            .await
            .is_ok()
    );
}

/// With an admin token from the environment, the start-up text says where it comes from, and
/// never prints it.
#[tokio::test]
async fn a_chosen_admin_token_is_named_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let token = "a-chosen-admin-token-0123456789";
    let mut child = Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OKTA_BRIDGE_ADMIN_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    while let Some(line) = out.next_line().await.unwrap() {
        text.push_str(&line);
        text.push('\n');
        if line.contains("sign in to the sandbox as") {
            break;
        }
    }
    assert!(!text.contains(token), "{text}");
    assert!(!text.contains("admin token above"), "{text}");
    assert!(
        text.contains("sign in with your admin token (OKTA_BRIDGE_ADMIN_TOKEN)"),
        "{text}"
    );
}
