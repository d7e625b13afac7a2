//! Exactly one refresh per expiry: across tasks, across refreshers sharing a database, across
//! server processes sharing PostgreSQL; and a wait that runs out says so.

use std::time::Duration;

use okta_bridge::model::AccountName;
use okta_bridge::model::TokenSet;
use secrecy::ExposeSecret;

use crate::flow::on_both_databases;
use crate::util::{AppOptions, Browser, TEST_KEY_B64, TestApp, TestDb, api_get, connect, expire, spawn_app};

fn account_of(app: &TestApp) -> AccountName {
    AccountName::parse(&format!("127-0-0-1-{}", app.sandbox.addr().port())).unwrap()
}

async fn connected(db: &TestDb) -> (TestApp, AccountName) {
    let app = spawn_app(db, AppOptions::default()).await;
    connect(&app, &mut Browser::new()).await;
    let account = account_of(&app);
    (app, account)
}

async fn many_requests_one_refresh(db: TestDb) {
    let (app, account) = connected(&db).await;
    let client_id = app.sandbox.config().client_id.clone();
    assert_eq!(app.sandbox.state().token_grants(&client_id), 1);
    expire(&app.store, &account).await;
    let path = format!("/api/connections/{account}/users?limit=1");
    let answers = futures::future::join_all((0..200).map(|_| api_get(&app, &path))).await;
    assert!(answers.iter().all(|r| r.status() == 200), "every request succeeds");
    assert_eq!(app.sandbox.state().token_grants(&client_id), 2, "exactly one refresh");
}
on_both_databases!(
    two_hundred_requests_on_an_expired_token_refresh_once,
    super::many_requests_one_refresh
);

/// Issue 11, finding 8: tokens that live less than the refresh margin (60 s) are refreshed when
/// half their life is gone, not on every request.
async fn short_tokens_are_not_refreshed_on_every_request(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| c.access_token_ttl = Duration::from_secs(8)),
            ..AppOptions::default()
        },
    )
    .await;
    // From before the token is issued: the time taken bounds the token's age.
    let started = std::time::Instant::now();
    connect(&app, &mut Browser::new()).await;
    let account = account_of(&app);
    let client_id = app.sandbox.config().client_id.clone();
    assert_eq!(app.sandbox.state().token_grants(&client_id), 1);
    let path = format!("/api/connections/{account}/users?limit=1");
    for _ in 0..30 {
        assert_eq!(api_get(&app, &path).await.status(), 200);
    }
    // Within the first half of the token's life no request refreshes; a slow machine may pass
    // into the second half, which allows one.
    let refreshes = app.sandbox.state().token_grants(&client_id) - 1;
    let allowed = u64::from(started.elapsed() >= Duration::from_secs(4));
    assert!(
        refreshes <= allowed,
        "{refreshes} refreshes for 30 requests with 8-s tokens"
    );
}
on_both_databases!(
    short_lived_tokens_refresh_at_half_life,
    super::short_tokens_are_not_refreshed_on_every_request
);

/// Two refreshers on one database behave as two processes: the in-process lock cannot keep
/// them apart, only the lease in the database can.
async fn two_refreshers_one_refresh(db: TestDb) {
    let (app, account) = connected(&db).await;
    let client_id = app.sandbox.config().client_id.clone();
    expire(&app.store, &account).await;
    let tokens = crate::util::two_instances_ask(&app, &db, &app.store, &account, 60).await;
    assert_eq!(app.sandbox.state().token_grants(&client_id), 2, "one refresh for both");
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "everyone got the new token");
}
on_both_databases!(
    two_refreshers_on_one_database_refresh_once,
    super::two_refreshers_one_refresh
);

async fn a_held_lease_times_out_as_such(db: TestDb) {
    let (app, account) = connected(&db).await;
    expire(&app.store, &account).await;
    let in_a_minute = time::OffsetDateTime::now_utc().unix_timestamp() + 60;
    assert!(
        app.store
            .take_refresh_lease(&account, "another-instance", in_a_minute)
            .await
            .unwrap()
    );
    let waiting = crate::util::refresher(
        &app.store.clone(),
        Some(crate::util::oauth_app(&app)),
        Duration::from_secs(60),
    )
    .with_wait(Duration::from_millis(300));
    let err = waiting.access_token(&account).await.unwrap_err();
    assert!(matches!(err, okta_bridge::Error::RefreshWaitTimeout { .. }), "{err}");
    assert!(err.to_string().contains("waiting for another instance"), "{err}");
    // A lease whose holder died runs out: then the refresh goes ahead.
    let a_second_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    app.store
        .release_refresh_lease(&account, "another-instance")
        .await
        .unwrap();
    assert!(
        app.store
            .take_refresh_lease(&account, "dead-instance", a_second_ago)
            .await
            .unwrap()
    );
    let t = waiting.access_token(&account).await.unwrap();
    assert!(!t.expose_secret().is_empty());
}
on_both_databases!(
    a_lease_held_elsewhere_times_out_then_runs_out,
    super::a_held_lease_times_out_as_such
);

