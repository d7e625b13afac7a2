//! The System Log: events for changes, sign-ins and grants; polling semantics.

use reqwest::Method;
use serde_json::{Value, json};

use crate::spec::MANAGEMENT;
use crate::util::{sandbox, send, tokens_for};

async fn logs(sb: &okta_sandbox::Sandbox, query: &str) -> (Vec<Value>, Option<String>) {
    let res = send(sb, Method::GET, &format!("/api/v1/logs{query}"), None).await;
    assert_eq!(res.status(), 200, "{query}");
    let next = res
        .headers()
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|l| l.contains("rel=\"next\""))
        .map(|l| l[l.find("/api/v1/logs").unwrap() + "/api/v1/logs".len()..l.find('>').unwrap()].to_owned());
    (res.json().await.unwrap(), next)
}

#[tokio::test]
async fn changes_sign_ins_and_grants_are_logged_in_okta_shape() {
    let sb = sandbox(|_| {}).await;
    tokens_for(&sb, &sb.config().admin_login, "okta.logs.read").await;
    let user: Value = send(
        &sb,
        Method::POST,
        "/api/v1/users",
        Some(json!({ "profile": { "firstName": "L", "lastName": "G", "email": "lg@example.com", "login": "lg@example.com" } })),
    )
    .await
    .json()
    .await
    .unwrap();
    let group: Value = send(
        &sb,
        Method::POST,
        "/api/v1/groups",
        Some(json!({ "profile": { "name": "Loggers" } })),
    )
    .await
    .json()
    .await
    .unwrap();
    let (gid, uid) = (group["id"].as_str().unwrap(), user["id"].as_str().unwrap());
    send(&sb, Method::PUT, &format!("/api/v1/groups/{gid}/users/{uid}"), None).await;

    let (events, _) = logs(&sb, "").await;
    let types: Vec<&str> = events.iter().map(|e| e["eventType"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "user.session.start",
            "app.oauth2.as.token.grant.access_token",
            "user.lifecycle.create",
            "user.lifecycle.activate",
            "group.lifecycle.create",
            "group.user_membership.add"
        ]
    );
    for e in &events {
        MANAGEMENT.assert_valid("LogEvent", e);
        assert_eq!(e["actor"]["alternateId"], "admin@example.com");
    }
    let filtered: (Vec<Value>, _) = logs(&sb, &format!("?filter=target.id%20eq%20%22{uid}%22")).await;
    assert_eq!(filtered.0.len(), 3, "create, activate, membership");
    let q: (Vec<Value>, _) = logs(&sb, "?q=membership").await;
    assert_eq!(q.0.len(), 1);
    let desc: (Vec<Value>, _) = logs(&sb, "?sortOrder=DESCENDING&limit=2").await;
    assert_eq!(desc.0[0]["eventType"], "group.user_membership.add");
    assert!(desc.1.is_some(), "more remain");
}

#[tokio::test]
async fn polling_keeps_a_next_link_and_resumes_from_it() {
    let sb = sandbox(|_| {}).await;
    let create =
        |login: &str| json!({ "profile": { "firstName": "P", "lastName": "L", "email": login, "login": login } });
    for i in 0..3 {
        send(
            &sb,
            Method::POST,
            "/api/v1/users?activate=false",
            Some(create(&format!("p{i}@example.com"))),
        )
        .await;
    }
    let (page, next) = logs(&sb, "?limit=2").await;
    assert_eq!(page.len(), 2);
    let (page, next) = logs(&sb, &next.expect("next")).await;
    assert_eq!(page.len(), 1);
    let (page, next) = logs(&sb, &next.expect("without until, a next link is always present")).await;
    assert!(page.is_empty(), "caught up");
    let resume = next.expect("still a next link");
    send(
        &sb,
        Method::POST,
        "/api/v1/users?activate=false",
        Some(create("p9@example.com")),
    )
    .await;
    let (page, _) = logs(&sb, &resume).await;
    assert_eq!(page.len(), 1, "the saved link resumes with what happened since");
    assert_eq!(page[0]["target"][0]["alternateId"], "p9@example.com");

    // With `until`, the last page has no next link.
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let until = until.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (_, next) = logs(&sb, &format!("?until={until}")).await;
    assert!(next.is_none());
    let bad = send(&sb, Method::GET, "/api/v1/logs?since=yesterday", None).await;
    assert_eq!(bad.status(), 400);
}

/// `since` further back than 180 days is refused with Okta's error; the logs bucket has its own
/// rate limit (`logs_rate_limit`, Okta's 120 a minute by default).
#[tokio::test]
async fn old_since_is_refused_and_the_logs_bucket_is_limited() {
    let sb = sandbox(|c| {
        c.users = 3;
        c.logs_rate_limit = 4;
    })
    .await;
    let old = (time::OffsetDateTime::now_utc() - time::Duration::days(181))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let res = send(&sb, Method::GET, &format!("/api/v1/logs?since={old}"), None).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["errorCode"], "E0000001", "{err}");
    assert!(
        err["errorCauses"][0]["errorSummary"]
            .as_str()
            .unwrap()
            .contains("180 days"),
        "{err}"
    );
    MANAGEMENT.assert_valid("Error", &err);

    // Three more requests fit the window of four; the fifth is refused, with the bucket's limit.
    for _ in 0..3 {
        assert_eq!(send(&sb, Method::GET, "/api/v1/logs", None).await.status(), 200);
    }
    let res = send(&sb, Method::GET, "/api/v1/logs", None).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["x-rate-limit-limit"], "4");
    // Other buckets are not affected.
    assert_eq!(
        send(&sb, Method::GET, "/api/v1/users?limit=1", None).await.status(),
        200
    );
}
