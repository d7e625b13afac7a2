//! `/api/webhooks`: endpoints made with a secret shown once and sealed at rest, listed and read
//! without it, changed, rotated with an overlap, deleted; URLs by the org-URL rules.

use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::util::{AppOptions, TestDb, api, spawn_app};

async fn endpoints(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let (status, made) = api(
        &app,
        Method::POST,
        "/api/webhooks",
        Some(json!({ "url": "http://127.0.0.1:9/okta", "events": ["user.created", "group.user_added"], "connections": ["acme"] })),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(
        id.starts_with("wh_") && secret.starts_with("whsec_") && secret.len() > 40,
        "{made}"
    );
    assert_eq!(made["events"], json!(["user.created", "group.user_added"]));
    assert_eq!(made["connections"], json!(["acme"]));
    assert_eq!(made["status"], "active");

    // Listed and read without the secret; sealed at rest.
    for path in ["/api/webhooks".to_owned(), format!("/api/webhooks/{id}")] {
        let (status, body) = api(&app, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.to_string().contains(&id) && !body.to_string().contains(&secret),
            "{body}"
        );
    }
    let signing = app.store.webhook_secrets(&id).await.unwrap();
    assert_eq!(signing.len(), 1);
    assert_eq!(signing[0].expose_secret(), secret);
    let raw = raw_secret_column(&db, &id).await;
    assert!(
        !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is sealed at rest"
    );

    // Bad input: 400 naming the field and what to do; nothing stored.
    for (body, field, says) in [
        (
            json!({ "url": "http://127.0.0.1:9/x", "events": ["user.exploded"] }),
            "events",
            "user.created",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/x", "events": [] }),
            "events",
            "leave events out",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/x", "connections": ["Not Valid"] }),
            "connections",
            "",
        ),
        (json!({ "url": "ftp://127.0.0.1/x" }), "url", "http(s)"),
        (json!({ "url": "not a url" }), "url", "not a URL"),
        (
            json!({ "url": "http://127.0.0.1:9/x", "secret": "mine" }),
            "body",
            "secret",
        ),
    ] {
        let (status, answer) = api(&app, Method::POST, "/api/webhooks", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let text = answer.to_string();
        assert!(text.contains(field) && text.contains(says), "{body}: {answer}");
    }
    let (_, all) = api(&app, Method::GET, "/api/webhooks", None).await;
    assert_eq!(all["webhooks"].as_array().unwrap().len(), 1);

    // Changed: every event type (null), another URL; only "active" can be set.
    let (status, changed) = api(
        &app,
        Method::PATCH,
        &format!("/api/webhooks/{id}"),
        Some(json!({ "events": null, "url": "http://127.0.0.1:9/v2" })),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert!(changed.get("events").is_none_or(Value::is_null), "{changed}");
    assert_eq!(changed["connections"], json!(["acme"]), "what was not given stays");
    assert_eq!(changed["url"], "http://127.0.0.1:9/v2");
    let (status, answer) = api(
        &app,
        Method::PATCH,
        &format!("/api/webhooks/{id}"),
        Some(json!({ "status": "failing" })),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // Rotated: a new secret, the old one signing too for the overlap; at most 7 days.
    let (status, rotated) = api(
        &app,
        Method::POST,
        &format!("/api/webhooks/{id}/rotate-secret"),
        Some(json!({ "overlapSeconds": 3600 })),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, secret);
    assert!(rotated["previousSecretUntil"].as_i64().unwrap() > okta_bridge::model::now());
    let signing: Vec<String> = app
        .store
        .webhook_secrets(&id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.expose_secret().to_owned())
        .collect();
    assert_eq!(signing, [second.clone(), secret.clone()]);
    let (status, rotated) = api(
        &app,
        Method::POST,
        &format!("/api/webhooks/{id}/rotate-secret"),
        Some(json!({ "overlapSeconds": 0 })),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let signing = app.store.webhook_secrets(&id).await.unwrap();
    assert_eq!(signing.len(), 1, "no overlap: only the new secret signs");
    assert_eq!(signing[0].expose_secret(), rotated["secret"].as_str().unwrap());
    let (status, answer) = api(
        &app,
        Method::POST,
        &format!("/api/webhooks/{id}/rotate-secret"),
        Some(json!({ "overlapSeconds": 8 * 24 * 3600 })),
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // Deleted; then unknown.
    let (status, _) = api(&app, Method::DELETE, &format!("/api/webhooks/{id}"), None).await;
    assert_eq!(status, 204);
    for method in [Method::GET, Method::DELETE] {
        let (status, answer) = api(&app, method, &format!("/api/webhooks/{id}"), None).await;
        assert_eq!(status, 404, "{answer}");
    }
}

on_both_databases!(webhook_endpoints_are_made_changed_rotated_and_deleted, super::endpoints);

/// The sealed `secret` column of endpoint `id`, as stored.
async fn raw_secret_column(db: &TestDb, id: &str) -> Vec<u8> {
    use sqlx::Connection;
    let sql = "SELECT secret FROM webhooks WHERE id = $1";
    if db.url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).bind(id).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).bind(id).fetch_one(&mut c).await.unwrap()
    }
}

/// Without the development switch, endpoints are https on public addresses.
#[tokio::test]
async fn webhook_urls_are_https_on_public_addresses() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            allow_private_orgs: false,
            ..AppOptions::default()
        },
    )
    .await;
    for (url, says) in [
        ("http://hooks.example.com/okta", "not https"),
        ("https://127.0.0.1/okta", "private"),
        ("https://10.1.2.3/okta", "private"),
        ("https://[::1]/okta", "private"),
        ("https://localhost:8443/okta", "private"),
        ("https://app.localhost/okta", "private"),
    ] {
        let (status, answer) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
        assert_eq!(status, 400, "{url}: {answer}");
        assert!(answer.to_string().contains(says), "{url}: {answer}");
    }
    let (status, made) = api(
        &app,
        Method::POST,
        "/api/webhooks",
        Some(json!({ "url": "https://93.184.215.14/okta" })),
    )
    .await;
    assert_eq!(status, 201, "a public address: {made}");
}

