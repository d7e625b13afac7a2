//! Fault injection and the `/__sandbox/` control endpoint.

use reqwest::Method;
use serde_json::{Value, json};

use crate::spec::MANAGEMENT;
use crate::util::{api, http, sandbox, send, ssws};

async fn set_faults(sb: &okta_sandbox::Sandbox, rules: Value) -> reqwest::Response {
    send(sb, Method::PUT, "/__sandbox/faults", Some(rules)).await
}

#[tokio::test]
async fn injected_errors_and_429s_look_like_okta() {
    let sb = sandbox(|_| {}).await;
    assert_eq!(
        set_faults(&sb, json!([{ "route": "/api/v1/users", "errors": 1.0 }]))
            .await
            .status(),
        200
    );
    let res = api(&sb, "/api/v1/users", &ssws(&sb)).await;
    assert!([500, 503].contains(&res.status().as_u16()));
    let body: Value = res.json().await.unwrap();
    MANAGEMENT.assert_valid("Error", &body);
    assert_eq!(body["errorCode"], "E0000009");
    assert_eq!(
        api(&sb, "/api/v1/groups", &ssws(&sb)).await.status(),
        200,
        "other routes are untouched"
    );

    set_faults(&sb, json!([{ "route": "*", "rateLimits": 1.0 }])).await;
    let res = api(&sb, "/api/v1/groups", &ssws(&sb)).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["x-rate-limit-remaining"], "0");
    let reset: i64 = res.headers()["x-rate-limit-reset"].to_str().unwrap().parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now..=now + 2).contains(&reset),
        "come back in a second: {reset} vs {now}"
    );
    assert_eq!(res.json::<Value>().await.unwrap()["errorCode"], "E0000047");

    // The control endpoint is never subject to faults.
    assert_eq!(send(&sb, Method::DELETE, "/__sandbox/faults", None).await.status(), 204);
    assert_eq!(api(&sb, "/api/v1/groups", &ssws(&sb)).await.status(), 200);
}

#[tokio::test]
async fn cut_connections_end_mid_body() {
    let sb = sandbox(|c| c.faults = vec!["/api/v1/users:cuts=1".parse().unwrap()]).await;
    let res = api(&sb, "/api/v1/users", &ssws(&sb)).await;
    assert_eq!(res.status(), 200, "the head arrives");
    assert!(res.bytes().await.is_err(), "the body does not");
}

#[tokio::test]
async fn control_endpoint_needs_the_api_token_and_counts() {
    let sb = sandbox(|_| {}).await;
    let anonymous = http()
        .get(format!("http://{}/__sandbox/counters", sb.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let bad = set_faults(&sb, json!([{ "route": "/x", "errors": 3 }])).await;
    assert_eq!(bad.status(), 400);
    let unknown = set_faults(&sb, json!([{ "route": "/x", "explode": true }])).await;
    assert_eq!(unknown.status(), 400);

    for _ in 0..3 {
        api(&sb, "/api/v1/users?limit=1", &ssws(&sb)).await;
    }
    api(&sb, "/api/v1/users/admin@example.com", &ssws(&sb)).await;
    crate::util::tokens_for(&sb, &sb.config().admin_login, "okta.users.read").await;
    let counters: Value = send(&sb, Method::GET, "/__sandbox/counters", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(counters["requests"]["GET /api/v1/users"], 3);
    assert_eq!(counters["requests"]["GET /api/v1/users/{id}"], 1);
    assert_eq!(counters["requests"]["POST /oauth2/v1/token"], 1);
    assert_eq!(counters["tokenGrants"][&sb.config().client_id], 1);
}
