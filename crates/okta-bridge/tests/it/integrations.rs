//! API service integrations: the way Okta recommends a vendor read its customers' orgs. The
//! customer's admin installs the integration and Okta shows, once, a client id and secret; the
//! vendor asks for tokens with `client_credentials` and `client_secret_basic`. Here the sandbox
//! registers such an app, okta-bridge keeps its secret sealed and connects through it.

use reqwest::Method;
use serde_json::json;

use crate::flow::on_both_databases;
use crate::util::{AppOptions, TestDb, api, api_get, spawn_app};
use okta_sandbox::{Sandbox, SandboxConfig};

const CLIENT: &str = "0oaIntegration1";
const SECRET: &str = "integration-secret-7f3a9c1e5b2d4a6f8e0c";

async fn integrations(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let org = Sandbox::spawn(SandboxConfig {
        users: 23,
        seed: 5,
        service_apps: vec![okta_sandbox::ServiceApp {
            client_id: CLIENT.into(),
            jwks: jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
            client_secret: Some(SECRET.to_owned().into()),
            scopes: vec!["okta.users.read".into(), "okta.groups.read".into()],
            require_dpop: false,
        }],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let add = |name: &str, extra: serde_json::Value| {
        let mut body = json!({ "name": name, "orgUrl": org.url(), "kind": "service", "clientId": CLIENT, "scopes": "okta.users.read" });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };

    // A service account needs the secret or a key, not both.
    let (status, body) = api(&app, Method::POST, "/api/accounts", Some(add("integ", json!({})))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("client secret"), "{body}");
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/accounts",
        Some(add(
            "integ",
            json!({ "clientSecret": SECRET, "privateKey": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----" }),
        )),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("not both"), "{body}");

    // A wrong secret: the account is kept, connecting it is refused in plain words.
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/accounts",
        Some(add("integ-wrong", json!({ "clientSecret": "not-the-secret" }))),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api(&app, Method::POST, "/api/accounts/integ-wrong/connect", Some(json!({}))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "credentials_rejected", "{body}");
    assert!(!body.to_string().contains("not-the-secret"), "{body}");

    // The right one: connected as a service app, the org's users readable through it.
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/accounts",
        Some(add("integ", json!({ "clientSecret": SECRET }))),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "service", "{body}");
    assert!(!body.to_string().contains(SECRET), "the secret is never shown: {body}");
    let (status, body) = api(&app, Method::POST, "/api/accounts/integ/connect", Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "service_app", "{body}");
    let res = api_get(&app, "/api/connections/integ/users?limit=200").await;
    assert_eq!(res.status(), 200);
    let users: Vec<serde_json::Value> = res.json().await.unwrap();
    assert_eq!(users.len(), 23);

    // Sealed at rest: the stored secret opens to what was given, and the row does not hold it.
    let stored = app
        .store
        .account(&okta_bridge::model::AccountName::parse("integ").unwrap())
        .await
        .unwrap()
        .unwrap();
    let okta_bridge::model::AppCredentials::Service {
        auth: okta_bridge::model::ServiceAuth::ClientSecret(secret),
        ..
    } = &stored.app
    else {
        panic!("{stored:?}")
    };
    assert_eq!(secrecy::ExposeSecret::expose_secret(secret), SECRET);
    assert!(!format!("{stored:?}").contains(SECRET), "Debug redacts it");
    for file in db.files() {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{} holds the secret in plaintext",
            file.display()
        );
    }
}

on_both_databases!(
    an_api_service_integration_connects_with_its_client_secret,
    super::integrations
);