/// What a receiver got: each request's event id, signature header and body.
#[derive(Clone, Default)]
pub(crate) struct Received {
    pub(crate) got: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
    pub(crate) arrived: std::sync::Arc<tokio::sync::Notify>,
    /// Requests answered 503 before it takes any.
    down_for: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    most_in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// A slow receiver takes this long to answer (a wider window for deliveries to overlap).
    slow: std::time::Duration,
}

/// An app whose sandbox org holds `users` users, `groups` groups and one app.
async fn app_with_org(db: &TestDb, users: usize, groups: usize) -> crate::util::TestApp {
    spawn_app(
        db,
        AppOptions {
            sandbox: Box::new(move |c| {
                c.users = users;
                c.groups = groups;
                c.apps = 1;
            }),
            ..AppOptions::default()
        },
    )
    .await
}

/// Connects `name` to the app's sandbox and syncs it: the events written, and the run's summary.
async fn connect_and_sync(app: &crate::util::TestApp, name: &str) -> (usize, Value) {
    crate::sync::connect_with_token(app, name).await;
    let (status, summary) = api(app, Method::POST, &format!("/api/connections/{name}/sync"), None).await;
    assert_eq!(status, 200, "{summary}");
    (summary["events"].as_u64().unwrap() as usize, summary)
}

