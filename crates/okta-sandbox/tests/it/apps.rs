//! The Apps API: the registered OAuth app, bookmark apps, their users and group assignments.

use serde_json::Value;

use crate::spec::MANAGEMENT;
use crate::util::{api, sandbox, ssws, tokens_for};

#[tokio::test]
async fn apps_users_and_groups_match_the_spec() {
    let sb = sandbox(|c| {
        c.users = 130;
        c.apps = 3;
    })
    .await;
    let apps: Vec<Value> = api(&sb, "/api/v1/apps", &ssws(&sb)).await.json().await.unwrap();
    assert_eq!(apps.len(), 4, "the OAuth web app and three bookmarks");
    for a in &apps {
        let schema = match a["signOnMode"].as_str().unwrap() {
            "OPENID_CONNECT" => "OpenIdConnectApplication",
            _ => "BookmarkApplication",
        };
        MANAGEMENT.assert_valid(schema, a);
    }
    let oidc = apps.iter().find(|a| a["signOnMode"] == "OPENID_CONNECT").unwrap();
    assert_eq!(
        oidc["id"],
        sb.config().client_id.as_str(),
        "an OIDC app's id is its client id"
    );
    assert_eq!(
        oidc["credentials"]["oauthClient"]["client_id"],
        sb.config().client_id.as_str()
    );
    let one: Value = api(&sb, &format!("/api/v1/apps/{}", sb.config().client_id), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(&one, oidc);

    // The web app is assigned to Everyone: its users are every user, 50 a page by default.
    let mut url = format!("/api/v1/apps/{}/users", sb.config().client_id);
    let mut users = Vec::new();
    loop {
        let res = api(&sb, &url, &ssws(&sb)).await;
        let next = res
            .headers()
            .get_all("link")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|l| l.contains("rel=\"next\""));
        let page: Vec<Value> = res.json().await.unwrap();
        assert!(page.len() <= 50);
        for u in &page {
            MANAGEMENT.assert_valid("AppUser", u);
        }
        users.extend(page);
        match next {
            Some(n) => url = n[n.find("/api/").unwrap()..n.find('>').unwrap()].to_owned(),
            None => break,
        }
    }
    assert_eq!(users.len(), 130);
    let groups: Vec<Value> = api(
        &sb,
        &format!("/api/v1/apps/{}/groups", sb.config().client_id),
        &ssws(&sb),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(groups.len(), 1);
    MANAGEMENT.assert_valid("ApplicationGroupAssignment", &groups[0]);
    let everyone: Value = api(
        &sb,
        &format!("/api/v1/groups/{}", groups[0]["id"].as_str().unwrap()),
        &ssws(&sb),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(everyone["type"], "BUILT_IN");

    // A bookmark app's users are the members of its group.
    let bookmark = apps.iter().find(|a| a["signOnMode"] == "BOOKMARK").unwrap();
    let bid = bookmark["id"].as_str().unwrap();
    let assigned: Vec<Value> = api(&sb, &format!("/api/v1/apps/{bid}/groups"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    let gid = assigned[0]["id"].as_str().unwrap();
    let members: Vec<Value> = api(&sb, &format!("/api/v1/groups/{gid}/users"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    let app_users: Vec<Value> = api(&sb, &format!("/api/v1/apps/{bid}/users?limit=500"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    let ids = |v: &[Value]| {
        v.iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&app_users), ids(&members));
}

#[tokio::test]
async fn list_apps_with_q_and_filter_and_scopes() {
    let sb = sandbox(|c| c.apps = 3).await;
    let labels = |v: Vec<Value>| {
        v.iter()
            .map(|a| a["label"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let q: Vec<Value> = api(&sb, "/api/v1/apps?q=wik", &ssws(&sb)).await.json().await.unwrap();
    assert_eq!(labels(q), ["Wiki"]);
    let bookmarks: Vec<Value> = api(&sb, "/api/v1/apps?filter=name%20eq%20%22bookmark%22", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bookmarks.len(), 3);
    let bad = api(&sb, "/api/v1/apps?filter=label%20eq%20%22Wiki%22", &ssws(&sb)).await;
    assert_eq!(bad.status(), 400);
    let missing = api(&sb, "/api/v1/apps/0oaNope", &ssws(&sb)).await;
    assert_eq!(missing.json::<Value>().await.unwrap()["errorCode"], "E0000007");
    let users_only = tokens_for(&sb, &sb.config().admin_login, "okta.users.read").await;
    let res = api(
        &sb,
        "/api/v1/apps",
        &format!("Bearer {}", users_only["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(res.status(), 403, "okta.apps.read is needed");
}

#[tokio::test]
async fn users_are_assigned_and_unassigned_directly_with_log_events() {
    use reqwest::Method;
    use serde_json::json;

    use crate::util::send;

    let sb = sandbox(|c| {
        c.users = 20;
        c.apps = 2;
    })
    .await;
    let apps: Vec<Value> = send(&sb, Method::GET, "/api/v1/apps", None).await.json().await.unwrap();
    let bookmark = apps.iter().find(|a| a["signOnMode"] == "BOOKMARK").unwrap();
    let app = bookmark["id"].as_str().unwrap().to_owned();
    let groups: Vec<Value> = send(&sb, Method::GET, &format!("/api/v1/apps/{app}/groups"), None)
        .await
        .json()
        .await
        .unwrap();
    // A user of the org who is not assigned through the app's groups.
    let assigned: Vec<Value> = send(&sb, Method::GET, &format!("/api/v1/apps/{app}/users?limit=500"), None)
        .await
        .json()
        .await
        .unwrap();
    let uid = sb
        .state()
        .listed_user_ids()
        .into_iter()
        .find(|id| !assigned.iter().any(|a| a["id"] == id.as_str()))
        .expect("a user the app does not have yet");
    let path = format!("/api/v1/apps/{app}/users/{uid}");
    assert_eq!(send(&sb, Method::GET, &path, None).await.status(), 404);

    let res = send(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{app}/users"),
        Some(json!({ "id": uid, "scope": "USER" })),
    )
    .await;
    assert_eq!(res.status(), 200);
    let au: Value = res.json().await.unwrap();
    MANAGEMENT.assert_valid("AppUser", &au);
    assert_eq!(
        (au["id"].as_str(), au["scope"].as_str()),
        (Some(uid.as_str()), Some("USER"))
    );
    let got: Value = send(&sb, Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(got, au);
    let listed: Vec<Value> = send(&sb, Method::GET, &format!("/api/v1/apps/{app}/users?limit=500"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), assigned.len() + 1);

    // Assigning again changes nothing and logs nothing.
    let res = send(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{app}/users"),
        Some(json!({ "id": uid })),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(send(&sb, Method::DELETE, &path, None).await.status(), 204);
    assert_eq!(send(&sb, Method::GET, &path, None).await.status(), 404);
    assert_eq!(send(&sb, Method::DELETE, &path, None).await.status(), 404);

    let events: Vec<Value> = sb
        .state()
        .events()
        .into_iter()
        .filter(|e| {
            e["eventType"]
                .as_str()
                .unwrap()
                .starts_with("application.user_membership")
        })
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["application.user_membership.add", "application.user_membership.remove"]
    );
    for e in &events {
        assert_eq!(e["target"][0]["type"], "AppUser");
        assert_eq!(e["target"][0]["id"], uid.as_str());
        assert_eq!(e["target"][1]["type"], "AppInstance");
        assert_eq!(e["target"][1]["id"], app.as_str());
    }

    // A deleted user's assignments go with it.
    send(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{app}/users"),
        Some(json!({ "id": uid })),
    )
    .await;
    let user = format!("/api/v1/users/{uid}");
    for _ in 0..2 {
        assert_eq!(send(&sb, Method::DELETE, &user, None).await.status(), 204);
    }
    assert_eq!(send(&sb, Method::GET, &path, None).await.status(), 404);
    let export: Value = send(&sb, Method::GET, "/__sandbox/export", None)
        .await
        .json()
        .await
        .unwrap();
    let exported = export["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == app.as_str())
        .unwrap();
    assert!(exported["users"].as_array().unwrap().is_empty(), "{exported}");
    assert_eq!(exported["groups"].as_array().unwrap().len(), groups.len());

    // Mistakes answer Okta's errors.
    let res = send(
        &sb,
        Method::POST,
        &format!("/api/v1/apps/{app}/users"),
        Some(json!({ "id": "00uNobody" })),
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = send(
        &sb,
        Method::POST,
        "/api/v1/apps/0oaNone/users",
        Some(json!({ "id": uid })),
    )
    .await;
    assert_eq!(res.status(), 404);
}
