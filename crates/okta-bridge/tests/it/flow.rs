//! The connect-and-read flow end to end, as a browser does it, on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::time::Duration;

use okta_bridge::model::AccountName;
use okta_sandbox::RefreshTokenRotation;
use secrecy::ExposeSecret;

use crate::util::{AppOptions, Browser, TestApp, TestDb, api_get, connect, next_link, spawn_app};

/// Runs an async test body on SQLite, and again on PostgreSQL.
macro_rules! on_both_databases {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                $body(crate::util::TestDb::sqlite()).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(db) = crate::util::TestDb::postgres().await {
                    $body(db).await;
                }
            }
        }
    };
}
pub(crate) use on_both_databases;

fn account_of(app: &TestApp) -> AccountName {
    let port = app.sandbox.addr().port();
    AccountName::parse(&format!("127-0-0-1-{port}")).unwrap()
}

/// Reads every user through the app's JSON API, `limit` at a time, following `Link` headers.
async fn read_all_users(app: &TestApp, account: &AccountName, limit: u32) -> (Vec<String>, usize) {
    let mut url = Some(format!("{}/api/connections/{account}/users?limit={limit}", app.url));
    let mut ids = Vec::new();
    let mut pages = 0;
    while let Some(u) = url {
        let res = api_get(app, &u).await;
        assert_eq!(res.status(), 200, "{u}");
        url = next_link(&res);
        let users: Vec<serde_json::Value> = res.json().await.unwrap();
        assert!(users.len() <= limit as usize);
        ids.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        pages += 1;
    }
    (ids, pages)
}

async fn connect_then_read(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::signed_in(&app).await;
    let last = connect(&app, &mut browser).await;
    assert!(
        browser
            .hops
            .iter()
            .any(|h| h.starts_with(&format!("{}/oauth/okta_callback?code=", app.url))),
        "the sandbox sent the browser back with a code: {:?}",
        browser.hops
    );
    assert!(
        browser.hops.contains(&format!("{}/", app.url)),
        "the callback redirected to /: {:?}",
        browser.hops
    );
    assert_eq!(last.status(), 200);

    // Stored: the account is the org's "subdomain", with org URL, scopes, expiry and tokens.
    let account = account_of(&app);
    let conn = app
        .store
        .connection(&account)
        .await
        .unwrap()
        .expect("connection stored");
    assert_eq!(conn.org_url.as_str(), app.sandbox.url());
    assert_eq!(conn.scopes.to_string(), "okta.users.read offline_access");
    assert!(conn.refresh_token.is_some(), "offline_access gives a refresh token");
    let in_an_hour = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    assert!(
        (in_an_hour - 5..=in_an_hour + 1).contains(&conn.expires_at.at().unwrap()),
        "expiry {:?}",
        conn.expires_at
    );

    // The users read through the connection are the sandbox's users, across several pages.
    let (ids, pages) = read_all_users(&app, &account, 50).await;
    assert_eq!(ids, app.sandbox.state().listed_user_ids());
    assert_eq!(pages, 5, "230 users in pages of 50");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 230);
    let list: Vec<serde_json::Value> = api_get(&app, "/api/connections").await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["account"], account.as_str());
    assert!(
        !list[0].to_string().contains(conn.access_token.expose_secret()),
        "the API never shows tokens"
    );

    // No token in plaintext in any database file.
    if db.is_sqlite() {
        app.store.close().await;
        let files = db.files();
        assert!(!files.is_empty());
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            for secret in [
                conn.access_token.expose_secret(),
                conn.refresh_token.as_ref().unwrap().expose_secret(),
            ] {
                // Any 24-byte window of the token would already be a leak.
                let probe = &secret.as_bytes()[..24];
                assert!(
                    !bytes.windows(probe.len()).any(|w| w == probe),
                    "token found in {}",
                    f.display()
                );
            }
        }
    }
}
on_both_databases!(connect_store_and_read, super::connect_then_read);

