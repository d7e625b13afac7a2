//! Signing in to the console with OpenID Connect, against the sandbox's org authorization
//! server (its ID tokens, signed with its published keys): people on the email or group lists
//! get a session; others, and forged callbacks, get the sign-in page again with why.

use crate::util::{AppOptions, Browser, TestApp, TestDb, org_get, sign_in_to_org_as, spawn_app};

/// Signs in to `app`'s console through its OpenID provider as `login`; the page it ends on.
async fn sign_in_with_provider(app: &TestApp, login: &str) -> (reqwest::Url, u16, String) {
    sign_in_in(&mut Browser::new(), app, login).await
}

/// [`sign_in_with_provider`] in `browser`, which keeps the session.
async fn sign_in_in(browser: &mut Browser, app: &TestApp, login: &str) -> (reqwest::Url, u16, String) {
    let page = browser.visit(&format!("{}/login", app.url)).await;
    let page_url = page.url().clone();
    let html = page.text().await.unwrap();
    let at = html
        .find("<form method=\"post\" action=\"/login/oidc\"")
        .expect("the sign-in page offers the provider");
    assert!(html.contains("Sign in with 127.0.0.1"), "{html}");
    let res = browser.submit(&page_url, &html[at..], &[]).await;
    assert_eq!(
        res.url().origin(),
        reqwest::Url::parse(app.sandbox.url()).unwrap().origin(),
        "at the provider"
    );
    let res = sign_in_to_org_as(browser, res, login, app.sandbox.config().user_password_value()).await;
    let (url, status) = (res.url().clone(), res.status().as_u16());
    (url, status, res.text().await.unwrap())
}

#[tokio::test]
async fn listed_emails_and_groups_sign_in_and_no_one_else() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            console: Some((vec!["Admin@Example.com".to_owned()], vec!["Engineering".to_owned()])),
            ..AppOptions::default()
        },
    )
    .await;

    // By email (compared without case): the console, signed in.
    let admin = app.sandbox.config().admin_login.clone();
    let (url, status, page) = sign_in_with_provider(&app, &admin).await;
    assert_eq!((url.path(), status), ("/", 200), "{page}");
    assert!(!page.contains("Admin token ("), "not the sign-in page: {page}");

    // By group: a member of Engineering who is not on the email list.
    let groups = org_get(&app.sandbox, "/api/v1/groups?q=Engineering").await;
    let engineering = groups[0]["id"].as_str().unwrap().to_owned();
    let members = org_get(&app.sandbox, &format!("/api/v1/groups/{engineering}/users")).await;
    let engineer = members
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["profile"]["login"].as_str().unwrap().to_owned())
        .find(|l| *l != admin)
        .expect("an engineer");
    let (url, status, page) = sign_in_with_provider(&app, &engineer).await;
    assert_eq!((url.path(), status), ("/", 200), "{engineer}: {page}");

    // Someone in neither: back at the sign-in page, told why, with no session.
    let users = org_get(&app.sandbox, "/api/v1/users?limit=200").await;
    let outsider = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().to_owned(),
                u["profile"]["login"].as_str().unwrap().to_owned(),
            )
        })
        .find(|(id, l)| {
            *l != admin
                && !members
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["id"].as_str() == Some(id.as_str()))
        })
        .unwrap()
        .1;
    let (url, status, page) = sign_in_with_provider(&app, &outsider).await;
    assert_eq!((url.path(), status), ("/login/oidc/callback", 403), "{page}");
    assert!(
        page.contains(&outsider) && page.contains("OKTA_BRIDGE_CONSOLE_ALLOWED_EMAILS"),
        "says who and what to do: {page}"
    );

    // A callback this browser did not start is refused.
    let mut browser = Browser::new();
    let res = browser
        .visit(&format!("{}/login/oidc/callback?code=forged&state=forged", app.url))
        .await;
    assert_eq!(res.status(), 400);
    let page = browser.visit(&format!("{}/", app.url)).await;
    assert_eq!(page.url().path(), "/login", "no session");
}

