//! Forms carry CSRF tokens, pages carry security headers, connecting needs the admin.

use okta_bridge::egress::Egress;
use reqwest::header::LOCATION;

use crate::util::{AppOptions, Browser, TestDb, hidden_value, spawn_app};

#[tokio::test]
async fn forms_refuse_requests_from_other_sites() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    // A page of another site can post the admin token field, but not the CSRF token.
    let mut browser = Browser::new();
    browser.visit(&format!("{}/login", app.url)).await;
    let res = browser
        .http
        .post(format!("{}/login", app.url))
        .form(&[("token", app.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no CSRF token");
    assert!(
        res.headers()
            .get(reqwest::header::SET_COOKIE)
            .is_none_or(|c| !c.to_str().unwrap().contains("okta_bridge_session="))
    );
    let res = browser
        .http
        .post(format!("{}/login", app.url))
        .form(&[("token", app.admin_token.as_str()), ("csrf", "guessed")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a wrong CSRF token");

    // Signed in: signing out needs the page's token too.
    let browser = Browser::signed_in(&app).await;
    let res = browser
        .http
        .post(format!("{}/logout", app.url))
        .form(&[("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "a form from elsewhere has no token");
    let still = browser.http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(still.status(), 200, "still signed in");
    let index = still.text().await.unwrap();
    let csrf = hidden_value(&index, "csrf");
    let res = browser
        .http
        .post(format!("{}/logout", app.url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/login");
    let after = browser.http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(after.headers()[LOCATION], "/login", "signed out");
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let browser = Browser::signed_in(&app).await;
    for path in ["/", "/login", "/api/connections", "/healthz", "/nowhere"] {
        let res = browser.http.get(format!("{}{path}", app.url)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
    // The session cookie: HttpOnly, SameSite=Lax (Secure when the public URL is https).
    let mut b = Browser::new();
    let page = b.visit(&format!("{}/login", app.url)).await;
    let html = page.text().await.unwrap();
    let csrf = hidden_value(&html, "csrf");
    let res = b
        .http
        .post(format!("{}/login", app.url))
        .form(&[("token", app.admin_token.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("okta_bridge_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}

/// This machine's name: a name that looks public but resolves to a loopback address (Debian
/// puts it in /etc/hosts; so do containers).
fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("the kernel names this machine")
        .trim()
        .to_ascii_lowercase()
}

#[tokio::test]
async fn org_names_are_resolved_and_private_addresses_refused() {
    use std::net::ToSocketAddrs;
    let host = local_hostname();
    let addrs: Vec<std::net::IpAddr> = (host.as_str(), 443)
        .to_socket_addrs()
        .map(|a| a.map(|s| s.ip()).collect())
        .unwrap_or_default();
    assert!(
        !addrs.is_empty() && addrs.iter().all(|ip| ip.is_loopback()),
        "this test needs the machine's name ({host}) to resolve to loopback, as /etc/hosts has it: {addrs:?}"
    );
    let url = okta_client::OrgUrl::parse(&format!("https://{host}")).unwrap();
    assert!(
        Egress::public_only().check_url(&url).is_ok(),
        "{host} looks like a public name"
    );
    let err = Egress::public_only()
        .check_resolves(&url)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&addrs[0].to_string()) && err.contains("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS"),
        "{err}"
    );
    assert!(
        crate::util::dev_egress().check_resolves(&url).await.is_ok(),
        "the development switch allows it"
    );

    // Through the API of a server without the development switch: refused, nothing stored.
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            allow_private_orgs: false,
            ..AppOptions::default()
        },
    )
    .await;
    for (org, expected) in [
        (format!("https://{host}"), format!("resolves to {}", addrs[0])),
        ("https://10.1.2.3".to_owned(), "private".to_owned()),
        (app.sandbox.url().to_owned(), "https".to_owned()),
        ("https://no-such-org.invalid".to_owned(), "check the org URL".to_owned()),
    ] {
        let res = reqwest::Client::new()
            .post(format!("{}/api/accounts", app.url))
            .bearer_auth(&app.admin_token)
            .json(&serde_json::json!({ "name": "acme", "orgUrl": org }))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(status, 400, "{org}: {body}");
        assert!(body["message"].as_str().unwrap().contains(&expected), "{org}: {body}");
    }
    assert!(app.store.accounts().await.unwrap().is_empty());
}

/// A name that passed when its account was added may resolve elsewhere later (DNS rebinding):
/// every connection to an account's org resolves it again and refuses private addresses, for
/// API tokens, service apps and web apps alike, unless the development switch is on.
#[tokio::test]
async fn connections_to_orgs_refuse_names_that_resolve_to_private_addresses() {
    use okta_bridge::model::{ApiToken, NewAccount, RefreshToken};
    let host = local_hostname();
    let db = TestDb::sqlite();
    let store = db.open().await;
    // As if the name had resolved to a public address when the account was added.
    let add = |name: &str, extra: NewAccount| NewAccount {
        name: name.into(),
        org_url: format!("https://{host}:1"),
        ..extra
    };
    let token = add("rebound-token", NewAccount::default())
        .validate(&crate::util::dev_egress(), 0)
        .unwrap();
    let web = add(
        "rebound-web",
        NewAccount {
            client_id: Some("0oaWeb".into()),
            client_secret: Some(okta_bridge::model::ClientSecret::from("s3cret".to_owned())),
            ..NewAccount::default()
        },
    )
    .validate(&crate::util::dev_egress(), 0)
    .unwrap();
    let strict = crate::util::service(&store, None, Egress::public_only());
    let lax = crate::util::service(&store, None, crate::util::dev_egress());
    for a in [&token, &web] {
        strict.save_account(a, false).await.unwrap();
    }
    let refused = |e: &okta_bridge::Error| {
        let m = e.to_string();
        m.contains("resolves to 127.0.0.1") && m.contains("refusing to connect")
    };

    let secret = ApiToken::new("00token");
    let err = strict.connect_api_token(&token, &secret).await.unwrap_err();
    assert!(refused(&err), "{err}");
    let err = lax.connect_api_token(&token, &secret).await.unwrap_err();
    assert!(!refused(&err), "with the switch the connection is tried: {err}");

    let key = okta_bridge::model::NewAccount {
        name: "rebound-svc".into(),
        org_url: format!("https://{host}:1"),
        client_id: Some("0oaSvc".into()),
        private_key: Some(okta_bridge::model::PrivateKeyPem::from(test_private_key())),
        ..NewAccount::default()
    }
    .validate(&crate::util::dev_egress(), 0)
    .unwrap();
    let err = strict.connect_service_app(&key).await.unwrap_err();
    assert!(refused(&err), "{err}");

    let app = strict.apps().web_app(&web.name).await.unwrap().unwrap();
    let err = app.refresh(&web.name, &RefreshToken::new("rt")).await.unwrap_err();
    assert!(refused(&err), "{err}");
    assert!(store.connections().await.unwrap().is_empty(), "nothing stored");
}

/// An RSA private key in PKCS#8 PEM.
fn test_private_key() -> String {
    use rsa::pkcs8::EncodePrivateKey;
    rsa::RsaPrivateKey::new(&mut rand_core06::OsRng, 2048)
        .unwrap()
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

/// Issue 11, finding 1: a page of another origin (another port of 127.0.0.1, a sibling
/// subdomain) cannot drive the JSON API with the admin's cookie, and a connected account's
/// credentials cannot be pointed at another app or authorization server.
async fn the_api_cannot_be_driven_cross_origin(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let account = |client_id: &str, issuer: Option<String>| {
        let mut a = serde_json::json!({
            "name": "acme",
            "orgUrl": app.sandbox.url(),
            "clientId": client_id,
            "clientSecret": app.sandbox.config().client_secret_value(),
        });
        if let Some(i) = issuer {
            a["issuer"] = i.into();
        }
        a
    };
    let client_id = app.sandbox.config().client_id.clone();
    let (status, body) = crate::util::api(
        &app,
        reqwest::Method::POST,
        "/api/accounts",
        Some(account(&client_id, None)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut browser = Browser::signed_in(&app).await;
    let res = browser.start_connect(&app.url, Some("acme")).await;
    let res = crate::util::sign_in_to_org(&mut browser, res, &app.sandbox).await;
    assert_eq!(res.url().path(), "/");
    let attacker_issuer = format!("{}/oauth2/default", app.sandbox.url());
    let forged = account(&client_id, Some(attacker_issuer.clone())).to_string();
    let replace = format!("{}/api/accounts?replace=true", app.url);

    // The attack of the review: text/plain (no preflight), the admin's cookie, from a page on
    // another port: refused by the origin check.
    let res = browser
        .http
        .post(&replace)
        .header("content-type", "text/plain")
        .header("origin", "http://127.0.0.1:9")
        .header("sec-fetch-site", "same-site")
        .body(forged.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["error"], "cross_origin");
    // Each line on its own: the cookie is no credential for the API ...
    let res = browser
        .http
        .post(&replace)
        .header("content-type", "application/json")
        .body(forged.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the session cookie is not accepted by the API");
    // ... a JSON body must say it is JSON ...
    let res = reqwest::Client::new()
        .post(&replace)
        .bearer_auth(&app.admin_token)
        .header("content-type", "text/plain")
        .body(forged.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    // ... and even the admin cannot silently point a connected account at another issuer or app.
    let (status, body) = crate::util::api(
        &app,
        reqwest::Method::POST,
        "/api/accounts?replace=true",
        Some(account(&client_id, Some(attacker_issuer))),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("issuer"), "{body}");
    let (status, body) = crate::util::api(
        &app,
        reqwest::Method::POST,
        "/api/accounts?replace=true",
        Some(account("0oaSomeoneElse", None)),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("client id"), "{body}");
    let stored = app
        .store
        .account(&okta_bridge::model::AccountName::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.issuer.is_none(), "nothing changed");
    // New credentials of the same app are still taken (a rotated secret).
    let (status, body) = crate::util::api(
        &app,
        reqwest::Method::POST,
        "/api/accounts?replace=true",
        Some(account(&client_id, None)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // The pages' own forms still work: a same-origin POST with its CSRF token.
    let res = browser
        .http
        .post(format!("{}/accounts", app.url))
        .header("origin", app.url.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", "not-the-token"), ("name", "x"), ("org_url", app.sandbox.url())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        403,
        "same origin, but no CSRF token: the form's own check"
    );
    assert!(res.text().await.unwrap().contains("did not come from this site"));
}
crate::flow::on_both_databases!(
    the_api_refuses_cross_origin_requests,
    super::the_api_cannot_be_driven_cross_origin
);

/// A proxy from the environment (`HTTPS_PROXY`, `ALL_PROXY`) would resolve an org's name itself,
/// past the public-addresses guard: org traffic never goes through one.
#[tokio::test]
async fn proxies_from_the_environment_do_not_bypass_the_guard() {
    use tokio::io::AsyncWriteExt;
    let host = local_hostname();
    let db = TestDb::sqlite();
    // A "proxy" that counts who comes to it.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let visits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = visits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = proxy.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = sock
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let run = |args: Vec<String>, proxied: bool| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"));
        c.args(&args)
            .env_clear()
            .env("OKTA_BRIDGE_SYNC_INTERVAL", "0")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OKTA_BRIDGE_DATABASE_URL", &db.url)
            .env("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str())
            .stdin(std::process::Stdio::piped())
            .kill_on_drop(true);
        if proxied {
            for var in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"] {
                c.env(var, &proxy_url);
            }
        }
        c
    };
    // Added while the name looked public (the switch stands in for that here).
    let out = run(
        vec![
            "accounts".into(),
            "add".into(),
            "rebound".into(),
            "--org-url".into(),
            format!("https://{host}:1"),
            "--dev-allow-private-orgs".into(),
        ],
        false,
    )
    .output()
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child = run(
        vec![
            "accounts".into(),
            "connect".into(),
            "rebound".into(),
            "--api-token-stdin".into(),
        ],
        true,
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    child.stdin.take().unwrap().write_all(b"00token\n").await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("resolves to 127.0.0.1") || err.contains("resolves to ::1"),
        "{err}"
    );
    assert_eq!(
        visits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the proxy saw nothing"
    );
}

/// Starting a connect is a POST with the page's CSRF token: a GET (a link, a prefetch, another
/// site's image) only shows the page with the button; a post without the token, from another
/// origin, or by someone not signed in starts nothing.
#[tokio::test]
async fn starting_a_connect_takes_a_post_with_the_pages_csrf_token() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let browser = Browser::signed_in(&app).await;
    let start = format!("{}/authenticate_okta", app.url);

    let res = browser.http.get(&start).send().await.unwrap();
    assert_eq!(res.status(), 200, "a page, not a redirect to Okta");
    assert!(
        res.headers().get(reqwest::header::SET_COOKIE).is_none(),
        "no flow's cookie"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("method=\"post\" action=\"/authenticate_okta\""), "{html}");
    assert!(html.contains(app.sandbox.url()), "says which org: {html}");
    let index = browser
        .http
        .get(format!("{}/", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !index.contains("href=\"/authenticate_okta"),
        "no link starts a flow: {index}"
    );

    for (form, origin, what) in [
        (vec![], None, "no CSRF token"),
        (vec![("csrf", "forged")], None, "a forged CSRF token"),
        (
            vec![("csrf", hidden_value(&html, "csrf").leak() as &str)],
            Some("http://127.0.0.1:1"),
            "another origin",
        ),
    ] {
        let mut req = browser.http.post(&start).form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "{what}");
        assert!(res.headers().get(LOCATION).is_none(), "{what}: nothing started");
    }
    let res = Browser::new()
        .http
        .post(&start)
        .form(&[("csrf", hidden_value(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/login", "only the admin starts a connection");

    // With the page's token: off to Okta.
    let res = browser.connect_request(&app.url, None).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with(&format!("{}/oauth2/v1/authorize?", app.sandbox.url()))
    );
}

/// The `name=value` of the `Set-Cookie` of `res` whose name contains `part`, and the whole
/// header.
fn set_cookie_named(res: &reqwest::Response, part: &str) -> (String, String) {
    let header = res
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.split(';').next().unwrap().contains(part))
        .unwrap_or_else(|| panic!("no {part} cookie"));
    (header.split(';').next().unwrap().to_owned(), header)
}

/// Behind https (the public URL), every cookie is `__Host-`: `Secure`, `Path=/`, no `Domain`,
/// so a sibling subdomain or a plain-http page cannot set or shadow it; the unprefixed name
/// is not accepted.
#[tokio::test]
async fn cookies_are_host_prefixed_behind_https() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            public_url: Some("https://bridge.example.com".into()),
            ..AppOptions::default()
        },
    )
    .await;
    // A browser over https would keep and send these; the test carries them by hand.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http.get(format!("{}/login", app.url)).send().await.unwrap();
    let (login_csrf, header) = set_cookie_named(&res, "login_csrf");
    assert!(login_csrf.starts_with("__Host-okta_bridge_login_csrf="), "{header}");
    assert!(
        header.contains("; Secure") && header.contains("Path=/;") && !header.contains("Domain"),
        "{header}"
    );
    let csrf = hidden_value(&res.text().await.unwrap(), "csrf");
    let res = http
        .post(format!("{}/login", app.url))
        .header("cookie", &login_csrf)
        .form(&[("csrf", csrf.as_str()), ("token", app.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[LOCATION], "/", "signed in");
    let (session, header) = set_cookie_named(&res, "session");
    assert!(session.starts_with("__Host-okta_bridge_session="), "{header}");
    assert!(header.contains("; Secure") && header.contains("Path=/;"), "{header}");

    let index = |cookie: String| http.get(format!("{}/", app.url)).header("cookie", cookie).send();
    let res = index(session.clone()).await.unwrap();
    assert_eq!(res.status(), 200, "the prefixed session works");
    let html = res.text().await.unwrap();
    let unprefixed = session.trim_start_matches("__Host-").to_owned();
    let res = index(unprefixed).await.unwrap();
    assert_eq!(
        res.headers()[LOCATION],
        "/login",
        "the unprefixed name is not the session"
    );

    // The connect flow's binding cookie too (it was Path=/oauth; __Host- needs Path=/).
    let res = http
        .post(format!("{}/authenticate_okta", app.url))
        .header("cookie", &session)
        .form(&[("csrf", hidden_value(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (binding, header) = set_cookie_named(&res, "okta_bridge_");
    assert!(binding.starts_with("__Host-"), "{header}");
    assert!(header.contains("; Secure") && header.contains("Path=/;"), "{header}");
}

/// Over plain http (development), cookies keep their plain names: `__Host-` cookies are
/// refused by browsers without https.
#[tokio::test]
async fn cookies_are_plain_over_http() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let res = reqwest::Client::new()
        .get(format!("{}/login", app.url))
        .send()
        .await
        .unwrap();
    let (login_csrf, header) = set_cookie_named(&res, "login_csrf");
    assert!(login_csrf.starts_with("okta_bridge_login_csrf="), "{header}");
    assert!(!header.contains("Secure"), "{header}");
}

/// Issue 25, finding 4: clients that announce a body and withhold it hold their connection
/// only until the body deadline. With every connection slot taken by such clients, they are
/// answered (and closed) after the deadline, and the server serves others again.
#[tokio::test]
async fn withheld_bodies_hold_connections_only_until_the_deadline() {
    use std::time::Duration;
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            settings: Box::new(|s| {
                s.max_connections = 16;
                s.body_read_timeout = 1;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let held: Vec<_> = (0..16)
        .map(|_| {
            let url = app.url.clone();
            tokio::spawn(async move {
                crate::util::withhold_body(&url, "/login", form, 1_000, Duration::from_secs(20)).await
            })
        })
        .collect();
    let health = tokio::time::timeout(Duration::from_secs(20), async {
        reqwest::get(format!("{}/healthz", app.url)).await.unwrap().status()
    })
    .await;
    assert_eq!(
        health.ok().map(|s| s.as_u16()),
        Some(200),
        "the server serves again once the withheld bodies' deadline passed"
    );
    for h in held {
        let answer = h.await.unwrap();
        assert!(
            answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 4")),
            "each withheld body is refused, not waited for: {answer:?}"
        );
    }
}

/// Issue 25, finding 4 (long polls) and finding 6: long polls of the change feed count
/// against a cap of their own (one more is answered 429 at once, with `Retry-After`), and a
/// long poll whose key is revoked while it waits answers 401, not the events it woke to.
async fn long_polls_are_capped_and_recheck_their_key(db: TestDb) {
    use std::time::Duration;

    use reqwest::Method;
    use serde_json::{Value, json};
    let app = spawn_app(
        &db,
        AppOptions {
            settings: Box::new(|s| s.max_long_polls = 2),
            ..AppOptions::default()
        },
    )
    .await;
    crate::util::connect_by_api_token(&app, "acme").await;
    let (status, key) = crate::util::api(
        &app,
        Method::POST,
        "/api/api-keys",
        Some(json!({ "name": "poller", "scope": "directory:read" })),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let secret = key["key"].as_str().unwrap().to_owned();
    let (status, other) = crate::util::api(
        &app,
        Method::POST,
        "/api/api-keys",
        Some(json!({ "name": "other", "scope": "directory:read" })),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    let other = other["key"].as_str().unwrap().to_owned();
    // Whether key `name` was let in: its use is recorded when it is authenticated.
    let let_in = |name: &'static str| {
        let app = &app;
        async move {
            tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    let (_, keys) = crate::util::api(app, Method::GET, "/api/api-keys", None).await;
                    if keys
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["name"] == name && !k["lastUsedAt"].is_null())
                    {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            })
            .await
            .is_ok()
        }
    };
    let poll = |bearer: String, wait: u64| {
        let url = format!("{}/api/connections/acme/events?after=0&wait={wait}", app.url);
        async move {
            let res = reqwest::Client::new()
                .get(url)
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap();
            let (status, retry) = (res.status(), res.headers().get("retry-after").cloned());
            (status, retry, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // The key's poll waits (nothing synced yet); a second fills the cap.
    let keyed = tokio::spawn(poll(secret.clone(), 60));
    assert!(let_in("poller").await, "the key's poll was let in");
    let admin = tokio::spawn(poll(other, 60));
    assert!(let_in("other").await, "the other poll was let in");
    let mut capped = None;
    for _ in 0..30 {
        let (status, retry, body) = poll(app.admin_token.clone(), 1).await;
        if status == 429 {
            capped = Some((retry, body));
            break;
        }
    }
    let (retry, body) = capped.expect("a third long poll is refused while two wait");
    assert_eq!(body["error"], "too_many_long_polls", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("OKTA_BRIDGE_MAX_LONG_POLLS"),
        "{body}"
    );
    assert_eq!(retry.unwrap(), "1");
    let (status, _, _) = poll(app.admin_token.clone(), 0).await;
    assert_eq!(status, 200, "a read that does not wait is served");

    // The key is revoked while its poll waits; a sync writes events and wakes both polls.
    let (status, body) = crate::util::api(&app, Method::DELETE, "/api/api-keys/poller", None).await;
    assert!(status.is_success(), "{body}");
    let (status, body) = crate::util::api(&app, Method::POST, "/api/connections/acme/sync", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = admin.await.unwrap();
    assert_eq!(status, 200);
    assert!(
        !body["events"].as_array().unwrap().is_empty(),
        "the sync woke the polls: {body}"
    );
    let (status, _, body) = keyed.await.unwrap();
    assert_eq!(status, 401, "the revoked key gets nothing it woke up to: {body}");
    assert_eq!(body["error"], "unauthorized", "{body}");
}
crate::flow::on_both_databases!(
    long_polls_are_capped_and_recheck_their_key,
    super::long_polls_are_capped_and_recheck_their_key
);