/// Serves `router` on 127.0.0.1; the URL of its `/hook`.
async fn serve_receiver(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// A receiver on 127.0.0.1 that is down (503) for its first `down_for` requests, and takes
/// `slow` to answer.
pub(crate) async fn receiver(down_for: usize, slow: std::time::Duration) -> (String, Received) {
    use axum::http::{HeaderMap, StatusCode};
    let state = Received {
        slow,
        ..Received::default()
    };
    state.down_for.store(down_for, std::sync::atomic::Ordering::SeqCst);
    let handler = |axum::extract::State(r): axum::extract::State<Received>, headers: HeaderMap, body: String| async move {
        let down = r
            .down_for
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok();
        if down {
            return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance");
        }
        use std::sync::atomic::Ordering::SeqCst;
        let now_in = r.in_flight.fetch_add(1, SeqCst) + 1;
        r.most_in_flight.fetch_max(now_in, SeqCst);
        if !r.slow.is_zero() {
            tokio::time::sleep(r.slow).await;
        }
        r.in_flight.fetch_sub(1, SeqCst);
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        r.got
            .lock()
            .unwrap()
            .push((header("okta-bridge-event-id"), header("okta-bridge-signature"), body));
        r.arrived.notify_waiters();
        (StatusCode::OK, "ok")
    };
    let url = serve_receiver(
        axum::Router::new()
            .route("/hook", axum::routing::post(handler))
            .with_state(state.clone()),
    )
    .await;
    (url, state)
}

/// Whether `header` (`t=…,v1=…[,v1=…]`) signs `body` with `secret`.
fn signed_with(header: &str, body: &str, secret: &str) -> bool {
    use hmac::{Hmac, Mac};
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_owned()),
            Some(("v1", v)) => sigs.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    sigs.contains(&expected)
}

