//! The System Log: events for changes, sign-ins and grants; polling semantics.

use reqwest::Method;
use serde_json::{Value, json};

use crate::spec::MANAGEMENT;
use crate::util::{sandbox, send, tokens_for};

/// One page of `/api/v1/logs{query}` and the query of its `next` link.
pub(crate) async fn logs(sb: &okta_sandbox::Sandbox, query: &str) -> (Vec<Value>, Option<String>) {
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

/// Late events (stored after their `published` time, as Okta sometimes stores them): a client
/// that follows `next` links sees every one; a client that pages by `published` windows
/// (`since`/`until`) misses those published in a window it already read, as it would with Okta.
#[tokio::test]
async fn next_polling_misses_no_late_event_while_published_windows_do() {
    use time::format_description::well_known::Rfc3339;
    let sb = sandbox(|c| {
        c.users = 3;
        c.late_events = 1.0;
        c.late_event_delay = std::time::Duration::from_secs(30);
    })
    .await;
    let at = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap();
    let t0 = time::OffsetDateTime::now_utc();
    // The polling client starts; so does the windowing one, reading [t0, t1) at t1.
    let (_, next) = logs(&sb, &format!("?since={}", at(t0))).await;
    let mut next = next.expect("a polling query always has a next link");
    let t1 = time::OffsetDateTime::now_utc();
    let (first_window, _) = logs(&sb, &format!("?since={}&until={}", at(t0), at(t1))).await;

    // Changes after t1: stored now, published 30 s earlier (before t1).
    let logins: Vec<String> = (0..5).map(|i| format!("late{i}@example.com")).collect();
    for login in &logins {
        let body = json!({ "profile": { "firstName": "L", "lastName": "E", "email": login, "login": login } });
        let res = send(&sb, Method::POST, "/api/v1/users?activate=false", Some(body)).await;
        assert_eq!(res.status(), 200);
    }
    let t2 = time::OffsetDateTime::now_utc();
    let (second_window, _) = logs(&sb, &format!("?since={}&until={}", at(t1), at(t2))).await;

    let mut polled = Vec::new();
    loop {
        let (page, following) = logs(&sb, &next).await;
        if page.is_empty() {
            break;
        }
        polled.extend(page);
        next = following.expect("still a next link");
    }
    let about = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["eventType"] == "user.lifecycle.create")
            .map(|e| e["target"][0]["alternateId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        about(&polled),
        logins,
        "following next links: every late event, in order"
    );
    let windowed: Vec<String> = about(&first_window).into_iter().chain(about(&second_window)).collect();
    assert!(windowed.is_empty(), "paging by published missed them all: {windowed:?}");
    for e in &polled {
        let published = time::OffsetDateTime::parse(e["published"].as_str().unwrap(), &Rfc3339).unwrap();
        assert!(
            published < t1,
            "late: published before the window that was already read"
        );
    }
}
