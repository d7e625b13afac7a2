//! Accounts: several orgs at once, each connected its own way (authorization code through its
//! own web app, a pasted API token, a service app with DPoP), managed through the JSON API and
//! the CLI, and listed on the page.
//!
//! Longer than our other files (~890 lines) for a reason: each test is one end-to-end scenario
//! (three orgs connected three ways, the page's forms, the CLI, logs without secrets) that shares
//! the helpers at the top; splitting them would scatter one feature's story.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use okta_bridge::model::AccountName;
use okta_bridge::model::{ConnectionMethod, Expiry, TokenSet};
use okta_sandbox::{Sandbox, SandboxConfig};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::util::{AppOptions, Browser, TestApp, TestDb, api, api_get, sign_in_to_org, spawn_app};

const SVC_CLIENT: &str = "0oaServiceC";
const SVC_KID: &str = "svc-key-1";

/// An RSA key pair: the private key as PKCS#8 PEM, the public one as a JWKS for the sandbox.
fn rsa_key() -> (String, jsonwebtoken::jwk::JwkSet) {
    let k = rsa::RsaPrivateKey::new(&mut rand_core06::OsRng, 2048).unwrap();
    let b = |n: &rsa::BigUint| URL_SAFE_NO_PAD.encode(n.to_bytes_be());
    let public = json!({ "kty": "RSA", "kid": SVC_KID, "alg": "RS256", "use": "sig", "n": b(k.n()), "e": b(k.e()) });
    let pem = k.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string();
    (pem, serde_json::from_value(json!({ "keys": [public] })).unwrap())
}