/// A receiver down for a while gets every event afterwards, in order, each signed; the failed
/// attempts are in the endpoint's delivery log.
async fn delivered_in_order(db: TestDb) {
    let app = app_with_org(&db, 20, 3).await;
    let (url, received) = receiver(2, std::time::Duration::ZERO).await;
    let (status, made) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
    assert_eq!(status, 201, "{made}");
    let (id, secret) = (
        made["id"].as_str().unwrap().to_owned(),
        made["secret"].as_str().unwrap().to_owned(),
    );
    // A second endpoint for one event type: the others are passed over.
    let (only_url, only_created) = receiver(0, std::time::Duration::ZERO).await;
    let (status, only) = api(
        &app,
        Method::POST,
        "/api/webhooks",
        Some(json!({ "url": only_url, "events": ["user.created"] })),
    )
    .await;
    assert_eq!(status, 201, "{only}");
    let (events, summary) = connect_and_sync(&app, "hooked").await;
    assert!(events > 20, "{summary}");

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let arrived = received.arrived.notified();
        let distinct: std::collections::BTreeSet<String> = received
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _, _)| id.clone())
            .collect();
        if distinct.len() >= events {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, arrived).await.is_ok(),
            "{} of {events} events delivered",
            distinct.len()
        );
    }
    let got = received.got.lock().unwrap().clone();
    let mut last = 0;
    for (event_id, signature, body) in &got {
        let b: Value = serde_json::from_str(body).unwrap();
        assert_eq!(b["id"], event_id.as_str());
        assert_eq!(b["connection"], "hooked");
        let cursor: i64 = b["cursor"].as_str().unwrap().parse().unwrap();
        assert!(cursor >= last, "in order: {cursor} after {last}");
        assert!(cursor <= last + 1, "nothing skipped: {cursor} after {last}");
        last = cursor;
        assert!(signed_with(signature, body, &secret), "{signature}");
        assert!(b["type"].is_string() && b["data"].is_object(), "{body}");
    }
    assert_eq!(last as usize, events);

    // The last delivery is recorded just after the receiver answered it.
    let log = loop {
        let (status, log) = api(&app, Method::GET, &format!("/api/webhooks/{id}/deliveries"), None).await;
        assert_eq!(status, 200, "{log}");
        if log["streams"][0]["delivered"] == events as i64 {
            break log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cursor reaches the last event: {log}"
        );
        tokio::task::yield_now().await;
    };
    let attempts = log["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.iter().filter(|a| a["status"] == 503).count(),
        2,
        "the two refused attempts are logged: {log}"
    );

    // The filtered endpoint: each user created, nothing else, and its cursor past every event.
    let users = summary["directory"]["users"].as_u64().unwrap() as usize;
    let only_id = only["id"].as_str().unwrap();
    loop {
        let (_, log) = api(&app, Method::GET, &format!("/api/webhooks/{only_id}/deliveries"), None).await;
        if log["streams"][0]["delivered"] == events as i64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the filtered stream reaches the end: {log}"
        );
        tokio::task::yield_now().await;
    }
    let got = only_created.got.lock().unwrap().clone();
    assert_eq!(got.len(), users);
    assert!(got.iter().all(|(_, _, body)| body.contains(r#""type":"user.created""#)));

    // Replay from a cursor: the last five events again, in order, then nothing more.
    let before = received.got.lock().unwrap().len();
    let replay = format!("/api/webhooks/{id}/replay");
    for (bad, status_wanted) in [
        (json!({ "connection": "hooked", "after": events + 1 }), 400),
        (json!({ "connection": "hooked", "after": -1 }), 400),
        (json!({ "connection": "nobody", "after": 0 }), 404),
        (json!({ "connection": "hooked" }), 400),
    ] {
        let (status, body) = api(&app, Method::POST, &replay, Some(bad.clone())).await;
        assert_eq!(status, status_wanted, "{bad} → {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, stream) = api(
        &app,
        Method::POST,
        &replay,
        Some(json!({ "connection": "hooked", "after": events - 5 })),
    )
    .await;
    assert_eq!(status, 200, "{stream}");
    assert_eq!(stream["delivered"], events as i64 - 5, "{stream}");
    loop {
        let (_, log) = api(&app, Method::GET, &format!("/api/webhooks/{id}/deliveries"), None).await;
        if log["streams"][0]["delivered"] == events as i64 && received.got.lock().unwrap().len() >= before + 5 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the replay is delivered: {log}");
        tokio::task::yield_now().await;
    }
    let again: Vec<i64> = received.got.lock().unwrap()[before..]
        .iter()
        .map(|(_, _, body)| {
            serde_json::from_str::<Value>(body).unwrap()["cursor"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let want: Vec<i64> = (events as i64 - 4..=events as i64).collect();
    assert_eq!(again, want, "the replayed events, in order, once");

    // The delivery log on the page: each endpoint, its stream, the refused and taken attempts.
    let mut browser = crate::util::Browser::signed_in(&app).await;
    let page = browser.visit(&format!("{}/webhooks", app.url)).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&url) && html.contains(&only_url), "{html}");
    assert!(html.contains(&id) && html.contains("hooked"), "{html}");
    assert!(
        html.contains(&format!("<td>hooked</td><td>{events}</td>")),
        "the stream's cursor: {html}"
    );
    assert!(
        html.contains("<td>200</td>") && html.contains(" ms</td><td>ok</td>"),
        "{html}"
    );
    assert!(!html.contains(&secret), "never the signing secret");
}

on_both_databases!(
    a_receiver_down_for_a_while_gets_every_event_in_order,
    super::delivered_in_order
);

/// Three deliverers on one database (the server's worker and two more services, as three
/// instances would be) never deliver one endpoint's stream at once: the slow receiver never
/// has two requests in flight, and gets each event exactly once.
async fn one_deliverer_at_a_time(db: TestDb) {
    let app = app_with_org(&db, 10, 2).await;
    let (url, received) = receiver(0, std::time::Duration::from_millis(3)).await;
    let (status, made) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
    assert_eq!(status, 201, "{made}");
    let (events, _) = connect_and_sync(&app, "shared").await;
    let others: Vec<okta_bridge::service::Service> = (0..2)
        .map(|_| crate::util::service(&app.store, None, crate::util::dev_egress()))
        .collect();
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while received.got.lock().unwrap().len() < events {
        let (a, b) = tokio::join!(others[0].deliver_due(&http), others[1].deliver_due(&http));
        a.unwrap();
        b.unwrap();
        assert!(tokio::time::Instant::now() < deadline, "every event is delivered");
        tokio::task::yield_now().await;
    }
    // The last delivery's cursor is written just after the receiver answered: the stream is
    // idle once it is.
    let hook = made["id"].as_str().unwrap();
    while app.store.webhook_streams(hook).await.unwrap()[0].delivered < events as i64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cursor reaches the last event"
        );
        tokio::task::yield_now().await;
    }
    let got = received.got.lock().unwrap().clone();
    let ids: std::collections::BTreeSet<&String> = got.iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), events);
    assert_eq!(got.len(), events, "no event twice");
    assert_eq!(
        received.most_in_flight.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one delivery at a time"
    );
}

