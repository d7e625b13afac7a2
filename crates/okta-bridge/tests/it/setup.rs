//! Setup links, driven end to end in a real headless Chromium: the application asks for a link,
//! the customer's admin opens it, follows one way to connect against the sandbox org (entering
//! something wrong first, and reading what to fix), and lands on the health summary while the
//! first sync runs. Expired, used, revoked and forged links are refused; the forms are
//! CSRF-protected and rate-limited; every use is audited.

use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::Chrome;
use crate::flow::on_both_databases;
use crate::util::{AppOptions, TestApp, TestDb, api, org_call, spawn_app};

const INTEGRATION: &str = "0oaSetupIntegration1";
const INTEGRATION_SECRET: &str = "setup-integration-secret-5c1e9a7b3d";
const SCOPES: [&str; 4] = [
    "okta.users.read",
    "okta.groups.read",
    "okta.apps.read",
    "okta.logs.read",
];

fn service_app(client_id: &str, secret: Option<&str>, jwks: jsonwebtoken::jwk::JwkSet) -> okta_sandbox::ServiceApp {
    okta_sandbox::ServiceApp {
        client_id: client_id.into(),
        jwks,
        client_secret: secret.map(|s| s.to_owned().into()),
        scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        require_dpop: false,
    }
}

/// An app whose sandbox org has an API service integration installed.
async fn app_with_integration(db: &TestDb) -> TestApp {
    spawn_app(
        db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 40;
                c.service_apps.push(service_app(
                    INTEGRATION,
                    Some(INTEGRATION_SECRET),
                    jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
                ));
            }),
            ..AppOptions::default()
        },
    )
    .await
}

/// A new setup link for `account`: its URL and id.
pub(crate) async fn new_link(app: &TestApp, account: &str, body: Option<Value>) -> (String, String) {
    let (status, link) = api(app, Method::POST, &format!("/api/accounts/{account}/setup-link"), body).await;
    assert_eq!(status, 201, "{link}");
    assert!(
        link["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/setup/stl_", app.url)),
        "{link}"
    );
    (
        link["url"].as_str().unwrap().to_owned(),
        link["id"].as_str().unwrap().to_owned(),
    )
}

/// Opens `url` in `chrome` and presses Start: the steps page.
pub(crate) async fn open(chrome: &Chrome, url: &str) {
    chrome.goto(url).await;
    assert!(
        chrome.text().await.contains("Connect your Okta org"),
        "{}",
        chrome.text().await
    );
    chrome.click("start").await;
    let steps = format!("{}/setup", url.split("/setup/").next().unwrap());
    if let Err(e) = chrome.client.wait().for_url(&steps.parse().unwrap()).await {
        panic!("not on the steps page ({e}): {}", chrome.text().await);
    }
}