/// An org of `users` users with the service app [`SVC_CLIENT`], which requires DPoP; and the
/// app's private key (PEM).
async fn service_app_org(users: usize, seed: u64) -> (Sandbox, String) {
    let (pem, jwks) = rsa_key();
    let org = Sandbox::spawn(SandboxConfig {
        users,
        seed,
        service_apps: vec![okta_sandbox::ServiceApp {
            client_id: SVC_CLIENT.into(),
            jwks,
            client_secret: None,
            scopes: vec!["okta.users.read".into()],
            require_dpop: true,
        }],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    (org, pem)
}

/// Every user id of a connection, read page by page through the app's API.
async fn user_ids(app: &TestApp, account: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some(format!("/api/connections/{account}/users?limit=7"));
    while let Some(url) = next {
        let res = api_get(app, &url).await;
        if res.status() != 200 {
            panic!("{account}: {url}: {} {}", res.status(), res.text().await.unwrap());
        }
        next = crate::util::next_link(&res);
        let page: Vec<Value> = res.json().await.unwrap();
        ids.extend(page.into_iter().map(|u| u["id"].as_str().unwrap().to_owned()));
    }
    ids
}

async fn many_orgs_each_connected_its_own_way(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let redirect = format!("{}/oauth/okta_callback", app.url);
    let web_org = Sandbox::spawn(SandboxConfig {
        users: 31,
        redirect_uris: vec![redirect],
        seed: 1,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let token_org = Sandbox::spawn(SandboxConfig {
        users: 22,
        seed: 2,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let (svc_org, pem) = service_app_org(17, 3).await;
    let web_secret = web_org.config().client_secret_value().to_owned();
    let api_token = token_org.config().api_token_value().to_owned();

    // Accounts through the JSON API. The answers never hold a secret.
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({ "name": "web-a", "orgUrl": web_org.url(), "clientId": web_org.config().client_id, "clientSecret": web_secret })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "web");
    assert_eq!(body["status"], "not_connected");
    assert!(!body.to_string().contains(&web_secret));
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({ "name": "web-a", "orgUrl": token_org.url() })),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (409, Some("account_exists")),
        "{body}"
    );
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({ "name": "tok-b", "orgUrl": token_org.url() })),
    )
    .await;
    assert_eq!((status.as_u16(), body["kind"].as_str()), (201, Some("token")), "{body}");
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({ "name": "svc-c", "orgUrl": svc_org.url(), "clientId": SVC_CLIENT, "privateKey": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----" })),
    )
    .await;
    assert_eq!(status, 400, "a key that does not parse is refused: {body}");
    assert!(body["message"].as_str().unwrap().contains("private key"), "{body}");
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({ "name": "svc-c", "orgUrl": svc_org.url(), "clientId": SVC_CLIENT, "privateKey": pem, "keyId": SVC_KID })),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["kind"].as_str()),
        (201, Some("service")),
        "{body}"
    );
    assert!(!body.to_string().contains("PRIVATE KEY"));

    // The web account connects through its own org's sign-in and web app.
    let mut browser = Browser::signed_in(&app).await;
    let res = browser.start_connect(&app.url, Some("web-a")).await;
    assert!(
        res.url().as_str().starts_with(web_org.url()),
        "sent to the account's org: {:?}",
        browser.hops
    );
    let res = sign_in_to_org(&mut browser, res, &web_org).await;
    assert_eq!(res.url().path(), "/", "{:?}", browser.hops);
    let web_a = AccountName::parse("web-a").unwrap();
    let conn = app.store.connection(&web_a).await.unwrap().unwrap();
    assert_eq!(conn.org_url.as_str(), web_org.url());
    assert_eq!(conn.method, ConnectionMethod::AuthorizationCode);
    assert_eq!(web_org.token_grants_of_web_app(), 1);

    // The token account: a wrong token is refused by Okta and nothing is stored.
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts/tok-b/connect",
        Some(json!({ "apiToken": "00wrongtoken" })),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (422, Some("credentials_rejected")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("E0000011"), "{body}");
    assert_eq!(
        body["okta"]["errorCode"], "E0000011",
        "Okta's own error, passed through: {body}"
    );
    assert!(
        body["okta"]["errorId"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert!(!body.to_string().contains("00wrongtoken"));
    let tok_b = AccountName::parse("tok-b").unwrap();
    assert!(app.store.connection(&tok_b).await.unwrap().is_none());
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts/tok-b/connect",
        Some(json!({ "apiToken": api_token })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"].as_str(),
        Some(token_org.config().admin_login.as_str()),
        "whose token, said by /users/me"
    );

    // The service account: Okta requires DPoP, found on the first try and remembered.
    let (status, body) = api(&app, reqwest::Method::POST, "/api/accounts/svc-c/connect", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tokenType"], "DPoP");
    let svc_c = AccountName::parse("svc-c").unwrap();
    assert!(app.store.account(&svc_c).await.unwrap().unwrap().dpop);

    // Each org's users, read through its own connection.
    assert_eq!(user_ids(&app, "web-a").await, web_org.state().listed_user_ids());
    assert_eq!(user_ids(&app, "tok-b").await, token_org.state().listed_user_ids());
    assert_eq!(user_ids(&app, "svc-c").await, svc_org.state().listed_user_ids());
    assert_eq!(web_org.state().listed_user_ids().len(), 31);

    // New credentials for a connected account take effect at once (the cached client goes);
    // another org or another kind of app needs a disconnect first.
    let (other_pem, _) = rsa_key();
    let svc = |key: &str| json!({ "name": "svc-c", "orgUrl": svc_org.url(), "clientId": SVC_CLIENT, "privateKey": key, "keyId": SVC_KID });
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts?replace=true",
        Some(svc(&other_pem)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["dpop"], true, "the same app still needs DPoP");
    let res = api_get(&app, "/api/connections/svc-c/users").await;
    assert_eq!(res.status(), 502, "a key Okta does not know is used at once");
    assert!(res.text().await.unwrap().contains("invalid_client"));
    let (status, _) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts?replace=true",
        Some(svc(&pem)),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(user_ids(&app, "svc-c").await.len(), 17);
    for (replacement, why) in [
        (json!({ "name": "tok-b", "orgUrl": web_org.url() }), "another org"),
        (
            json!({ "name": "web-a", "orgUrl": web_org.url(), "clientId": SVC_CLIENT, "privateKey": pem }),
            "kind of app",
        ),
    ] {
        let (status, body) = api(
            &app,
            reqwest::Method::POST,
            "/api/accounts?replace=true",
            Some(replacement),
        )
        .await;
        assert_eq!(
            (status.as_u16(), body["error"].as_str()),
            (409, Some("conflict")),
            "{body}"
        );
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }

    // An expired token of the web account is refreshed with that account's app at its org.
    app.store
        .update_tokens(
            &web_a,
            conn.version,
            &TokenSet {
                access_token: conn.access_token.clone(),
                refresh_token: conn.refresh_token.clone(),
                expires_at: Expiry::At(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(user_ids(&app, "web-a").await.len(), 31);
    assert_eq!(web_org.token_grants_of_web_app(), 2, "one code grant, one refresh");

    // The accounts list: each with its status and how it is connected, no secret.
    let (status, list) = api(&app, reqwest::Method::GET, "/api/accounts", None).await;
    assert_eq!(status, 200);
    let summary: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
                a["connection"]["method"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("svc-c".into(), "connected".into(), "service_app".into()),
            ("tok-b".into(), "connected".into(), "api_token".into()),
            ("web-a".into(), "connected".into(), "authorization_code".into()),
        ]
    );
    let text = list.to_string();
    for secret in [web_secret.as_str(), api_token.as_str(), "PRIVATE KEY"] {
        assert!(!text.contains(secret));
    }
    let page = browser.visit(&format!("{}/", app.url)).await.text().await.unwrap();
    for expected in ["web-a", "tok-b", "svc-c", "service app (DPoP)", "API token", SVC_CLIENT] {
        assert!(page.contains(expected), "the page shows {expected}");
    }
    assert!(!page.contains(&web_secret) && !page.contains(&api_token));

    // A connected account is not removed (its tokens would be stranded); disconnected, it is.
    let (status, body) = api(&app, reqwest::Method::DELETE, "/api/accounts/web-a", None).await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let res = reqwest::Client::new()
        .delete(format!("{}/api/connections/web-a", app.url))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "disconnect revokes with the account's app");
    assert_eq!(web_org.state().live_refresh_tokens(), 0);
    let (status, _) = api(&app, reqwest::Method::DELETE, "/api/accounts/web-a", None).await;
    assert_eq!(status, 200);
    let (status, _) = api(&app, reqwest::Method::GET, "/api/accounts/web-a", None).await;
    assert_eq!(status, 404);
    let events: Vec<String> = app
        .store
        .audit(&web_a)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["disconnected", "account_removed"]);

    // Disconnecting the API-token account with revocation asked for: Okta refuses the token
    // from then on.
    let res = reqwest::Client::new()
        .delete(format!("{}/api/connections/tok-b?revokeApiToken=true", app.url))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["revoked"], json!(["api_token"]), "{body}");
    assert!(!token_org.state().api_token_live(), "revoked at the org");
    let events = app.store.audit(&tok_b).await.unwrap();
    assert_eq!(events.last().unwrap().detail.as_deref(), Some("revoked the API token"));

    // No secret is in the database files.
    if db.is_sqlite() {
        app.store.close().await;
        let pem_body = pem.lines().nth(5).unwrap().to_owned();
        for file in db.files() {
            let bytes = std::fs::read(&file).unwrap_or_default();
            for secret in [web_secret.as_str(), api_token.as_str(), pem_body.as_str()] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds a secret",
                    file.display()
                );
            }
        }
    }
}
on_both_databases!(
    many_orgs_each_connected_its_own_way,
    super::many_orgs_each_connected_its_own_way
);