on_both_databases!(
    three_deliverers_deliver_a_stream_one_at_a_time,
    super::one_deliverer_at_a_time
);

/// `okta-bridge` with `args` on `db`, `stdin` written to it; its output (it must succeed).
pub(crate) async fn run_cli(db: &TestDb, args: &[&str], stdin: &str) -> String {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args(args)
        .args(["--database-url", &db.url, "--dev-allow-private-orgs"])
        .env("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes())
        .await
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `serve` process stopped dead after a receiver took an event and before its cursor moved:
/// the next instance delivers that event again (the receiver dedupes it by id) and then the
/// rest, in order; nothing is lost.
#[tokio::test]
async fn a_delivering_process_stopped_dead_loses_nothing() {
    let db = TestDb::sqlite();
    let sandbox = okta_sandbox::Sandbox::spawn(okta_sandbox::SandboxConfig {
        users: 15,
        groups: 2,
        apps: 1,
        ..okta_sandbox::SandboxConfig::default()
    })
    .await
    .unwrap();
    let (url, received) = receiver(0, std::time::Duration::ZERO).await;
    run_cli(&db, &["webhooks", "create", &url], "").await;
    run_cli(&db, &["accounts", "add", "killed", "--org-url", sandbox.url()], "").await;
    run_cli(
        &db,
        &["accounts", "connect", "killed", "--api-token-stdin"],
        sandbox.config().api_token_value(),
    )
    .await;
    let line = run_cli(&db, &["sync", "killed"], "").await;
    let events: usize = line
        .split("): ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(events > 20, "{line}");

    let env = |failpoints: &str| -> Vec<(&'static str, String)> {
        vec![
            ("OKTA_BRIDGE_DATABASE_URL", db.url.clone()),
            ("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.to_string()),
            ("OKTA_BRIDGE_ADMIN_TOKEN", "killed-delivery-admin".to_owned()),
            ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0".to_owned()),
            ("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true".to_owned()),
            ("OKTA_BRIDGE_FAILPOINTS", failpoints.to_owned()),
        ]
    };
    let first = env("webhook.before_record@5");
    let first: Vec<(&str, &str)> = first.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut child, _) = crate::util::spawn_server_process(&first).await;
    let status = child.wait().await.unwrap();
    assert_eq!(
        status.code(),
        Some(okta_bridge::failpoint::EXIT_STATUS),
        "stopped at the 5th delivery"
    );
    assert_eq!(received.got.lock().unwrap().len(), 5);

    // Its lease runs out within a minute; a new instance takes the stream then.
    crate::util::break_stream_leases(&db).await;
    let second = env("");
    let second: Vec<(&str, &str)> = second.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_server, _) = crate::util::spawn_server_process(&second).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let arrived = received.arrived.notified();
        if received.got.lock().unwrap().len() > events {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, arrived).await.is_ok(),
            "every event is delivered after the stop"
        );
    }
    let got = received.got.lock().unwrap().clone();
    let ids: Vec<&String> = got.iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids[4], ids[5], "the event taken before the stop is delivered again");
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), events, "every event, once after deduping: {ids:?}");
    let cursors: Vec<i64> = distinct
        .iter()
        .map(|id| id.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] + 1 == w[1]), "in order: {cursors:?}");
}

/// A receiver that accepts connections and never answers; how many it accepted.
async fn dead_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted)
}

