//! Sync scope (issue 28), on SQLite and PostgreSQL against the living sandbox: a scope of two
//! groups reads their members (no listing of the org's users or apps, by the sandbox's own
//! counters) and stores exactly them — checked in the database against the org's export
//! narrowed to the scope; membership churn moves users in and out with exact events
//! (`user.deleted` with `"reason": "out_of_scope"`); changing the scope (to another group, to an
//! app's users, back to the whole org) is one run that says exactly the difference; the feed
//! folded from the start equals the stored directory after every step.

use std::collections::BTreeSet;

use okta_bridge::model::{AccountName, Directory, EventType, FeedEvent};
use reqwest::Method;
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::sync::{differences, exported, feed, served};
use crate::util::{AppOptions, TestApp, TestDb, api, org_call, spawn_app};

/// The org's export narrowed to a scope: the members of `groups` (with `app`: the app's users,
/// the groups assigned to it and its assignments).
fn narrowed(org: &Directory, groups: &[String], app: Option<&str>) -> Directory {
    let mut d = Directory::default();
    let users: BTreeSet<String> = match app {
        Some(aid) => org
            .app_users
            .keys()
            .filter(|(a, _)| a == aid)
            .map(|(_, u)| u.clone())
            .collect(),
        None => org
            .members
            .iter()
            .filter(|(g, _)| groups.contains(g))
            .map(|(_, u)| u.clone())
            .collect(),
    };
    d.users = org
        .users
        .iter()
        .filter(|(id, _)| users.contains(*id))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    d.groups = org
        .groups
        .iter()
        .filter(|(id, _)| groups.contains(id))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    d.members = org
        .members
        .iter()
        .filter(|(g, u)| groups.contains(g) && users.contains(u))
        .cloned()
        .collect();
    d.app_users = org
        .app_users
        .iter()
        .filter(|((a, _), _)| Some(a.as_str()) == app)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    d
}

/// What a run from `before` to `after` must say, as (type, object, group): users and groups
/// created and deleted, groups updated (their `lastMembershipUpdated` included), memberships
/// added, and memberships removed from a group that remains (those of a deleted group go with
/// it; a user who left the scope is said to leave the group, then deleted).
fn expected(before: &Directory, after: &Directory) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    let t = |e: EventType| e.as_str().to_owned();
    for id in after.users.keys().filter(|id| !before.users.contains_key(*id)) {
        out.insert((t(EventType::UserCreated), id.clone(), String::new()));
    }
    for id in before.users.keys().filter(|id| !after.users.contains_key(*id)) {
        out.insert((t(EventType::UserDeleted), id.clone(), String::new()));
    }
    for id in after.groups.keys().filter(|id| !before.groups.contains_key(*id)) {
        out.insert((t(EventType::GroupCreated), id.clone(), String::new()));
    }
    for id in before.groups.keys().filter(|id| !after.groups.contains_key(*id)) {
        out.insert((t(EventType::GroupDeleted), id.clone(), String::new()));
    }
    for (g, u) in after.members.difference(&before.members) {
        out.insert((t(EventType::GroupUserAdded), u.clone(), g.clone()));
    }
    for (id, g) in &after.groups {
        if before.groups.get(id).is_some_and(|old| old != g) {
            out.insert((t(EventType::GroupUpdated), id.clone(), String::new()));
        }
    }
    for (g, u) in before.members.difference(&after.members) {
        if after.groups.contains_key(g) {
            out.insert((t(EventType::GroupUserRemoved), u.clone(), g.clone()));
        }
    }
    out
}

/// The events of a run, as [`expected`] says them; app assignments left out.
fn said(events: &[FeedEvent]) -> BTreeSet<(String, String, String)> {
    events
        .iter()
        .filter(|e| !e.event_type.as_str().starts_with("app."))
        .map(|e| {
            let group = e.data["groupId"].as_str().unwrap_or_default().to_owned();
            (e.event_type.as_str().to_owned(), e.object_id.clone(), group)
        })
        .collect()
}

