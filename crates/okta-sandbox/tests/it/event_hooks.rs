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