/// Issue 26 (isolation, first part): five endpoints that accept and never answer and a slow one
/// (3 s an answer), beside a healthy one, subscribed to the same connection. Each stream is
/// delivered by a task of its own, so the healthy endpoint gets every event while the dead
/// ones' first requests are still hanging and the slow one is still at its first events
/// (delivered one stream after the other, it would wait a 10-s timeout per dead one and 3 s
/// per event of the slow one).
async fn dead_receivers_do_not_hold_up_a_healthy_one(db: TestDb) {
    let app = app_with_org(&db, 8, 2).await;
    let mut dead = Vec::new();
    for _ in 0..5 {
        let (url, accepted) = dead_receiver().await;
        let (status, made) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
        assert_eq!(status, 201, "{made}");
        dead.push((made["id"].as_str().unwrap().to_owned(), accepted));
    }
    let (url, slow) = receiver(0, std::time::Duration::from_secs(3)).await;
    let (status, made) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
    assert_eq!(status, 201, "{made}");
    let (url, healthy) = receiver(0, std::time::Duration::ZERO).await;
    let (status, made) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
    assert_eq!(status, 201, "{made}");
    let (events, summary) = connect_and_sync(&app, "busy").await;
    assert!(events > 8, "{summary}");
    // The connection's feed began with a stream to each endpoint, written with it (the worker's
    // sweep for missed ones runs every 10 s).
    let healthy_id = made["id"].as_str().unwrap();
    let streams = app.store.webhook_streams(healthy_id).await.unwrap();
    assert_eq!(streams.len(), 1, "{streams:?}");

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let arrived = healthy.arrived.notified();
        if healthy.got.lock().unwrap().len() >= events {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, arrived).await.is_ok(),
            "{} of {events} events delivered",
            healthy.got.lock().unwrap().len()
        );
    }
    let slow_got = slow.got.lock().unwrap().len();
    assert!(
        slow_got + 3 < events,
        "the slow endpoint is still at its first events ({slow_got} of {events})"
    );
    // Every dead endpoint was tried, and none of those tries has ended yet (each waits out the
    // 10-s timeout): the healthy endpoint did not wait for any of them.
    for (id, accepted) in &dead {
        assert!(
            accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1,
            "{id} was tried alongside"
        );
        let (status, log) = api(&app, Method::GET, &format!("/api/webhooks/{id}/deliveries"), None).await;
        assert_eq!(status, 200, "{log}");
        assert_eq!(
            log["attempts"].as_array().map_or(0, Vec::len),
            0,
            "no attempt at {id} has ended yet: {log}"
        );
    }
    // /metrics says so: six streams running (the dead ones and the slow one) out of 128, one
    // done, six still due, the oldest waiting since the sync wrote its events.
    let metrics = crate::util::api_get(&app, "/metrics").await.text().await.unwrap();
    let value = |line: &str| -> i64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .unwrap_or_else(|| panic!("{line} in {metrics}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(value("okta_bridge_work_running{kind=\"webhook_stream\"}"), 6);
    assert_eq!(value("okta_bridge_work_limit{kind=\"webhook_stream\"}"), 128);
    assert!(value("okta_bridge_work_items_total{kind=\"webhook_stream\",outcome=\"done\"}") >= 1);
    assert_eq!(value("okta_bridge_work_due{kind=\"webhook_stream\"}"), 6);
    let lag = value("okta_bridge_work_lag_seconds{kind=\"webhook_stream\"}");
    assert!(
        (0..60).contains(&lag),
        "waited since the sync wrote the events: {lag} s"
    );
}
on_both_databases!(
    dead_receivers_do_not_hold_up_a_healthy_one,
    super::dead_receivers_do_not_hold_up_a_healthy_one
);

/// What a receiver that fails until it is told otherwise saw: each request's time (unix
/// seconds) and whether it was answered 2xx, and the event ids it took.
#[derive(Clone, Default)]
struct Flaky {
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    requests: std::sync::Arc<std::sync::Mutex<Vec<(i64, bool)>>>,
    taken: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    pub(crate) arrived: std::sync::Arc<tokio::sync::Notify>,
}

