//! The sandbox as Okta's provisioning client pushing into a real `serve` (SQLite and
//! PostgreSQL): Okta's own CRUD sequence — create a user and assign it to the SCIM app, change
//! its first name, deactivate, reactivate and reassign, unassign — and Group Push of a group
//! with members, membership changes, a rename and a delete; okta-bridge's directory, feed and
//! a webhook receiver checked after each step.

use reqwest::Method;
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::scim::{feed, types};
use crate::util::{AppOptions, TestApp, TestDb, api, org_call, spawn_app};

/// Waits until the org pushed everything, then answers the feed's new events' types.
async fn settled(app: &TestApp, seen: &mut usize) -> Vec<(String, String, Value)> {
    app.sandbox.state().provisioning_settled().await;
    let events = feed(app, "acme", *seen as i64).await;
    *seen += events.len();
    events
}

/// An org whose SCIM app pushes to account `acme`: the app's id.
async fn scim_app(app: &TestApp) -> String {
    let (status, body) = api(
        app,
        Method::POST,
        "/api/accounts",
        Some(json!({ "name": "acme", "orgUrl": app.sandbox.url() })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, scim) = api(app, Method::POST, "/api/accounts/acme/scim", None).await;
    assert_eq!(status, 201, "{scim}");
    provisioning_app(app, scim["baseUrl"].as_str().unwrap(), scim["token"].as_str().unwrap()).await
}

/// A SCIM app at the org, pushing to `base_url` with `token` as its admin sets it up: made,
/// its connection activated (Okta's "Test API Credentials" first), Create Users, Update User
/// Attributes and Deactivate Users on. The app's id.
pub(crate) async fn provisioning_app(app: &TestApp, base_url: &str, token: &str) -> String {
    let (status, made) = org_call(
        app,
        Method::POST,
        "/api/v1/apps",
        Some(json!({ "label": "okta-bridge", "signOnMode": "BOOKMARK", "settings": { "app": { "url": app.url } } })),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    let (status, conn) = org_call(
        app,
        Method::POST,
        &format!("/api/v1/apps/{id}/connections/default?activate=true"),
        Some(json!({ "baseUrl": base_url, "profile": { "authScheme": "TOKEN", "token": token } })),
    )
    .await;
    assert_eq!(status, 200, "{conn}");
    let on = json!({ "status": "ENABLED" });
    let (status, feature) = org_call(
        app,
        Method::PUT,
        &format!("/api/v1/apps/{id}/features/USER_PROVISIONING"),
        Some(json!({ "capabilities": {
            "create": { "lifecycleCreate": on },
            "update": { "profile": on, "lifecycleDeactivate": on },
        } })),
    )
    .await;
    assert_eq!(status, 200, "{feature}");
    id
}

async fn new_user(app: &TestApp, login: &str, first: &str) -> String {
    let (status, u) = org_call(
        app,
        Method::POST,
        "/api/v1/users?activate=true",
        Some(json!({ "profile": { "login": login, "email": login, "firstName": first, "lastName": "Lovelace" } })),
    )
    .await;
    assert_eq!(status, 200, "{u}");
    u["id"].as_str().unwrap().to_owned()
}

async fn okta_crud_sequence(db: TestDb) {
    let mut app = spawn_app(&db, AppOptions::default()).await;
    let (url, received) = crate::webhooks::receiver(0, std::time::Duration::ZERO).await;
    let (status, made) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
    assert_eq!(status, 201, "{made}");
    let app_id = scim_app(&app).await;
    let mut seen = 0;

    // Create a user and assign it to the SCIM app.
    let uid = new_user(&app, "ada@example.com", "Ada").await;
    assert!(
        settled(&app, &mut seen).await.is_empty(),
        "nobody is pushed before being assigned"
    );
    let (status, a) = org_call(
        &app,
        Method::POST,
        &format!("/api/v1/apps/{app_id}/users"),
        Some(json!({ "id": uid, "scope": "USER", "credentials": { "userName": "ada@example.com" } })),
    )
    .await;
    assert_eq!(status, 200, "{a}");
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["user.created"], "{events:?}");
    let pushed_id = events[0].1.clone();
    assert_eq!(
        events[0].2["externalId"],
        uid.as_str(),
        "Okta's id is kept as externalId"
    );
    assert_eq!(events[0].2["login"], "ada@example.com");
    let (status, user) = api(
        &app,
        Method::GET,
        &format!("/api/connections/acme/directory/users/{pushed_id}"),
        None,
    )
    .await;
    assert_eq!(
        (status.as_u16(), user["status"].clone()),
        (200, json!("ACTIVE")),
        "{user}"
    );

    // Change its first name: a PUT of the whole user.
    let (status, _) = org_call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{uid}"),
        Some(json!({ "profile": { "firstName": "Augusta" } })),
    )
    .await;
    assert_eq!(status, 200);
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["user.updated"], "{events:?}");
    assert_eq!(events[0].2["profile"]["firstName"], "Augusta");

    // Deactivate; reactivate and reassign.
    let (status, _) = org_call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{uid}/lifecycle/deactivate"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["user.deactivated"], "{events:?}");
    let (status, _) = org_call(
        &app,
        Method::POST,
        &format!("/api/v1/users/{uid}/lifecycle/activate?sendEmail=false"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = org_call(
        &app,
        Method::POST,
        &format!("/api/v1/apps/{app_id}/users"),
        Some(json!({ "id": uid, "scope": "USER" })),
    )
    .await;
    assert_eq!(status, 200);
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["user.reactivated"], "{events:?}");

    // Unassign: deactivated at the app, not deleted (as Okta means it).
    let (status, _) = org_call(
        &app,
        Method::DELETE,
        &format!("/api/v1/apps/{app_id}/users/{uid}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["user.deactivated"], "{events:?}");
    let (status, user) = api(
        &app,
        Method::GET,
        &format!("/api/connections/acme/directory/users/{pushed_id}"),
        None,
    )
    .await;
    assert_eq!(
        (status.as_u16(), user["status"].clone()),
        (200, json!("DEPROVISIONED")),
        "{user}"
    );

    // What the org sent: "Test API Credentials" when the connection was activated, the
    // userName check before the create, a placeholder password, a PUT with the new name,
    // PATCHes of active.
    let report = app.sandbox.state().provisioning_report();
    let sent: Vec<(String, String)> = report["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(sent[0], ("GET".to_owned(), "/Users?startIndex=1&count=2".to_owned()));
    assert!(
        sent[1].0 == "GET"
            && sent[1]
                .1
                .starts_with("/Users?filter=userName+eq+%22ada%40example.com%22"),
        "{sent:?}"
    );
    assert_eq!(sent[2], ("POST".to_owned(), "/Users".to_owned()));
    assert!(report["sent"][2]["body"]["password"].is_string());
    let methods: Vec<&str> = sent.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        ["GET", "GET", "POST", "PUT", "PATCH", "PATCH", "PATCH"],
        "{sent:?}"
    );
    assert!(
        report["sent"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| (200..300).contains(&r["status"].as_u64().unwrap())),
        "{report}"
    );
    // Each push is in the org's System Log.
    let (_, log) = org_call(
        &app,
        Method::GET,
        "/api/v1/logs?filter=eventType%20sw%20%22application.provision%22&limit=100",
        None,
    )
    .await;
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"application.provision.user.push") && kinds.contains(&"application.provision.user.deactivate"),
        "{kinds:?}"
    );

    // The webhook receiver saw the same five changes, in order.
    let all = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let arrived = received.arrived.notified();
            if received.got.lock().unwrap().len() >= 5 {
                break;
            }
            arrived.await;
        }
    })
    .await;
    assert!(all.is_ok(), "the webhook receiver did not get every push");
    let kinds: Vec<String> = received
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, b)| {
            serde_json::from_str::<Value>(b).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "user.created",
            "user.updated",
            "user.deactivated",
            "user.reactivated",
            "user.deactivated"
        ]
    );
    // Deliveries may be in flight: stop the server and its workers before the database goes.
    app.stop().await;
}
on_both_databases!(okta_crud_sequence_works, super::okta_crud_sequence);

