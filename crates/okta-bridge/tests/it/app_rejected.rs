//! An app Okta refuses (`invalid_client`: a rotated client secret, a removed app) is not
//! retried as if Okta were down: one token request, the connection marked `app_rejected`
//! (distinct from `needs_reauth`), shown in the API, the page and metrics, and cleared when the
//! account gets its app's current credentials.

use okta_bridge::model::{AccountName, ConnectionStatus, Expiry, TokenSet};
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::util::{AppOptions, Browser, TestApp, TestDb, api, sign_in_to_org, spawn_app};

/// Requests the sandbox's token endpoint has answered.
async fn token_requests(app: &TestApp) -> u64 {
    let counters: Value = reqwest::Client::new()
        .get(format!("{}/__sandbox/counters", app.sandbox.url()))
        .header(
            "authorization",
            format!("SSWS {}", app.sandbox.config().api_token_value()),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    counters["requests"]["POST /oauth2/v1/token"].as_u64().unwrap_or(0)
}

fn account(app: &TestApp, secret: &str) -> Value {
    json!({
        "name": "acme",
        "orgUrl": app.sandbox.url(),
        "clientId": app.sandbox.config().client_id,
        "clientSecret": secret,
    })
}

async fn a_rejected_app(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let right = app.sandbox.config().client_secret_value().to_owned();
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(account(&app, &right)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut browser = Browser::signed_in(&app).await;
    let res = browser.start_connect(&app.url, Some("acme")).await;
    let res = sign_in_to_org(&mut browser, res, &app.sandbox).await;
    assert_eq!(res.url().path(), "/", "{:?}", browser.hops);

    // The app's secret was rotated at Okta: the account holds one Okta no longer accepts, and
    // the access token is due.
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts?replace=true",
        Some(account(&app, "a-rotated-out-secret")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let acme = AccountName::parse("acme").unwrap();
    let conn = app.store.connection(&acme).await.unwrap().unwrap();
    let due = TokenSet {
        access_token: conn.access_token.clone(),
        refresh_token: conn.refresh_token.clone(),
        expires_at: Expiry::At(0),
    };
    assert!(app.store.update_tokens(&acme, conn.version, &due).await.unwrap());

    let before = token_requests(&app).await;
    let (status, body) = api(&app, reqwest::Method::GET, "/api/connections/acme/users?limit=1", None).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (409, Some("app_rejected")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("invalid_client") && message.contains("accounts add acme --replace"),
        "says what Okta said and what to do: {message}"
    );
    assert!(!message.contains("a-rotated-out-secret"), "never the secret");
    assert_eq!(token_requests(&app).await - before, 1, "one token request, not retried");

    // The status is the connection's, distinct from needs_reauth, in the store, the API, the
    // page and the metrics; it does not try again while the credentials are the same.
    let conn = app.store.connection(&acme).await.unwrap().unwrap();
    assert!(
        matches!(&conn.status, ConnectionStatus::AppRejected(r) if r.contains("invalid_client")),
        "{:?}",
        conn.status
    );
    let (_, body) = api(&app, reqwest::Method::GET, "/api/accounts/acme", None).await;
    assert_eq!(body["status"], "app_rejected", "{body}");
    assert!(
        body["statusReason"].as_str().unwrap().contains("invalid_client"),
        "{body}"
    );
    let (_, list) = api(&app, reqwest::Method::GET, "/api/connections", None).await;
    assert_eq!(list[0]["status"], "app_rejected", "{list}");
    let page = browser.visit(&format!("{}/", app.url)).await.text().await.unwrap();
    assert!(page.contains("Okta rejected the app"), "{page}");
    let (_, metrics) = api(&app, reqwest::Method::GET, "/metrics", None).await;
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(
        metrics.contains("okta_bridge_connections{status=\"app_rejected\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("okta_bridge_refreshes_total{account=\"acme\",outcome=\"app_rejected\"} 1"),
        "{metrics}"
    );
    let (status, _) = api(&app, reqwest::Method::GET, "/api/connections/acme/users?limit=1", None).await;
    assert_eq!(status, 409);
    assert_eq!(
        token_requests(&app).await - before,
        1,
        "no request while nothing changed"
    );

    // The app's current credentials clear it: the next request refreshes and reads.
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts?replace=true",
        Some(account(&app, &right)),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["status"].as_str()),
        (201, Some("connected")),
        "{body}"
    );
    let (status, users) = api(&app, reqwest::Method::GET, "/api/connections/acme/users?limit=1", None).await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(
        token_requests(&app).await - before,
        2,
        "one refresh with the right secret"
    );
}
on_both_databases!(
    an_app_okta_rejects_is_marked_not_retried_and_cleared,
    super::a_rejected_app
);