async fn refresh_when_expired(db: TestDb, rotation: RefreshTokenRotation) {
    // A token that has expired (a 1-second one, expired by hand): the next read must refresh it
    // first.
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(move |c| {
                c.access_token_ttl = Duration::from_secs(1);
                c.refresh_token_rotation = rotation;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect(&app, &mut Browser::signed_in(&app).await).await;
    let account = account_of(&app);
    let client_id = app.sandbox.config().client_id.clone();
    let issued = app.store.connection(&account).await.unwrap().unwrap();
    let expired = okta_bridge::model::TokenSet {
        access_token: issued.access_token.clone(),
        refresh_token: issued.refresh_token.clone(),
        expires_at: okta_bridge::model::Expiry::At(time::OffsetDateTime::now_utc().unix_timestamp() - 1),
    };
    assert!(
        app.store
            .update_tokens(&account, issued.version, &expired)
            .await
            .unwrap()
    );
    let before = app.store.connection(&account).await.unwrap().unwrap();
    assert_eq!(app.sandbox.state().token_grants(&client_id), 1);

    let res = api_get(&app, &format!("/api/connections/{account}/users?limit=5")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.sandbox.state().token_grants(&client_id), 2, "one refresh");
    let after = app.store.connection(&account).await.unwrap().unwrap();
    assert_ne!(
        after.access_token.expose_secret(),
        before.access_token.expose_secret(),
        "new access token stored"
    );
    assert!(after.version > before.version);
    let (old_rt, new_rt) = (before.refresh_token.unwrap(), after.refresh_token.unwrap());
    match rotation {
        RefreshTokenRotation::Static => assert_eq!(new_rt.expose_secret(), old_rt.expose_secret()),
        RefreshTokenRotation::Rotate => assert_ne!(
            new_rt.expose_secret(),
            old_rt.expose_secret(),
            "the rotated token is saved"
        ),
    }
    assert_eq!(
        app.sandbox.state().live_refresh_tokens(),
        1,
        "the sandbox knows exactly one refresh token"
    );

    // The stored refresh token is the one that works: once this token expires too, the next
    // read refreshes again with it.
    let expired = okta_bridge::model::TokenSet {
        access_token: after.access_token.clone(),
        refresh_token: Some(new_rt.clone()),
        expires_at: okta_bridge::model::Expiry::At(time::OffsetDateTime::now_utc().unix_timestamp() - 1),
    };
    assert!(
        app.store
            .update_tokens(&account, after.version, &expired)
            .await
            .unwrap()
    );
    let res = api_get(&app, &format!("/api/connections/{account}/users?limit=5")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.sandbox.state().token_grants(&client_id), 3);
}

async fn refresh_static(db: TestDb) {
    refresh_when_expired(db, RefreshTokenRotation::Static).await;
}
async fn refresh_rotate(db: TestDb) {
    refresh_when_expired(db, RefreshTokenRotation::Rotate).await;
}
on_both_databases!(refresh_with_static_refresh_tokens, super::refresh_static);
on_both_databases!(refresh_with_rotating_refresh_tokens, super::refresh_rotate);

#[tokio::test]
async fn a_fresh_token_is_not_refreshed() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    connect(&app, &mut Browser::signed_in(&app).await).await;
    let account = account_of(&app);
    for _ in 0..3 {
        assert_eq!(
            api_get(&app, &format!("/api/connections/{account}/users?limit=1"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(app.sandbox.state().token_grants(&app.sandbox.config().client_id), 1);
}

#[tokio::test]
async fn without_offline_access_an_expired_connection_asks_to_reconnect() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| c.access_token_ttl = Duration::from_secs(1)),
            ..AppOptions::default()
        },
    )
    .await;
    // Connect, then drop the refresh token as if offline_access had not been granted.
    connect(&app, &mut Browser::signed_in(&app).await).await;
    let account = account_of(&app);
    let conn = app.store.connection(&account).await.unwrap().unwrap();
    let tokens = okta_bridge::model::TokenSet {
        access_token: conn.access_token.clone(),
        refresh_token: None,
        expires_at: okta_bridge::model::Expiry::At(time::OffsetDateTime::now_utc().unix_timestamp() - 1),
    };
    assert!(app.store.update_tokens(&account, conn.version, &tokens).await.unwrap());
    let res = api_get(&app, &format!("/api/connections/{account}/users")).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "reconnect_required");
    assert!(body["message"].as_str().unwrap().contains("offline_access"), "{body}");
}

#[tokio::test]
async fn html_pages_show_connections_and_users_after_sign_in() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::new();
    let page = browser.visit(&format!("{}/authenticate_okta", app.url)).await;
    assert_eq!(page.url().path(), "/login", "not signed in yet");
    let page_url = page.url().clone();
    let html = page.text().await.unwrap();
    let res = browser.submit(&page_url, &html, &[("token", "wrong")]).await;
    assert_eq!(res.status(), 401);
    let page_url = res.url().clone();
    let html = res.text().await.unwrap();
    let res = browser.submit(&page_url, &html, &[("token", &app.admin_token)]).await;
    assert_eq!(res.status(), 200);
    connect(&app, &mut browser).await;
    let index = browser.visit(&format!("{}/", app.url)).await.text().await.unwrap();
    let account = account_of(&app);
    assert!(
        index.contains(account.as_str()) && index.contains("Connect Okta"),
        "{index}"
    );
    let res = browser.visit(&format!("{}/connections/{account}/users", app.url)).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let first = &app.sandbox.state().listed_user_ids()[0];
    assert!(
        html.contains(first.as_str()) && html.contains("Next page"),
        "users page lists users"
    );
}

