//! Directory sync against a living sandbox org: the stored directory equals the org's export
//! after every sync, folding the change feed from the start equals the stored directory, and a
//! sync with nothing new writes nothing. On SQLite and PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use okta_bridge::model::{AccountName, DirGroup, DirUser, Directory, EventType, FeedEvent};
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::util::{AppOptions, TestApp, TestDb, api, org_call, sandbox_control, set_faults, spawn_app};

/// An instant to the millisecond (Okta's precision), from RFC 3339 text.
fn ms(t: Option<&str>) -> Option<i128> {
    t.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .unix_timestamp_nanos()
            / 1_000_000
    })
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// What is compared of a user: every field, times to the millisecond, the profile without
/// attributes that have no value.
fn user_key(u: &DirUser) -> Value {
    json!({
        "status": u.status, "login": u.login, "email": u.email, "firstName": u.first_name, "lastName": u.last_name,
        "created": ms(u.created.as_deref()).map(|t| t.to_string()), "activated": ms(u.activated.as_deref()).map(|t| t.to_string()),
        "statusChanged": ms(u.status_changed.as_deref()).map(|t| t.to_string()), "lastLogin": ms(u.last_login.as_deref()).map(|t| t.to_string()),
        "lastUpdated": ms(u.last_updated.as_deref()).map(|t| t.to_string()),
        "profile": u.profile.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>(),
    })
}

fn group_key(g: &DirGroup) -> Value {
    json!({
        "type": g.group_type, "name": g.name, "description": g.description,
        "created": ms(g.created.as_deref()).map(|t| t.to_string()), "lastUpdated": ms(g.last_updated.as_deref()).map(|t| t.to_string()),
        "lastMembershipUpdated": ms(g.last_membership_updated.as_deref()).map(|t| t.to_string()),
    })
}

/// The parts of a directory compared: users and groups by id, memberships, app assignments.
pub(crate) fn comparable(d: &Directory) -> Parts {
    (
        d.users.iter().map(|(id, u)| (id.clone(), user_key(u))).collect(),
        d.groups.iter().map(|(id, g)| (id.clone(), group_key(g))).collect(),
        d.members.clone(),
        d.app_users.clone(),
    )
}

pub(crate) type Parts = (
    BTreeMap<String, Value>,
    BTreeMap<String, Value>,
    BTreeSet<(String, String)>,
    BTreeMap<(String, String), Option<String>>,
);

/// Where two directories differ (a few of each kind), or nothing when they are equal.
pub(crate) fn differences(a: &Directory, b: &Directory) -> String {
    let (a, b): (Parts, Parts) = (comparable(a), comparable(b));
    let mut out = Vec::new();
    for id in a.0.keys().chain(b.0.keys()).collect::<BTreeSet<_>>() {
        if a.0.get(id) != b.0.get(id) {
            out.push(format!("user {id}: {:?} vs {:?}", a.0.get(id), b.0.get(id)));
        }
    }
    for id in a.1.keys().chain(b.1.keys()).collect::<BTreeSet<_>>() {
        if a.1.get(id) != b.1.get(id) {
            out.push(format!("group {id}: {:?} vs {:?}", a.1.get(id), b.1.get(id)));
        }
    }
    for m in a.2.symmetric_difference(&b.2) {
        out.push(format!(
            "membership {m:?} only in {}",
            if a.2.contains(m) { "the first" } else { "the second" }
        ));
    }
    for k in a.3.keys().chain(b.3.keys()).collect::<BTreeSet<_>>() {
        if a.3.get(k) != b.3.get(k) {
            out.push(format!("app user {k:?}: {:?} vs {:?}", a.3.get(k), b.3.get(k)));
        }
    }
    out.truncate(8);
    out.join("\n")
}

/// The sandbox's export as a directory: users, groups, members, and app users (direct ones
/// `USER`, members of assigned groups `GROUP`).
pub(crate) async fn exported(app: &TestApp) -> Directory {
    let export = sandbox_control(app, Method::GET, "/__sandbox/export", None).await;
    let mut d = Directory::default();
    for u in export["users"].as_array().unwrap() {
        let p = &u["profile"];
        let user = DirUser {
            id: s(&u["id"]).unwrap(),
            status: s(&u["status"]).unwrap(),
            login: s(&p["login"]).unwrap(),
            email: s(&p["email"]),
            first_name: s(&p["firstName"]),
            last_name: s(&p["lastName"]),
            created: s(&u["created"]),
            activated: s(&u["activated"]),
            status_changed: s(&u["statusChanged"]),
            last_login: s(&u["lastLogin"]),
            last_updated: s(&u["lastUpdated"]),
            profile: p.as_object().unwrap().clone(),
            external_id: None,
        };
        d.users.insert(user.id.clone(), user);
    }
    for g in export["groups"].as_array().unwrap() {
        let group = DirGroup {
            id: s(&g["id"]).unwrap(),
            group_type: s(&g["type"]).unwrap(),
            name: s(&g["name"]).unwrap(),
            description: s(&g["description"]),
            created: s(&g["created"]),
            last_updated: s(&g["lastUpdated"]),
            last_membership_updated: s(&g["lastMembershipUpdated"]),
        };
        for m in g["members"].as_array().unwrap() {
            d.members.insert((group.id.clone(), s(m).unwrap()));
        }
        d.groups.insert(group.id.clone(), group);
    }
    for a in export["apps"].as_array().unwrap() {
        let aid = s(&a["id"]).unwrap();
        for g in a["groups"].as_array().unwrap() {
            let gid = s(g).unwrap();
            for (mg, uid) in &d.members {
                if *mg == gid {
                    d.app_users.insert((aid.clone(), uid.clone()), Some("GROUP".into()));
                }
            }
        }
        for u in a["users"].as_array().unwrap() {
            d.app_users
                .insert((aid.clone(), s(&u["id"]).unwrap()), Some("USER".into()));
        }
    }
    d
}