/// Counts a sandbox's grants to its registered web app.
trait WebGrants {
    fn token_grants_of_web_app(&self) -> u64;
}

impl WebGrants for Sandbox {
    fn token_grants_of_web_app(&self) -> u64 {
        self.state().token_grants(&self.config().client_id)
    }
}

#[tokio::test]
async fn the_page_adds_accounts_and_connects_a_pasted_api_token_and_refuses_forged_forms() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::signed_in(&app).await;
    let page = browser.visit(&format!("{}/", app.url)).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("Add an account"));
    let csrf = crate::util::hidden_value(&html, "csrf");

    // The page's add-account form: a forged one is refused, a wrong field explained, and the
    // fields of another kind of app than the one chosen are not taken.
    let add =
        |fields: Vec<(&'static str, String)>| browser.http.post(format!("{}/accounts", app.url)).form(&fields).send();
    let token_account = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", "pasted".to_owned()),
            ("org_url", app.sandbox.url().to_owned()),
            ("kind", "token".to_owned()),
            ("client_secret", "typed-in-the-wrong-box".to_owned()),
        ]
    };
    assert_eq!(add(token_account("forged")).await.unwrap().status(), 403);
    let mut bad = token_account(&csrf);
    bad[2].1 = "ftp://acme.okta.com".to_owned();
    let res = add(bad).await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("ftp"));
    assert!(app.store.accounts().await.unwrap().is_empty());
    let res = add(token_account(&csrf)).await.unwrap();
    assert_eq!(res.status(), 303, "back to the list");
    let web = vec![
        ("csrf", csrf.clone()),
        ("name", "web".to_owned()),
        ("org_url", app.sandbox.url().to_owned()),
        ("kind", "web".to_owned()),
        ("client_id", app.sandbox.config().client_id.clone()),
        ("client_secret", app.sandbox.config().client_secret_value().to_owned()),
        ("private_key", "ignored for a web app".to_owned()),
    ];
    assert_eq!(add(web).await.unwrap().status(), 303);
    let kinds: Vec<&str> = app
        .store
        .accounts()
        .await
        .unwrap()
        .iter()
        .map(|a| a.app.kind().as_str())
        .collect();
    assert_eq!(kinds, ["token", "web"]);
    let html = browser.visit(&format!("{}/", app.url)).await.text().await.unwrap();
    assert!(html.contains("none (API token)"), "the token account's row");
    assert!(html.contains(&format!("OAuth web app {}", app.sandbox.config().client_id)));
    assert!(!html.contains(app.sandbox.config().client_secret_value()));
    let action = format!("{}/accounts/pasted/connect", app.url);

    // Without the page's CSRF token: refused, nothing stored.
    let res = browser
        .http
        .post(&action)
        .form(&[
            ("csrf", "forged"),
            ("api_token", app.sandbox.config().api_token_value()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let pasted = AccountName::parse("pasted").unwrap();
    assert!(app.store.connection(&pasted).await.unwrap().is_none());

    // A wrong token: Okta's refusal shown, nothing stored.
    let res = browser
        .http
        .post(&action)
        .form(&[("csrf", csrf.as_str()), ("api_token", "00nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("did not accept the API token"));
    assert!(app.store.connection(&pasted).await.unwrap().is_none());

    let res = browser
        .http
        .post(&action)
        .form(&[
            ("csrf", csrf.as_str()),
            ("api_token", app.sandbox.config().api_token_value()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "back to the list");
    let conn = app.store.connection(&pasted).await.unwrap().unwrap();
    assert_eq!(conn.method, ConnectionMethod::ApiToken);
    assert_eq!(
        conn.access_token.expose_secret(),
        app.sandbox.config().api_token_value()
    );
    assert_eq!(user_ids(&app, "pasted").await, app.sandbox.state().listed_user_ids());

    // The token is revoked at Okta (or expires unused): the connection says so, and Okta is
    // not asked again with it.
    let res = reqwest::Client::new()
        .delete(format!("{}/api/v1/api-tokens/current", app.sandbox.url()))
        .header(
            "authorization",
            format!("SSWS {}", app.sandbox.config().api_token_value()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    for _ in 0..2 {
        let res = api_get(&app, "/api/connections/pasted/users").await;
        assert_eq!(res.status(), 409);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "reconnect_required");
    }
    let (_, account) = api(&app, reqwest::Method::GET, "/api/accounts/pasted", None).await;
    assert_eq!(account["status"], "needs_reauth", "{account}");
    assert!(account["statusReason"].as_str().unwrap().contains("API token"));
    let page = browser.visit(&format!("{}/", app.url)).await.text().await.unwrap();
    assert!(page.contains("needs to be connected again"));
    // A web-app flow is not started for an account that has no web app.
    let res = browser
        .visit(&format!("{}/authenticate_okta?account=pasted", app.url))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("API token"));
}

/// Runs the CLI with `stdin`, against `db`.
async fn cli(db: &TestDb, args: &[&str], stdin: &str) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args(args)
        .env_clear()
        .env("OKTA_BRIDGE_SYNC_INTERVAL", "0")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OKTA_BRIDGE_DATABASE_URL", &db.url)
        .env("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the command finishes")
        .unwrap()
}

#[tokio::test]
async fn the_cli_manages_accounts_with_secrets_from_stdin_and_files() {
    let db = TestDb::sqlite();
    let org = Sandbox::spawn(SandboxConfig {
        users: 12,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let secret = org.config().client_secret_value().to_owned();
    let ok = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // An account that does not pass its checks creates nothing, not even the database.
    let out = cli(&db, &["accounts", "add", "Not Valid", "--org-url", org.url()], "").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("account name"));
    assert!(db.files().is_empty(), "no database was created: {:?}", db.files());

    // A web app, its secret on stdin.
    let out = cli(
        &db,
        &[
            "accounts",
            "add",
            "acme",
            "--org-url",
            org.url(),
            "--client-id",
            &org.config().client_id,
            "--client-secret-stdin",
            "--dev-allow-private-orgs",
        ],
        &format!("{secret}\n"),
    )
    .await;
    assert!(ok(&out).contains("Added account acme"));
    // Secrets are never taken from argv: there is no such flag.
    let out = cli(
        &db,
        &[
            "accounts",
            "add",
            "x",
            "--org-url",
            org.url(),
            "--client-secret",
            &secret,
            "--dev-allow-private-orgs",
        ],
        "",
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unexpected argument '--client-secret'"), "{err}");
    // Without the development switch a loopback org is refused, with the switch named.
    let out = cli(&db, &["accounts", "add", "local", "--org-url", org.url()], "").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS"));
    // An API-token account, connected with the token from a file.
    ok(&cli(
        &db,
        &[
            "accounts",
            "add",
            "acme-token",
            "--org-url",
            org.url(),
            "--dev-allow-private-orgs",
        ],
        "",
    )
    .await);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", org.config().api_token_value())).unwrap();
    let out = cli(
        &db,
        &[
            "accounts",
            "connect",
            "acme-token",
            "--api-token-file",
            token_file.to_str().unwrap(),
            "--dev-allow-private-orgs",
        ],
        "",
    )
    .await;
    assert!(ok(&out).contains(&format!("API token of {}", org.config().admin_login)));
    let out = cli(
        &db,
        &[
            "accounts",
            "connect",
            "acme-token",
            "--api-token-stdin",
            "--dev-allow-private-orgs",
        ],
        "00wrong\n",
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not accept") && !err.contains("00wrong"), "{err}");

    let out = ok(&cli(&db, &["accounts", "list", "--format", "json"], "").await);
    assert!(!out.contains(&secret) && !out.contains(org.config().api_token_value()));
    let list: Value = serde_json::from_str(&out).unwrap();
    let rows: Vec<(&str, &str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap(),
                a["kind"].as_str().unwrap(),
                a["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("acme", "web", "not_connected"), ("acme-token", "token", "connected")]
    );

    // The stored connection serves `users list`.
    let out = ok(&cli(
        &db,
        &[
            "users",
            "list",
            "--connection",
            "acme-token",
            "--format",
            "ndjson",
            "--dev-allow-private-orgs",
        ],
        "",
    )
    .await);
    assert_eq!(out.lines().count(), 12);
    let out = ok(&cli(&db, &["connections", "list"], "").await);
    let row = out.lines().find(|l| l.starts_with("acme-token")).expect(&out);
    assert!(
        row.contains("api_token") && row.contains("connected") && row.contains("never"),
        "{out}"
    );

    // `serve` without OKTA_CLIENT_ORGURL serves the accounts of its database (no sandbox).
    let admin = "admin-token-for-accounts";
    let (mut server, url) = crate::util::spawn_server_process(&[
        ("OKTA_BRIDGE_DATABASE_URL", db.url.as_str()),
        ("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str()),
        ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0"),
        ("OKTA_BRIDGE_ADMIN_TOKEN", admin),
        ("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true"),
    ])
    .await;
    let get = |path: &str| {
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .bearer_auth(admin)
            .send()
    };
    let listed: Value = get("/api/accounts").await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let users: Value = get("/api/connections/acme-token/users?limit=5")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 5, "{users}");
    let mut browser = Browser::new();
    browser.sign_in(&url, admin).await;
    let res = browser.visit(&format!("{url}/authenticate_okta")).await;
    assert_eq!(
        res.status(),
        404,
        "no sandbox behind a plain Connect: {:?}",
        browser.hops
    );
    server.kill().await.unwrap();

    // Remove: refused while connected, done once disconnected.
    let out = cli(&db, &["accounts", "remove", "acme-token"], "").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("disconnect it first"));
    let out = ok(&cli(&db, &["connections", "disconnect", "acme-token"], "").await);
    assert!(out.contains("Disconnected acme-token."), "{out}");
    assert!(
        org.state().api_token_live(),
        "an API token is forgotten, not revoked, unless asked"
    );
    ok(&cli(&db, &["accounts", "remove", "acme-token"], "").await);
    ok(&cli(&db, &["accounts", "remove", "acme"], "").await);
    let out = ok(&cli(&db, &["accounts", "list"], "").await);
    assert!(out.contains("No accounts yet"));
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// An account whose web app signs in at a custom authorization server, found by discovery:
/// connected and refreshed there, with no server-wide OAuth settings involved.
async fn an_account_at_a_custom_authorization_server(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let issuer = format!("{}/oauth2/default", app.sandbox.url());
    let c = app.sandbox.config();
    let (status, body) = api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(json!({
            "name": "custom", "orgUrl": app.sandbox.url(), "clientId": c.client_id,
            "clientSecret": c.client_secret_value(), "issuer": issuer, "scopes": "openid offline_access",
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["issuer"], issuer.as_str());

    let mut browser = Browser::signed_in(&app).await;
    let res = browser.start_connect(&app.url, Some("custom")).await;
    assert!(
        browser
            .hops
            .iter()
            .any(|h| h.starts_with(&format!("{issuer}/v1/authorize"))),
        "the custom server's authorize endpoint: {:?}",
        browser.hops
    );
    let res = sign_in_to_org(&mut browser, res, &app.sandbox).await;
    assert_eq!(res.url().path(), "/", "{:?}", browser.hops);
    let account = AccountName::parse("custom").unwrap();
    let conn = app.store.connection(&account).await.unwrap().unwrap();
    assert_eq!(claims(conn.access_token.expose_secret())["iss"], issuer.as_str());

    // Refreshed with the account's app, at the custom server, by a refresher that has no
    // server-wide app at all.
    let grants = app.sandbox.state().token_grants(&c.client_id);
    let refresher = crate::util::refresher(&app.store, None, Duration::from_secs(60));
    let fresh = refresher.refresh_now(&account).await.unwrap();
    assert_eq!(claims(fresh.expose_secret())["iss"], issuer.as_str());
    assert_ne!(fresh.expose_secret(), conn.access_token.expose_secret());
    assert_eq!(app.sandbox.state().token_grants(&c.client_id), grants + 1);
}
on_both_databases!(
    account_at_a_custom_authorization_server,
    super::an_account_at_a_custom_authorization_server
);

/// Adding and connecting accounts every way, with every crate logging at trace level: no
/// secret (client secret, private key, API tokens, access tokens, client assertions) in the logs.
#[tokio::test]
async fn no_secret_of_any_account_reaches_the_logs() {
    let db = TestDb::sqlite();
    let (org, pem) = service_app_org(9, 4).await;
    let admin = "trace-logs-admin-token-0123456789";
    let (mut child, url) = crate::util::spawn_server_process_with(
        &[
            ("OKTA_BRIDGE_DATABASE_URL", db.url.as_str()),
            ("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str()),
            ("OKTA_BRIDGE_ADMIN_TOKEN", admin),
            ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0"),
            ("OKTA_BRIDGE_LOG", "trace"),
            ("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true"),
            ("OKTA_CLIENT_ORGURL", org.url()),
            ("OKTA_CLIENT_CLIENTID", &org.config().client_id),
            ("OKTA_CLIENT_CLIENTSECRET", org.config().client_secret_value()),
        ],
        std::process::Stdio::piped(),
    )
    .await;
    // The logs are read while the server runs: at trace level they outgrow a pipe's buffer,
    // and a server whose stderr is full stops answering.
    let mut stderr = child.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut buf).await;
        buf
    });
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http.request(method, format!("{url}{path}")).bearer_auth(admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let c = org.config();
    let accounts = [
        json!({ "name": "web", "orgUrl": org.url(), "clientId": c.client_id, "clientSecret": c.client_secret_value() }),
        json!({ "name": "svc", "orgUrl": org.url(), "clientId": SVC_CLIENT, "privateKey": pem, "keyId": SVC_KID }),
        json!({ "name": "tok", "orgUrl": org.url() }),
    ];
    for a in accounts {
        let res = call(reqwest::Method::POST, "/api/accounts", Some(a)).await.unwrap();
        assert_eq!(res.status(), 201);
    }
    let res = call(
        reqwest::Method::POST,
        "/api/accounts/tok/connect",
        Some(json!({ "apiToken": "00wrong-token-in-logs?" })),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    for (path, body) in [
        (
            "/api/accounts/tok/connect",
            Some(json!({ "apiToken": c.api_token_value() })),
        ),
        ("/api/accounts/svc/connect", None),
    ] {
        let res = call(reqwest::Method::POST, path, body).await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    for account in ["tok", "svc"] {
        let res = call(reqwest::Method::GET, &format!("/api/connections/{account}/users"), None)
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Vec<Value>>().await.unwrap().len(), 9);
    }
    child.kill().await.unwrap();
    let logs = logs.await.unwrap();
    let logs = String::from_utf8_lossy(&logs);
    assert!(logs.contains("TRACE"), "logging at trace level: {logs}");
    let pem_line = pem.lines().nth(3).unwrap();
    for secret in [
        admin,
        c.client_secret_value(),
        c.api_token_value(),
        "00wrong-token-in-logs",
        pem_line,
        // Every JWT (access tokens, client assertions) starts so.
        "eyJ",
    ] {
        assert!(!logs.contains(secret), "{secret:?} in the logs");
    }
}
