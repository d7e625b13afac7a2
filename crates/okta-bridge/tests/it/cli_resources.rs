//! `okta-bridge users|groups|apps|logs`: every resource in every format, checked against what
//! the org answers directly; a progress bar on a terminal only; a followed System Log.

use okta_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::cli::okta_bridge;

/// `GET path` at the org with its API token: the ground truth (every page, as JSON).
async fn direct(sandbox: &Sandbox, path: &str) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    let mut next = Some(format!("{}{path}", sandbox.url()));
    while let Some(url) = next {
        let res = http
            .get(&url)
            .header("authorization", format!("SSWS {}", sandbox.config().api_token_value()))
            .send()
            .await
            .unwrap();
        next = crate::util::next_link(&res);
        let page: Vec<Value> = res.json().await.unwrap();
        out.extend(page);
    }
    out
}

/// Runs the binary against `sandbox` with an org URL and API token; stdout.
async fn run(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = okta_bridge()
        .args(args)
        .env("OKTA_CLIENT_ORGURL", sandbox.url())
        .env("OKTA_CLIENT_TOKEN", sandbox.config().api_token_value())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "nothing on stderr when it is not a terminal");
    String::from_utf8(out.stdout).unwrap()
}

fn ids(values: &[Value]) -> Vec<String> {
    values.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

/// The same items, in each format: JSON and NDJSON objects, a CSV and a table with a header.
async fn every_format(sandbox: &Sandbox, args: &[&str], expected: &[Value], table_header: &str, csv_header: &str) {
    let want = ids(expected);
    assert!(!want.is_empty(), "{args:?}: a listing worth checking");
    let with = |format: &'static str| {
        let mut a = args.to_vec();
        a.extend(["--format", format]);
        a
    };
    let json: Vec<Value> = serde_json::from_str(&run(sandbox, &with("json")).await).unwrap();
    assert_eq!(ids(&json), want, "{args:?} json");
    for (got, sent) in json.iter().zip(expected) {
        for key in ["status", "label", "scope"] {
            assert_eq!(got[key], sent[key], "{args:?}: {key}");
        }
        for (field, value) in sent["profile"].as_object().into_iter().flatten() {
            if !value.is_null() {
                assert_eq!(&got["profile"][field], value, "{args:?}: {field} as Okta sent it");
            }
        }
        assert_eq!(
            got["_links"], sent["_links"],
            "{args:?}: Okta's fields we do not model too"
        );
    }
    let ndjson: Vec<Value> = run(sandbox, &with("ndjson"))
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ids(&ndjson), want, "{args:?} ndjson");
    let csv = run(sandbox, &with("csv")).await;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>().join(","),
        csv_header
    );
    let rows: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    assert_eq!(rows, want, "{args:?} csv");
    let table = run(sandbox, &with("table")).await;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(header.join("|"), table_header, "{args:?} table");
    let rows: Vec<&str> = lines.map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(rows, want, "{args:?} table");
}