async fn group_push_from_the_org(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let app_id = scim_app(&app).await;
    let mut seen = 0;
    let (status, g) = org_call(
        &app,
        Method::POST,
        "/api/v1/groups",
        Some(json!({ "profile": { "name": "Pushed Engineers" } })),
    )
    .await;
    assert_eq!(status, 200, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let one = new_user(&app, "one@example.com", "One").await;
    let two = new_user(&app, "two@example.com", "Two").await;
    let (status, _) = org_call(&app, Method::PUT, &format!("/api/v1/groups/{gid}/users/{one}"), None).await;
    assert_eq!(status, 204);
    // The group assigned to the app: its members are pushed; then the group itself.
    let (status, _) = org_call(
        &app,
        Method::PUT,
        &format!("/api/v1/apps/{app_id}/groups/{gid}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(types(&settled(&app, &mut seen).await), ["user.created"]);
    let (status, m) = org_call(
        &app,
        Method::POST,
        &format!("/api/v1/apps/{app_id}/group-push/mappings"),
        Some(json!({ "sourceGroupId": gid, "status": "ACTIVE" })),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["group.created", "group.user_added"], "{events:?}");
    assert_eq!(events[0].2["name"], "Pushed Engineers");

    // A member added at the org: pushed as a user, then added to the group.
    let (status, _) = org_call(&app, Method::PUT, &format!("/api/v1/groups/{gid}/users/{two}"), None).await;
    assert_eq!(status, 204);
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["user.created", "group.user_added"], "{events:?}");
    // A member removed: out of the group, and (no longer assigned) deactivated.
    let (status, _) = org_call(&app, Method::DELETE, &format!("/api/v1/groups/{gid}/users/{one}"), None).await;
    assert_eq!(status, 204);
    let mut events = settled(&app, &mut seen).await;
    events.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(types(&events), ["group.user_removed", "user.deactivated"], "{events:?}");
    // A rename.
    let (status, _) = org_call(
        &app,
        Method::PUT,
        &format!("/api/v1/groups/{gid}"),
        Some(json!({ "profile": { "name": "Pushed Platform" } })),
    )
    .await;
    assert_eq!(status, 200);
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["group.updated"], "{events:?}");
    assert_eq!(events[0].2["name"], "Pushed Platform");
    let (_, groups) = api(&app, Method::GET, "/api/connections/acme/directory/groups", None).await;
    assert!(groups.to_string().contains("Pushed Platform"), "{groups}");
    // The mapping removed with its target group: deleted at okta-bridge.
    let mid = m["id"].as_str().unwrap();
    let (status, _) = org_call(
        &app,
        Method::DELETE,
        &format!("/api/v1/apps/{app_id}/group-push/mappings/{mid}?deleteTargetGroup=true"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let events = settled(&app, &mut seen).await;
    assert_eq!(types(&events), ["group.deleted"], "{events:?}");
    // The Group Push requests as Okta sends them.
    let report = app.sandbox.state().provisioning_report();
    let patches: Vec<&Value> = report["sent"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "PATCH" && r["path"].as_str().unwrap().starts_with("/Groups/"))
        .collect();
    assert!(
        patches.iter().all(|p| p["body"]["Operations"][0]["op"] == "replace"
            && p["body"]["Operations"][0]["value"]["displayName"].is_string()),
        "{patches:?}"
    );
    assert!(
        patches
            .iter()
            .any(|p| p["body"].to_string().contains("members[value eq")),
        "{patches:?}"
    );
}
on_both_databases!(group_push_from_the_org_works, super::group_push_from_the_org);
