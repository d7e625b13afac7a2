//! Event hooks as Okta's Event Hooks API registers them, verified against a real receiver on
//! loopback with Okta's one-time verification request.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{Value, json};

use crate::spec::MANAGEMENT;
use crate::util::{sandbox, send};

/// How the test receiver answers verification requests.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Echo the challenge, as a hook should.
    Echo,
    /// Answer 500 once, then echo.
    FailOnce,
    /// Answer 200 with the wrong body.
    Wrong,
}

#[derive(Default)]
struct Seen {
    requests: Vec<HeaderMap>,
}

/// A receiver on 127.0.0.1:0; its URL and what it saw.
async fn receiver(mode: Mode) -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::get(
                |State((mode, seen)): State<(Mode, Arc<Mutex<Seen>>)>, headers: HeaderMap| async move {
                    let n = {
                        let mut s = seen.lock().unwrap();
                        s.requests.push(headers.clone());
                        s.requests.len()
                    };
                    let challenge = headers
                        .get("x-okta-verification-challenge")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let answer: Response = match mode {
                        Mode::FailOnce if n == 1 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                        Mode::Wrong => axum::Json(json!({ "verification": "not-it" })).into_response(),
                        _ => axum::Json(json!({ "verification": challenge })).into_response(),
                    };
                    answer
                },
            ),
        )
        .with_state((mode, seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn hook(uri: &str, events: &[&str]) -> Value {
    json!({
        "name": "Directory changes",
        "events": { "type": "EVENT_TYPE", "items": events },
        "channel": {
            "type": "HTTP",
            "version": "1.0.0",
            "config": {
                "uri": uri,
                "headers": [{ "key": "X-Other-Header", "value": "other-value" }],
                "authScheme": { "type": "HEADER", "key": "Authorization", "value": "hook-secret-123" },
            },
        },
    })
}

async fn call(sb: &okta_sandbox::Sandbox, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let res = send(sb, method, path, body).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Registers a hook for `user.lifecycle.create` calling `uri`; its id.
async fn register(sb: &okta_sandbox::Sandbox, uri: &str) -> String {
    let (status, h) = call(
        sb,
        Method::POST,
        "/api/v1/eventHooks",
        Some(hook(uri, &["user.lifecycle.create"])),
    )
    .await;
    assert_eq!(status, 200, "{h}");
    h["id"].as_str().unwrap().to_owned()
}

/// Asks the org to verify hook `id`.
async fn verify(sb: &okta_sandbox::Sandbox, id: &str) -> (u16, Value) {
    call(
        sb,
        Method::POST,
        &format!("/api/v1/eventHooks/{id}/lifecycle/verify"),
        None,
    )
    .await
}

#[tokio::test]
async fn a_hook_is_registered_verified_and_retired_as_okta_does() {
    let sb = sandbox(|c| c.users = 3).await;
    let (uri, seen) = receiver(Mode::Echo).await;
    let (status, created) = call(
        &sb,
        Method::POST,
        "/api/v1/eventHooks",
        Some(hook(&uri, &["user.lifecycle.create", "group.user_membership.add"])),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    MANAGEMENT.assert_valid("EventHook", &created);
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["verificationStatus"], "UNVERIFIED");
    assert_eq!(created["channel"]["config"]["method"], "POST");
    assert_eq!(created["channel"]["config"]["authScheme"]["key"], "Authorization");
    assert!(
        !created.to_string().contains("hook-secret-123"),
        "the auth value is write-only: {created}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("who"), "{id}");

    let (status, list) = call(&sb, Method::GET, "/api/v1/eventHooks", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, one) = call(&sb, Method::GET, &format!("/api/v1/eventHooks/{id}"), None).await;
    assert_eq!(one["id"], id.as_str());

    // Verification: a GET with the challenge, the auth header and the extra headers.
    let (status, verified) = verify(&sb, &id).await;
    assert_eq!(status, 200, "{verified}");
    MANAGEMENT.assert_valid("EventHook", &verified);
    assert_eq!(verified["verificationStatus"], "VERIFIED");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.requests.len(), 1);
        let h = &seen.requests[0];
        assert!(h.contains_key("x-okta-verification-challenge"));
        assert_eq!(h["authorization"], "hook-secret-123");
        assert_eq!(h["x-other-header"], "other-value");
    }

    // A new channel must be verified again; the same one stays verified.
    let (status, replaced) = call(
        &sb,
        Method::PUT,
        &format!("/api/v1/eventHooks/{id}"),
        Some(hook(&format!("{uri}?v=2"), &["user.lifecycle.create"])),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["verificationStatus"], "UNVERIFIED");
    assert_eq!(replaced["events"]["items"], json!(["user.lifecycle.create"]));

    // Only an inactive hook can be deleted.
    let path = format!("/api/v1/eventHooks/{id}");
    let (status, err) = call(&sb, Method::DELETE, &path, None).await;
    assert_eq!(status, 403, "{err}");
    MANAGEMENT.assert_valid("Error", &err);
    let (status, inactive) = call(&sb, Method::POST, &format!("{path}/lifecycle/deactivate"), None).await;
    assert_eq!(status, 200);
    assert_eq!(inactive["status"], "INACTIVE");
    assert!(inactive["_links"]["activate"].is_object(), "{inactive}");
    assert_eq!(send(&sb, Method::DELETE, &path, None).await.status(), 204);
    let (status, err) = call(&sb, Method::GET, &path, None).await;
    assert_eq!(status, 404);
    assert_eq!(err["errorCode"], "E0000007");
}

#[tokio::test]
async fn verification_retries_once_and_fails_clearly() {
    let sb = sandbox(|c| c.users = 3).await;
    // One 500, then the right answer: one retry makes it.
    let (uri, seen) = receiver(Mode::FailOnce).await;
    let id = register(&sb, &uri).await;
    let (status, verified) = verify(&sb, &id).await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["verificationStatus"], "VERIFIED");
    assert_eq!(seen.lock().unwrap().requests.len(), 2, "one retry");

    // The wrong answer: 400 with Okta's error, and the hook stays unverified.
    let (uri, _) = receiver(Mode::Wrong).await;
    let id = register(&sb, &uri).await;
    let (status, err) = verify(&sb, &id).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["errorCode"], "E0000001");
    assert!(err.to_string().contains("Verification failed"), "{err}");
    MANAGEMENT.assert_valid("Error", &err);
    let (_, h) = call(&sb, Method::GET, &format!("/api/v1/eventHooks/{id}"), None).await;
    assert_eq!(h["verificationStatus"], "UNVERIFIED");

    // Nobody listening: refused as unreachable, after the retry.
    let id = register(&sb, "http://127.0.0.1:9/hook").await;
    let (status, err) = verify(&sb, &id).await;
    assert_eq!(status, 400);
    assert!(err.to_string().contains("could not be reached"), "{err}");
}

