//! Every way the connect flow can be attacked or fail is rejected with a clear message, and
//! nothing is stored.

use okta_bridge::crypto::hash;
use okta_bridge::model::PendingAuthorization;
use reqwest::header::{COOKIE, LOCATION};

use crate::util::{AppOptions, Browser, TestApp, TestDb, connect, sign_in_to_org, spawn_app};

async fn nothing_stored(app: &TestApp) {
    assert!(
        app.store.connections().await.unwrap().is_empty(),
        "no connection may be stored"
    );
}

/// Starts a flow in `browser` and returns the `state` the app sent to the sandbox.
async fn start(app: &TestApp, browser: &Browser) -> String {
    let res = browser.connect_request(&app.url, None).await;
    assert_eq!(res.status(), 303);
    let location = reqwest::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert!(
        location
            .as_str()
            .starts_with(&format!("{}/oauth2/v1/authorize?", app.sandbox.url()))
    );
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256", "PKCE S256 is always used");
    assert_eq!(q["scope"], "okta.users.read offline_access");
    q["state"].clone()
}

/// Runs the sign-in and returns the callback URL the sandbox redirected to, without visiting it.
async fn sign_in_without_callback(app: &TestApp, browser: &Browser) -> reqwest::Url {
    let res = browser.connect_request(&app.url, None).await;
    let authorize = res.headers()[LOCATION].to_str().unwrap().to_owned();
    let page = browser.http.get(&authorize).send().await.unwrap().text().await.unwrap();
    let request_id = crate::util::hidden_value(&page, "request_id");
    let c = app.sandbox.config();
    let res = browser
        .http
        .post(format!("{}/login/signin", app.sandbox.url()))
        .form(&[
            ("request_id", request_id.as_str()),
            ("username", &c.admin_login),
            ("password", c.user_password_value()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    reqwest::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap()
}

async fn error_page(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 400, "{}", res.url());
    let html = res.text().await.unwrap();
    assert!(html.contains("Okta was not connected"), "{html}");
    html
}

#[tokio::test]
async fn forged_state_is_rejected() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let browser = Browser::signed_in(&app).await;
    start(&app, &browser).await;
    let res = browser
        .http
        .get(format!("{}/oauth/okta_callback?code=abc&state=forged", app.url))
        .send()
        .await
        .unwrap();
    assert!(error_page(res).await.contains("unknown or was already used"));
    nothing_stored(&app).await;
    let res = browser
        .http
        .get(format!("{}/oauth/okta_callback?code=abc", app.url))
        .send()
        .await
        .unwrap();
    assert!(error_page(res).await.contains("no state"));
    nothing_stored(&app).await;
}

#[tokio::test]
async fn replayed_state_and_replayed_code_are_rejected() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let browser = Browser::signed_in(&app).await;
    let callback = sign_in_without_callback(&app, &browser).await;
    let res = browser.http.get(callback.clone()).send().await.unwrap();
    assert_eq!(res.status(), 303, "the first callback succeeds");
    let stored = app.store.connections().await.unwrap();
    assert_eq!(stored.len(), 1);

    // The same callback again: its state was used.
    let res = browser.http.get(callback.clone()).send().await.unwrap();
    assert!(error_page(res).await.contains("unknown or was already used"));

    // The same code with a fresh, valid state: the sandbox refuses the used code.
    let state = start(&app, &browser).await;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let url = format!("{}/oauth/okta_callback?code={code}&state={state}", app.url);
    let html = error_page(browser.http.get(url).send().await.unwrap()).await;
    assert!(html.contains("invalid_grant"), "{html}");
    let after = app.store.connections().await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].version, stored[0].version,
        "the stored connection was not touched"
    );
}