/// Waits until the first sync has run (long-polling the feed for what it writes, until the
/// sync state says the run is done), then checks the health summary says so.
pub(crate) async fn first_sync_shown(app: &TestApp, chrome: &Chrome, account: &str, users: usize) {
    for _ in 0..60 {
        let (status, state) = api(app, Method::GET, &format!("/api/connections/{account}/sync"), None).await;
        assert_eq!(status, 200, "{state}");
        if !state["lastRunAt"].is_null() && state["running"] == false {
            break;
        }
        assert!(state["lastError"].is_null(), "{state}");
        let after = state["lastSeq"].as_i64().unwrap_or(0);
        let (status, feed) = api(
            app,
            Method::GET,
            &format!("/api/connections/{account}/events?after={after}&wait=1&limit=1"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{feed}");
    }
    chrome.goto(&format!("{}/setup/done", app.url)).await;
    let shown = chrome.text_of("sync").await;
    assert!(shown.contains(&format!("finished: {users} users")), "{shown}");
}

fn events(audit: &Value) -> Vec<String> {
    audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_owned())
        .collect()
}

async fn through_an_api_service_integration(db: TestDb) {
    let app = app_with_integration(&db).await;
    let (url, id) = new_link(&app, "acme", None).await;
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };
    open(&chrome, &url).await;
    // The first way is the integration's, with the scopes it reads.
    let steps = chrome.text().await;
    assert!(
        steps.contains("API Service Integrations") && steps.contains("okta.logs.read"),
        "{steps}"
    );

    // A wrong secret: said in plain words, nothing stored, what was entered kept (not the secret).
    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.fill("client_id", INTEGRATION).await;
    chrome.fill("client_secret", "not-the-secret").await;
    chrome.submit("connect", &format!("{}/setup/connect", app.url)).await;
    let problem = chrome.text_of("problem").await;
    assert!(
        problem.contains("did not accept the client ID and client secret"),
        "{problem}"
    );
    assert!(
        app.store
            .connection(&okta_bridge::model::AccountName::parse("acme").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let kept = chrome.client.find(fantoccini::Locator::Id("client_id")).await.unwrap();
    assert_eq!(kept.prop("value").await.unwrap().as_deref(), Some(INTEGRATION));

    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.fill("client_secret", INTEGRATION_SECRET).await;
    chrome.submit("connect", &format!("{}/setup/done", app.url)).await;
    let health = chrome.text_of("health").await;
    assert!(
        health.contains("Connected") && health.contains("service_app"),
        "{health}"
    );
    assert!(SCOPES.iter().all(|s| health.contains(s)), "{health}");
    first_sync_shown(&app, &chrome, "acme", 40).await;

    // The secret is sealed at rest; the link is marked connected; each use is in the audit log.
    let (_, links) = api(&app, Method::GET, "/api/accounts/acme/setup-links", None).await;
    assert_eq!(links[0]["id"], id.as_str());
    assert_eq!(links[0]["state"], "connected", "{links}");
    let (_, audit) = api(&app, Method::GET, "/api/accounts/acme/audit", None).await;
    let e = events(&audit);
    for want in [
        "setup_link_created",
        "setup_link_opened",
        "setup_link_check_failed",
        "setup_link_connected",
    ] {
        assert!(e.iter().any(|x| x == want), "{want} in {e:?}");
    }
    assert!(!audit.to_string().contains("not-the-secret"), "{audit}");
    assert!(!audit.to_string().contains(INTEGRATION_SECRET), "{audit}");
    if let Some(path) = db.sqlite_path() {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            !bytes
                .windows(INTEGRATION_SECRET.len())
                .any(|w| w == INTEGRATION_SECRET.as_bytes())
        );
    }

    // The same browser opening the link again is back on its summary (it connected: a link
    // connects once); another is refused.
    chrome.goto(&url).await;
    assert_eq!(chrome.path().await, "/setup/done");
    // The link worked once: another browser is refused.
    let other = Chrome::start().await;
    other.goto(&url).await;
    assert!(other.text().await.contains("already opened"), "{}", other.text().await);
    other.close().await;
    chrome.close().await;
}

on_both_databases!(
    an_admin_connects_through_an_api_service_integration,
    super::through_an_api_service_integration
);

#[tokio::test]
async fn an_admin_connects_an_oauth_web_app_and_signs_in() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let (url, _) = new_link(&app, "globex", None).await;
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };
    open(&chrome, &url).await;
    chrome
        .click_link("OAuth web app", &format!("{}/setup?method=web", app.url))
        .await;
    let steps = chrome.text().await;
    assert!(
        steps.contains("Authorization Code") && steps.contains("Everyone"),
        "{steps}"
    );
    assert_eq!(
        chrome.text_of("redirect-uri").await,
        format!("{}/oauth/okta_callback", app.url)
    );
    let c = app.sandbox.config();

    // A wrong secret is caught before the sign-in.
    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.fill("client_id", &c.client_id).await;
    chrome.fill("client_secret", "wrong-secret").await;
    chrome.submit("connect", &format!("{}/setup/connect", app.url)).await;
    let problem = chrome.text_of("problem").await;
    assert!(
        problem.contains("did not accept the client ID and client secret"),
        "{problem}"
    );

    // The app is assigned to the admin and one other user, who is no administrator.
    let logins: Vec<String> = app
        .sandbox
        .state()
        .listed_user_ids()
        .iter()
        .filter_map(|id| app.sandbox.state().user_json(id))
        .map(|u| u["profile"]["login"].as_str().unwrap().to_owned())
        .filter(|l| !l.eq_ignore_ascii_case(&c.admin_login))
        .take(2)
        .collect();
    app.sandbox
        .state()
        .assign_web_app(Some(vec![c.admin_login.clone(), logins[0].clone()]));
    let sign_in_as = async |login: &str| {
        chrome.fill("org_url", app.sandbox.url()).await;
        chrome.fill("client_secret", c.client_secret_value()).await;
        chrome.click("connect").await;
        // The org's sign-in page.
        if let Err(e) = chrome
            .client
            .wait()
            .for_element(fantoccini::Locator::Css("input[name=username]"))
            .await
        {
            panic!("no sign-in page ({e}): {}", chrome.text().await);
        }
        let at = chrome.client.current_url().await.unwrap();
        assert!(at.as_str().starts_with(app.sandbox.url()), "{at}");
        chrome.fill("username", login).await;
        chrome.fill("password", c.user_password_value()).await;
        chrome
            .client
            .find(fantoccini::Locator::Css("form button, form input[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // Back at okta-bridge: the health summary, or what went wrong.
        chrome
            .client
            .wait()
            .for_element(fantoccini::Locator::Css("#health, #problem"))
            .await
            .unwrap();
        chrome.path().await == "/setup/done"
    };
    // Someone the app is not assigned to: told to assign it.
    assert!(!sign_in_as(&logins[1]).await);
    let problem = chrome.text_of("problem").await;
    assert!(
        problem.contains("not assigned to the app") && problem.contains("Everyone"),
        "{problem}"
    );
    // Assigned, but no administrator: told so, and nothing is kept.
    assert!(!sign_in_as(&logins[0]).await);
    let problem = chrome.text_of("problem").await;
    assert!(problem.contains("not an administrator"), "{problem}");
    let account = okta_bridge::model::AccountName::parse("globex").unwrap();
    assert!(app.store.connection(&account).await.unwrap().is_none());
    // The admin.
    assert!(sign_in_as(&c.admin_login).await);
    let health = chrome.text_of("health").await;
    assert!(
        health.contains("authorization_code") && health.contains("okta.users.read"),
        "{health}"
    );
    first_sync_shown(&app, &chrome, "globex", 230).await;
    chrome.close().await;
}

#[tokio::test]
async fn an_admin_connects_with_an_api_token_told_its_limits() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let (url, _) = new_link(&app, "initech", None).await;
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };
    open(&chrome, &url).await;
    chrome
        .click_link("API token", &format!("{}/setup?method=token", app.url))
        .await;
    let steps = chrome.text().await;
    for limit in [
        "the permissions of the administrator who creates it",
        "expires after 30 days without use",
        "revoked when its creator's account is deactivated",
    ] {
        assert!(steps.contains(limit), "{limit}: {steps}");
    }
    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.fill("api_token", "00not-a-token").await;
    chrome.submit("connect", &format!("{}/setup/connect", app.url)).await;
    let problem = chrome.text_of("problem").await;
    assert!(problem.contains("did not accept the API token"), "{problem}");

    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.fill("api_token", app.sandbox.config().api_token_value()).await;
    chrome.submit("connect", &format!("{}/setup/done", app.url)).await;
    let health = chrome.text_of("health").await;
    assert!(
        health.contains("api_token") && health.contains("permissions of the administrator"),
        "{health}"
    );
    first_sync_shown(&app, &chrome, "initech", 230).await;
    chrome.close().await;
}