#[tokio::test]
async fn hooks_are_checked_as_okta_checks_them() {
    let sb = sandbox(|c| c.users = 3).await;
    for (body, says) in [
        (
            hook("https://hooks.example.com/x", &["user.password.reset"]),
            "not an event type eligible",
        ),
        (hook("http://hooks.example.com/x", &["user.lifecycle.create"]), "HTTPS"),
        (hook("not a url", &["user.lifecycle.create"]), "not a URL"),
        (hook("https://hooks.example.com/x", &[]), "one event type"),
        (json!({ "name": "x" }), "EVENT_TYPE"),
    ] {
        let (status, err) = call(&sb, Method::POST, "/api/v1/eventHooks", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["errorCode"], "E0000001", "{err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
        MANAGEMENT.assert_valid("Error", &err);
    }
    let (status, _) = call(&sb, Method::GET, "/api/v1/eventHooks/whoNotThere", None).await;
    assert_eq!(status, 404);
    let (status, list) = call(&sb, Method::GET, "/api/v1/eventHooks", None).await;
    assert_eq!((status, list), (200, json!([])), "nothing was registered");
}

/// How the delivery receiver answers the org's `POST`s.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Post {
    Ok,
    /// 500 to the first call, 200 after.
    FailOnce,
    /// Longer than Okta's 3-s timeout.
    Slow,
}

