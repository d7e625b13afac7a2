//! The console in a real headless Chromium: sign in, connect an org through the sandbox's
//! sign-in page, see its health, sync, browse users (search, filter by group) and groups,
//! read the change feed, disconnect; every form control labelled, the skip link first in the
//! tab order, nothing wider than a phone's screen. Screenshots of the main pages go to
//! `$OKTA_BRIDGE_SCREENSHOTS` when it is set (docs/screenshots/ holds the committed ones).

use fantoccini::Locator;
use serde_json::Value;

use crate::browser::Chrome;
use crate::util::{AppOptions, TestApp, TestDb, spawn_app};

/// Saves a PNG of the page as `name` where screenshots are kept (a temporary directory when
/// none is asked for), after checking it is one.
async fn shot(chrome: &Chrome, dir: &std::path::Path, name: &str) {
    let png = chrome.client.screenshot().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "{name} is a picture"
    );
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Runs `script` in the page and returns its value.
async fn js(chrome: &Chrome, script: &str) -> Value {
    chrome.client.execute(script, Vec::new()).await.unwrap()
}

/// Every visible form control of the page has a label (a `<label for>`, a wrapping label, or
/// `aria-label`), and the page is no wider than the window.
async fn accessible_and_fits(chrome: &Chrome, what: &str) {
    let unlabelled = js(
        chrome,
        "return [...document.querySelectorAll('input:not([type=hidden]),select,textarea')]\
         .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))\
         .map(e => e.outerHTML);",
    )
    .await;
    assert_eq!(unlabelled, serde_json::json!([]), "{what}: controls without a label");
    let fits = js(
        chrome,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
    )
    .await;
    assert_eq!(fits, Value::Bool(true), "{what}: wider than the window");
}

async fn wait_for_url(chrome: &Chrome, url: &str) {
    if let Err(e) = chrome.client.wait().for_url(&url.parse().unwrap()).await {
        panic!("not at {url} ({e}): {}", chrome.text().await);
    }
}

#[tokio::test]
async fn an_admin_connects_browses_and_disconnects_in_a_real_browser() {
    let db = TestDb::sqlite();
    let app: TestApp = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 120;
                c.groups = 6;
            }),
            scopes: Some("okta.users.read okta.groups.read okta.apps.read okta.logs.read offline_access"),
            ..AppOptions::default()
        },
    )
    .await;
    let kept = std::env::var_os("OKTA_BRIDGE_SCREENSHOTS").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir).unwrap();
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };

    // Sign in with the admin token.
    chrome.goto(&format!("{}/login", app.url)).await;
    accessible_and_fits(&chrome, "sign-in").await;
    chrome.fill("token", &app.admin_token).await;
    chrome.submit("sign-in", &format!("{}/", app.url)).await;
    // From the top of a page, the first Tab reaches the skip link.
    chrome
        .client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let first = chrome.client.active_element().await.unwrap().text().await.unwrap();
    assert_eq!(first, "Skip to content");

    // Connect the org through its own sign-in page.
    chrome.click("connect-okta").await;
    if let Err(e) = chrome
        .client
        .wait()
        .for_element(Locator::Css("input[name=username]"))
        .await
    {
        panic!("no sign-in page ({e}): {}", chrome.text().await);
    }
    let c = app.sandbox.config();
    chrome.fill("username", &c.admin_login).await;
    chrome.fill("password", c.user_password_value()).await;
    chrome
        .client
        .find(Locator::Css("form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&chrome, &format!("{}/", app.url)).await;
    let account = format!("127-0-0-1-{}", app.sandbox.addr().port());
    assert!(chrome.text().await.contains(&account));
    accessible_and_fits(&chrome, "connections").await;
    shot(&chrome, &dir, "connections").await;

    // Its health; a sync from there comes back to it with what the run did.
    let health = format!("{}/connections/{account}", app.url);
    chrome.click_link(&account, &health).await;
    let text = chrome.text().await;
    assert!(text.contains("connected") && text.contains("not synced yet"), "{text}");
    chrome.submit("sync-now", &health).await;
    let text = chrome.text().await;
    assert!(text.contains("120 users"), "{text}");
    assert!(
        text.contains("Rate-limit headroom") && text.contains("/api/v1/users"),
        "{text}"
    );
    accessible_and_fits(&chrome, "health").await;
    shot(&chrome, &dir, "health").await;

    // Users: search, then a group's members through the filter.
    let users = format!("{}/connections/{account}/directory", app.url);
    chrome.click_link("Users", &users).await;
    let dir_state = app
        .store
        .directory(&okta_bridge::model::AccountName::parse(&account).unwrap())
        .await
        .unwrap();
    let someone = dir_state.users.values().next().unwrap().clone();
    let prefix = someone.login[..5].to_owned();
    chrome.fill("q", &prefix).await;
    chrome
        .submit("filter", &format!("{users}?q={prefix}&status=&group="))
        .await;
    assert!(chrome.text().await.contains(&someone.login));
    accessible_and_fits(&chrome, "users").await;
    let (gid, group) = dir_state
        .groups
        .iter()
        .find(|(_, g)| g.group_type == "OKTA_GROUP")
        .unwrap();
    chrome.goto(&users).await;
    chrome
        .client
        .find(Locator::Id("group"))
        .await
        .unwrap()
        .select_by_value(gid)
        .await
        .unwrap();
    chrome
        .submit("filter", &format!("{users}?q=&status=&group={gid}"))
        .await;
    let members: Vec<&String> = dir_state
        .members
        .iter()
        .filter(|(g, _)| g == gid)
        .map(|(_, u)| u)
        .collect();
    let rows = js(&chrome, "return document.querySelectorAll('tbody tr').length;").await;
    assert_eq!(rows, serde_json::json!(members.len().min(50)), "the group's members");
    shot(&chrome, &dir, "users").await;

    // A user's page: groups and recent events.
    let member = &dir_state.users[members[0]];
    chrome
        .click_link(&member.login, &format!("{users}/users/{}", member.id))
        .await;
    let text = chrome.text().await;
    assert!(text.contains("Groups") && text.contains(&group.name), "{text}");
    assert!(text.contains("Recent events"), "{text}");
    accessible_and_fits(&chrome, "user").await;
    shot(&chrome, &dir, "user").await;

    // Groups, a group, the feed.
    let groups = format!("{users}/groups");
    chrome.click_link("Groups", &groups).await;
    chrome.click_link(&group.name, &format!("{groups}/{gid}")).await;
    assert!(chrome.text().await.contains(&member.login));
    chrome
        .click_link("Change feed", &format!("{}/connections/{account}/events", app.url))
        .await;
    assert!(chrome.text().await.contains("Change feed of"));
    accessible_and_fits(&chrome, "feed").await;

    // A phone-width screen: the health page still fits.
    chrome.client.set_window_size(390, 844).await.unwrap();
    chrome.goto(&health).await;
    accessible_and_fits(&chrome, "health on a phone").await;
    shot(&chrome, &dir, "health-phone").await;
    chrome.client.set_window_size(1000, 1200).await.unwrap();

    // Disconnect: back at the list, with nothing connected.
    chrome.submit("disconnect", &format!("{}/", app.url)).await;
    assert!(chrome.text().await.contains("No Okta org is connected yet."));
    assert!(app.store.connections().await.unwrap().is_empty());
    chrome.close().await;
}

/// A connection whose sync Okta refuses (it was granted `okta.users.read` only): its health
/// page says what is missing and where to grant it.
#[tokio::test]
async fn the_health_page_says_what_a_failed_sync_needs() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut browser = crate::util::Browser::new();
    crate::util::connect(&app, &mut browser).await;
    let account = format!("127-0-0-1-{}", app.sandbox.addr().port());
    let (status, body) = crate::util::api(
        &app,
        reqwest::Method::POST,
        &format!("/api/connections/{account}/sync"),
        None,
    )
    .await;
    assert!(status.is_server_error(), "{body}");
    let page = browser.read(&format!("{}/connections/{account}", app.url)).await;
    assert!(page.contains("E0000006"), "Okta's words: {page}");
    assert!(
        page.contains("okta.groups.read") && page.contains("Okta API Scopes tab"),
        "what to do: {page}"
    );
}

