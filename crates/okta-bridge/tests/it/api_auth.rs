//! Everything but the OAuth routes and the health check requires the admin token.

use crate::util::{AppOptions, TestDb, spawn_app};

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