/// Every event of the feed through the API, following its cursor.
pub(crate) async fn feed(app: &TestApp, name: &str) -> Vec<FeedEvent> {
    let mut after = "0".to_owned();
    let mut out: Vec<FeedEvent> = Vec::new();
    loop {
        let (status, body) = api(
            app,
            Method::GET,
            &format!("/api/connections/{name}/events?after={after}&limit=1000"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().unwrap();
        if events.is_empty() {
            assert_eq!(body["next"], after.as_str(), "the cursor stays where it was");
            return out;
        }
        for e in events {
            out.push(FeedEvent {
                seq: e["seq"].as_i64().unwrap(),
                event_type: EventType::parse(e["type"].as_str().unwrap()).unwrap(),
                object_id: s(&e["objectId"]).unwrap(),
                occurred_at: s(&e["occurredAt"]),
                recorded_at: e["recordedAt"].as_i64().unwrap(),
                data: e["data"].clone(),
            });
        }
        after = s(&body["next"]).unwrap();
    }
}

pub(crate) async fn churn(app: &TestApp, n: usize) -> Vec<Value> {
    let body = sandbox_control(
        app,
        Method::POST,
        "/__sandbox/churn/step",
        Some(json!({ "changes": n })),
    )
    .await;
    body["changes"].as_array().unwrap().clone()
}

async fn sync_mirrors_the_org(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 150;
                c.groups = 12;
                c.apps = 2;
                c.deprovisioned_percent = 5;
                // A share of System Log events published earlier than Okta stored them.
                c.late_events = 0.2;
                // Okta's limits a second, not a minute: syncs use half of each window and
                // would otherwise wait for the next one.
                c.rate_limit_window = std::time::Duration::from_secs(1);
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect_with_token(&app, "dir").await;
    let name = AccountName::parse("dir").unwrap();

    // The first sync: everything, each object one `*.created` (or membership, assignment) event.
    let (status, summary) = api(&app, Method::POST, "/api/connections/dir/sync", None).await;
    assert_eq!(status, 200, "{summary}");
    let org = exported(&app).await;
    assert!(
        org.users.values().any(|u| u.status == "DEPROVISIONED"),
        "deactivated users are synced too"
    );
    let stored = app.store.directory(&name).await.unwrap();
    assert_eq!(
        comparable(&stored),
        comparable(&org),
        "the stored directory is the org's"
    );
    let export = sandbox_control(&app, Method::GET, "/__sandbox/export", None).await;
    let app_groups: BTreeSet<(String, String)> = export["apps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            let aid = s(&a["id"]).unwrap();
            a["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |g| (aid.clone(), s(g).unwrap()))
        })
        .collect();
    assert!(!app_groups.is_empty());
    assert_eq!(stored.app_groups, app_groups, "the groups assigned to apps are kept");
    let expected_events = org.users.len() + org.groups.len() + org.members.len() + org.app_users.len();
    assert_eq!(summary["events"], expected_events, "{summary}");
    let events = feed(&app, "dir").await;
    assert_eq!(events.len(), expected_events);
    assert!(
        events.windows(2).all(|w| w[0].seq + 1 == w[1].seq),
        "cursors increase one by one"
    );
    assert_eq!(
        comparable(&okta_bridge::sync::fold(&events)),
        comparable(&stored),
        "folding the feed gives the directory"
    );

    // Nothing new: nothing written.
    let (_, summary) = api(&app, Method::POST, "/api/connections/dir/sync", None).await;
    assert_eq!(summary["events"], 0, "{summary}");

    // The org changes by itself; each sync catches up.
    for round in 0..3 {
        let changes = churn(&app, 120).await;
        assert_eq!(changes.len(), 120);
        let served_before = served_api(&app).await;
        let (status, summary) = api(&app, Method::POST, "/api/connections/dir/sync", None).await;
        assert_eq!(status, 200, "{summary}");
        assert_eq!(
            summary["full"], false,
            "after the first, syncs read what changed: {summary}"
        );
        // The run's requests by bucket, as the org counted them.
        let said: u64 = summary["requests"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(said, served_api(&app).await - served_before, "{summary}");
        assert!(summary["requests"]["/api/v1/logs"].as_u64().unwrap() >= 1, "{summary}");
        assert!(summary["events"].as_u64().unwrap() > 50, "round {round}: {summary}");
        assert!(
            summary["groupsReread"].as_u64().unwrap() < summary["groupsRead"].as_u64().unwrap().max(1),
            "the log accounts for most groups' members: {summary}"
        );
        let org = exported(&app).await;
        let stored = app.store.directory(&name).await.unwrap();
        assert_eq!(
            comparable(&stored),
            comparable(&org),
            "round {round}: the stored directory is the org's"
        );
        let events = feed(&app, "dir").await;
        assert!(events.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        assert_eq!(
            differences(&okta_bridge::sync::fold(&events), &stored),
            "",
            "round {round}: folding the feed gives the directory"
        );
        // A full read (the reconciliation) finds nothing the incremental one missed.
        let (status, full) = api(&app, Method::POST, "/api/connections/dir/sync?full=true", None).await;
        assert_eq!(status, 200, "{full}");
        assert_eq!(
            (&full["full"], &full["events"]),
            (&json!(true), &json!(0)),
            "round {round}: {full}"
        );
        // Every change of the churn is in the feed: a deleted user's deletion, a new user's creation.
        for c in &changes {
            let uid = c["userId"].as_str();
            let has = |t: EventType, id: &str| events.iter().any(|e| e.event_type == t && e.object_id == id);
            match (c["change"].as_str().unwrap(), uid) {
                ("user.create", Some(id)) if stored.users.contains_key(id) => assert!(has(EventType::UserCreated, id)),
                ("user.delete", Some(id)) if has(EventType::UserCreated, id) => {
                    assert!(has(EventType::UserDeleted, id), "{c}");
                }
                _ => {}
            }
        }
    }
    // Under faults (5xx, 429, cut connections on a share of the org's answers) a run either
    // completes or writes nothing; once one completes, the directory is the org's again.
    set_faults(
        &app,
        json!([{ "route": "/api/v1", "errors": 0.1, "rateLimits": 0.05, "cuts": 0.05 }]),
    )
    .await;
    churn(&app, 120).await;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let (status, summary) = api(&app, Method::POST, "/api/connections/dir/sync", None).await;
        if status == 200 {
            assert_eq!(summary["full"], false, "{summary}");
            break;
        }
        assert!(attempts < 10, "a sync gets through the faults: {summary}");
    }
    set_faults(&app, json!([])).await;
    let org = exported(&app).await;
    let stored = app.store.directory(&name).await.unwrap();
    assert_eq!(
        differences(&stored, &org),
        "",
        "after faults, the stored directory is the org's"
    );
    let events = feed(&app, "dir").await;
    assert_eq!(differences(&okta_bridge::sync::fold(&events), &stored), "");

    // A long poll: nothing new, so the answer waits for the next run that writes events.
    let last = feed(&app, "dir").await.last().unwrap().seq;
    let poll = {
        let (url, token) = (app.url.clone(), app.admin_token.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(format!("{url}/api/connections/dir/events?after={last}&wait=30"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    churn(&app, 20).await;
    let (status, _) = api(&app, Method::POST, "/api/connections/dir/sync", None).await;
    assert_eq!(status, 200);
    let answer = poll.await.unwrap();
    let got = answer["events"].as_array().unwrap();
    assert!(!got.is_empty(), "{answer}");
    assert_eq!(got[0]["seq"], last + 1);
    // With nothing new a wait runs out empty; a wait longer than a minute is refused.
    let last = feed(&app, "dir").await.last().unwrap().seq;
    let (status, answer) = api(
        &app,
        Method::GET,
        &format!("/api/connections/dir/events?after={last}&wait=1"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer, json!({ "events": [], "next": last.to_string() }));
    let (status, answer) = api(&app, Method::GET, "/api/connections/dir/events?wait=61", None).await;
    assert_eq!(status, 400, "{answer}");

    let (status, state) = api(&app, Method::GET, "/api/connections/dir/sync", None).await;
    assert_eq!(status, 200);
    assert_eq!(state["lastSeq"].as_i64(), feed(&app, "dir").await.last().map(|e| e.seq));
    assert_eq!(state["running"], false);
    assert!(state["lastFullAt"].is_i64() && state["lastError"].is_null(), "{state}");

    // One run at a time: while another holds the lease, a sync is refused.
    assert!(
        app.store
            .take_sync_lease(&name, "another-instance", 60, None)
            .await
            .unwrap()
    );
    let (status, body) = api(&app, Method::POST, "/api/connections/dir/sync", None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("running already"), "{body}");
    app.store.release_sync_lease(&name, "another-instance").await.unwrap();
    let (status, _) = api(&app, Method::POST, "/api/connections/dir/sync", None).await;
    assert_eq!(status, 200);

    // The stored users, paged.
    let (status, page) = api(
        &app,
        Method::GET,
        "/api/connections/dir/directory/users?limit=50&status=DEPROVISIONED",
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let stored = app.store.directory(&name).await.unwrap();
    let deprovisioned = stored.users.values().filter(|u| u.status == "DEPROVISIONED").count();
    assert_eq!(page.as_array().unwrap().len(), deprovisioned.min(50));
    // Filters: a prefix of the names, email or login; a group's members; changed since.
    let ids =
        |page: &Value| -> BTreeSet<String> { page.as_array().unwrap().iter().map(|u| s(&u["id"]).unwrap()).collect() };
    let some = stored.users.values().nth(7).unwrap();
    let prefix: String = some.login.to_lowercase().chars().take(3).collect();
    let starts = |v: Option<&String>| v.is_some_and(|v| v.to_lowercase().starts_with(&prefix));
    let expected: BTreeSet<String> = stored
        .users
        .values()
        .filter(|u| {
            starts(Some(&u.login))
                || starts(u.email.as_ref())
                || starts(u.first_name.as_ref())
                || starts(u.last_name.as_ref())
        })
        .map(|u| u.id.clone())
        .collect();
    let (status, page) = api(
        &app,
        Method::GET,
        &format!(
            "/api/connections/dir/directory/users?limit=1000&q={}",
            prefix.to_uppercase()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), expected, "q={prefix}");
    let (gid, _) = stored.members.iter().next().unwrap().clone();
    let (status, page) = api(
        &app,
        Method::GET,
        &format!("/api/connections/dir/directory/users?limit=1000&group={gid}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let members: BTreeSet<String> = stored
        .members
        .iter()
        .filter(|(g, _)| *g == gid)
        .map(|(_, u)| u.clone())
        .collect();
    assert_eq!(ids(&page), members);
    let mut times: Vec<i128> = stored
        .users
        .values()
        .filter_map(|u| ms(u.last_updated.as_deref()))
        .collect();
    times.sort_unstable();
    let cut = times[times.len() / 2] / 1000;
    let since = OffsetDateTime::from_unix_timestamp(i64::try_from(cut).unwrap())
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let (status, page) = api(
        &app,
        Method::GET,
        &format!("/api/connections/dir/directory/users?limit=1000&updatedSince={since}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let expected: BTreeSet<String> = stored
        .users
        .values()
        .filter(|u| ms(u.last_updated.as_deref()).is_some_and(|t| t / 1000 >= cut))
        .map(|u| u.id.clone())
        .collect();
    assert!(!expected.is_empty() && expected.len() < stored.users.len());
    assert_eq!(ids(&page), expected, "updatedSince={since}");
    let (status, _) = api(
        &app,
        Method::GET,
        "/api/connections/dir/directory/users?updatedSince=yesterday",
        None,
    )
    .await;
    assert_eq!(status, 400);
    // The apps, with their groups and number of users.
    let (status, apps) = api(&app, Method::GET, "/api/connections/dir/directory/apps", None).await;
    assert_eq!(status, 200, "{apps}");
    assert_eq!(apps.as_array().unwrap().len(), stored.apps.len());
    for a in apps.as_array().unwrap() {
        let aid = s(&a["id"]).unwrap();
        let groups: Vec<String> = stored
            .app_groups
            .iter()
            .filter(|(x, _)| *x == aid)
            .map(|(_, g)| g.clone())
            .collect();
        assert_eq!(a["groups"], json!(groups));
        assert_eq!(a["users"], stored.app_users.keys().filter(|(x, _)| *x == aid).count());
    }

    // A user with its groups, the groups, a group's members, paged as Okta pages.
    let (uid, expected_groups) = {
        let uid = stored.members.iter().next().unwrap().1.clone();
        let groups: Vec<String> = stored
            .members
            .iter()
            .filter(|(_, u)| *u == uid)
            .map(|(g, _)| g.clone())
            .collect();
        (uid, groups)
    };
    let (status, user) = api(
        &app,
        Method::GET,
        &format!("/api/connections/dir/directory/users/{uid}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["groups"], json!(expected_groups));
    assert_eq!(user["login"], stored.users[&uid].login.as_str());
    let (status, _) = api(
        &app,
        Method::GET,
        "/api/connections/dir/directory/users/00uNobody",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, groups) = api(
        &app,
        Method::GET,
        "/api/connections/dir/directory/groups?limit=1000",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(groups.as_array().unwrap().len(), stored.groups.len());
    let everyone = stored
        .groups
        .values()
        .find(|g| g.group_type == "BUILT_IN")
        .unwrap()
        .id
        .clone();
    let mut path = format!("/api/connections/dir/directory/groups/{everyone}/members?limit=40");
    let mut members = Vec::new();
    loop {
        let res = reqwest::Client::new()
            .get(format!("{}{path}", app.url))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let next = crate::util::next_link(&res);
        let page: Vec<Value> = res.json().await.unwrap();
        assert!(page.len() <= 40);
        members.extend(page.into_iter().map(|u| s(&u["id"]).unwrap()));
        match next {
            Some(n) => path = n[n.find("/api/").unwrap()..].to_owned(),
            None => break,
        }
    }
    let expected: Vec<String> = stored
        .members
        .iter()
        .filter(|(g, _)| *g == everyone)
        .map(|(_, u)| u.clone())
        .collect();
    assert_eq!(members, expected, "every member once, in id order");
    let (status, _) = api(
        &app,
        Method::GET,
        "/api/connections/dir/directory/groups/00gNone/members",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = api(&app, Method::GET, "/api/connections/nobody/events", None).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = api(&app, Method::GET, "/api/connections/dir/events?after=x", None).await;
    assert_eq!(status, 400);

    // Retention: events older than it keeps are deleted; a cursor from before them is told so
    // (410), one at or after the newest deleted still reads on.
    let last = feed(&app, "dir").await.last().unwrap().seq;
    let pruned = app
        .store
        .prune_events(&name, okta_bridge::model::now() + 1)
        .await
        .unwrap();
    assert_eq!(pruned, u64::try_from(last).unwrap());
    let (status, body) = api(&app, Method::GET, "/api/connections/dir/events?after=0", None).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"], "cursor_expired");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("read the synced directory again"),
        "{body}"
    );
    let (status, body) = api(
        &app,
        Method::GET,
        &format!("/api/connections/dir/events?after={last}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"], json!([]));
}

#[tokio::test]
async fn sync_mirrors_the_org_sqlite() {
    sync_mirrors_the_org(TestDb::sqlite()).await;
}

#[tokio::test]
async fn sync_mirrors_the_org_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    sync_mirrors_the_org(db).await;
}

/// Creates account `name` on the sandbox org and connects it with the admin's API token.
pub(crate) async fn connect_with_token(app: &TestApp, name: &str) {
    crate::util::connect_by_api_token(app, name).await;
}

/// Requests the sandbox served on its Management API routes so far.
async fn served_api(app: &TestApp) -> u64 {
    let counters = sandbox_control(app, Method::GET, "/__sandbox/counters", None).await;
    counters["requests"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(route, _)| route.contains(" /api/v1/"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// Requests the sandbox served on `route` (e.g. `GET /api/v1/apps`).
pub(crate) async fn served(app: &TestApp, route: &str) -> u64 {
    let counters = sandbox_control(app, Method::GET, "/__sandbox/counters", None).await;
    counters["requests"][route].as_u64().unwrap_or(0)
}

/// Three `okta-bridge serve` processes on one PostgreSQL, each scheduling syncs every second,
/// ten connections: every connection is synced, one run at a time. Each run lists the org's
/// apps exactly once, so the sandbox's count of those requests is the number of runs: at most
/// one per connection per interval (three instances running each due connection would make
/// about three times as many), and every connection's feed holds each object once.
#[tokio::test]
async fn three_instances_sync_ten_connections_one_run_at_a_time() {
    let Some(db) = TestDb::postgres().await else { return };
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 40;
                c.groups = 4;
                c.apps = 1;
                // Ten connections to one org share its limits: per-second windows here.
                c.rate_limit_window = std::time::Duration::from_secs(1);
            }),
            ..AppOptions::default()
        },
    )
    .await;
    let names: Vec<String> = (0..10).map(|i| format!("org{i}")).collect();
    for n in &names {
        connect_with_token(&app, n).await;
    }
    let client_id = app.sandbox.config().client_id.clone();
    let admin = "three-instances-admin-token";
    let runs_before = served(&app, "GET /api/v1/apps").await;
    let started = std::time::Instant::now();
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(
            crate::util::spawn_server_process(&[
                ("OKTA_BRIDGE_DATABASE_URL", db.url.as_str()),
                ("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str()),
                ("OKTA_BRIDGE_ADMIN_TOKEN", admin),
                ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0"),
                ("OKTA_CLIENT_ORGURL", app.sandbox.url()),
                ("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true"),
                ("OKTA_CLIENT_CLIENTID", &client_id),
                ("OKTA_CLIENT_CLIENTSECRET", app.sandbox.config().client_secret_value()),
                ("OKTA_BRIDGE_SYNC_INTERVAL", "1"),
            ])
            .await,
        );
    }
    // Until every connection has been synced again three seconds after the servers started
    // (polling the state, with a deadline).
    let from = okta_bridge::model::now() + 3;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mut synced = 0;
        for n in &names {
            let (status, state) = api(&app, Method::GET, &format!("/api/connections/{n}/sync"), None).await;
            assert_eq!(status, 200, "{state}");
            assert!(state["lastError"].is_null(), "{n}: {state}");
            synced += usize::from(state["lastRunAt"].as_i64().is_some_and(|t| t >= from));
        }
        if synced == names.len() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "every connection is synced");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for (mut child, _) in servers {
        child.kill().await.unwrap();
    }
    let elapsed = started.elapsed().as_secs();
    let runs = served(&app, "GET /api/v1/apps").await - runs_before;
    assert!(runs >= 10, "every connection ran: {runs}");
    assert!(
        runs <= 10 * (elapsed + 1),
        "{runs} runs in {elapsed} s: at most one per connection per second across three instances"
    );
    // Each connection's feed: every object once, and it folds to what the org holds.
    let org = exported(&app).await;
    for n in &names {
        let events = feed(&app, n).await;
        let created: Vec<&str> = events
            .iter()
            .filter(|e| e.event_type == EventType::UserCreated)
            .map(|e| e.object_id.as_str())
            .collect();
        assert_eq!(created.len(), org.users.len(), "{n}: one user.created per user");
        assert_eq!(
            created.iter().collect::<BTreeSet<_>>().len(),
            created.len(),
            "{n}: no user created twice"
        );
        assert_eq!(differences(&okta_bridge::sync::fold(&events), &org), "", "{n}");
    }
}

/// A connection that needs re-authorization is left out of scheduled syncs, and its state
/// says why; one that works is synced.
#[tokio::test]
async fn scheduled_syncs_pause_for_a_connection_that_needs_reauthorization() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 20;
                c.groups = 2;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect_with_token(&app, "works").await;
    connect_with_token(&app, "refused").await;
    let refused = AccountName::parse("refused").unwrap();
    let c = app.store.connection(&refused).await.unwrap().unwrap();
    assert!(
        app.store
            .mark_connection(
                &refused,
                c.version,
                &okta_bridge::model::ConnectionStatus::NeedsReauth("the API token was revoked".into())
            )
            .await
            .unwrap()
    );
    let service = crate::util::service(&app.store, None, crate::util::dev_egress());
    let ran = service.sync_due(std::time::Duration::from_secs(300)).await.unwrap();
    assert_eq!(ran, 1, "only the working connection is synced");
    let (_, state) = api(&app, Method::GET, "/api/connections/refused/sync", None).await;
    assert!(state["lastRunAt"].is_null(), "{state}");
    assert!(
        state["paused"].as_str().unwrap().contains("the API token was revoked"),
        "{state}"
    );
    let (_, state) = api(&app, Method::GET, "/api/connections/works/sync", None).await;
    assert!(state["lastRunAt"].is_i64() && state["paused"].is_null(), "{state}");
    // Synced now: not due again within the interval.
    assert_eq!(service.sync_due(std::time::Duration::from_secs(300)).await.unwrap(), 0);
    // A scheduled run's summary says when it came due and how late it started.
    let last = state["lastRunAt"].as_i64().unwrap();
    crate::util::exec_sql(
        &db,
        "UPDATE dir_sync SET last_run_at = last_run_at - 400 WHERE account = 'works'",
    )
    .await;
    assert_eq!(service.sync_due(std::time::Duration::from_secs(300)).await.unwrap(), 1);
    let (_, state) = api(&app, Method::GET, "/api/connections/works/sync", None).await;
    let summary = &state["lastSummary"];
    let late = summary["lateSeconds"].as_i64().unwrap();
    assert!((100..160).contains(&late), "due 100 s ago when it ran: {summary}");
    assert_eq!(
        summary["dueAt"],
        okta_bridge::model::rfc3339(last - 100).unwrap(),
        "{summary}"
    );
    let started = time::OffsetDateTime::parse(
        summary["startedAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert_eq!(started - (last - 100), late, "{summary}");
    // A run asked for says when it started, and nothing of a schedule.
    let (_, run) = api(&app, Method::POST, "/api/connections/works/sync", None).await;
    assert!(run["startedAt"].is_string() && run["lateSeconds"].is_null(), "{run}");

    // Removing the account removes its synced copy and its feed.
    let works = AccountName::parse("works").unwrap();
    assert!(!app.store.directory(&works).await.unwrap().users.is_empty());
    let (status, _) = api(&app, Method::DELETE, "/api/connections/works", None).await;
    assert!(status.is_success(), "{status}");
    assert!(
        !app.store.directory(&works).await.unwrap().users.is_empty(),
        "disconnecting keeps the copy"
    );
    let (status, body) = api(&app, Method::DELETE, "/api/accounts/works", None).await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(app.store.directory(&works).await.unwrap(), Directory::default());
    assert!(app.store.events_after(&works, 0, 10).await.unwrap().is_empty());
    assert_eq!(app.store.sync_state(&works).await.unwrap().last_seq, 0);
}

/// The page shows each connection's sync status, and its "Sync now" button (with the page's
/// CSRF token only) runs a sync whose result the page then shows.
#[tokio::test]
async fn the_page_shows_sync_status_and_syncs_now() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 30;
                c.groups = 3;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect_with_token(&app, "paged").await;
    let mut browser = crate::util::Browser::signed_in(&app).await;
    let index = browser.read(&format!("{}/", app.url)).await;
    assert!(index.contains("never synced"), "{index}");
    let health = browser.read(&format!("{}/connections/paged", app.url)).await;
    assert!(health.contains("Sync now"), "{health}");
    let url = format!("{}/connections/paged/sync", app.url);
    let res = browser
        .http
        .post(&url)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        app.store
            .sync_state(&AccountName::parse("paged").unwrap())
            .await
            .unwrap()
            .last_run_at
            .is_none()
    );
    let csrf = crate::util::hidden_value(&index, "csrf");
    let res = browser
        .http
        .post(&url)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()[reqwest::header::LOCATION], "/connections/paged");
    let index = browser.read(&format!("{}/", app.url)).await;
    let users = app
        .store
        .directory(&AccountName::parse("paged").unwrap())
        .await
        .unwrap()
        .users
        .len();
    assert!(index.contains(&format!("(full): {users} users, ")), "{index}");
    assert!(
        index.contains("on demand only"),
        "the scheduler is off in tests: {index}"
    );

    // The directory's page reads the synced copy: every user, 50 a page, searchable (the old
    // address leads there).
    let dir = app
        .store
        .directory(&AccountName::parse("paged").unwrap())
        .await
        .unwrap();
    let page = browser
        .read(&format!("{}/connections/paged/users?source=directory", app.url))
        .await;
    assert!(page.contains("From the synced directory"), "{page}");
    for u in dir.users.values() {
        assert!(
            page.contains(&format!("/connections/paged/directory/users/{}\"", u.id)),
            "{} is listed",
            u.id
        );
    }
    let prefix = dir.users.values().next().unwrap().login[..4].to_lowercase();
    let page = browser
        .read(&format!("{}/connections/paged/directory?q={prefix}", app.url))
        .await;
    let expected = dir
        .users
        .values()
        .filter(|u| {
            [
                Some(&u.login),
                u.email.as_ref(),
                u.first_name.as_ref(),
                u.last_name.as_ref(),
            ]
            .into_iter()
            .flatten()
            .any(|v| v.to_lowercase().starts_with(&prefix))
        })
        .count();
    assert_eq!(
        page.matches("/connections/paged/directory/users/").count(),
        expected,
        "{page}"
    );
}

/// Lets a dead process's sync lease run out now (it would within a minute).
async fn break_sync_lease(db: &TestDb, account: &str) {
    use sqlx::Connection;
    let sql = "UPDATE dir_sync SET lease_owner = NULL, lease_until = NULL WHERE account = $1";
    if db.url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(sql).bind(account).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query(sql).bind(account).execute(&mut c).await.unwrap();
    }
}

/// `okta-bridge sync` processes stopped dead while the org changes: at each point of a run
/// (after reading, with the transaction open, after committing) and SIGKILLed at random
/// moments. A run that dies writes nothing or everything; the next run reads again from the
/// cursors the last committed run left; in the end the stored directory is the org's, folding
/// the feed gives it, and no change is in the feed twice.
async fn killed_syncs_lose_and_repeat_nothing(db: TestDb) {
    use rand::Rng;
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 80;
                c.groups = 6;
                c.apps = 1;
                c.late_events = 0.2;
                c.rate_limit_window = std::time::Duration::from_secs(1);
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect_with_token(&app, "kill").await;
    let name = AccountName::parse("kill").unwrap();
    let (status, _) = api(&app, Method::POST, "/api/connections/kill/sync", None).await;
    assert_eq!(status, 200);
    let mut changes = Vec::new();
    let points = [
        "sync.after_read",
        "sync.before_commit",
        "sync.after_commit",
        "",
        "",
        "",
        "",
        "",
    ];
    let mut outcomes = BTreeMap::new();
    for point in points {
        changes.extend(churn(&app, 20).await);
        let before = app.store.sync_state(&name).await.unwrap().last_seq;
        // The chaos: a kill at a random moment of the run (not a wait for anything).
        let kill_at = point
            .is_empty()
            .then(|| std::time::Duration::from_millis(rand::rng().random_range(0..80)));
        let status = sync_process(&db, &["sync", "kill"], point, kill_at).await;
        let after = app.store.sync_state(&name).await.unwrap().last_seq;
        let outcome = match (point, status) {
            ("sync.after_commit", Some(86)) => {
                assert!(after > before, "committed before it died");
                "died after commit"
            }
            (p, Some(86)) if !p.is_empty() => {
                assert_eq!(after, before, "{p}: nothing written");
                "died before commit"
            }
            ("", None) => "killed",
            ("", Some(0)) => "completed",
            other => panic!("unexpected end of a sync process: {other:?}"),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    eprintln!("killed syncs: {outcomes:?}");
    let (status, summary) = api(&app, Method::POST, "/api/connections/kill/sync", None).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["full"], false);
    assert_exact(&app, "kill", &changes).await;
}

/// After syncs that were stopped: the stored directory is the org's, the feed's cursors run one
/// by one, folding the feed gives the directory, no object is created or deleted twice, and
/// every user the `changes` created is in the feed.
pub(crate) async fn assert_exact(app: &TestApp, name: &str, changes: &[Value]) {
    let org = exported(app).await;
    let stored = app.store.directory(&AccountName::parse(name).unwrap()).await.unwrap();
    assert_eq!(differences(&stored, &org), "", "the stored directory is the org's");
    let events = feed(app, name).await;
    assert!(events.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    assert_eq!(differences(&okta_bridge::sync::fold(&events), &stored), "");
    // No change twice: each user created once, deleted at most once.
    for t in [
        EventType::UserCreated,
        EventType::UserDeleted,
        EventType::GroupCreated,
        EventType::GroupDeleted,
    ] {
        let ids: Vec<&str> = events
            .iter()
            .filter(|e| e.event_type == t)
            .map(|e| e.object_id.as_str())
            .collect();
        assert_eq!(
            ids.iter().collect::<BTreeSet<_>>().len(),
            ids.len(),
            "{t:?} twice for one object"
        );
    }
    // Every change made is in the feed: each new user created, each deleted one deleted.
    let has = |t: EventType, id: &str| events.iter().any(|e| e.event_type == t && e.object_id == id);
    for c in changes {
        match (c["change"].as_str().unwrap(), c["userId"].as_str()) {
            ("user.create", Some(id)) => assert!(has(EventType::UserCreated, id) || !org.users.contains_key(id), "{c}"),
            ("user.delete", Some(id)) if has(EventType::UserCreated, id) => {
                assert!(has(EventType::UserDeleted, id), "{c}")
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn killed_syncs_lose_and_repeat_nothing_sqlite() {
    killed_syncs_lose_and_repeat_nothing(TestDb::sqlite()).await;
}

#[tokio::test]
async fn killed_syncs_lose_and_repeat_nothing_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    killed_syncs_lose_and_repeat_nothing(db).await;
}

/// `okta-bridge` with `args` (`sync NAME …`) as a process, with `failpoints` set; its exit
/// status (`None`: SIGKILLed after `kill_after`). The lease it may leave is broken.
pub(crate) async fn sync_process(
    db: &TestDb,
    args: &[&str],
    failpoints: &str,
    kill_after: Option<std::time::Duration>,
) -> Option<i32> {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .args(args)
        .args(["--database-url", &db.url, "--dev-allow-private-orgs"])
        .env_clear()
        .env("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str())
        .env("OKTA_BRIDGE_FAILPOINTS", failpoints)
        .env("OKTA_BRIDGE_LOG", "off")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = match kill_after {
        Some(at) => match tokio::time::timeout(at, child.wait()).await {
            Ok(status) => status.unwrap().code(),
            Err(_) => {
                child.start_kill().unwrap();
                child.wait().await.unwrap();
                None
            }
        },
        None => child.wait().await.unwrap().code(),
    };
    break_sync_lease(db, args[1]).await;
    status
}

/// A full pass is written page by page: a process stopped after its third page leaves those
/// pages and where it stood; the next run goes on from there (reading none of those pages
/// again), and passes SIGKILLed at random moments while the org changes lose and repeat
/// nothing either: after the last pass and the incremental run that follows it, the stored
/// directory is the org's.
async fn a_stopped_full_pass_resumes_from_its_last_page(db: TestDb) {
    const PASS: &[&str] = &["sync", "pass", "--full"];
    use rand::Rng;
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 1_000;
                c.groups = 8;
                c.apps = 1;
                c.rate_limit_window = std::time::Duration::from_secs(1);
                c.users_rate_limit = 100_000;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect_with_token(&app, "pass").await;
    let name = AccountName::parse("pass").unwrap();
    let listed = "GET /api/v1/users";

    // Stopped right after its third page (200 users each) is written.
    let before = served(&app, listed).await;
    let status = sync_process(&db, PASS, "sync.page_committed@3", None).await;
    assert_eq!(status, Some(okta_bridge::failpoint::EXIT_STATUS));
    let first_run = served(&app, listed).await - before;
    let stored = app.store.directory(&name).await.unwrap();
    assert_eq!(stored.users.len(), 600, "three pages of users are written");
    assert_eq!(app.store.sync_state(&name).await.unwrap().last_seq, 600);
    let (_, pass) = app
        .store
        .sync_pass(&name)
        .await
        .unwrap()
        .expect("the pass is in progress");
    assert_eq!(pass["phase"], "users", "{pass}");
    assert!(pass["after"].is_string(), "{pass}");

    // The next run resumes: the remaining user pages only.
    let before = served(&app, listed).await;
    assert_eq!(sync_process(&db, PASS, "", None).await, Some(0));
    let second_run = served(&app, listed).await - before;
    let org = exported(&app).await;
    let active_pages = org
        .users
        .values()
        .filter(|u| u.status != "DEPROVISIONED")
        .count()
        .div_ceil(200) as u64;
    assert!(first_run >= 3, "{first_run}");
    assert_eq!(
        second_run,
        active_pages - 3 + 1,
        "the rest of the users and one page of deactivated ones, nothing read twice"
    );
    let state = app.store.sync_state(&name).await.unwrap();
    let summary = state.last_summary.unwrap();
    assert_eq!(summary["resumed"], 1, "{summary}");
    assert!(app.store.sync_pass(&name).await.unwrap().is_none(), "the pass is over");
    let stored = app.store.directory(&name).await.unwrap();
    assert_eq!(differences(&stored, &org), "", "the stored directory is the org's");
    let events = feed(&app, "pass").await;
    assert_eq!(
        events.len(),
        org.users.len() + org.groups.len() + org.members.len() + org.app_users.len(),
        "each object said once"
    );

    // Passes killed at random moments while the org changes; then one that completes.
    let mut changes = Vec::new();
    let mut outcomes = BTreeMap::new();
    for _ in 0..6 {
        changes.extend(churn(&app, 30).await);
        let at = std::time::Duration::from_millis(rand::rng().random_range(0..400));
        let outcome = match sync_process(&db, PASS, "", Some(at)).await {
            None => "killed",
            Some(0) => "completed",
            other => panic!("unexpected end of a sync process: {other:?}"),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    eprintln!("killed passes: {outcomes:?}");
    // The last pass may be the rest of one a killed run left, read after the org changed:
    // what changed in the part read before is what the next (incremental) run catches.
    assert_eq!(sync_process(&db, PASS, "", None).await, Some(0));
    assert_eq!(sync_process(&db, &["sync", "pass"], "", None).await, Some(0));
    assert_exact(&app, "pass", &changes).await;
}

#[tokio::test]
async fn a_stopped_full_pass_resumes_from_its_last_page_sqlite() {
    a_stopped_full_pass_resumes_from_its_last_page(TestDb::sqlite()).await;
}

#[tokio::test]
async fn a_stopped_full_pass_resumes_from_its_last_page_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    a_stopped_full_pass_resumes_from_its_last_page(db).await;
}

/// A small org of its own (6 users, 2 groups, an app).
async fn small_org() -> okta_sandbox::Sandbox {
    okta_sandbox::Sandbox::spawn(okta_sandbox::SandboxConfig {
        users: 6,
        groups: 2,
        apps: 1,
        ..okta_sandbox::SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// Makes every Management API request of `org` take 3 s from now on.
async fn slow_down(org: &okta_sandbox::Sandbox) {
    let res = reqwest::Client::new()
        .put(format!("{}/__sandbox/faults", org.url()))
        .header("authorization", format!("SSWS {}", org.config().api_token_value()))
        .json(&json!([{ "route": "/api/v1", "latencyMs": 3000 }]))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
}

/// A small org of its own connected as `name` to `app` (whose scheduler runs), made slow
/// once connected, and its first scheduled sync under way; the org (it serves while kept).
pub(crate) async fn a_slow_org_syncing(app: &TestApp, name: &str) -> okta_sandbox::Sandbox {
    let slow = small_org().await;
    let (status, body) = api(
        app,
        Method::POST,
        "/api/accounts",
        Some(json!({ "name": name, "orgUrl": slow.url() })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api(
        app,
        Method::POST,
        &format!("/api/accounts/{name}/connect"),
        Some(json!({ "apiToken": slow.config().api_token_value() })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Slow from now on (the connect's own checks were quick).
    slow_down(&slow).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, state) = api(app, Method::GET, &format!("/api/connections/{name}/sync"), None).await;
        if state["running"] == true {
            return slow;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow org's run starts: {state}"
        );
        // Waits on the feed for a second, not a sleep: any event written wakes it.
        api(
            app,
            Method::GET,
            &format!("/api/connections/{name}/events?after=0&wait=1&limit=1"),
            None,
        )
        .await;
    }
}

/// Issue 26 (isolation, first part): the scheduler runs each due connection's sync as a task of
/// its own. An org made slow (3 s a request) is synced first and takes half a minute; a fast
/// org connected after it is synced while the slow one's run is still going, instead of after
/// it.
async fn a_slow_org_does_not_hold_up_other_syncs(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 6;
                c.groups = 2;
                c.apps = 1;
            }),
            settings: Box::new(|s| s.sync_interval = 1),
            ..AppOptions::default()
        },
    )
    .await;
    // The scheduler takes the slow org first (due first: never synced, first by name).
    let _slow = a_slow_org_syncing(&app, "aaa-slow").await;
    let state = |name: &'static str| {
        let app = &app;
        async move {
            api(app, Method::GET, &format!("/api/connections/{name}/sync"), None)
                .await
                .1
        }
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);

    connect_with_token(&app, "zzz-fast").await;
    loop {
        let fast = state("zzz-fast").await;
        if !fast["lastRunAt"].is_null() && fast["running"] == false {
            assert!(fast["lastError"].is_null(), "{fast}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline + std::time::Duration::from_secs(30),
            "the fast org is synced: {fast}"
        );
        let after = fast["lastSeq"].as_i64().unwrap_or(0);
        api(
            &app,
            Method::GET,
            &format!("/api/connections/zzz-fast/events?after={after}&wait=1&limit=1"),
            None,
        )
        .await;
    }
    let slow_state = state("aaa-slow").await;
    assert!(
        slow_state["running"] == true && slow_state["lastRunAt"].is_null(),
        "the fast org was synced while the slow one's first run went on: {slow_state}"
    );
    // /metrics says so (the fast org may be due or running again: its interval is a second).
    let metrics = crate::util::api_get(&app, "/metrics").await.text().await.unwrap();
    let value = |name: &str| -> i64 {
        let line = format!("{name}{{kind=\"scheduled_sync\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert!(value("okta_bridge_work_running") >= 1, "the slow org's run: {metrics}");
    assert!(
        value("okta_bridge_work_due") >= 1,
        "the slow org is due until its run ends: {metrics}"
    );
    let done: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("okta_bridge_work_items_total{kind=\"scheduled_sync\",outcome=\"done\"} "))
        .unwrap_or_else(|| panic!("the done count in {metrics}"))
        .parse()
        .unwrap();
    assert!(done >= 1, "the fast org's run: {metrics}");
}
crate::flow::on_both_databases!(
    a_slow_org_does_not_hold_up_other_syncs,
    super::a_slow_org_does_not_hold_up_other_syncs
);

/// Issue 26 (graceful shutdown): a `serve` process stopped with SIGTERM while its scheduler
/// syncs a slow org stops claiming work, gives the run its grace (one second here), stops it,
/// and gives up its lease: another instance can take the connection at once, not a minute
/// later when the lease would have run out.
async fn sigterm_gives_up_the_work_in_flight(db: TestDb) {
    let org = small_org().await;
    let admin = "sigterm-admin-token-0123456789abcdef";
    let (mut child, url) = crate::util::spawn_server_process(&[
        ("OKTA_BRIDGE_DATABASE_URL", db.url.as_str()),
        ("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str()),
        ("OKTA_BRIDGE_ADMIN_TOKEN", admin),
        ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0"),
        ("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true"),
        ("OKTA_BRIDGE_SYNC_INTERVAL", "1"),
        ("OKTA_BRIDGE_SHUTDOWN_GRACE", "1"),
    ])
    .await;
    let http = reqwest::Client::new();
    let call = |method: Method, path: &str, body: Option<Value>| {
        let mut req = http.request(method, format!("{url}{path}")).bearer_auth(admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = call(
        Method::POST,
        "/api/accounts",
        Some(json!({ "name": "slow", "orgUrl": org.url() })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        Method::POST,
        "/api/accounts/slow/connect",
        Some(json!({ "apiToken": org.config().api_token_value() })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    slow_down(&org).await;
    // The scheduler's run is under way (its first page takes three seconds).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, state) = call(Method::GET, "/api/connections/slow/sync", None).await;
        if state["running"] == true {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduled run starts: {state}"
        );
        call(Method::GET, "/api/connections/slow/events?after=0&wait=1&limit=1", None).await;
    }

    let pid = child.id().unwrap().to_string();
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(term.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("serve stops within its grace periods")
        .unwrap();
    assert!(status.success(), "a clean exit: {status}");

    // The connection's sync lease was given up: another instance takes it at once.
    let store = db.open().await;
    let account = AccountName::parse("slow").unwrap();
    assert!(
        store
            .take_sync_lease(&account, "another instance", 60, None)
            .await
            .unwrap(),
        "the lease was given up at shutdown"
    );
}
crate::flow::on_both_databases!(
    sigterm_gives_up_the_work_in_flight,
    super::sigterm_gives_up_the_work_in_flight
);

/// Issue 26 (memory flat in org size): an incremental run compares only the stored rows the
/// changes touch. In an org of 3,000 users, five changes (a profile, a new user, a membership
/// added and one removed, a deactivation, a deletion) are read from about as many stored rows
/// as they touch, not the thousands the whole directory holds; the run is exact all the same
/// (a full read after it finds nothing to say).
async fn an_incremental_sync_reads_only_the_stored_rows_it_touches(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 3000;
                c.groups = 30;
                c.apps = 2;
                c.rate_limit_window = std::time::Duration::from_secs(1);
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect_with_token(&app, "big").await;
    let (status, first) = api(&app, Method::POST, "/api/connections/big/sync", None).await;
    assert_eq!(status, 200, "{first}");
    let name = AccountName::parse("big").unwrap();
    let whole = app.store.directory(&name).await.unwrap();
    let whole_rows = whole.users.len() + whole.groups.len() + whole.members.len() + whole.app_users.len();
    assert!(whole.users.len() >= 3000, "{first}");

    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let (_, users) = org_call(&app, Method::GET, "/api/v1/users?limit=10", None).await;
    let users: Vec<String> = users.as_array().unwrap().iter().map(id).collect();
    let (_, groups) = org_call(&app, Method::GET, "/api/v1/groups?limit=50", None).await;
    let group = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["type"] == "OKTA_GROUP")
        .map(id)
        .unwrap();
    let call = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move {
            let (status, answer) = org_call(app, method, &path, body).await;
            assert!(status < 300, "{path}: {answer}");
            answer
        }
    };
    call(
        Method::POST,
        format!("/api/v1/users/{}", users[0]),
        Some(json!({ "profile": { "title": "Principal" } })),
    )
    .await;
    let login = "newcomer@example.com";
    let created = call(
        Method::POST,
        "/api/v1/users?activate=true".into(),
        Some(json!({ "profile": { "firstName": "New", "lastName": "Comer", "email": login, "login": login } })),
    )
    .await;
    call(
        Method::PUT,
        format!("/api/v1/groups/{group}/users/{}", id(&created)),
        None,
    )
    .await;
    let member = whole
        .members
        .iter()
        .find(|(g, _)| *g == group)
        .map(|(_, u)| u.clone())
        .unwrap();
    call(Method::DELETE, format!("/api/v1/groups/{group}/users/{member}"), None).await;
    call(
        Method::POST,
        format!("/api/v1/users/{}/lifecycle/deactivate", users[1]),
        None,
    )
    .await;
    call(
        Method::POST,
        format!("/api/v1/users/{}/lifecycle/deactivate", users[2]),
        None,
    )
    .await;
    call(Method::DELETE, format!("/api/v1/users/{}", users[2]), None).await;

    let (status, run) = api(&app, Method::POST, "/api/connections/big/sync", None).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["full"], false, "{run}");
    assert!(run["events"].as_u64().unwrap() >= 6, "{run}");
    let read = run["storedRowsRead"].as_u64().unwrap();
    // Five users and what they belong to (a few groups each, Everyone with them), the group
    // changed, the apps: tens of rows, where the whole directory is thousands.
    assert!(read <= 150, "an incremental run reads {read} stored rows: {run}");
    assert!(
        (read as usize) * 20 < whole_rows,
        "{read} stored rows read of {whole_rows}: {run}"
    );
    assert_eq!(
        run["directory"]["users"].as_u64().unwrap() as usize,
        whole.users.len(),
        "the counts are of the whole directory after the run (one created, one deleted): {run}"
    );
    let (status, full) = api(&app, Method::POST, "/api/connections/big/sync?full=true", None).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["events"], 0, "the incremental run missed nothing: {full}");
    let stored = app.store.directory(&name).await.unwrap();
    assert_eq!(
        comparable(&stored),
        comparable(&exported(&app).await),
        "the stored directory is the org's"
    );
}
crate::flow::on_both_databases!(
    an_incremental_sync_reads_only_the_stored_rows_it_touches,
    super::an_incremental_sync_reads_only_the_stored_rows_it_touches
);
