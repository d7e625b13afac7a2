//! Groups, members and a user's groups.

use reqwest::Method;
use serde_json::{Value, json};

use crate::spec::MANAGEMENT;
use crate::util::{api, ordinary_user, sandbox, send, ssws, tokens_for};

#[tokio::test]
async fn generated_groups_match_the_spec_and_everyone_holds_everyone() {
    let sb = sandbox(|c| {
        c.users = 80;
        c.groups = 10;
    })
    .await;
    let groups: Vec<Value> = api(&sb, "/api/v1/groups?expand=stats", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(groups.len(), 11, "ten groups and Everyone");
    for g in &groups {
        MANAGEMENT.assert_valid("Group", g);
    }
    let everyone = groups.iter().find(|g| g["type"] == "BUILT_IN").unwrap();
    assert_eq!(everyone["profile"]["name"], "Everyone");
    assert_eq!(everyone["_embedded"]["stats"]["usersCount"], 80);
    let engineering = groups.iter().find(|g| g["profile"]["name"] == "Engineering").unwrap();
    let members: Vec<Value> = api(
        &sb,
        &format!("/api/v1/groups/{}/users", engineering["id"].as_str().unwrap()),
        &ssws(&sb),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(!members.is_empty());
    assert!(
        members.iter().all(|m| m["profile"]["department"] == "Engineering"),
        "department groups hold their department"
    );
    assert_eq!(
        members.len() as u64,
        engineering["_embedded"]["stats"]["usersCount"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn list_groups_with_q_filter_search_and_paging() {
    let sb = sandbox(|c| c.groups = 12).await;
    let names = |v: Vec<Value>| {
        v.iter()
            .map(|g| g["profile"]["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let q: Vec<Value> = api(&sb, "/api/v1/groups?q=eng", &ssws(&sb)).await.json().await.unwrap();
    assert_eq!(names(q), ["Engineering"]);
    let built_in: Vec<Value> = api(&sb, "/api/v1/groups?filter=type%20eq%20%22BUILT_IN%22", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(built_in), ["Everyone"]);
    let search: Vec<Value> = api(
        &sb,
        "/api/v1/groups?search=profile.name%20sw%20%22Project%22",
        &ssws(&sb),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(search.len(), 4);
    // Paging: 13 groups, 5 at a time.
    let mut url = format!("http://{}/api/v1/groups?limit=5", sb.addr());
    let mut seen = Vec::new();
    loop {
        let res = reqwest::Client::new()
            .get(&url)
            .header("authorization", ssws(&sb))
            .send()
            .await
            .unwrap();
        let next = res
            .headers()
            .get_all("link")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|l| l.contains("rel=\"next\""));
        seen.extend(names(res.json().await.unwrap()));
        match next {
            Some(n) => url = n[1..n.find('>').unwrap()].replace(sb.url(), &format!("http://{}", sb.addr())),
            None => break,
        }
    }
    assert_eq!(seen.len(), 13);
    let bad = api(&sb, "/api/v1/groups?filter=profile.name%20eq%20%22x%22", &ssws(&sb)).await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn create_update_members_and_delete_a_group() {
    let sb = sandbox(|_| {}).await;
    let res = send(
        &sb,
        Method::POST,
        "/api/v1/groups",
        Some(json!({ "profile": { "name": "Pilots", "description": "Fly" } })),
    )
    .await;
    assert_eq!(res.status(), 200);
    let g: Value = res.json().await.unwrap();
    MANAGEMENT.assert_valid("Group", &g);
    assert_eq!(g["type"], "OKTA_GROUP");
    let gid = g["id"].as_str().unwrap().to_owned();
    assert!(gid.starts_with("00g") && gid.len() == 20);
    let dup = send(
        &sb,
        Method::POST,
        "/api/v1/groups",
        Some(json!({ "profile": { "name": "pilots" } })),
    )
    .await;
    assert_eq!(dup.status(), 400);
    let nameless = send(&sb, Method::POST, "/api/v1/groups", Some(json!({ "profile": {} }))).await;
    assert_eq!(nameless.json::<Value>().await.unwrap()["errorCode"], "E0000001");

    let renamed: Value = send(
        &sb,
        Method::PUT,
        &format!("/api/v1/groups/{gid}"),
        Some(json!({ "profile": { "name": "Aviators" } })),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(renamed["profile"]["name"], "Aviators");

    let user = ordinary_user(&sb);
    let uid = sb.state().user_json(&user).unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&sb, Method::PUT, &format!("/api/v1/groups/{gid}/users/{uid}"), None)
            .await
            .status(),
        204
    );
    assert_eq!(
        send(&sb, Method::PUT, &format!("/api/v1/groups/{gid}/users/{uid}"), None)
            .await
            .status(),
        204,
        "idempotent"
    );
    let members: Vec<Value> = api(&sb, &format!("/api/v1/groups/{gid}/users"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        members.iter().map(|m| m["id"].as_str().unwrap()).collect::<Vec<_>>(),
        [uid.as_str()]
    );
    let users_groups: Vec<Value> = api(&sb, &format!("/api/v1/users/{uid}/groups"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        users_groups.iter().any(|g| g["id"] == gid.as_str()) && users_groups.iter().any(|g| g["type"] == "BUILT_IN")
    );
    for g in &users_groups {
        MANAGEMENT.assert_valid("Group", g);
    }
    assert_eq!(
        send(&sb, Method::DELETE, &format!("/api/v1/groups/{gid}/users/{uid}"), None)
            .await
            .status(),
        204
    );
    let members: Vec<Value> = api(&sb, &format!("/api/v1/groups/{gid}/users"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert!(members.is_empty());

    assert_eq!(
        send(&sb, Method::DELETE, &format!("/api/v1/groups/{gid}"), None)
            .await
            .status(),
        204
    );
    let gone = api(&sb, &format!("/api/v1/groups/{gid}"), &ssws(&sb)).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.json::<Value>().await.unwrap()["errorCode"], "E0000007");
}

#[tokio::test]
async fn everyone_cannot_be_changed_and_scopes_are_enforced() {
    let sb = sandbox(|_| {}).await;
    let everyone: Vec<Value> = api(&sb, "/api/v1/groups?q=Everyone", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    let eid = everyone[0]["id"].as_str().unwrap();
    for (method, path) in [
        (Method::DELETE, format!("/api/v1/groups/{eid}")),
        (Method::PUT, format!("/api/v1/groups/{eid}/users/x")),
    ] {
        let res = send(&sb, method, &path, None).await;
        assert_eq!(res.status(), 403, "{path}");
        assert_eq!(res.json::<Value>().await.unwrap()["errorCode"], "E0000006");
    }
    let read_only = tokens_for(&sb, &sb.config().admin_login, "okta.groups.read").await;
    let bearer = format!("Bearer {}", read_only["access_token"].as_str().unwrap());
    assert_eq!(api(&sb, "/api/v1/groups", &bearer).await.status(), 200);
    let res = reqwest::Client::new()
        .post(format!("http://{}/api/v1/groups", sb.addr()))
        .header("authorization", bearer)
        .json(&json!({ "profile": { "name": "Nope" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "okta.groups.read cannot create");
}

/// Orgs shaped like real ones: `memberships` in all (departments hold theirs, the rest spread
/// over the other groups, a few large and many small), the same from the same seed, and what
/// the API lists agrees with it.
#[tokio::test]
async fn memberships_are_counted_skewed_and_seeded() {
    let shape = |c: &mut okta_sandbox::SandboxConfig| {
        c.users = 3_000;
        c.groups = 108;
        c.memberships = Some(6_000);
        c.seed = 11;
    };
    let sb = sandbox(shape).await;
    let sizes = sb.state().snapshot().group_sizes();
    assert_eq!(sizes.len(), 108);
    assert_eq!(sizes.iter().sum::<usize>(), 6_000, "memberships besides Everyone");
    let projects: Vec<usize> = {
        // Department groups hold about an eighth of the users each; the others are the projects.
        let mut p: Vec<usize> = sizes.iter().copied().filter(|&s| s < 250).collect();
        p.sort_unstable();
        p
    };
    assert!(projects.len() >= 90, "{sizes:?}");
    let median = projects[projects.len() / 2];
    assert!(
        *projects.last().unwrap() > 10 * median,
        "a few large, many small: {projects:?}"
    );
    assert!(projects.iter().all(|&s| s >= 1), "every group holds someone");

    let again = sandbox(shape).await;
    assert_eq!(
        serde_json::to_value(again.state().snapshot()).unwrap()["groups"],
        serde_json::to_value(sb.state().snapshot()).unwrap()["groups"],
        "the same seed, the same org"
    );

    // The API agrees: the members a group lists are the ones counted.
    let groups: Vec<Value> = api(&sb, "/api/v1/groups?limit=200&expand=stats", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    let largest = groups
        .iter()
        .filter(|g| g["type"] == "OKTA_GROUP")
        .max_by_key(|g| g["_embedded"]["stats"]["usersCount"].as_u64().unwrap())
        .unwrap();
    assert_eq!(
        largest["_embedded"]["stats"]["usersCount"].as_u64().unwrap() as usize,
        sizes[0]
    );

    // The default: two per user, which with the eight department groups alone is one each.
    let default = sandbox(|c| c.users = 200).await;
    assert_eq!(default.state().snapshot().group_sizes().iter().sum::<usize>(), 200);
}