/// A receiver that verifies (echoes the challenge) and takes deliveries as `post` says; every
/// delivery it took (headers and body) comes out of the channel.
async fn delivery_receiver(post: Post) -> (String, tokio::sync::mpsc::UnboundedReceiver<(HeaderMap, Value)>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::get(|headers: HeaderMap| async move {
            let challenge = headers
                .get("x-okta-verification-challenge")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            axum::Json(json!({ "verification": challenge }))
        })
        .post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
            let (tx, calls) = (tx.clone(), calls.clone());
            async move {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                match post {
                    Post::FailOnce if n == 0 => return StatusCode::INTERNAL_SERVER_ERROR,
                    // A slow service (the sandbox gives up after 3 s).
                    Post::Slow => tokio::time::sleep(std::time::Duration::from_secs(4)).await,
                    _ => {}
                }
                let _ = tx.send((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// Creates a user `login` through the API.
async fn create_user(sb: &okta_sandbox::Sandbox, login: &str) {
    let body = json!({ "profile": { "firstName": "H", "lastName": "K", "email": login, "login": login } });
    assert_eq!(
        send(sb, Method::POST, "/api/v1/users?activate=false", Some(body))
            .await
            .status(),
        200
    );
}

async fn next_delivery(rx: &mut tokio::sync::mpsc::UnboundedReceiver<(HeaderMap, Value)>) -> (HeaderMap, Value) {
    tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
        .await
        .expect("a delivery within 20 s")
        .expect("the receiver runs")
}

/// Every delivery attempt the sandbox made so far.
async fn deliveries(sb: &okta_sandbox::Sandbox) -> Vec<Value> {
    send(sb, Method::GET, "/__sandbox/event-hooks/deliveries", None)
        .await
        .json()
        .await
        .unwrap()
}

/// The delivery attempts once `n` are recorded (an attempt is recorded when the hook's answer
/// has come back, a moment after the receiver saw the call).
async fn attempts_once(sb: &okta_sandbox::Sandbox, n: usize) -> Vec<Value> {
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(20));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        poll.tick().await;
        let all = deliveries(sb).await;
        if all.len() >= n {
            return all;
        }
        assert!(std::time::Instant::now() < deadline, "{n} attempts recorded: {all:?}");
    }
}

#[tokio::test]
async fn changes_are_delivered_with_oktas_body_and_the_hooks_headers() {
    let sb = sandbox(|c| c.users = 3).await;
    let (uri, mut rx) = delivery_receiver(Post::Ok).await;
    let (_, h) = call(
        &sb,
        Method::POST,
        "/api/v1/eventHooks",
        Some(hook(&uri, &["user.lifecycle.create", "group.user_membership.add"])),
    )
    .await;
    let id = h["id"].as_str().unwrap().to_owned();
    // Unverified hooks receive nothing; verified ones do.
    assert_eq!(verify(&sb, &id).await.0, 200);

    create_user(&sb, "hooked@example.com").await;
    let (headers, body) = next_delivery(&mut rx).await;
    assert_eq!(headers["authorization"], "hook-secret-123");
    assert_eq!(headers["x-other-header"], "other-value");
    assert_eq!(body["eventType"], "com.okta.event_hook");
    assert_eq!(body["eventTypeVersion"], "1.0");
    assert_eq!(body["cloudEventsVersion"], "0.1");
    assert_eq!(body["contentType"], "application/json");
    assert!(
        body["source"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v1/eventHooks/{id}"))
    );
    assert!(body["eventId"].is_string() && body["eventTime"].is_string(), "{body}");
    let event = &body["data"]["events"][0];
    assert_eq!(event["eventType"], "user.lifecycle.create");
    assert_eq!(event["target"][0]["alternateId"], "hooked@example.com");
    MANAGEMENT.assert_valid("LogEvent", event);
    let logged: Vec<Value> = sb.state().events();
    assert!(
        logged.iter().any(|e| e["uuid"] == event["uuid"]),
        "the System Log's own event"
    );

    // A membership change too.
    let groups: Vec<Value> = send(&sb, Method::GET, "/api/v1/groups?q=Sales", None)
        .await
        .json()
        .await
        .unwrap();
    let gid = groups[0]["id"].as_str().unwrap();
    let user: Value = send(&sb, Method::GET, "/api/v1/users/hooked@example.com", None)
        .await
        .json()
        .await
        .unwrap();
    let uid = user["id"].as_str().unwrap();
    assert_eq!(
        send(&sb, Method::PUT, &format!("/api/v1/groups/{gid}/users/{uid}"), None)
            .await
            .status(),
        204
    );
    let (_, body) = next_delivery(&mut rx).await;
    assert_eq!(body["data"]["events"][0]["eventType"], "group.user_membership.add");
    let attempts = attempts_once(&sb, 2).await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|d| d["outcome"] == "delivered" && d["attempt"] == 1)
    );
}

#[tokio::test]
async fn a_failed_delivery_is_retried_once_and_a_slow_hook_is_recorded_as_failed() {
    let sb = sandbox(|c| c.users = 3).await;
    // 500 once: the retry delivers it.
    let (uri, mut rx) = delivery_receiver(Post::FailOnce).await;
    let id = register(&sb, &uri).await;
    assert_eq!(verify(&sb, &id).await.0, 200);
    create_user(&sb, "retried@example.com").await;
    let (_, body) = next_delivery(&mut rx).await;
    assert_eq!(
        body["data"]["events"][0]["target"][0]["alternateId"],
        "retried@example.com"
    );
    let attempts = attempts_once(&sb, 2).await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        (attempts[0]["attempt"].as_u64(), attempts[0]["status"].as_u64()),
        (Some(1), Some(500))
    );
    assert_eq!(attempts[0]["outcome"], "failed");
    assert_eq!(
        (attempts[1]["attempt"].as_u64(), attempts[1]["outcome"].as_str()),
        (Some(2), Some("delivered"))
    );
    assert_eq!(attempts[0]["eventId"], attempts[1]["eventId"], "the same call, retried");
    // Deactivated: no more deliveries to it.
    call(
        &sb,
        Method::POST,
        &format!("/api/v1/eventHooks/{id}/lifecycle/deactivate"),
        None,
    )
    .await;

    // Slower than 3 s, twice: recorded as failed, and in the System Log.
    let (slow, _rx) = delivery_receiver(Post::Slow).await;
    let slow_id = register(&sb, &slow).await;
    assert_eq!(verify(&sb, &slow_id).await.0, 200);
    create_user(&sb, "slow@example.com").await;
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(100));
    let started = std::time::Instant::now();
    let failure = loop {
        poll.tick().await;
        let logged = sb.state().events();
        if let Some(e) = logged.iter().find(|e| e["eventType"] == "event_hook.delivery") {
            break e.clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no failed delivery recorded"
        );
    };
    assert_eq!(failure["outcome"]["result"], "FAILURE");
    assert_eq!(failure["target"][0]["id"], slow_id.as_str());
    let attempts: Vec<Value> = deliveries(&sb)
        .await
        .into_iter()
        .filter(|d| d["hookId"] == slow_id.as_str())
        .collect();
    assert_eq!(attempts.len(), 2, "one retry after the timeout: {attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|d| d["outcome"] == "failed" && d["status"].is_null())
    );
    assert!(attempts[0]["error"].as_str().unwrap().contains("3 seconds"));
    // The deactivated hook got nothing of the later change.
    assert!(
        deliveries(&sb)
            .await
            .iter()
            .filter(|d| d["hookId"] == id.as_str())
            .count()
            == 2,
        "nothing more for the inactive hook"
    );
}