#[tokio::test]
async fn without_a_provider_the_sign_in_page_offers_the_admin_token_only() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = Browser::new();
    let html = browser.visit(&format!("{}/login", app.url)).await.text().await.unwrap();
    assert!(!html.contains("/login/oidc"), "{html}");
    let res = reqwest::Client::new()
        .post(format!("{}/login/oidc", app.url))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// The login of a member of the sandbox's Engineering group who is not its admin.
async fn an_engineer(app: &TestApp) -> String {
    let groups = org_get(&app.sandbox, "/api/v1/groups?q=Engineering").await;
    let engineering = groups[0]["id"].as_str().unwrap().to_owned();
    let members = org_get(&app.sandbox, &format!("/api/v1/groups/{engineering}/users")).await;
    let admin = &app.sandbox.config().admin_login;
    members
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["profile"]["login"].as_str().unwrap().to_owned())
        .find(|l| l != admin)
        .expect("an engineer")
}

/// Issue 25, finding 7: a console session remembers how it was granted and is checked against
/// the lists in force on every request: someone taken off the lists (here, by a restart with
/// new lists on the same database) is signed out at once, not 12 hours later; and an admin can
/// end every session of a person.
async fn sessions_follow_the_lists_in_force(db: TestDb) {
    use reqwest::Method;
    let token = okta_bridge::crypto::random_secret();
    let allowing = |emails: &[&str], groups: &[&str]| AppOptions {
        console: Some((
            emails.iter().map(|e| (*e).to_owned()).collect(),
            groups.iter().map(|g| (*g).to_owned()).collect(),
        )),
        admin_token: Some(token.clone()),
        ..AppOptions::default()
    };
    let app = spawn_app(&db, allowing(&["Admin@Example.com"], &["Engineering"])).await;
    let engineer = an_engineer(&app).await;
    let (mut admin, mut eng) = (Browser::new(), Browser::new());
    let (url, _, page) = sign_in_in(&mut admin, &app, "admin@example.com").await;
    assert_eq!(url.path(), "/", "{page}");
    let (url, _, page) = sign_in_in(&mut eng, &app, &engineer).await;
    assert_eq!(url.path(), "/", "{page}");

    let (status, sessions) = crate::util::api(&app, Method::GET, "/api/console/sessions", None).await;
    assert_eq!(status, 200, "{sessions}");
    let people: Vec<(&str, &str)> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["person"].as_str().unwrap(), s["grantedBy"].as_str().unwrap()))
        .collect();
    assert!(people.contains(&("admin@example.com", "openid_connect")), "{sessions}");
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["groups"].as_array().unwrap().iter().any(|g| g == "Engineering")
                && s["grantedBy"] == "openid_connect"),
        "{sessions}"
    );
    assert!(
        sessions[0]["expiresAt"].as_str().unwrap().contains('T'),
        "RFC 3339: {sessions}"
    );

    // An admin ends every session of a person (their email in any case).
    let (status, ended) = crate::util::api(&app, Method::DELETE, "/api/console/sessions/ADMIN@example.com", None).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["ended"], 1, "{ended}");
    assert_eq!(admin.visit(&format!("{}/", app.url)).await.url().path(), "/login");
    assert_eq!(
        eng.visit(&format!("{}/", app.url)).await.url().path(),
        "/",
        "others stay"
    );

    // The lists change (a restart with new settings, on the same database): the engineer's
    // group is no longer on them, and their session ends at their next request.
    drop(app);
    let app = spawn_app(&db, allowing(&["someone.else@example.com"], &["Sales"])).await;
    assert_eq!(eng.visit(&format!("{}/", app.url)).await.url().path(), "/login");
    let (_, sessions) = crate::util::api(&app, Method::GET, "/api/console/sessions", None).await;
    assert_eq!(sessions, serde_json::json!([]), "the session was ended, not kept");
}
crate::flow::on_both_databases!(
    sessions_follow_the_lists_in_force,
    super::sessions_follow_the_lists_in_force
);