#[tokio::test]
async fn groups_apps_and_users_in_every_format() {
    let sandbox = Sandbox::spawn(SandboxConfig {
        users: 120,
        groups: 12,
        apps: 4,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let groups = direct(&sandbox, "/api/v1/groups").await;
    every_format(
        &sandbox,
        &["groups", "list", "--page-size", "5"],
        &groups,
        "ID|TYPE|NAME|DESCRIPTION",
        "id,type,name,description,created,lastUpdated,lastMembershipUpdated",
    )
    .await;
    let group = groups.iter().find(|g| g["type"] == "OKTA_GROUP").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let members = direct(&sandbox, &format!("/api/v1/groups/{group}/users")).await;
    every_format(
        &sandbox,
        &["groups", "members", &group, "--page-size", "7"],
        &members,
        "ID|STATUS|LOGIN|NAME",
        "id,status,login,firstName,lastName,email,created,lastLogin,lastUpdated",
    )
    .await;
    let apps = direct(&sandbox, "/api/v1/apps").await;
    every_format(
        &sandbox,
        &["apps", "list", "--page-size", "2"],
        &apps,
        "ID|STATUS|NAME|SIGN-ON|LABEL",
        "id,status,name,signOnMode,label,created,lastUpdated",
    )
    .await;
    let (app, assigned) = {
        let mut found = None;
        for a in &apps {
            let id = a["id"].as_str().unwrap().to_owned();
            let users = direct(&sandbox, &format!("/api/v1/apps/{id}/users")).await;
            if !users.is_empty() {
                found = Some((id, users));
                break;
            }
        }
        found.expect("an app with assigned users")
    };
    every_format(
        &sandbox,
        &["apps", "users", &app, "--page-size", "3"],
        &assigned,
        "ID|SCOPE|STATUS|USER NAME",
        "id,scope,status,userName",
    )
    .await;

    // One user, by id or by login: an object, not a list.
    let user = &direct(&sandbox, "/api/v1/users?limit=1").await[0];
    let login = user["profile"]["login"].as_str().unwrap();
    for key in [user["id"].as_str().unwrap(), login] {
        let got: Value =
            serde_json::from_str(&run(&sandbox, &["users", "get", key, "--format", "json"]).await).unwrap();
        assert_eq!(
            (&got["id"], &got["profile"]["login"]),
            (&user["id"], &user["profile"]["login"]),
            "{key}"
        );
    }
    let table = run(&sandbox, &["users", "get", login]).await;
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.lines().nth(1).unwrap().contains(login));
    let out = okta_bridge()
        .args(["users", "get", "nobody@example.com"])
        .env("OKTA_CLIENT_ORGURL", sandbox.url())
        .env("OKTA_CLIENT_TOKEN", sandbox.config().api_token_value())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nobody@example.com") && err.contains("E0000007"), "{err}");
}

/// Under a pseudo-terminal (`script`) a listing shows a progress bar on stderr: count, rate,
/// elapsed, pages and requests. Piped, stderr stays empty (checked in every run above).
#[tokio::test]
async fn a_listing_shows_progress_on_a_terminal() {
    let sandbox = Sandbox::spawn(SandboxConfig {
        users: 2000,
        users_rate_limit: 100_000,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    // To a file: the bar alone on the terminal.
    let shown = under_a_terminal(&sandbox, "users list --page-size 50 --format csv", "> /dev/null").await;
    assert!(shown.contains("2,000 users"), "the count: {shown}");
    assert!(shown.contains("40 pages, 40 requests"), "pages and requests: {shown}");
    assert!(shown.contains("/s"), "the rate: {shown}");

    // A table to the same terminal: the rows, and the bar's last line after them.
    let shown = under_a_terminal(&sandbox, "users list --page-size 200", "").await;
    let last = sandbox.state().listed_user_ids().pop().unwrap();
    let rows = shown.find(&last).expect("the last user's row");
    let bar = shown.rfind("2,000 users").expect("the bar's last state");
    assert!(bar > rows, "the bar ends below the rows");
}

/// What the terminal shows when `okta-bridge {args} --org-url … {redirect}` runs in a
/// pseudo-terminal (`script`).
async fn under_a_terminal(sandbox: &Sandbox, args: &str, redirect: &str) -> String {
    let command = format!(
        "{} {args} --org-url {} {redirect}",
        env!("CARGO_BIN_EXE_okta-bridge"),
        sandbox.url()
    );
    let out = tokio::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("OKTA_CLIENT_TOKEN", sandbox.config().api_token_value())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    shown
}

/// `logs tail` prints the events since a time; with --follow, new ones as they happen.
#[tokio::test]
async fn logs_tail_prints_and_follows_the_system_log() {
    let sandbox = Sandbox::spawn(SandboxConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let ssws = format!("SSWS {}", sandbox.config().api_token_value());
    let create = |login: &str| {
        http.post(format!("{}/api/v1/users?activate=false", sandbox.url()))
            .header("authorization", &ssws)
            .json(&serde_json::json!({ "profile": {
                "firstName": "Log", "lastName": "Tail", "email": login, "login": login
            }}))
            .send()
    };
    assert!(create("first.tail@example.com").await.unwrap().status().is_success());
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let events = direct(
        &sandbox,
        &format!(
            "/api/v1/logs?since={}&until={}",
            rfc3339(now - time::Duration::hours(1)),
            rfc3339(now + time::Duration::minutes(1))
        ),
    )
    .await;
    assert!(!events.is_empty());
    let out = run(&sandbox, &["logs", "tail", "--since", "1h", "--format", "ndjson"]).await;
    let got: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        got.iter().map(|e| e["uuid"].clone()).collect::<Vec<_>>(),
        events.iter().map(|e| e["uuid"].clone()).collect::<Vec<_>>()
    );
    assert!(out.contains("first.tail@example.com"));
    let since = rfc3339(now - time::Duration::days(2));
    let table = run(&sandbox, &["logs", "tail", "--since", &since]).await;
    assert!(table.starts_with("PUBLISHED"), "{table}");
    assert!(table.contains("user.lifecycle.create"), "{table}");

    // Following: an event made after the start shows up while the command runs.
    let mut child = okta_bridge()
        .args([
            "logs",
            "tail",
            "--since",
            "1m",
            "--follow",
            "--interval",
            "1",
            "--format",
            "ndjson",
        ])
        .env("OKTA_CLIENT_ORGURL", sandbox.url())
        .env("OKTA_CLIENT_TOKEN", sandbox.config().api_token_value())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(first.contains("first.tail@example.com"), "{first}");
    assert!(create("second.tail@example.com").await.unwrap().status().is_success());
    let later = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("the command is still running");
            if line.contains("second.tail@example.com") {
                return line;
            }
        }
    })
    .await
    .expect("the new event within 30 s");
    assert!(serde_json::from_str::<Value>(&later).is_ok());
    child.kill().await.unwrap();

    let out = okta_bridge()
        .args(["logs", "tail", "--since", "yesterday"])
        .env("OKTA_CLIENT_ORGURL", sandbox.url())
        .env("OKTA_CLIENT_TOKEN", sandbox.config().api_token_value())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}