#[tokio::test]
async fn the_duplicate_fault_delivers_twice() {
    let sb = sandbox(|c| c.users = 3).await;
    let (uri, mut rx) = delivery_receiver(Post::Ok).await;
    let id = register(&sb, &uri).await;
    assert_eq!(verify(&sb, &id).await.0, 200);
    let res = send(
        &sb,
        Method::PUT,
        "/__sandbox/event-hooks/faults",
        Some(json!({ "duplicate": true })),
    )
    .await;
    assert_eq!(res.status(), 200);
    create_user(&sb, "twice@example.com").await;
    let (_, first) = next_delivery(&mut rx).await;
    let (_, second) = next_delivery(&mut rx).await;
    assert_eq!(first["data"]["events"][0]["uuid"], second["data"]["events"][0]["uuid"]);
    assert_ne!(first["eventId"], second["eventId"], "two calls");
    let res = send(
        &sb,
        Method::PUT,
        "/__sandbox/event-hooks/faults",
        Some(json!({ "often": 1 })),
    )
    .await;
    assert_eq!(res.status(), 400, "unknown fault settings are refused");
}

#[tokio::test]
async fn hooks_receive_the_churns_changes() {
    let sb = sandbox(|c| {
        c.users = 120;
        c.groups = 10;
        c.apps = 2;
    })
    .await;
    let (uri, mut rx) = delivery_receiver(Post::Ok).await;
    let types = [
        "user.lifecycle.create",
        "user.lifecycle.deactivate",
        "user.account.update_profile",
        "group.user_membership.add",
        "group.user_membership.remove",
        "application.user_membership.add",
    ];
    let (_, h) = call(&sb, Method::POST, "/api/v1/eventHooks", Some(hook(&uri, &types))).await;
    let id = h["id"].as_str().unwrap().to_owned();
    assert_eq!(verify(&sb, &id).await.0, 200);

    let res = send(
        &sb,
        Method::POST,
        "/__sandbox/churn/step",
        Some(json!({ "changes": 60 })),
    )
    .await;
    let changes: Value = res.json().await.unwrap();
    let mut expected: std::collections::HashSet<String> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["events"].as_array().unwrap().clone())
        .filter(|e| types.contains(&e["eventType"].as_str().unwrap()))
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert!(expected.len() > 20, "the churn made changes the hook asked for");
    while !expected.is_empty() {
        let (headers, body) = next_delivery(&mut rx).await;
        assert_eq!(headers["authorization"], "hook-secret-123");
        for e in body["data"]["events"].as_array().unwrap() {
            assert!(types.contains(&e["eventType"].as_str().unwrap()), "{e}");
            expected.remove(e["uuid"].as_str().unwrap());
        }
    }
}