async fn flaky_receiver() -> (String, Flaky) {
    use axum::http::{HeaderMap, StatusCode};
    let state = Flaky::default();
    let handler = |axum::extract::State(f): axum::extract::State<Flaky>, headers: HeaderMap| async move {
        let ok = f.healthy.load(std::sync::atomic::Ordering::SeqCst);
        f.requests.lock().unwrap().push((okta_bridge::model::now(), ok));
        if ok {
            let id = headers
                .get("okta-bridge-event-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            f.taken.lock().unwrap().insert(id);
        }
        f.arrived.notify_waiters();
        if ok {
            (StatusCode::OK, "ok")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "down")
        }
    };
    let url = serve_receiver(
        axum::Router::new()
            .route("/hook", axum::routing::post(handler))
            .with_state(state.clone()),
    )
    .await;
    (url, state)
}

/// Issue 26 (one circuit per endpoint): an endpoint that keeps failing, subscribed to ten
/// connections. After five failures in a row its circuit opens: none of its ten streams is
/// tried until one probe may go (each would otherwise retry on its own schedule), `/metrics`
/// and its delivery log say so; the probe finds it healthy again, the circuit closes, and
/// every stream delivers everything.
async fn a_failing_endpoint_backs_off_as_a_whole(db: TestDb) {
    let app = app_with_org(&db, 3, 1).await;
    let (url, flaky) = flaky_receiver().await;
    let (status, made) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    let mut expected = 0;
    for i in 0..10 {
        expected += connect_and_sync(&app, &format!("tenant{i}")).await.0;
    }

    // The circuit opens.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let open_until = loop {
        let (_, log) = api(&app, Method::GET, &format!("/api/webhooks/{id}/deliveries"), None).await;
        if log["circuit"]["open"] == true {
            let until = log["circuit"]["openUntil"].as_str().unwrap().to_owned();
            break time::OffsetDateTime::parse(&until, &time::format_description::well_known::Rfc3339)
                .unwrap()
                .unix_timestamp();
        }
        assert!(tokio::time::Instant::now() < deadline, "the circuit opens: {log}");
        let arrived = flaky.arrived.notified();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), arrived).await;
    };
    let metrics = crate::util::api_get(&app, "/metrics").await.text().await.unwrap();
    assert!(metrics.contains("okta_bridge_webhook_circuits_open 1\n"), "{metrics}");
    flaky.healthy.store(true, std::sync::atomic::Ordering::SeqCst);

    // Every event arrives, once the probe found the endpoint healthy.
    loop {
        let arrived = flaky.arrived.notified();
        if flaky.taken.lock().unwrap().len() >= expected {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, arrived).await.is_ok(),
            "{} of {expected} events delivered",
            flaky.taken.lock().unwrap().len()
        );
    }
    // While the circuit was open, nothing was tried (what was in flight when it opened — at
    // most four streams of an endpoint at once — may land in the second after): the five
    // failures that opened it and those in flight, instead of ten streams each retrying on its
    // own.
    let requests = flaky.requests.lock().unwrap().clone();
    let failed = requests.iter().filter(|(_, ok)| !ok).count();
    assert!(failed <= 5 + 4, "{failed} failed attempts: {requests:?}");
    let opened_at = open_until - 5;
    assert!(
        requests.iter().all(|(t, _)| *t <= opened_at + 1 || *t >= open_until),
        "no attempt while it was open ({opened_at}..{open_until}): {requests:?}"
    );
    let (_, log) = api(&app, Method::GET, &format!("/api/webhooks/{id}/deliveries"), None).await;
    assert_eq!(log["circuit"]["open"], false, "closed again: {log}");
}
on_both_databases!(
    a_failing_endpoint_backs_off_as_a_whole,
    super::a_failing_endpoint_backs_off_as_a_whole
);
