//! Forms carry CSRF tokens, pages carry security headers, connecting needs the admin.

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