#[tokio::test]
async fn an_admin_registers_the_key_okta_bridge_made_for_their_service_app() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let (url, _) = new_link(&app, "umbrella", None).await;
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };
    open(&chrome, &url).await;
    chrome
        .click_link(
            "Your own service app, with a key",
            &format!("{}/setup?method=service-key", app.url),
        )
        .await;
    let jwk_text = chrome.text_of("public-jwk").await;
    let jwk: Value = serde_json::from_str(&jwk_text).unwrap();
    assert_eq!(jwk["kty"], "EC");
    assert!(jwk.get("d").is_none(), "only the public half is shown: {jwk}");
    // The same key on every visit.
    chrome.goto(&format!("{}/setup?method=service-key", app.url)).await;
    assert_eq!(chrome.text_of("public-jwk").await, jwk_text);

    // Before the app exists at the org, Okta refuses: said in words.
    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.fill("client_id", "0oaOwnServiceApp1").await;
    chrome.submit("connect", &format!("{}/setup/connect", app.url)).await;
    let problem = chrome.text_of("problem").await;
    assert!(problem.contains("public key shown above"), "{problem}");

    // The admin creates the service app in Okta and pastes the public key.
    let key: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
    app.sandbox.state().register_service_app(service_app(
        "0oaOwnServiceApp1",
        None,
        jsonwebtoken::jwk::JwkSet { keys: vec![key] },
    ));
    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.fill("client_id", "0oaOwnServiceApp1").await;
    chrome.submit("connect", &format!("{}/setup/done", app.url)).await;
    let health = chrome.text_of("health").await;
    assert!(health.contains("service_app"), "{health}");
    first_sync_shown(&app, &chrome, "umbrella", 230).await;
    chrome.close().await;
}

