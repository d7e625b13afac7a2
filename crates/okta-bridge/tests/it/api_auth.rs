//! Everything but the OAuth routes and the health check requires the admin token.

use crate::util::{AppOptions, Browser, TestDb, spawn_app};

#[tokio::test]
async fn api_requires_the_admin_token() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/api/connections", "/api/connections/acme/users"] {
        let url = format!("{}{path}", app.url);
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path} without a token");
        assert!(res.headers().contains_key("www-authenticate"));
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("OKTA_BRIDGE_ADMIN_TOKEN"));
        assert_eq!(
            http.get(&url).bearer_auth("wrong").send().await.unwrap().status(),
            401,
            "{path} wrong token"
        );
        assert_eq!(
            http.get(&url)
                .header("cookie", "okta_bridge_session=forged")
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    assert_eq!(
        http.get(format!("{}/api/connections", app.url))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = http
        .get(format!("{}/api/connections/acme/users", app.url))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "unknown connection");
    let res = http
        .get(format!("{}/api/connections/Bad%20Name/users", app.url))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // HTML pages send the browser to the sign-in form; the health check is open.
    let res = http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(
        http.get(format!("{}/healthz", app.url)).send().await.unwrap().status(),
        200
    );
}

/// A session is bound to the admin token it was signed in with: after a restart with another
/// token it no longer signs anyone in; with the same token it still does.
async fn sessions_end_with_their_token(db: TestDb) {
    let options = |token: &str| AppOptions {
        admin_token: Some(token.to_owned()),
        ..AppOptions::default()
    };
    let (t1, t2) = ("the-first-admin-token-0123", "the-second-admin-token-456");
    let app = spawn_app(&db, options(t1)).await;
    let mut browser = Browser::signed_in(&app).await;
    drop(app);

    let app = spawn_app(&db, options(t2)).await;
    let res = browser.visit(&format!("{}/", app.url)).await;
    assert_eq!(
        res.url().path(),
        "/login",
        "the old token's session ended: {:?}",
        browser.hops
    );
    drop(app);

    let app = spawn_app(&db, options(t1)).await;
    let res = browser.visit(&format!("{}/", app.url)).await;
    assert_eq!(
        (res.status().as_u16(), res.url().path()),
        (200, "/"),
        "the same token, another run: still signed in"
    );
}
crate::flow::on_both_databases!(
    changing_the_admin_token_ends_sessions,
    super::sessions_end_with_their_token
);