/// Issue 26 (observability): the work page says at a glance whether background work keeps
/// up, which org's sync has run longest (an org made slow: 3 s a request), and which webhook
/// endpoint's circuit is open; it fits a phone.
#[tokio::test]
async fn the_work_page_says_what_runs_long_and_which_circuit_is_open() {
    use reqwest::Method;
    use serde_json::json;

    use crate::util::api;

    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            settings: Box::new(|s| s.sync_interval = 1),
            ..AppOptions::default()
        },
    )
    .await;
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };
    let _slow = crate::sync::a_slow_org_syncing(&app, "aaa-slow").await;
    let (status, hook) = api(
        &app,
        Method::POST,
        "/api/webhooks",
        Some(json!({ "url": "http://127.0.0.1:9/dead" })),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    // One failure opens it when the threshold is one (the deliverer's own bookkeeping).
    let opened = app
        .store
        .circuit_outcome(hook["id"].as_str().unwrap(), false, false, 1, |_| 600)
        .await
        .unwrap();
    assert!(opened.is_some());

    chrome.goto(&format!("{}/login", app.url)).await;
    chrome.fill("token", &app.admin_token).await;
    chrome.submit("sign-in", &format!("{}/", app.url)).await;
    chrome.click_link("Work", &format!("{}/work", app.url)).await;
    let text = chrome.text().await;
    assert!(text.contains("Keeping up"), "{text}");
    assert!(text.contains("scheduled_sync") && text.contains("1 of 4"), "{text}");
    let longest = js(&chrome, "return document.querySelector('#longest').innerText;").await;
    let longest = longest.as_str().unwrap();
    assert!(
        longest.contains("aaa-slow") && longest.contains("running for"),
        "{longest}"
    );
    let circuits = js(&chrome, "return document.querySelector('#circuits').innerText;").await;
    let circuits = circuits.as_str().unwrap();
    assert!(
        circuits.contains("http://127.0.0.1:9/dead") && circuits.contains("tried again at"),
        "{circuits}"
    );
    accessible_and_fits(&chrome, "work").await;
    chrome.client.set_window_size(390, 844).await.unwrap();
    chrome.goto(&format!("{}/work", app.url)).await;
    accessible_and_fits(&chrome, "work on a phone").await;
    chrome.close().await;
}