#[tokio::test]
async fn expired_state_is_rejected() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    app.store
        .put_pending(&PendingAuthorization {
            state_hash: hash("old-state"),
            browser_hash: okta_bridge::oauth::binding_hash("binding", "session-id"),
            pkce_verifier: "v".repeat(43).into(),
            account: None,
            expires_at: now - 1,
        })
        .await
        .unwrap();
    // The admin's session, and the browser binding of the pending state.
    let binding = okta_bridge::crypto::session_binding("session-id", &app.admin_token);
    app.store
        .create_session(&hash("session-id"), &binding, now + 600)
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .get(format!("{}/oauth/okta_callback?code=abc&state=old-state", app.url))
        .header(
            COOKIE,
            format!(
                "{}=binding; okta_bridge_session=session-id",
                okta_bridge::oauth::binding_cookie_name("old-state")
            ),
        )
        .send()
        .await
        .unwrap();
    assert!(error_page(res).await.contains("expired"));
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_callback_in_another_browser_is_rejected() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let callback = sign_in_without_callback(&app, &Browser::signed_in(&app).await).await;
    // Another browser, even one signed in as the admin, cannot finish it.
    let res = Browser::signed_in(&app)
        .await
        .http
        .get(callback.clone())
        .send()
        .await
        .unwrap();
    assert!(error_page(res).await.contains("another browser"));
    // A browser not signed in is sent to the sign-in form, and nothing happens.
    let res = Browser::new().http.get(callback).send().await.unwrap();
    assert_eq!(res.headers()[LOCATION], "/login");
    nothing_stored(&app).await;
    let res = Browser::new()
        .http
        .get(format!("{}/authenticate_okta", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/login", "only the admin starts a connection");
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_callback_in_another_admin_session_is_rejected() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::signed_in(&app).await;
    let callback = sign_in_without_callback(&app, &browser).await;
    // Same browser (same binding cookie), but the admin signed in again meanwhile.
    browser.sign_in(&app.url, &app.admin_token).await;
    let res = browser.http.get(callback).send().await.unwrap();
    assert!(error_page(res).await.contains("another browser or admin session"));
    nothing_stored(&app).await;
}

#[tokio::test]
async fn wrong_redirect_uri_stops_at_the_sandbox() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| c.redirect_uris = vec!["http://127.0.0.1:9/elsewhere".into()]),
            ..AppOptions::default()
        },
    )
    .await;
    let mut browser = Browser::signed_in(&app).await;
    let res = browser.start_connect(&app.url, None).await;
    assert_eq!(res.status(), 400);
    assert!(
        res.url().as_str().starts_with(app.sandbox.url()),
        "the sandbox does not redirect to an unregistered URI"
    );
    assert!(res.text().await.unwrap().contains("redirect_uri"));
    nothing_stored(&app).await;
}

#[tokio::test]
async fn bad_client_secret_fails_the_exchange() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            client_secret: Some("not-the-secret".into()),
            ..AppOptions::default()
        },
    )
    .await;
    let mut browser = Browser::signed_in(&app).await;
    let res = connect(&app, &mut browser).await;
    let html = error_page(res).await;
    assert!(html.contains("invalid_client"), "{html}");
    assert!(!html.contains("not-the-secret"), "the secret is never shown");
    nothing_stored(&app).await;
}

#[tokio::test]
async fn access_denied_from_okta_is_shown() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let browser = Browser::signed_in(&app).await;
    let state = start(&app, &browser).await;
    let url = format!(
        "{}/oauth/okta_callback?error=access_denied&error_description=User+is+not+assigned+to+the+client+application.&state={state}",
        app.url
    );
    let html = error_page(browser.http.get(&url).send().await.unwrap()).await;
    assert!(
        html.contains("access_denied") && html.contains("not assigned"),
        "{html}"
    );
    nothing_stored(&app).await;
    // The state was consumed by the failed callback.
    let res = browser
        .http
        .get(format!("{}/oauth/okta_callback?code=abc&state={state}", app.url))
        .send()
        .await
        .unwrap();
    assert!(error_page(res).await.contains("unknown or was already used"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_sign_in_page_again() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::signed_in(&app).await;
    let res = browser.start_connect(&app.url, None).await;
    let page_url = res.url().clone();
    let html = res.text().await.unwrap();
    let res = browser
        .submit(
            &page_url,
            &html,
            &[("username", "admin@example.com"), ("password", "wrong")],
        )
        .await;
    assert_eq!(res.status(), 401);
    let again = res.text().await.unwrap();
    assert!(again.contains("Unable to sign in") && again.contains("name=\"password\""));
    // The same page still works with the right password.
    let res = browser
        .submit(
            &page_url,
            &again,
            &[
                ("username", "admin@example.com"),
                ("password", app.sandbox.config().user_password_value()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.store.connections().await.unwrap().len(), 1);
}

/// Issue 11, finding 7: a stray or forged callback (a prefetch, a double click, another site's
/// link) does not kill the admin's real flow, and two flows started in two tabs both finish.
#[tokio::test]
async fn a_stray_callback_and_a_second_tab_leave_real_flows_alone() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::signed_in(&app).await;
    // Two connects, in two tabs: the server-wide app's org, and the same org under a name.
    let first = browser.start_connect(&app.url, None).await;
    let second = browser.start_connect(&app.url, Some("acme-prod")).await;
    // A stray callback in between.
    let stray = browser
        .visit(&format!("{}/oauth/okta_callback?code=abc&state=forged", app.url))
        .await;
    assert_eq!(stray.status(), 400);
    let res = sign_in_to_org(&mut browser, first, &app.sandbox).await;
    assert_eq!(
        res.url().path(),
        "/",
        "the first tab's flow finished: {:?}",
        browser.hops
    );
    let res = sign_in_to_org(&mut browser, second, &app.sandbox).await;
    assert_eq!(
        res.url().path(),
        "/",
        "the second tab's flow finished: {:?}",
        browser.hops
    );
    let names: Vec<String> = app
        .store
        .connections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.account.to_string())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"acme-prod".to_owned()), "{names:?}");
}
