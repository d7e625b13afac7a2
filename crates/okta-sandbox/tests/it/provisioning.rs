//! The org as Okta's SCIM provisioning client: its app APIs refuse what Okta refuses, and it
//! pushes to a SCIM endpoint as Okta does — the `userName eq` check, then the create, a 429
//! retried after its `Retry-After`, each push in the System Log.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::util::{http, sandbox, ssws};

/// A SCIM endpoint on 127.0.0.1 that answers its first `POST /Users` 429 (`Retry-After: 1`)
/// and the next ones 201; every request it got (method, path).
async fn scim_endpoint() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen = seen.clone();
        async move {
            use axum::response::IntoResponse;
            let method = req.method().to_string();
            let path = req.uri().to_string();
            let posts = {
                let mut g = seen.lock().unwrap();
                g.push((method.clone(), path.clone()));
                g.iter().filter(|(m, _)| m == "POST").count()
            };
            match (method.as_str(), posts) {
                ("GET", _) => axum::Json(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "Resources": [] })).into_response(),
                ("POST", 1) => (axum::http::StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response(),
                _ => (axum::http::StatusCode::CREATED, axum::Json(json!({ "id": "u-1" }))).into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

async fn call(sb: &okta_sandbox::Sandbox, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let res = http()
        .request(method, format!("{}{path}", sb.url()))
        .header("authorization", ssws(sb))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_scim_app_is_pushed_to_as_okta_does_and_a_429_is_retried() {
    use reqwest::Method;
    let sb = sandbox(|_| {}).await;
    let (scim, got) = scim_endpoint().await;
    let (status, app) = call(
        &sb,
        Method::POST,
        "/api/v1/apps",
        json!({ "label": "vendor", "signOnMode": "BOOKMARK" }),
    )
    .await;
    assert_eq!(status, 200, "{app}");
    let id = app["id"].as_str().unwrap().to_owned();
    // What Okta refuses: a feature before a connection, a connection without a token, another
    // kind of app, Group Push of a group that is not the org's.
    let (status, _) = call(
        &sb,
        Method::PUT,
        &format!("/api/v1/apps/{id}/features/USER_PROVISIONING"),
        json!({}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{id}/connections/default"),
        json!({ "baseUrl": scim, "profile": { "authScheme": "TOKEN" } }),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(
        &sb,
        Method::POST,
        "/api/v1/apps",
        json!({ "label": "x", "signOnMode": "SAML_2_0" }),
    )
    .await;
    assert_eq!(status, 400);
    // Activating tests the credentials as "Test API Credentials" does: a server that does not
    // answer is refused with what happened, and nothing is saved.
    let (status, refused) = call(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{id}/connections/default?activate=true"),
        json!({ "baseUrl": "http://127.0.0.1:1/scim/v2", "profile": { "authScheme": "TOKEN", "token": "t0ken" } }),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("/Users?startIndex=1&count=2 was answered 0"),
        "{refused}"
    );
    let (status, _) = call(
        &sb,
        Method::GET,
        &format!("/api/v1/apps/{id}/connections/default"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "a refused connection is not saved");
    let (status, _) = call(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{id}/connections/default"),
        json!({ "baseUrl": scim, "profile": { "authScheme": "TOKEN", "token": "t0ken" } }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{id}/group-push/mappings"),
        json!({ "sourceGroupId": "00gnope" }),
    )
    .await;
    assert_eq!(status, 400);
    let on = json!({ "status": "ENABLED" });
    let (status, feature) = call(
        &sb,
        Method::PUT,
        &format!("/api/v1/apps/{id}/features/USER_PROVISIONING"),
        json!({ "capabilities": { "create": { "lifecycleCreate": on } } }),
    )
    .await;
    assert_eq!(
        (
            status,
            feature["capabilities"]["create"]["lifecycleCreate"]["status"].clone()
        ),
        (200, json!("ENABLED")),
        "{feature}"
    );
    let uid = sb.state().listed_user_ids()[3].clone();
    let (status, _) = call(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{id}/users"),
        json!({ "id": uid, "scope": "USER" }),
    )
    .await;
    assert_eq!(status, 200);
    sb.state().provisioning_settled().await;
    let requests = got.lock().unwrap().clone();
    let methods: Vec<&str> = requests.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "POST"], "{requests:?}");
    assert!(requests[0].1.contains("filter=userName+eq+"), "{requests:?}");
    let report = sb.state().provisioning_report();
    assert_eq!(
        (report["pushed"].clone(), report["retried"].clone()),
        (json!(1), json!(1)),
        "{report}"
    );
    assert_eq!(report["apps"][&id]["users"][&uid]["id"], "u-1");
    let log: Vec<Value> = http()
        .get(format!("{}/api/v1/logs?limit=200", sb.url()))
        .header("authorization", ssws(&sb))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|e| e["eventType"] == "application.provision.user.push" && e["outcome"]["result"] == "SUCCESS")
    );
}