/// Three `okta-bridge serve` processes on one PostgreSQL database, 500 requests at once on a
/// connection whose token has just expired: one refresh-token grant, every request served.
#[tokio::test]
async fn three_server_processes_refresh_once() {
    let Some(db) = TestDb::postgres().await else { return };
    let (app, account) = connected(&db).await;
    let client_id = app.sandbox.config().client_id.clone();
    let admin = "three-processes-admin-token";
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(
            crate::util::spawn_server_process(&[
                ("OKTA_BRIDGE_DATABASE_URL", db.url.as_str()),
                ("OKTA_BRIDGE_MASTER_KEY", TEST_KEY_B64.as_str()),
                ("OKTA_BRIDGE_ADMIN_TOKEN", admin),
                ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0"),
                ("OKTA_CLIENT_ORGURL", app.sandbox.url()),
                ("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true"),
                ("OKTA_CLIENT_CLIENTID", &client_id),
                ("OKTA_CLIENT_CLIENTSECRET", app.sandbox.config().client_secret_value()),
            ])
            .await,
        );
    }
    expire(&app.store, &account).await;
    let http = reqwest::Client::new();
    let answers = futures::future::join_all((0..500).map(|i| {
        let url = format!("{}/api/connections/{account}/users?limit=1", servers[i % 3].1);
        let req = http.get(url).bearer_auth(admin);
        async move { req.send().await.map(|r| r.status().as_u16()) }
    }))
    .await;
    let ok = answers.iter().filter(|a| matches!(a, Ok(200))).count();
    assert_eq!(
        ok,
        500,
        "every request succeeds: {:?}",
        answers.iter().find(|a| !matches!(a, Ok(200)))
    );
    assert_eq!(
        app.sandbox.state().token_grants(&client_id),
        2,
        "exactly one refresh across three processes"
    );
    for (mut child, _) in servers {
        child.kill().await.unwrap();
    }
}

