//! Disconnecting: tokens revoked at the org first, then forgotten, with an audit record.

use secrecy::ExposeSecret;

use crate::flow::on_both_databases;
use crate::util::{AppOptions, Browser, TestDb, api_get, connect, hidden_value, spawn_app};

/// `DELETE /api/connections/{account}` as the admin.
async fn delete(app: &crate::util::TestApp, account: &okta_bridge::model::AccountName) -> reqwest::Response {
    reqwest::Client::new()
        .delete(format!("{}/api/connections/{account}", app.url))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
}

async fn disconnect_revokes_then_forgets(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    connect(&app, &mut Browser::new()).await;
    let account = okta_bridge::model::AccountName::parse(&format!("127-0-0-1-{}", app.sandbox.addr().port())).unwrap();
    let before = app.store.connection(&account).await.unwrap().unwrap();
    assert_eq!(app.sandbox.state().live_refresh_tokens(), 1);

    // Okta unreachable for revocation: nothing is forgotten, the admin can try again.
    let http = reqwest::Client::new();
    let faults = format!("{}/__sandbox/faults", app.sandbox.url());
    let ssws = format!("SSWS {}", app.sandbox.config().api_token_value());
    let rule = serde_json::json!([{ "route": "/oauth2/v1/revoke", "errors": 1.0, "times": 1 }]);
    http.put(&faults)
        .header("authorization", &ssws)
        .json(&rule)
        .send()
        .await
        .unwrap();
    let res = delete(&app, &account).await;
    assert_eq!(res.status(), 502);
    assert!(app.store.connection(&account).await.unwrap().is_some(), "kept");

    let res = delete(&app, &account).await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked"], serde_json::json!(["refresh_token", "access_token"]));
    assert!(
        app.store.connection(&account).await.unwrap().is_none(),
        "tokens forgotten"
    );
    assert_eq!(
        app.sandbox.state().live_refresh_tokens(),
        0,
        "refresh token revoked at the org"
    );
    let old = http
        .get(format!("{}/api/v1/users?limit=1", app.sandbox.url()))
        .bearer_auth(before.access_token.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401, "access token revoked at the org");
    let audit = app.store.audit(&account).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event, "disconnected");
    assert!(
        audit[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("refresh_token and access_token")
    );
    let res = delete(&app, &account).await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        api_get(&app, &format!("/api/connections/{account}/users"))
            .await
            .status(),
        404
    );
}
on_both_databases!(
    disconnect_revokes_at_the_org_then_forgets,
    super::disconnect_revokes_then_forgets
);

#[tokio::test]
async fn the_page_disconnects_with_its_csrf_token_only() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::signed_in(&app).await;
    connect(&app, &mut browser).await;
    let account = format!("127-0-0-1-{}", app.sandbox.addr().port());
    let url = format!("{}/connections/{account}/disconnect", app.url);
    let res = browser
        .http
        .post(&url)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.store.connections().await.unwrap().len(), 1, "not disconnected");
    let page = browser.read(&format!("{}/connections/{account}", app.url)).await;
    assert!(page.contains("Disconnect"));
    let csrf = hidden_value(&page, "csrf");
    let res = browser
        .http
        .post(&url)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[reqwest::header::LOCATION], "/");
    assert!(app.store.connections().await.unwrap().is_empty());
}