#[tokio::test]
async fn account_name_can_be_chosen() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::signed_in(&app).await;
    let res = browser.start_connect(&app.url, Some("acme-prod")).await;
    let page_url = res.url().clone();
    let html = res.text().await.unwrap();
    let c = app.sandbox.config();
    browser
        .submit(
            &page_url,
            &html,
            &[("username", &c.admin_login), ("password", c.user_password_value())],
        )
        .await;
    assert!(
        app.store
            .connection(&AccountName::parse("acme-prod").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    let res = browser
        .visit(&format!("{}/authenticate_okta?account=Not%20Valid", app.url))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("lower-case"));
}

/// The payload of a JWT, unverified (the sandbox's own keys are checked in its tests).
fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn through_a_custom_authorization_server(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            custom_server: Some("default"),
            ..AppOptions::default()
        },
    )
    .await;
    let page = connect(&app, &mut Browser::new()).await;
    assert_eq!(page.status(), 200, "{:?}", page.url());
    let account = account_of(&app);
    let conn = app.store.connection(&account).await.unwrap().unwrap();
    let issuer = format!("{}/oauth2/default", app.sandbox.url());
    assert_eq!(claims(conn.access_token.expose_secret())["iss"], issuer.as_str());
    assert_eq!(conn.scopes.to_string(), "openid offline_access");

    // Refreshing goes to the custom server's token endpoint, found by discovery.
    let client_id = app.sandbox.config().client_id.clone();
    let grants = app.sandbox.state().token_grants(&client_id);
    let soon = okta_bridge::model::TokenSet {
        access_token: conn.access_token.clone(),
        refresh_token: conn.refresh_token.clone(),
        expires_at: okta_bridge::model::Expiry::At(time::OffsetDateTime::now_utc().unix_timestamp() - 1),
    };
    assert!(app.store.update_tokens(&account, conn.version, &soon).await.unwrap());
    let refresher = crate::util::refresher(
        &app.store.clone(),
        Some(crate::util::oauth_app_at(&app, "default").await),
        Duration::from_secs(60),
    );
    let fresh = refresher.access_token(&account).await.unwrap();
    assert_eq!(claims(fresh.expose_secret())["iss"], issuer.as_str());
    assert_eq!(app.sandbox.state().token_grants(&client_id), grants + 1);
}
on_both_databases!(
    connect_through_discovery_to_a_custom_server,
    super::through_a_custom_authorization_server
);

#[tokio::test]
async fn discovery_refuses_what_is_not_an_issuer() {
    let sandbox = okta_sandbox::Sandbox::spawn(okta_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let err = okta_bridge::oauth::OAuthApp::discover(
        okta_client::OrgUrl::parse(sandbox.url()).unwrap(),
        &format!("{}/oauth2/ausNotHere", sandbox.url()).parse().unwrap(),
        "0oa1".into(),
        okta_bridge::model::ClientSecret::new("s"),
        "http://127.0.0.1:3000/oauth/okta_callback",
        okta_bridge::model::Scopes::parse("openid").unwrap(),
        crate::util::dev_egress(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no discovery document"), "{err}");
}

/// A discovery document larger than a discovery document can be is not read (nor kept).
#[tokio::test]
async fn a_huge_discovery_document_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let org = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{org}/oauth2/big");
    let huge = format!(
        "{{\"issuer\":\"{issuer}\",\"padding\":\"{}\"}}",
        "x".repeat(okta_client::body::MAX_SMALL_BYTES)
    );
    let router = axum::Router::new().fallback(move || {
        let huge = huge.clone();
        async move { ([("content-type", "application/json")], huge) }
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    let err = okta_bridge::oauth::OAuthApp::discover(
        okta_client::OrgUrl::parse(&org).unwrap(),
        &issuer.parse().unwrap(),
        "0oa1".into(),
        okta_bridge::model::ClientSecret::new("s"),
        "http://127.0.0.1:3000/oauth/okta_callback",
        okta_bridge::model::Scopes::parse("openid").unwrap(),
        crate::util::dev_egress(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}