/// Revokes the connection's refresh token at the sandbox, as an Okta admin would.
async fn revoke_refresh_token(app: &TestApp, account: &AccountName) {
    let c = app.store.connection(account).await.unwrap().unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/oauth2/v1/revoke", app.sandbox.url()))
        .basic_auth(
            &app.sandbox.config().client_id,
            Some(app.sandbox.config().client_secret_value()),
        )
        .form(&[("token", c.refresh_token.unwrap().expose_secret())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn invalid_grant_needs_reauth(db: TestDb) {
    let (app, account) = connected(&db).await;
    let client_id = app.sandbox.config().client_id.clone();
    revoke_refresh_token(&app, &account).await;
    expire(&app.store, &account).await;
    let path = format!("/api/connections/{account}/users?limit=1");
    let res = api_get(&app, &path).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "reconnect_required");
    let list: serde_json::Value = api_get(&app, "/api/connections").await.json().await.unwrap();
    assert_eq!(list[0]["status"], "needs_reauth");
    assert!(
        list[0]["statusReason"].as_str().unwrap().contains("refresh token"),
        "{list}"
    );
    // Marked: later requests do not ask Okta again.
    let grants = app.sandbox.state().token_grants(&client_id);
    let counters = |sb: &okta_sandbox::Sandbox| sb.state().token_grants(&client_id);
    assert_eq!(api_get(&app, &path).await.status(), 409);
    assert_eq!(counters(&app.sandbox), grants);
    // Connecting again clears it.
    connect(&app, &mut Browser::new()).await;
    assert_eq!(api_get(&app, &path).await.status(), 200);
    let list: serde_json::Value = api_get(&app, "/api/connections").await.json().await.unwrap();
    assert_eq!(list[0]["status"], "connected");
}
on_both_databases!(
    a_refused_refresh_token_marks_the_connection,
    super::invalid_grant_needs_reauth
);

#[tokio::test]
async fn a_transient_failure_keeps_the_current_token_in_use() {
    let db = TestDb::sqlite();
    let (app, account) = connected(&db).await;
    // Within the 60-second margin but not expired: a refresh is due, the token still works.
    let c = app.store.connection(&account).await.unwrap().unwrap();
    let soon = TokenSet {
        access_token: c.access_token.clone(),
        refresh_token: c.refresh_token.clone(),
        expires_at: okta_bridge::model::Expiry::At(time::OffsetDateTime::now_utc().unix_timestamp() + 30),
    };
    assert!(app.store.update_tokens(&account, c.version, &soon).await.unwrap());
    crate::util::set_faults(
        &app,
        serde_json::json!([{ "route": "/oauth2/v1/token", "errors": 1.0 }]),
    )
    .await;
    let res = api_get(&app, &format!("/api/connections/{account}/users?limit=1")).await;
    assert_eq!(res.status(), 200, "the current token stays in use");
    let after = app.store.connection(&account).await.unwrap().unwrap();
    assert_eq!(after.access_token.expose_secret(), c.access_token.expose_secret());
    assert_eq!(
        after.status,
        okta_bridge::model::ConnectionStatus::Connected,
        "not a reason to reconnect"
    );
}

#[tokio::test]
async fn the_background_refresher_renews_tokens_ahead_of_expiry() {
    let db = TestDb::sqlite();
    let (app, account) = connected(&db).await;
    let client_id = app.sandbox.config().client_id.clone();
    let refresher = crate::util::refresher(
        &app.store.clone(),
        Some(crate::util::oauth_app(&app)),
        Duration::from_secs(60),
    );
    // An hour left: nothing is due five minutes ahead.
    assert_eq!(refresher.refresh_due(Duration::from_secs(300)).await.unwrap(), 0);
    let c = app.store.connection(&account).await.unwrap().unwrap();
    let in_four_minutes = TokenSet {
        access_token: c.access_token.clone(),
        refresh_token: c.refresh_token.clone(),
        expires_at: okta_bridge::model::Expiry::At(time::OffsetDateTime::now_utc().unix_timestamp() + 240),
    };
    assert!(
        app.store
            .update_tokens(&account, c.version, &in_four_minutes)
            .await
            .unwrap()
    );
    assert_eq!(refresher.refresh_due(Duration::from_secs(300)).await.unwrap(), 1);
    assert_eq!(app.sandbox.state().token_grants(&client_id), 2);
    let after = app.store.connection(&account).await.unwrap().unwrap();
    assert!(after.expires_at.at().unwrap() > time::OffsetDateTime::now_utc().unix_timestamp() + 3000);
    assert_eq!(refresher.outcomes(), vec![(account.to_string(), "refreshed", 1)]);
}

/// Issue 11, finding 8 (second half): an account pointed at a custom authorization server,
/// whose tokens the Management API refuses. One forced refresh (the token might only have been
/// revoked), then the connection says what is wrong and requests answer at once with Okta's
/// error, with no more refreshes however many requests come.
async fn a_refused_fresh_token_marks_the_connection(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let c = app.sandbox.config();
    let (status, body) = crate::util::api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(serde_json::json!({
            "name": "custom", "orgUrl": app.sandbox.url(), "clientId": c.client_id,
            "clientSecret": c.client_secret_value(), "issuer": format!("{}/oauth2/default", app.sandbox.url()),
            "scopes": "openid offline_access",
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    crate::util::connect_account(&app, &mut Browser::signed_in(&app).await, "custom").await;
    let grants = app.sandbox.state().token_grants(&c.client_id);

    let path = "/api/connections/custom/users?limit=1";
    let res = api_get(&app, path).await;
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "token_refused", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("E0000011"), "Okta's error: {message}");
    assert!(message.contains("org authorization server"), "what to do: {message}");
    assert_eq!(
        app.sandbox.state().token_grants(&c.client_id),
        grants + 1,
        "one forced refresh"
    );
    let answers = futures::future::join_all((0..20).map(|_| api_get(&app, path))).await;
    assert!(answers.iter().all(|r| r.status() == 409));
    assert_eq!(
        app.sandbox.state().token_grants(&c.client_id),
        grants + 1,
        "no refresh more: the connection is marked"
    );
    let list: serde_json::Value = api_get(&app, "/api/connections").await.json().await.unwrap();
    let conn = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account"] == "custom")
        .unwrap();
    assert_eq!(conn["status"], "token_refused", "{conn}");
    assert!(conn["statusReason"].as_str().unwrap().contains("E0000011"), "{conn}");
}
on_both_databases!(
    a_fresh_token_the_org_refuses_marks_the_connection,
    super::a_refused_fresh_token_marks_the_connection
);

/// An access token revoked at Okta on its own (the refresh token still good): one forced
/// refresh, and the request succeeds.
async fn a_revoked_access_token_is_replaced_once(db: TestDb) {
    let (app, account) = connected(&db).await;
    let client_id = app.sandbox.config().client_id.clone();
    let grants = app.sandbox.state().token_grants(&client_id);
    app.sandbox.state().revoke_all_access_tokens();
    let path = format!("/api/connections/{account}/users?limit=1");
    let answers = futures::future::join_all((0..10).map(|_| api_get(&app, &path))).await;
    assert!(answers.iter().all(|r| r.status() == 200), "every request succeeds");
    assert_eq!(
        app.sandbox.state().token_grants(&client_id),
        grants + 1,
        "one forced refresh for every refused request"
    );
}
on_both_databases!(
    a_revoked_access_token_is_refreshed_once,
    super::a_revoked_access_token_is_replaced_once
);