#[tokio::test]
async fn expired_used_revoked_and_forged_links_are_refused() {
    let db = TestDb::sqlite();
    let app = app_with_integration(&db).await;
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };

    // Forged.
    chrome
        .goto(&format!("{}/setup/stl_forged0000000000000000000000000000", app.url))
        .await;
    assert!(chrome.text().await.contains("not valid"), "{}", chrome.text().await);
    // No link opened: the steps page says to open one.
    chrome.goto(&format!("{}/setup", app.url)).await;
    assert!(chrome.text().await.contains("Open your setup link first"));

    // Expired.
    let (url, id) = new_link(&app, "expired", Some(json!({ "expiresIn": 300 }))).await;
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE setup_links SET expires_at = 1 WHERE id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    chrome.goto(&url).await;
    assert!(chrome.text().await.contains("has expired"), "{}", chrome.text().await);

    // Lifetimes out of range are refused.
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/accounts/x/setup-link",
        Some(json!({ "expiresIn": 10 })),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Used: the first browser has it; a second is refused.
    let (url, id) = new_link(&app, "used", None).await;
    open(&chrome, &url).await;
    let second = Chrome::start().await;
    second.goto(&url).await;
    assert!(
        second.text().await.contains("already opened"),
        "{}",
        second.text().await
    );
    second.close().await;

    // Revoked while in use: the steps stop working at once.
    let (status, body) = api(&app, Method::DELETE, &format!("/api/setup-links/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "revoked");
    chrome.goto(&format!("{}/setup", app.url)).await;
    assert!(chrome.text().await.contains("was revoked"), "{}", chrome.text().await);
    chrome.close().await;

    let (_, audit) = api(&app, Method::GET, "/api/accounts/used/audit", None).await;
    let e = events(&audit);
    assert!(e.iter().any(|x| x == "setup_link_refused"), "{e:?}");
    assert!(e.iter().any(|x| x == "setup_link_revoked"), "{e:?}");
}

/// Opens `url` over plain HTTP (a cookie jar, no redirects followed): the client holding the
/// link's session, and the CSRF token of its steps page.
async fn open_over_http(app: &TestApp, url: &str) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http.post(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let page = http
        .get(format!("{}/setup", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    (http, csrf)
}

/// A link asking for a scope the integration was not granted: the scope is named, with where
/// to grant it.
#[tokio::test]
async fn a_scope_not_granted_is_named_with_where_to_grant_it() {
    let db = TestDb::sqlite();
    let app = app_with_integration(&db).await;
    let (url, _) = new_link(
        &app,
        "scoped",
        Some(json!({ "scopes": "okta.users.read okta.groups.manage" })),
    )
    .await;
    let (http, csrf) = open_over_http(&app, &url).await;
    let res = http
        .post(format!("{}/setup/connect", app.url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "integration"),
            ("org_url", app.sandbox.url()),
            ("client_id", INTEGRATION),
            ("client_secret", INTEGRATION_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("has not been granted every scope") && page.contains("Okta API Scopes tab"),
        "{page}"
    );
    assert!(page.contains("okta.groups.manage"), "{page}");
    let account = okta_bridge::model::AccountName::parse("scoped").unwrap();
    assert!(app.store.connection(&account).await.unwrap().is_none());
}

/// The forms without a browser: a forged CSRF token and too many attempts are refused.
#[tokio::test]
async fn the_forms_are_csrf_protected_and_rate_limited() {
    let db = TestDb::sqlite();
    let app = app_with_integration(&db).await;
    let (url, _) = new_link(&app, "limited", None).await;
    let (http, csrf) = open_over_http(&app, &url).await;
    let attempt = |csrf: String| {
        let http = http.clone();
        let to = format!("{}/setup/connect", app.url);
        let org = app.sandbox.url().to_owned();
        async move {
            http.post(to)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("method", "integration"),
                    ("org_url", org.as_str()),
                    ("client_id", INTEGRATION),
                    ("client_secret", "wrong"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(attempt("forged".into()).await, 403);
    for _ in 0..10 {
        assert_eq!(attempt(csrf.clone()).await, 422);
    }
    assert_eq!(attempt(csrf.clone()).await, 429);
    let (_, audit) = api(&app, Method::GET, "/api/accounts/limited/audit", None).await;
    assert!(events(&audit).iter().any(|x| x == "setup_link_rate_limited"), "{audit}");
    // The setup session is no admin: the admin API still wants the admin token.
    let res = http.get(format!("{}/api/accounts", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

/// The CLI makes, lists and revokes links in the database the server reads.
#[tokio::test]
async fn the_cli_makes_lists_and_revokes_setup_links() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let cli = |args: &[&str]| {
        let mut c = crate::cli::okta_bridge();
        c.args(args)
            .env("OKTA_BRIDGE_DATABASE_URL", &db.url)
            .env("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str())
            .env("OKTA_BRIDGE_PUBLIC_URL", &app.url);
        async move {
            let out = c.output().await.unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let url = cli(&["accounts", "setup-link", "hooli", "--expires-in", "3600"]).await;
    let url = url.trim();
    assert!(url.starts_with(&format!("{}/setup/stl_", app.url)), "{url}");
    let page = reqwest::get(url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("hooli"));
    let listed = cli(&["accounts", "setup-links", "hooli"]).await;
    assert!(listed.contains("active"), "{listed}");
    let id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let said = cli(&["accounts", "revoke-setup-link", &id]).await;
    assert!(said.contains("Revoked"), "{said}");
    assert!(cli(&["accounts", "setup-links", "hooli"]).await.contains("revoked"));
    let page = reqwest::get(url).await.unwrap();
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("was revoked"));
}

/// Issue 25, finding 2: a setup link connects its account once. The browser that used it can
/// still see its summary, but cannot connect again — not to another org, not after the
/// operator disconnected and removed the account. Every such attempt is refused (410),
/// audited, and stores nothing.
async fn a_setup_link_connects_once_and_ends_with_its_account(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let elsewhere = okta_sandbox::Sandbox::spawn(okta_sandbox::SandboxConfig::default())
        .await
        .unwrap();
    let (url, id) = new_link(&app, "cust1", None).await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser.post(&url).send().await.unwrap();
    assert_eq!(opened.headers()["location"], "/setup", "opened");
    let steps = browser
        .get(format!("{}/setup?method=token", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::util::hidden_value(&steps, "csrf");
    let connect = |org: String, token: String| {
        browser
            .post(format!("{}/setup/connect", app.url))
            .form(&[
                ("csrf", csrf.as_str()),
                ("method", "token"),
                ("org_url", org.as_str()),
                ("api_token", token.as_str()),
            ])
            .send()
    };
    let ours = (
        app.sandbox.url().to_owned(),
        app.sandbox.config().api_token_value().to_owned(),
    );
    let theirs = (
        elsewhere.url().to_owned(),
        elsewhere.config().api_token_value().to_owned(),
    );
    let org_of = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["account"] == "cust1")
            .map(|c| c["orgUrl"].as_str().unwrap().trim_end_matches('/').to_owned())
    };

    let res = connect(ours.0.clone(), ours.1.clone()).await.unwrap();
    assert_eq!(res.headers()["location"], "/setup/done", "connected");
    let (_, list) = api(&app, Method::GET, "/api/connections", None).await;
    assert_eq!(org_of(&list).as_deref(), Some(ours.0.trim_end_matches('/')));

    // The same browser, to another org: refused; the connection is the one it made.
    let res = connect(theirs.0.clone(), theirs.1.clone()).await.unwrap();
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("already connected its account"));
    let (_, list) = api(&app, Method::GET, "/api/connections", None).await;
    assert_eq!(org_of(&list).as_deref(), Some(ours.0.trim_end_matches('/')));
    let summary = browser.get(format!("{}/setup/done", app.url)).send().await.unwrap();
    assert_eq!(summary.status(), 200, "its summary stays");
    let steps = browser.get(format!("{}/setup", app.url)).send().await.unwrap();
    assert_eq!(steps.headers()["location"], "/setup/done", "no steps to connect again");

    // The operator disconnects and removes the account; the old session tries again.
    let (status, body) = api(&app, Method::DELETE, "/api/connections/cust1", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(&app, Method::DELETE, "/api/accounts/cust1", None).await;
    assert!(status.is_success(), "{body}");
    for (org, token) in [theirs.clone(), ours.clone()] {
        let res = connect(org, token).await.unwrap();
        assert_eq!(res.status(), 410);
    }
    let (status, _) = api(&app, Method::GET, "/api/accounts/cust1", None).await;
    assert_eq!(status, 404, "no account was stored again");
    let (_, list) = api(&app, Method::GET, "/api/connections", None).await;
    assert_eq!(org_of(&list), None, "no connection was stored again");
    let summary = browser.get(format!("{}/setup/done", app.url)).send().await.unwrap();
    assert_eq!(summary.status(), 410, "the link ended with its account");

    let account = okta_bridge::model::AccountName::parse("cust1").unwrap();
    let audit = app.store.audit(&account).await.unwrap();
    let refused: Vec<&str> = audit
        .iter()
        .filter(|r| r.event == "setup_link_refused")
        .map(|r| r.detail.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(refused.len(), 3, "each attempt is audited: {audit:?}");
    assert!(
        refused[0].contains(&id) && refused[0].contains("Connected"),
        "{refused:?}"
    );
    assert!(
        refused[1].contains("Revoked") && refused[2].contains("Revoked"),
        "{refused:?}"
    );
    assert!(audit.iter().any(|r| r.event == "setup_links_ended"), "{audit:?}");
}

on_both_databases!(
    a_setup_link_connects_once_and_ends_with_its_account,
    super::a_setup_link_connects_once_and_ends_with_its_account
);

/// The SCIM way, in a real browser: the admin makes the credentials (shown once), the page
/// says each step in Okta's words, and the summary — reloading itself — turns green when the
/// org's "Test API Credentials" request arrives and lists the first pushes as they come.
async fn through_scim_provisioning(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let (url, id) = new_link(&app, "acme", None).await;
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };
    open(&chrome, &url).await;
    chrome
        .click_link(
            "SCIM provisioning (no API access)",
            &format!("{}/setup?method=scim", app.url),
        )
        .await;
    let steps = chrome.text().await;
    assert!(steps.contains("no API token, no API scopes"), "{steps}");
    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.submit("connect", &format!("{}/setup/connect", app.url)).await;
    let base_url = chrome.text_of("scim-base-url").await;
    let token = chrome.text_of("scim-token").await;
    assert_eq!(base_url, format!("{}/scim/v2/acme", app.url));
    assert!(token.starts_with("scim_") && token.len() > 40, "{token}");
    let shown = chrome.text().await;
    for words in [
        "SCIM 2.0 Test App (OAuth Bearer Token)",
        "Enable API integration",
        "Test API Credentials",
        "Create Users",
        "Update User Attributes",
        "Deactivate Users",
        "Push Groups",
        "shown on this page only",
    ] {
        assert!(shown.contains(words), "{words:?} in {shown}");
    }
    // The account's directory now comes from SCIM; the link is used up.
    let (status, scim) = api(&app, Method::GET, "/api/accounts/acme/scim", None).await;
    assert_eq!(status, 200, "{scim}");
    assert!(scim["lastRequest"].is_null(), "{scim}");
    let (_, links) = api(&app, Method::GET, "/api/accounts/acme/setup-links", None).await;
    assert_eq!(
        (links[0]["id"].as_str(), links[0]["state"].as_str()),
        (Some(id.as_str()), Some("connected"))
    );
    assert_eq!(links[0]["method"], "scim", "{links}");

    // Waiting for Okta, with the steps again (never the token).
    chrome
        .click_link("Watch for Okta's requests", &format!("{}/setup/done", app.url))
        .await;
    let waiting = chrome.text().await;
    assert!(waiting.contains("Waiting for Okta"), "{waiting}");
    assert!(!waiting.contains(&token), "the token is shown once");
    let source = chrome.client.source().await.unwrap();
    assert!(source.contains(r#"http-equiv="refresh""#), "the summary reloads itself");

    // The org's admin pastes both into a SCIM app, tests the credentials and turns the
    // provisioning on: the page turns green by itself.
    let app_id = crate::scim_push::provisioning_app(&app, &base_url, &token).await;
    let wait = chrome.client.wait().at_most(std::time::Duration::from_secs(60));
    wait.for_element(fantoccini::Locator::Css("#health.ok")).await.unwrap();
    let green = chrome.text().await;
    assert!(
        green.contains("Okta reached okta-bridge") && green.contains("GET /Users") && green.contains("200"),
        "{green}"
    );

    // Okta pushes an assigned user: the summary lists it as it comes.
    let uid = app.sandbox.state().listed_user_ids()[0].clone();
    let (status, assigned) = org_call(
        &app,
        Method::POST,
        &format!("/api/v1/apps/{app_id}/users"),
        Some(json!({ "id": uid, "scope": "USER" })),
    )
    .await;
    assert_eq!(status, 200, "{assigned}");
    app.sandbox.state().provisioning_settled().await;
    let wait = chrome.client.wait().at_most(std::time::Duration::from_secs(60));
    wait.for_element(fantoccini::Locator::Css("#pushes li")).await.unwrap();
    let (_, user) = org_call(&app, Method::GET, &format!("/api/v1/users/{uid}"), None).await;
    let login = user["profile"]["login"].as_str().unwrap();
    let pushed = chrome.text().await;
    assert!(
        pushed.contains("Pushed so far — users: 1, groups: 0") && pushed.contains(&format!("user.created {login}")),
        "{pushed}"
    );
    let (_, dir) = api(&app, Method::GET, "/api/connections/acme/directory/users", None).await;
    assert!(dir.to_string().contains(login), "{dir}");

    // The token is stored as a hash only.
    if let Some(path) = db.sqlite_path() {
        let bytes = std::fs::read(path).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    chrome.close().await;
}

on_both_databases!(an_admin_provisions_through_scim, super::through_scim_provisioning);

/// The SCIM way refuses an account that reads its directory through the API already (one
/// source at a time), says so in words, and leaves the link usable and the connection as it was.
#[tokio::test]
async fn the_scim_way_refuses_an_account_connected_another_way() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    crate::util::connect_by_api_token(&app, "acme").await;
    let (url, _) = new_link(&app, "acme", None).await;
    let (http, csrf) = open_over_http(&app, &url).await;
    let res = http
        .post(format!("{}/setup/connect", app.url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "scim"),
            ("org_url", app.sandbox.url()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("already reads your directory through Okta") && page.contains("disconnect it first"),
        "{page}"
    );
    assert!(!page.contains("scim_"), "no token was made: {page}");
    let (_, links) = api(&app, Method::GET, "/api/accounts/acme/setup-links", None).await;
    assert_eq!(links[0]["state"], "opened", "{links}");
    let (status, _) = api(&app, Method::GET, "/api/accounts/acme/scim", None).await;
    assert_eq!(status, 404);
    let (_, list) = api(&app, Method::GET, "/api/connections", None).await;
    assert!(list.to_string().contains("api_token"), "{list}");
}
