//! Okta Event Hooks in: a connection's hook registered and verified at the sandbox, the org's
//! changes reaching the feed through it alone (no polling run), duplicated and replayed calls
//! syncing once, forged secrets refused.

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::util::{AppOptions, TestApp, TestDb, api, sandbox_control, spawn_app};
use okta_bridge::model::{AccountName, HOOK_EVENT_TYPES, HookSecret};

/// The connection's sync state (`lastSeq`, `lastRunAt`, …).
async fn sync_state(app: &TestApp, name: &str) -> Value {
    let (status, state) = api(app, Method::GET, &format!("/api/connections/{name}/sync"), None).await;
    assert_eq!(status, 200, "{state}");
    state
}

/// Waits (up to 2 s) for events after `after` in `name`'s feed: a long poll, not a sleep.
async fn wait_for_events(app: &TestApp, name: &str, after: i64) {
    let (status, body) = api(
        app,
        Method::GET,
        &format!("/api/connections/{name}/events?after={after}&wait=2"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn hook_status(app: &TestApp, name: &str) -> Value {
    let (status, body) = api(app, Method::GET, &format!("/api/connections/{name}/hooks"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Changes made at the org reach the stored directory and the feed through the event hook
/// alone: after a churn of every kind of change (each call delivered twice by the sandbox), the
/// stored directory is the org's, and no polling run happened.
async fn pushed(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 40;
                c.groups = 5;
                c.apps = 2;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    crate::sync::connect_with_token(&app, "pushed").await;
    let (status, summary) = api(&app, Method::POST, "/api/connections/pushed/sync", None).await;
    assert_eq!(status, 200, "{summary}");

    // Not registered yet: the status says how.
    let before = hook_status(&app, "pushed").await;
    assert_eq!(before["okta"]["registered"], false, "{before}");
    assert_eq!(before["okta"]["hint"], "okta-bridge hooks register pushed");

    let (status, registered) = api(&app, Method::POST, "/api/connections/pushed/hooks", None).await;
    assert_eq!(status, 200, "{registered}");
    let okta = &registered["okta"];
    assert_eq!(okta["status"], "ACTIVE", "{registered}");
    assert_eq!(okta["verificationStatus"], "VERIFIED", "{registered}");
    assert_eq!(okta["uri"], format!("{}/hooks/okta/pushed", app.url));
    assert_eq!(okta["events"].as_array().unwrap().len(), HOOK_EVENT_TYPES.len());
    // Registering again updates the same hook (found by what okta-bridge kept).
    let (status, again) = api(&app, Method::POST, "/api/connections/pushed/hooks", None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["okta"]["id"], okta["id"]);
    // The CLI registers (the same hook again) and shows it.
    let db_args = ["--public-url", app.url.as_str()];
    let out = crate::webhooks::run_cli(&db, &[&["hooks", "register", "pushed"][..], &db_args[..]].concat(), "").await;
    let cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cli["okta"]["id"], okta["id"], "{out}");
    assert_eq!(cli["okta"]["verificationStatus"], "VERIFIED", "{out}");
    let out = crate::webhooks::run_cli(&db, &["hooks", "status", "pushed"], "").await;
    let cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cli["okta"]["status"], "ACTIVE", "{out}");
    let hook_secret = app
        .store
        .stored_hook_secret(&AccountName::parse("pushed").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !out.contains(hook_secret.expose_secret()),
        "the hook secret is never shown"
    );
    let hooks = sandbox_control(&app, Method::GET, "/__sandbox/event-hooks/deliveries", None).await;
    assert!(hooks.as_array().unwrap().is_empty(), "nothing delivered yet: {hooks}");

    // Okta delivers at least once: here, every call twice.
    let res = reqwest::Client::new()
        .put(format!("{}/__sandbox/event-hooks/faults", app.sandbox.url()))
        .header(
            "authorization",
            format!("SSWS {}", app.sandbox.config().api_token_value()),
        )
        .json(&json!({ "duplicate": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let polled = sync_state(&app, "pushed").await["lastRunAt"].clone();
    let changes = crate::sync::churn(&app, 60).await;
    assert_eq!(changes.len(), 60);
    let account = AccountName::parse("pushed").unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let org = crate::sync::exported(&app).await;
        let stored = app.store.directory(&account).await.unwrap();
        let state = hook_status(&app, "pushed").await;
        let same = crate::sync::comparable(&stored) == crate::sync::comparable(&org);
        if same && state["local"]["pending"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hook brings every change: {}; {state}",
            crate::sync::differences(&stored, &org)
        );
        let last = sync_state(&app, "pushed").await["lastSeq"].as_i64().unwrap();
        wait_for_events(&app, "pushed", last).await;
    }
    assert_eq!(
        sync_state(&app, "pushed").await["lastRunAt"],
        polled,
        "no polling run: the changes came through the hook"
    );
    let state = hook_status(&app, "pushed").await;
    let local = &state["local"];
    assert!(local["syncs"].as_i64().unwrap() >= 1, "{state}");
    assert!(
        local["duplicates"].as_i64().unwrap() >= 1,
        "the second copies were ignored: {state}"
    );
    assert!(local["lastSyncError"].is_null(), "{state}");
    assert!(
        local["received"].as_i64().unwrap() > local["syncs"].as_i64().unwrap(),
        "{state}"
    );

    // The feed folds into the stored directory: every change said once, in order.
    let folded = okta_bridge::sync::fold(&app.store.events_after(&account, 0, 100_000).await.unwrap());
    let stored = app.store.directory(&account).await.unwrap();
    assert_eq!(folded.users, stored.users);
    assert_eq!(folded.members, stored.members);
    assert_eq!(folded.app_users, stored.app_users);
}

on_both_databases!(an_orgs_changes_reach_the_feed_through_its_event_hook, super::pushed);

/// A call to `name`'s hook with `auth` (none when `None`).
async fn call_hook(app: &TestApp, name: &str, auth: Option<&str>, body: &Value) -> (reqwest::StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/hooks/okta/{name}", app.url))
        .json(body);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A call replayed (same `eventId`) and a duplicate (a new `eventId`, the same System Log
/// event) cause one targeted sync and one feed event; forged or missing secrets are refused
/// and recorded nowhere.
async fn once(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 10;
                c.groups = 2;
                c.apps = 1;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    crate::sync::connect_with_token(&app, "dedup").await;
    let (status, summary) = api(&app, Method::POST, "/api/connections/dedup/sync", None).await;
    assert_eq!(status, 200, "{summary}");
    let account = AccountName::parse("dedup").unwrap();
    let secret = app
        .store
        .hook_secret(&account, || HookSecret::new("hook-secret-for-the-test"))
        .await
        .unwrap();
    let secret = secret.expose_secret().to_owned();

    // A change at the org, and the System Log event that says it.
    let org = okta_client::Client::builder(app.sandbox.url())
        .unwrap()
        .api_token(app.sandbox.config().api_token_value())
        .build()
        .unwrap();
    let users: Vec<okta_client::User> = futures::TryStreamExt::try_collect(org.users().list().stream())
        .await
        .unwrap();
    let victim = users.iter().find(|u| u.status.as_str() == "ACTIVE").unwrap().id.clone();
    org.users()
        .lifecycle(&victim, okta_client::Lifecycle::Suspend)
        .await
        .unwrap();
    let logged: Vec<Value> = sandbox_events(&app, "user.lifecycle.suspend").await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    let event = logged[0].clone();
    let last = sync_state(&app, "dedup").await["lastSeq"].as_i64().unwrap();
    let polled = sync_state(&app, "dedup").await["lastRunAt"].clone();

    let call = |id: &str| {
        json!({
            "eventType": "com.okta.event_hook",
            "eventTypeVersion": "1.0",
            "cloudEventsVersion": "0.1",
            "eventId": id,
            "data": { "events": [event.clone()] },
        })
    };
    // Forged, missing, and for a connection that does not exist: refused.
    for (auth, want) in [(Some("not-the-secret"), 401), (None, 401), (Some(""), 401)] {
        let (status, body) = call_hook(&app, "dedup", auth, &call("forged")).await;
        assert_eq!(status, want, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("hooks register dedup"),
            "{body}"
        );
    }
    // Issue 25, finding 5: a name that is no connection (or no name at all) is answered
    // exactly as a wrong secret is, so strangers cannot list connections.
    let (status, wrong) = call_hook(&app, "dedup", Some("not-the-secret"), &call("x")).await;
    assert_eq!(status, 401);
    for nobody in ["nobody", "-not-a-name-"] {
        let (status, body) = call_hook(&app, nobody, Some(&secret), &call("x")).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(
            body.to_string().replace(nobody, "dedup"),
            wrong.to_string(),
            "the same answer"
        );
        let res = reqwest::Client::new()
            .get(format!("{}/hooks/okta/{nobody}", app.url))
            .header("authorization", secret.clone())
            .header("x-okta-verification-challenge", "c")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
    let (status, body) = call_hook(&app, "dedup", Some(&secret), &json!({ "no": "event" })).await;
    assert_eq!(status, 400, "{body}");

    // Issue 25, finding 4: a stranger's call is refused before its body is read (the answer
    // comes while the body is still withheld, long before the body deadline), and a call
    // larger than Okta sends is refused from its length alone.
    let quick = std::time::Duration::from_secs(5);
    let json = "Content-Type: application/json\r\n";
    for (path, auth) in [
        ("/hooks/okta/nosuch", String::new()),
        ("/hooks/okta/dedup", "Authorization: forged\r\n".to_owned()),
    ] {
        let answer = crate::util::withhold_body(&app.url, path, &format!("{json}{auth}"), 2_000_000, quick).await;
        assert_eq!(answer.as_deref(), Some("HTTP/1.1 401 Unauthorized"), "{path}");
    }
    let answer = crate::util::withhold_body(
        &app.url,
        "/hooks/okta/dedup",
        &format!("{json}Authorization: {secret}\r\n"),
        2_000_000,
        quick,
    )
    .await;
    assert_eq!(answer.as_deref(), Some("HTTP/1.1 413 Payload Too Large"));

    // The verification challenge: echoed with the secret, refused without.
    let verify = |auth: &str| {
        reqwest::Client::new()
            .get(format!("{}/hooks/okta/dedup", app.url))
            .header("authorization", auth.to_owned())
            .header("x-okta-verification-challenge", "challenge-123")
            .send()
    };
    let res = verify(&secret).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "verification": "challenge-123" })
    );
    assert_eq!(verify("forged").await.unwrap().status(), 401);

    // The call, the same call replayed, and a duplicate with a new eventId.
    let (status, first) = call_hook(&app, "dedup", Some(&secret), &call("call-1")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first, json!({ "duplicate": false, "newEvents": 1 }));
    let (status, replayed) = call_hook(&app, "dedup", Some(&secret), &call("call-1")).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["duplicate"], true);
    let (status, duplicate) = call_hook(&app, "dedup", Some(&secret), &call("call-2")).await;
    assert_eq!(status, 200, "{duplicate}");
    assert_eq!(duplicate, json!({ "duplicate": false, "newEvents": 0 }));

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let state = hook_status(&app, "dedup").await;
        if state["local"]["pending"] == 0 && state["local"]["syncs"] == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the call is synced: {state}");
        wait_for_events(&app, "dedup", last).await;
    }
    let state = hook_status(&app, "dedup").await;
    assert_eq!(state["local"]["syncs"], 1, "one sync: {state}");
    assert_eq!(state["local"]["received"], 3, "refused calls are not recorded: {state}");
    assert_eq!(state["local"]["duplicates"], 2, "{state}");
    let (status, feed) = api(
        &app,
        Method::GET,
        &format!("/api/connections/dedup/events?after={last}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{feed}");
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "one change, said once: {feed}");
    assert_eq!(events[0]["type"], "user.suspended");
    assert_eq!(events[0]["objectId"], victim.as_str());
    assert_eq!(sync_state(&app, "dedup").await["lastRunAt"], polled, "no polling run");

    // A polling run afterwards finds the change stored: it says nothing more.
    let (status, summary) = api(&app, Method::POST, "/api/connections/dedup/sync", None).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["events"], 0, "{summary}");
}

on_both_databases!(
    duplicate_and_replayed_hook_calls_cause_one_sync_and_forged_ones_are_refused,
    super::once
);

/// The sandbox's System Log events of `event_type`.
async fn sandbox_events(app: &TestApp, event_type: &str) -> Vec<Value> {
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/logs", app.sandbox.url()))
        .query(&[("filter", format!("eventType eq \"{event_type}\""))])
        .header(
            "authorization",
            format!("SSWS {}", app.sandbox.config().api_token_value()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// A connection without `okta.eventHooks.manage` (an OAuth web app granted `okta.users.read`)
/// cannot register a hook: the error says which scope to grant.
#[tokio::test]
async fn registering_without_the_scope_says_which_to_grant() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = crate::util::Browser::new();
    let res = crate::util::connect(&app, &mut browser).await;
    assert_eq!(res.url().path(), "/", "connected: {:?}", browser.hops);
    let name = format!("127-0-0-1-{}", app.sandbox.addr().port());
    let (status, body) = api(&app, Method::POST, &format!("/api/connections/{name}/hooks"), None).await;
    assert_eq!(
        status, 422,
        "the org refused: ours to fix, not a gateway failure: {body}"
    );
    assert_eq!(body["error"], "hook_not_registered", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("okta.eventHooks.manage"),
        "{body}"
    );
    let (status, body) = api(&app, Method::POST, "/api/connections/nobody/hooks", None).await;
    assert_eq!(status, 404, "{body}");
}
