//! The `okta-bridge` binary, as a user runs it.

use std::collections::HashSet;

use okta_sandbox::{Sandbox, SandboxConfig};
use tokio::process::Command;

use crate::util::{AppOptions, Browser, TEST_KEY_B64, TestDb, connect, spawn_app};

pub(crate) fn okta_bridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_okta-bridge"));
    for var in [
        "OKTA_CLIENT_ORGURL",
        "OKTA_CLIENT_TOKEN",
        "OKTA_CLIENT_CLIENTID",
        "OKTA_CLIENT_CLIENTSECRET",
        "OKTA_BRIDGE_DATABASE_URL",
        "OKTA_BRIDGE_MASTER_KEY",
        "OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS",
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

/// Starts `okta-bridge sandbox` with `args`; returns the child and the org URL it printed.
async fn start_sandbox(args: &[&str]) -> (tokio::process::Child, String, Vec<String>) {
    let mut child = okta_bridge()
        .args(["sandbox", "--listen", "127.0.0.1:0", "--api-token", "state-test-token"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stdout is drained on, so the process never blocks on a full pipe.
    let seen = until_serving(&mut child).await;
    let url = seen
        .iter()
        .find_map(|l| l.strip_prefix("okta-sandbox org running at "))
        .expect("the URL is printed")
        .to_owned();
    (child, url, seen)
}

#[tokio::test]
async fn sandbox_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("org.json");
    let state_arg = state.to_str().unwrap();
    let (mut child, url, _) = start_sandbox(&["--users", "7", "--state", state_arg]).await;
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{url}/api/v1/users?activate=false"))
        .header("authorization", "SSWS state-test-token")
        .json(&serde_json::json!({ "profile": { "firstName": "S", "lastName": "T", "email": "kept@example.com", "login": "kept@example.com" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Ctrl-C: the org is saved on the way out.
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().await.unwrap().success());
    assert!(state.exists());

    let (mut again, url, printed) = start_sandbox(&["--state", state_arg]).await;
    assert!(
        printed
            .iter()
            .any(|l| l.contains("Loading the org from") && l.contains("8 users")),
        "{printed:?}"
    );
    let res = http
        .get(format!("{url}/api/v1/users/kept@example.com"))
        .header("authorization", "SSWS state-test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["id"], created["id"]);
    again.kill().await.unwrap();
}

#[tokio::test]
async fn sandbox_registers_service_apps_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        r#"{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"sXch","e":"AQAB"}]}"#,
    )
    .unwrap();
    let spec = format!(
        "client_id=0oaSvcFromFlag,jwks={},scopes=okta.users.read,dpop=true",
        jwks.display()
    );
    let (mut child, url, printed) = start_sandbox(&["--users", "3", "--service-app", &spec]).await;
    assert!(
        printed
            .iter()
            .any(|l| l.contains("service app:") && l.contains("0oaSvcFromFlag") && l.contains("DPoP required")),
        "{printed:?}"
    );
    let meta: serde_json::Value = reqwest::get(format!("{url}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "private_key_jwt")
    );
    child.kill().await.unwrap();

    let out = okta_bridge()
        .args(["sandbox", "--service-app", "client_id=x,scopes=okta.users.read"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs jwks=FILE"));
}

#[tokio::test]
async fn sandbox_takes_authorization_servers_dpop_and_rate_limits_from_flags() {
    let (mut child, url, printed) = start_sandbox(&[
        "--users",
        "3",
        "--auth-server",
        "id=ausCli1,scopes=orders.read",
        "--require-dpop",
        "--users-rate-limit",
        "7",
        "--oauth-rate-limit",
        "9",
    ])
    .await;
    assert!(printed.iter().any(|l| l.contains("DPoP required")), "{printed:?}");
    let meta: serde_json::Value = reqwest::get(format!("{url}/oauth2/ausCli1/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], format!("{url}/oauth2/ausCli1"));
    assert!(
        meta["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "orders.read")
    );
    let http = reqwest::Client::new();
    let users = http
        .get(format!("{url}/api/v1/users"))
        .header("authorization", "SSWS state-test-token")
        .send()
        .await
        .unwrap();
    assert_eq!(users.headers()["x-rate-limit-limit"], "7");
    let token = http.post(format!("{url}/oauth2/v1/token")).send().await.unwrap();
    assert_eq!(token.headers()["x-rate-limit-limit"], "9");
    child.kill().await.unwrap();

    let out = okta_bridge()
        .args(["sandbox", "--auth-server", "id=a/b"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("letters and digits"));
}

#[tokio::test]
async fn serve_refuses_private_org_urls_without_the_dev_switch() {
    for (org, says) in [
        ("http://127.0.0.1:9", "not https"),
        ("https://10.1.2.3", "private"),
        ("https://169.254.169.254", "link-local"),
    ] {
        let out = okta_bridge()
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", "sqlite::memory:"])
            .env("OKTA_CLIENT_ORGURL", org)
            .env("OKTA_CLIENT_CLIENTID", "0oa1")
            .env("OKTA_CLIENT_CLIENTSECRET", "s")
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{org} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(says) && err.contains("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS"),
            "{org}: {err}"
        );
    }
}

/// A listing that fails at its first request prints no table header, and the error says each
/// of its causes once.
#[tokio::test]
async fn a_failed_listing_prints_no_header_and_each_cause_once() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = okta_bridge()
        .args([
            "users",
            "list",
            "--format",
            "table",
            "--org-url",
            &format!("http://127.0.0.1:{port}"),
            "--api-token",
            "x",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "no header without users");
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("listing users failed"), "{line}");
    for cause in ["error sending request", "refused"] {
        assert_eq!(line.matches(cause).count(), 1, "{cause:?} once in {line}");
    }
}

/// `okta-bridge sandbox --tls`: https with a CA generated at start, written where asked, with
/// the variables that make common clients trust it; okta-bridge trusts it through
/// `OKTA_BRIDGE_CA_FILE`, and without it refuses the certificate.
#[tokio::test]
async fn a_tls_sandbox_is_trusted_through_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let (mut child, url, seen) = start_sandbox(&["--users", "12", "--tls", "--tls-ca-out", ca.to_str().unwrap()]).await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let text = seen.join("\n");
    for var in [
        "SSL_CERT_FILE=",
        "REQUESTS_CA_BUNDLE=",
        "NODE_EXTRA_CA_CERTS=",
        "OKTA_BRIDGE_CA_FILE=",
    ] {
        assert!(text.contains(&format!("{var}{}", ca.display())), "{var}: {text}");
    }
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    let list = |ca_file: Option<&std::path::Path>| {
        let mut cmd = okta_bridge();
        cmd.args([
            "users",
            "list",
            "--org-url",
            &url,
            "--api-token",
            "state-test-token",
            "--format",
            "ndjson",
        ]);
        if let Some(f) = ca_file {
            cmd.env("OKTA_BRIDGE_CA_FILE", f);
        }
        cmd.output()
    };
    let out = list(Some(&ca)).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 12);
    let out = list(None).await.unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("certificate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = list(Some(&dir.path().join("missing.pem"))).await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OKTA_BRIDGE_CA_FILE") && err.contains("missing.pem"),
        "{err}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sync_and_events_from_the_command_line() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let token = app.sandbox.config().api_token_value().to_owned();
    let (status, body) = crate::util::api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(serde_json::json!({ "name": "cli-dir", "orgUrl": app.sandbox.url() })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = crate::util::api(
        &app,
        reqwest::Method::POST,
        "/api/accounts/cli-dir/connect",
        Some(serde_json::json!({ "apiToken": token })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let run = |args: &[&str]| {
        let mut c = okta_bridge();
        c.args(args)
            .args(["--database-url", &db.url, "--dev-allow-private-orgs"])
            .env("OKTA_BRIDGE_MASTER_KEY", &*TEST_KEY_B64);
        c
    };
    let out = run(&["sync", "cli-dir"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).unwrap();
    let users = app.sandbox.state().snapshot().users();
    assert!(
        line.starts_with("Synced cli-dir (full): ") && line.contains(&format!("; {users} users, ")),
        "{line}"
    );

    // Then what changed since (nothing), or everything again on demand.
    for (args, kind) in [
        (&["sync", "cli-dir"][..], "incremental"),
        (&["sync", "cli-dir", "--full"][..], "full"),
    ] {
        let out = run(args).output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8(out.stdout).unwrap();
        assert!(
            line.starts_with(&format!("Synced cli-dir ({kind}): 0 events")),
            "{line}"
        );
    }

    let out = run(&["events", "cli-dir", "--after", "0", "--limit", "5"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["seq"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("next cursor: 5"));

    // --follow: prints what later syncs write, as they write it.
    let last = String::from_utf8_lossy(&out.stderr)
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let total = app
        .store
        .sync_state(&okta_bridge::model::AccountName::parse("cli-dir").unwrap())
        .await
        .unwrap()
        .last_seq;
    let mut follow = run(&["events", "cli-dir", "--after", &total.to_string(), "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(follow.stdout.take().unwrap()));
    crate::util::sandbox_control(
        &app,
        reqwest::Method::POST,
        "/__sandbox/churn/step",
        Some(serde_json::json!({ "changes": 5 })),
    )
    .await;
    let out = run(&["sync", "cli-dir"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first: serde_json::Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(first["seq"], total + 1, "{first}");
    assert!(last < total);
    follow.kill().await.unwrap();

    // The synced directory from the database, in each format.
    let dir = app
        .store
        .directory(&okta_bridge::model::AccountName::parse("cli-dir").unwrap())
        .await
        .unwrap();
    let out = run(&["directory", "users", "cli-dir", "--format", "csv"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut csv = csv::Reader::from_reader(&out.stdout[..]);
    assert_eq!(csv.headers().unwrap().get(2), Some("login"));
    let ids: Vec<String> = csv.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(ids, dir.users.keys().cloned().collect::<Vec<_>>());
    let out = run(&["directory", "groups", "cli-dir", "--format", "json"])
        .output()
        .await
        .unwrap();
    let groups: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(groups.len(), dir.groups.len());
    let (gid, _) = dir.members.iter().next().unwrap().clone();
    let out = run(&["directory", "members", "cli-dir", &gid, "--format", "ndjson"])
        .output()
        .await
        .unwrap();
    let members: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = dir
        .members
        .iter()
        .filter(|(g, _)| *g == gid)
        .map(|(_, u)| u.clone())
        .collect();
    assert_eq!(members, expected);
    let out = run(&["directory", "members", "cli-dir", "00gNope"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no group \"00gNope\""));

    let out = run(&["sync", "nope"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no connection named \"nope\""));
}

/// `okta-bridge sync` shows a progress bar on a terminal (a pseudo-terminal from `script`):
/// what the pass reads, objects, events, requests and rate; piped, only the summary line.
#[tokio::test]
async fn sync_shows_progress_on_a_terminal_and_a_line_otherwise() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 3000;
                c.users_rate_limit = 100_000;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    let token = app.sandbox.config().api_token_value().to_owned();
    for (path, body) in [
        (
            "/api/accounts",
            serde_json::json!({ "name": "bar", "orgUrl": app.sandbox.url() }),
        ),
        ("/api/accounts/bar/connect", serde_json::json!({ "apiToken": token })),
    ] {
        let (status, answer) = crate::util::api(&app, reqwest::Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "{answer}");
    }
    let command = format!(
        "{} sync bar --full --database-url '{}' --dev-allow-private-orgs",
        env!("CARGO_BIN_EXE_okta-bridge"),
        db.url
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("OKTA_BRIDGE_MASTER_KEY", &*TEST_KEY_B64)
        .env("OKTA_BRIDGE_LOG", "off")
        .output()
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("syncing bar: ") && shown.contains(" objects, ") && shown.contains(" requests, "),
        "a progress bar on the terminal: {shown}"
    );
    assert!(shown.contains("Synced bar (full): "), "{shown}");

    let out = okta_bridge()
        .args([
            "sync",
            "bar",
            "--full",
            "--database-url",
            &db.url,
            "--dev-allow-private-orgs",
        ])
        .env("OKTA_BRIDGE_MASTER_KEY", &*TEST_KEY_B64)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.starts_with("Synced bar (full): 0 events"), "{stdout}");
    assert!(!stderr.contains("objects/s"), "no progress bar when piped: {stderr}");
}

/// `okta-bridge webhooks`: made with a secret printed once, listed without it, rotated,
/// deleted; bad input refused with what to fix.
#[tokio::test]
async fn webhooks_from_the_command_line() {
    let db = TestDb::sqlite();
    let run = |args: &[&str]| {
        let mut c = okta_bridge();
        c.args(args)
            .args(["--database-url", &db.url, "--dev-allow-private-orgs"])
            .env("OKTA_BRIDGE_MASTER_KEY", &*TEST_KEY_B64);
        c
    };
    let out = run(&[
        "webhooks",
        "create",
        "http://127.0.0.1:9/hook",
        "--event",
        "user.created",
    ])
    .output()
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let hook: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let secret = lines.next().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{stdout}");
    assert_eq!(hook["events"], serde_json::json!(["user.created"]));
    let id = hook["id"].as_str().unwrap().to_owned();

    let out = run(&["webhooks", "list"]).output().await.unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.contains(&id) && !listed.contains(&secret), "{listed}");

    let out = run(&["webhooks", "rotate-secret", &id, "--overlap-seconds", "60"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rotated = String::from_utf8(out.stdout).unwrap();
    let second = rotated.lines().nth(1).unwrap();
    assert!(second.starts_with("whsec_") && second != secret, "{rotated}");

    let out = run(&[
        "webhooks",
        "create",
        "http://127.0.0.1:9/hook",
        "--event",
        "user.exploded",
    ])
    .output()
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown event type"));

    let out = run(&["webhooks", "delete", &id]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["webhooks", "get", &id]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no webhook endpoint"));
}

/// The lines `child` prints until it says it serves ("Press Ctrl-C"); the rest is read on and
/// dropped.
async fn until_serving(child: &mut tokio::process::Child) -> Vec<String> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let done = line.contains("Press Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    printed
}

/// Issue 26 (a sandbox of many orgs): `okta-bridge sandbox --orgs 3` serves three independent
/// orgs from one process, each on its own port with its own data, token and counters; the
/// fleet's control reaches all of them at once; okta-bridge connects to two and syncs each its
/// own directory. Flags that describe one org are refused with `--orgs`.
#[tokio::test]
async fn sandbox_serves_many_orgs_each_its_own() {
    use reqwest::Method;
    use serde_json::{Value, json};

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("orgs.json");
    let mut child = okta_bridge()
        .args([
            "sandbox",
            "--orgs",
            "3",
            "--users",
            "15",
            "--groups",
            "2",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--orgs-out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let printed = until_serving(&mut child).await;
    assert!(printed[0].contains("fleet of 3 orgs"), "{printed:?}");
    let fleet: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let orgs = fleet["orgs"].as_array().unwrap();
    let field = |k: &str| -> HashSet<String> { orgs.iter().map(|o| o[k].as_str().unwrap().to_owned()).collect() };
    assert_eq!((field("url").len(), field("apiToken").len()), (3, 3), "{fleet}");

    let http = reqwest::Client::new();
    let call = |method: Method, url: String, token: &str, body: Option<Value>| {
        let mut req = http
            .request(method, url)
            .header("authorization", format!("SSWS {token}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let url = |i: usize| orgs[i]["url"].as_str().unwrap();
    let token = |i: usize| orgs[i]["apiToken"].as_str().unwrap();
    let mut logins = Vec::new();
    for i in 0..3 {
        let (u, t) = (url(i), token(i));
        let (status, users) = call(Method::GET, format!("{u}/api/v1/users?limit=200"), t, None).await;
        assert_eq!(status, 200, "{users}");
        let mut l: Vec<String> = users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["profile"]["login"].as_str().unwrap().to_owned())
            .collect();
        l.sort();
        assert_eq!(l.len(), 15);
        logins.push(l);
    }
    assert!(
        logins[0] != logins[1] && logins[1] != logins[2],
        "each org has its own people"
    );
    let (status, _) = call(Method::GET, format!("{}/api/v1/users", url(1)), token(0), None).await;
    assert_eq!(status, 401, "one org's token is not another's");

    // The fleet's control: every org's counters (only org 0 and 1 were asked anything), and
    // a churn step in each.
    let control = fleet["control"].as_str().unwrap();
    let control_token = fleet["controlToken"].as_str().unwrap();
    let (status, _) = call(Method::GET, format!("{control}/__fleet/counters"), token(0), None).await;
    assert_eq!(status, 401, "the control takes its own token");
    let (status, counters) = call(Method::GET, format!("{control}/__fleet/counters"), control_token, None).await;
    assert_eq!(status, 200, "{counters}");
    let asked: Vec<u64> = counters["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["body"]["requests"]["GET /api/v1/users"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(asked, [1, 2, 1], "each org counts its own requests: {counters}");
    let (status, step) = call(
        Method::POST,
        format!("{control}/__fleet/churn/step"),
        control_token,
        Some(json!({ "changes": 4 })),
    )
    .await;
    assert_eq!(status, 200, "{step}");
    for o in step["orgs"].as_array().unwrap() {
        assert_eq!(o["body"]["changes"].as_array().map(Vec::len), Some(4), "{o}");
    }
    // Every org's rate limits at once: lifted, then Okta's again.
    for scale in [50, 1] {
        let (status, set) = call(
            Method::PUT,
            format!("{control}/__fleet/rate-limits"),
            control_token,
            Some(json!({ "scale": scale })),
        )
        .await;
        assert_eq!(status, 200, "{set}");
        let scales: Vec<_> = set["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["body"]["scale"].clone())
            .collect();
        assert_eq!(scales, [json!(scale), json!(scale), json!(scale)], "{set}");
    }

    // okta-bridge connects to two of them; each sync reads its own org.
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    for (i, name) in [(0, "fleet-a"), (2, "fleet-c")] {
        let (status, body) = crate::util::api(
            &app,
            Method::POST,
            "/api/accounts",
            Some(json!({ "name": name, "orgUrl": url(i) })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = crate::util::api(
            &app,
            Method::POST,
            &format!("/api/accounts/{name}/connect"),
            Some(json!({ "apiToken": token(i) })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, run) = crate::util::api(&app, Method::POST, &format!("/api/connections/{name}/sync"), None).await;
        assert_eq!(status, 200, "{run}");
        let (_, export) = call(Method::GET, format!("{}/__sandbox/export", url(i)), token(i), None).await;
        assert_eq!(
            run["directory"]["users"].as_u64(),
            export["users"].as_array().map(|u| u.len() as u64),
            "{run}"
        );
    }
    child.kill().await.unwrap();

    // --orgs-out alone: a fleet of one, listed like any fleet.
    let one = dir.path().join("one.json");
    let mut child = okta_bridge()
        .args(["sandbox", "--users", "5", "--groups", "1", "--listen", "127.0.0.1:0"])
        .arg("--orgs-out")
        .arg(&one)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    until_serving(&mut child).await;
    let listing: Value = serde_json::from_slice(&std::fs::read(&one).unwrap()).unwrap();
    assert_eq!(listing["orgs"].as_array().map(Vec::len), Some(1), "{listing}");
    child.kill().await.unwrap();

    let refused = okta_bridge()
        .args(["sandbox", "--orgs", "2", "--state", "org.json"])
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--state describes one org"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