async fn put_scope(app: &TestApp, scope: Value) -> Value {
    let (status, body) = api(app, Method::PUT, "/api/accounts/acme/scope", Some(scope)).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A run: its summary, and the events it wrote (checked to number on from those before).
async fn run(app: &TestApp, seen: &mut usize) -> (Value, Vec<FeedEvent>) {
    let (status, summary) = api(app, Method::POST, "/api/connections/acme/sync", None).await;
    assert_eq!(status, 200, "{summary}");
    let all = feed(app, "acme").await;
    assert!(all.windows(2).all(|w| w[0].seq + 1 == w[1].seq), "cursors one by one");
    let new = all[*seen..].to_vec();
    *seen = all.len();
    (summary, new)
}

/// The stored directory is `want`, and the feed folded from the start says it.
async fn holds(app: &TestApp, want: &Directory, step: &str) {
    let stored = app.store.directory(&AccountName::parse("acme").unwrap()).await.unwrap();
    assert_eq!(
        differences(&stored, want),
        "",
        "{step}: the stored directory is the scope"
    );
    let events = feed(app, "acme").await;
    assert_eq!(
        differences(&okta_bridge::sync::fold(&events), &stored),
        "",
        "{step}: the feed folded from the start"
    );
}

/// A group at the org with `members`: its id.
pub(crate) async fn new_group(app: &TestApp, name: &str, members: &[&String]) -> String {
    let (status, g) = org_call(
        app,
        Method::POST,
        "/api/v1/groups",
        Some(json!({ "profile": { "name": name } })),
    )
    .await;
    assert_eq!(status, 200, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    for u in members {
        member(app, &gid, u, true).await;
    }
    gid
}

/// Adds (or removes) a member of a group at the org.
pub(crate) async fn member(app: &TestApp, gid: &str, uid: &str, add: bool) {
    let method = if add { Method::PUT } else { Method::DELETE };
    let (status, body) = org_call(app, method, &format!("/api/v1/groups/{gid}/users/{uid}"), None).await;
    assert!(status < 300, "{status} {body}");
}

async fn scoped_sync(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 40;
                c.groups = 0;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    let u = app.sandbox.state().listed_user_ids();
    let a = new_group(&app, "Engineering", &u[0..6].iter().collect::<Vec<_>>()).await;
    let b = new_group(&app, "Sales", &u[4..10].iter().collect::<Vec<_>>()).await;
    let c = new_group(&app, "Support", &u[20..25].iter().collect::<Vec<_>>()).await;
    crate::util::connect_by_api_token(&app, "acme").await;

    // Bad scopes say how to write one and change nothing.
    for (bad, says) in [
        (json!({}), "exactly one"),
        (json!({ "groups": [] }), "at least one group"),
        (json!({ "groups": [a, a] }), "named twice"),
        (json!({ "groups": ["00g/../users"] }), "groups[0]"),
        (json!({ "everyone": true }), "unknown field"),
    ] {
        let (status, body) = api(&app, Method::PUT, "/api/accounts/acme/scope", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.to_string().contains(says), "{bad}: {body}");
    }
    // A group or app the org does not have: said, not stored.
    for (missing, says) in [
        (
            json!({ "groups": [a, "00gNotInTheOrg"] }),
            "group \"00gNotInTheOrg\" is not in acme's org",
        ),
        (
            json!({ "app": "0oaNotInTheOrg" }),
            "app \"0oaNotInTheOrg\" is not in acme's org",
        ),
    ] {
        let (status, body) = api(&app, Method::PUT, "/api/accounts/acme/scope", Some(missing.clone())).await;
        assert_eq!(status, 400, "{missing}: {body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    let (status, body) = api(
        &app,
        Method::PUT,
        "/api/accounts/nobody/scope",
        Some(json!({ "all": true })),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (_, none) = api(&app, Method::GET, "/api/accounts/acme/scope", None).await;
    assert_eq!(
        none,
        json!({ "account": "acme", "all": true, "groups": null, "app": null, "updatedAt": null, "updatedBy": null })
    );

    // Two groups, before the first sync: only their members are read and stored.
    let set = put_scope(&app, json!({ "groups": [a, b] })).await;
    assert_eq!((&set["all"], &set["groups"]), (&json!(false), &json!([a, b])), "{set}");
    assert_eq!(set["updatedBy"], "admin token");
    let (_, got) = api(&app, Method::GET, "/api/accounts/acme/scope", None).await;
    assert_eq!(got, set);
    let (users_listed, apps_listed) = (
        served(&app, "GET /api/v1/users").await,
        served(&app, "GET /api/v1/apps").await,
    );
    let mut seen = 0;
    let (summary, events) = run(&app, &mut seen).await;
    assert_eq!(summary["scope"], json!({ "groups": [a, b] }), "{summary}");
    assert_eq!(
        served(&app, "GET /api/v1/users").await,
        users_listed,
        "no listing of the org's users"
    );
    assert_eq!(
        served(&app, "GET /api/v1/apps").await,
        apps_listed,
        "no listing of apps"
    );
    assert!(served(&app, "GET /api/v1/groups/{groupId}/users").await >= 2);
    let scope = [a.clone(), b.clone()];
    let want = narrowed(&exported(&app).await, &scope, None);
    assert_eq!(want.users.len(), 10);
    assert_eq!(said(&events), expected(&Directory::default(), &want), "{events:?}");
    assert_eq!(events.len(), 10 + 2 + 12, "each said once");
    holds(&app, &want, "first scoped sync").await;
    let audit = app.store.audit(&AccountName::parse("acme").unwrap()).await.unwrap();
    assert!(
        audit.iter().any(|r| r.event == "sync_scope_set"
            && r.actor.as_deref() == Some("admin token")
            && r.detail.as_deref().is_some_and(|d| d.contains(&a))),
        "{audit:?}"
    );

    // Nothing changed: nothing said.
    let (_, events) = run(&app, &mut seen).await;
    assert!(events.is_empty(), "{events:?}");

    // Churn: u0 leaves its only group (out of scope), u20 joins Sales (in), u4 leaves
    // Engineering but stays in Sales (still in scope).
    member(&app, &a, &u[0], false).await;
    member(&app, &b, &u[20], true).await;
    member(&app, &a, &u[4], false).await;
    let before = want;
    let (_, events) = run(&app, &mut seen).await;
    let want = narrowed(&exported(&app).await, &scope, None);
    assert_eq!(said(&events), expected(&before, &want), "{events:?}");
    let left = events.iter().find(|e| e.event_type == EventType::UserDeleted).unwrap();
    assert_eq!(
        (left.object_id.as_str(), &left.data["reason"]),
        (u[0].as_str(), &json!("out_of_scope"))
    );
    assert!(
        events
            .iter()
            .any(|e| e.event_type == EventType::UserCreated && e.object_id == u[20])
    );
    holds(&app, &want, "after churn").await;

    // Another scope: one run says exactly the difference.
    put_scope(&app, json!({ "groups": [c] })).await;
    let before = want;
    let (summary, events) = run(&app, &mut seen).await;
    assert_eq!(summary["full"], true, "{summary}");
    let want = narrowed(&exported(&app).await, std::slice::from_ref(&c), None);
    assert_eq!(said(&events), expected(&before, &want), "{events:?}");
    assert!(
        events
            .iter()
            .filter(|e| matches!(e.event_type, EventType::UserDeleted | EventType::GroupDeleted))
            .all(|e| e.data["reason"] == "out_of_scope"),
        "{events:?}"
    );
    assert!(!want.users.contains_key(&u[1]) && want.users.contains_key(&u[20]));
    holds(&app, &want, "scope changed to another group").await;

    // The users assigned to an app: one directly, the rest through Support.
    let (status, made) = org_call(
        &app,
        Method::POST,
        "/api/v1/apps",
        Some(json!({ "label": "Vendor", "signOnMode": "BOOKMARK", "settings": { "app": { "url": app.url } } })),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let aid = made["id"].as_str().unwrap().to_owned();
    let (status, body) = org_call(
        &app,
        Method::POST,
        &format!("/api/v1/apps/{aid}/users"),
        Some(json!({ "id": u[30], "scope": "USER" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = org_call(
        &app,
        Method::PUT,
        &format!("/api/v1/apps/{aid}/groups/{c}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    put_scope(&app, json!({ "app": aid })).await;
    let users_listed = served(&app, "GET /api/v1/users").await;
    let before = want;
    let (summary, events) = run(&app, &mut seen).await;
    assert_eq!(summary["scope"], json!({ "app": aid }), "{summary}");
    assert_eq!(
        served(&app, "GET /api/v1/users").await,
        users_listed,
        "no listing of the org's users"
    );
    let want = narrowed(&exported(&app).await, std::slice::from_ref(&c), Some(&aid));
    assert_eq!(want.users.len(), 6, "u30 and Support's five");
    assert_eq!(said(&events), expected(&before, &want), "{events:?}");
    holds(&app, &want, "the app's users").await;
    let stored = app.store.directory(&AccountName::parse("acme").unwrap()).await.unwrap();
    assert_eq!(stored.apps.keys().collect::<Vec<_>>(), [&aid], "only the scope's app");

    // The whole org again.
    put_scope(&app, json!({ "all": true })).await;
    let before = want;
    let (summary, events) = run(&app, &mut seen).await;
    assert_eq!(summary["scope"], Value::Null, "{summary}");
    let org = exported(&app).await;
    assert_eq!(said(&events), expected(&before, &org), "{events:?}");
    holds(&app, &org, "the whole org").await;
}

on_both_databases!(a_scope_syncs_exactly_its_users, super::scoped_sync);

/// `okta-bridge scope set|show` on the database the server reads; a SCIM-pushed account's
/// scope is chosen in Okta (its app's assignments), so one set here is refused, and nothing
/// changes.
#[tokio::test]
async fn scope_from_the_command_line() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let cli = |args: &[&str]| {
        let mut c = crate::cli::okta_bridge();
        c.args(args)
            .env("OKTA_BRIDGE_DATABASE_URL", &db.url)
            .env("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str());
        async move { c.output().await.unwrap() }
    };
    for name in ["acme", "pushed"] {
        let (status, body) = api(
            &app,
            Method::POST,
            "/api/accounts",
            Some(json!({ "name": name, "orgUrl": app.sandbox.url() })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let out = cli(&["scope", "set", "acme", "--groups", "00gA,00gB"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, got) = api(&app, Method::GET, "/api/accounts/acme/scope", None).await;
    assert_eq!(printed, got);
    assert_eq!(
        (&got["groups"], &got["updatedBy"]),
        (&json!(["00gA", "00gB"]), &json!("cli"))
    );
    let out = cli(&["scope", "set", "acme", "--app", "0oaVendor"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&["scope", "show", "acme"]).await;
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&shown["app"], &shown["all"]),
        (&json!("0oaVendor"), &json!(false)),
        "{shown}"
    );
    // One of the three, not two.
    let out = cli(&["scope", "set", "acme", "--all", "--app", "0oaX"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    let out = cli(&["scope", "set", "acme", "--all"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, got) = api(&app, Method::GET, "/api/accounts/acme/scope", None).await;
    assert_eq!((&got["all"], &got["app"]), (&json!(true), &Value::Null));

    let out = cli(&["scim", "enable", "pushed"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, body) = api(
        &app,
        Method::PUT,
        "/api/accounts/pushed/scope",
        Some(json!({ "groups": ["00gA"] })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Assignments"), "{body}");
    let (_, got) = api(&app, Method::GET, "/api/accounts/pushed/scope", None).await;
    assert_eq!(got["all"], true, "nothing changed: {got}");
}

/// The setup link's scope step, in headless Chromium: a link made with `mapRoles` (which
/// implies `chooseScope`) leads the admin, once connected (by API token here), to the org's
/// groups with their member counts and the application's roles; the admin limits the scope to
/// one group and maps two groups to roles with a default; the first sync (which waited for the
/// choice) holds exactly that group's members with those roles, and both choices are audited as
/// the link's.
async fn an_admin_limits_the_scope_on_the_setup_link(db: TestDb) {
    use crate::browser::Chrome;
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 30;
                c.groups = 0;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    let u = app.sandbox.state().listed_user_ids();
    let engineering = new_group(&app, "Engineering", &u[0..5].iter().collect::<Vec<_>>()).await;
    let sales = new_group(&app, "Sales", &u[3..8].iter().collect::<Vec<_>>()).await;
    let (status, body) = api(
        &app,
        Method::PUT,
        "/api/roles",
        Some(json!({ "roles": [
            { "slug": "admin", "name": "Admin" },
            { "slug": "member", "name": "Member" },
            { "slug": "viewer", "name": "Viewer" },
        ] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = api(
        &app,
        Method::POST,
        "/api/accounts",
        Some(json!({ "name": "acme", "orgUrl": app.sandbox.url() })),
    )
    .await;
    assert_eq!(status, 201);
    let (url, id) = crate::setup::new_link(&app, "acme", Some(json!({ "mapRoles": true }))).await;
    let (_, links) = api(&app, Method::GET, "/api/accounts/acme/setup-links", None).await;
    assert_eq!(
        (&links[0]["chooseScope"], &links[0]["mapRoles"]),
        (&json!(true), &json!(true)),
        "{links}"
    );
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };
    crate::setup::open(&chrome, &url).await;
    chrome
        .click_link("API token", &format!("{}/setup?method=token", app.url))
        .await;
    chrome.fill("org_url", app.sandbox.url()).await;
    chrome.fill("api_token", app.sandbox.config().api_token_value()).await;
    chrome.submit("connect", &format!("{}/setup/scope", app.url)).await;
    let step = chrome.text().await;
    assert!(step.contains("Who should acme see?"), "{step}");
    assert!(
        step.contains("Engineering (5 members)") && step.contains("Sales (5 members)") && step.contains("Admin"),
        "{step}"
    );
    let sync = app
        .store
        .sync_state(&AccountName::parse("acme").unwrap())
        .await
        .unwrap();
    assert!(
        sync.last_run_at.is_none() && !sync.running,
        "the first sync waits for the choice"
    );

    // Groups chosen but none picked: said, nothing stored.
    chrome.click("who-groups").await;
    chrome.submit("choose", &format!("{}/setup/scope", app.url)).await;
    assert!(chrome.text_of("problem").await.contains("Pick at least one group"));

    chrome.click("who-groups").await;
    chrome.click(&format!("group-{engineering}")).await;
    chrome.select(&format!("role-{engineering}"), "admin").await;
    chrome.select(&format!("role-{sales}"), "member").await;
    chrome.select("default_role", "viewer").await;
    chrome.submit("choose", &format!("{}/setup/done", app.url)).await;
    crate::setup::first_sync_shown(&app, &chrome, "acme", 5).await;
    let (status, users) = api(&app, Method::GET, "/api/connections/acme/directory/users", None).await;
    assert_eq!(status, 200, "{users}");
    let roles: std::collections::BTreeMap<&str, &Value> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), &u["roles"]))
        .collect();
    for (i, uid) in u[0..5].iter().enumerate() {
        let want = if i < 3 {
            json!(["admin"])
        } else {
            json!(["admin", "member"])
        };
        assert_eq!(roles.get(uid.as_str()), Some(&&want), "{uid}: {users}");
    }
    let (_, mappings) = api(&app, Method::GET, "/api/accounts/acme/role-mappings", None).await;
    assert_eq!(mappings["mappings"].as_array().unwrap().len(), 2, "{mappings}");
    assert_eq!(
        (&mappings["default"], &mappings["updatedBy"]),
        (&json!("viewer"), &json!(format!("setup link {id}")))
    );
    let stored = app.store.directory(&AccountName::parse("acme").unwrap()).await.unwrap();
    // Engineering's members; and Sales, mapped to a role, with its memberships among them.
    let org = exported(&app).await;
    let mut want = narrowed(&org, std::slice::from_ref(&engineering), None);
    want.groups.insert(sales.clone(), org.groups[&sales].clone());
    want.members.extend(
        org.members
            .iter()
            .filter(|(g, u)| *g == sales && want.users.contains_key(u))
            .cloned(),
    );
    assert_eq!(differences(&stored, &want), "", "only Engineering's members");
    assert_eq!(want.members.iter().filter(|(g, _)| *g == sales).count(), 2);
    let (_, scope) = api(&app, Method::GET, "/api/accounts/acme/scope", None).await;
    assert_eq!(scope["groups"], json!([engineering]), "{scope}");
    assert_eq!(scope["updatedBy"], format!("setup link {id}"), "{scope}");
    chrome.close().await;
}

on_both_databases!(
    the_setup_link_scope_step,
    super::an_admin_limits_the_scope_on_the_setup_link
);

/// A manage link, in headless Chromium: made for an account already connected (refused for
/// one that is not), it leads its admin straight to the scope step, where the admin narrows
/// the whole org to Sales; the run it starts says exactly the difference (those leaving with
/// `out_of_scope`), and the change is audited as the manage link's.
async fn an_admin_changes_the_scope_through_a_manage_link(db: TestDb) {
    use crate::browser::Chrome;
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 30;
                c.groups = 0;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    let u = app.sandbox.state().listed_user_ids();
    new_group(&app, "Engineering", &u[0..5].iter().collect::<Vec<_>>()).await;
    let sales = new_group(&app, "Sales", &u[3..8].iter().collect::<Vec<_>>()).await;
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/accounts/acme/setup-link",
        Some(json!({ "manage": true })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("send a setup link to connect it first"),
        "{body}"
    );
    crate::util::connect_by_api_token(&app, "acme").await;
    let mut seen = 0;
    let (_, _) = run(&app, &mut seen).await;
    let before = exported(&app).await;
    holds(&app, &before, "the whole org").await;

    let (url, id) = crate::setup::new_link(&app, "acme", Some(json!({ "manage": true }))).await;
    let Some(chrome) = Chrome::start_or_skip().await else {
        return;
    };
    chrome.goto(&url).await;
    assert!(
        chrome.text().await.contains("Choose what acme sees"),
        "{}",
        chrome.text().await
    );
    chrome.submit("start", &format!("{}/setup/scope", app.url)).await;
    assert!(
        chrome.text().await.contains("Sales (5 members)"),
        "{}",
        chrome.text().await
    );
    // A manage link connects nothing: its steps page leads back to the scope step.
    chrome.goto(&format!("{}/setup?method=token", app.url)).await;
    assert_eq!(chrome.path().await, "/setup/scope");
    chrome.click("who-groups").await;
    chrome.click(&format!("group-{sales}")).await;
    chrome.submit("choose", &format!("{}/setup/done", app.url)).await;

    // The run the choice started: wait for its events (long-polling the feed).
    let want = narrowed(&exported(&app).await, std::slice::from_ref(&sales), None);
    for _ in 0..60 {
        let stored = app.store.directory(&AccountName::parse("acme").unwrap()).await.unwrap();
        let state = app
            .store
            .sync_state(&AccountName::parse("acme").unwrap())
            .await
            .unwrap();
        if differences(&stored, &want).is_empty() && !state.running {
            break;
        }
        let after = feed(&app, "acme").await.len();
        let (status, _) = api(
            &app,
            Method::GET,
            &format!("/api/connections/acme/events?after={after}&wait=1&limit=1"),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    holds(&app, &want, "after the manage link").await;
    let events = feed(&app, "acme").await[seen..].to_vec();
    assert_eq!(said(&events), expected(&before, &want), "{events:?}");
    let (_, scope) = api(&app, Method::GET, "/api/accounts/acme/scope", None).await;
    assert_eq!(
        (&scope["groups"], &scope["updatedBy"]),
        (&json!([sales]), &json!(format!("manage link {id}")))
    );
    // Back on the step, the current scope is ticked.
    chrome.goto(&format!("{}/setup/scope", app.url)).await;
    let ticked = chrome
        .client
        .find(fantoccini::Locator::Id(&format!("group-{sales}")))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(ticked.as_deref(), Some("true"));
    chrome.close().await;
}

on_both_databases!(
    a_manage_link_changes_the_scope,
    super::an_admin_changes_the_scope_through_a_manage_link
);
