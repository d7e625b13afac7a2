//! `okta-bridge accounts connect NAME --browser | --no-browser`: the authorization-code flow
//! with PKCE through a loopback redirect on a port the system picks (RFC 8252), against the
//! sandbox, which takes loopback redirect URIs with any port as Okta does for native apps.

use std::process::Stdio;
use std::time::Duration;

use okta_bridge::model::{AccountName, ConnectionMethod};
use okta_sandbox::{Sandbox, SandboxConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::util::{Browser, TEST_KEY_B64, TestDb, sign_in_to_org};

/// The binary on `db`, with `envs`, its stdio piped.
fn command(db: &TestDb, args: &[&str], envs: &[(&str, &str)]) -> tokio::process::Command {
    let mut c = crate::cli::okta_bridge();
    c.args(args)
        .args(["--database-url", &db.url, "--dev-allow-private-orgs"])
        .env("OKTA_BRIDGE_MASTER_KEY", TEST_KEY_B64.as_str())
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Adds web-app account `name` of `org` on the command line.
async fn add_web_account(db: &TestDb, org: &Sandbox, name: &str) {
    let mut child = command(
        db,
        &[
            "accounts",
            "add",
            name,
            "--org-url",
            org.url(),
            "--client-id",
            &org.config().client_id,
            "--client-secret-stdin",
        ],
        &[],
    )
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", org.config().client_secret_value()).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Signs in at `url` (the org's authorize URL) as the org's admin; the page the loopback
/// redirect shows.
async fn sign_in_at(org: &Sandbox, url: &str) -> (reqwest::Url, String) {
    let mut browser = Browser::new();
    let res = browser.visit(url).await;
    let res = sign_in_to_org(&mut browser, res, org).await;
    let at = res.url().clone();
    (at, res.text().await.unwrap())
}

#[tokio::test]
async fn no_browser_prints_the_url_and_connects_through_a_loopback_redirect() {
    let org = Sandbox::spawn(SandboxConfig::default()).await.unwrap();
    let db = TestDb::sqlite();
    add_web_account(&db, &org, "acme").await;

    let mut child = command(&db, &["accounts", "connect", "acme", "--no-browser"], &[])
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = stderr.next_line().await.unwrap().expect("the sign-in URL");
        if line.starts_with("http") {
            break line;
        }
    };
    let authorize = reqwest::Url::parse(&url).unwrap();
    let param = |k: &str| {
        authorize
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let redirect = reqwest::Url::parse(&param("redirect_uri").unwrap()).unwrap();
    assert_eq!(redirect.host_str(), Some("127.0.0.1"));
    assert_ne!(redirect.port(), None, "a port the system picked");
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));

    let (at, page) = sign_in_at(&org, &url).await;
    assert_eq!(at.origin(), redirect.origin(), "back at the loopback listener");
    assert!(page.contains("Connected"), "{page}");
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the command ends after the sign-in")
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Connected acme through the org's sign-in.\n"
    );
    let conn = db
        .open()
        .await
        .connection(&AccountName::parse("acme").unwrap())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(conn.method, ConnectionMethod::AuthorizationCode);
    assert_eq!(org.state().token_grants(&org.config().client_id), 1);

    // The listener is gone once the command ended.
    assert!(
        reqwest::get(redirect.as_str()).await.is_err(),
        "nothing listens at {redirect} any more"
    );
}

#[tokio::test]
async fn browser_opens_the_sign_in_and_a_refusal_stores_nothing() {
    let org = Sandbox::spawn(SandboxConfig::default()).await.unwrap();
    let db = TestDb::sqlite();
    add_web_account(&db, &org, "acme").await;

    // The "browser" is a script that hands the URL it is given to the test through a FIFO.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("opened");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let script = dir.path().join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", fifo.display()),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();

    let child = command(
        &db,
        &["accounts", "connect", "acme", "--browser"],
        &[("BROWSER", script.to_str().unwrap())],
    )
    .spawn()
    .unwrap();
    let opened = tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo).unwrap())
        .await
        .unwrap();
    assert!(
        opened.starts_with(org.url()),
        "the browser was sent to the org: {opened}"
    );

    // The admin says no at the org: Okta redirects with access_denied, nothing is stored.
    let authorize = reqwest::Url::parse(&opened).unwrap();
    let redirect = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let refused = reqwest::get(format!(
        "{redirect}?error=access_denied&error_description=User+is+not+assigned&state={state}"
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        refused.contains("Not connected") && refused.contains("access_denied"),
        "{refused}"
    );
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the command ends")
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("access_denied"), "{err}");
    assert!(
        db.open()
            .await
            .connection(&AccountName::parse("acme").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // An account without a web app is told what to use instead.
    let out = command(&db, &["accounts", "connect", "nope", "--no-browser"], &[])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
}
