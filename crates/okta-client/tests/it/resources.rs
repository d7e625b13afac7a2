//! Every resource operation against the sandbox: users, groups, members, apps, System Log.

use std::collections::HashSet;

use futures::TryStreamExt;
use okta_client::expr::Attr;
use okta_client::{Client, Error, GroupProfile, Lifecycle, NewUser, UserProfile, UserStatus};
use okta_sandbox::faults::FaultRule;
use okta_sandbox::{Sandbox, SandboxConfig};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::util::server;

async fn org(f: impl FnOnce(&mut SandboxConfig)) -> (Sandbox, Client) {
    let mut config = SandboxConfig {
        users: 30,
        groups: 5,
        apps: 2,
        ..SandboxConfig::default()
    };
    f(&mut config);
    let sb = Sandbox::spawn(config).await.unwrap();
    let client = Client::builder(sb.url())
        .unwrap()
        .api_token(sb.config().api_token_value())
        .build()
        .unwrap();
    (sb, client)
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_users_life_through_the_client() {
    let (sb, c) = org(|_| {}).await;
    let password = SecretString::from("Client-Passw0rd-1".to_owned());
    let new = NewUser::new(UserProfile::new(
        "life@example.com",
        "Life",
        "Cycle",
        "life@example.com",
    ))
    .with_password(&password);
    let user = c.users().create(&new, true).await.unwrap();
    assert_eq!(user.status, UserStatus::Active);

    let mut changes = serde_json::Map::new();
    changes.insert("nickName".into(), json!("Lc"));
    changes.insert("costCenter".into(), json!("42"));
    let updated = c.users().update_profile(&user.id, changes).await.unwrap();
    assert_eq!(
        updated.profile.extra["costCenter"], "42",
        "custom attributes round trip"
    );
    assert_eq!(updated.profile.first_name.as_deref(), Some("Life"), "others stay");
    let replaced = c
        .users()
        .replace_profile(
            &user.id,
            &UserProfile::new("life@example.com", "Life", "Again", "life@example.com"),
        )
        .await
        .unwrap();
    assert!(
        replaced.profile.extra.get("costCenter").is_none(),
        "PUT replaces the profile"
    );

    assert_eq!(c.users().lifecycle(&user.id, Lifecycle::Suspend).await.unwrap(), None);
    assert_eq!(c.users().get(&user.id).await.unwrap().status, UserStatus::Suspended);
    let err = c.users().lifecycle(&user.id, Lifecycle::Suspend).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    c.users().lifecycle(&user.id, Lifecycle::Unsuspend).await.unwrap();
    let reset = c.users().lifecycle(&user.id, Lifecycle::ResetPassword).await.unwrap();
    assert!(
        reset.unwrap()["resetPasswordUrl"].is_string(),
        "the link, since no email is sent"
    );
    c.users().lifecycle(&user.id, Lifecycle::Deactivate).await.unwrap();
    let err = c.users().lifecycle(&user.id, Lifecycle::Unlock).await.unwrap_err();
    assert_eq!(err.error_code(), Some("E0000038"));
    c.users().delete(&user.id).await.unwrap();
    assert_eq!(
        c.users().get(&user.id).await.unwrap_err().status().map(|s| s.as_u16()),
        Some(404)
    );

    // A user's groups, and the sandbox's answer as the reference.
    let admin = c.users().get("admin@example.com").await.unwrap();
    let groups: Vec<_> = c.users().groups(&admin.id).stream().try_collect().await.unwrap();
    let expected = server(&sb, &format!("/api/v1/users/{}/groups", admin.id)).await;
    assert_eq!(groups.iter().map(|g| g.id.clone()).collect::<Vec<_>>(), ids(&expected));
}

#[tokio::test]
async fn a_create_is_never_retried_after_it_may_have_reached_okta() {
    let (sb, c) = org(|c| {
        c.faults = vec!["/api/v1/users:errors=1,times=1".parse::<FaultRule>().unwrap()];
    })
    .await;
    let new = NewUser::new(UserProfile::new("once@example.com", "Once", "Only", "once@example.com"));
    let err = c.users().create(&new, false).await.unwrap_err();
    assert!(matches!(err.status().map(|s| s.as_u16()), Some(500 | 503)), "{err}");
    let counters = server(&sb, "/__sandbox/counters").await;
    assert_eq!(counters["requests"]["POST /api/v1/users"], 1, "one attempt only");
    // The caller decides: here the user was not created, so creating again is right.
    let user = c.users().create(&new, false).await.unwrap();
    assert_eq!(user.status, UserStatus::Staged);
}

#[tokio::test]
async fn groups_and_members() {
    let (sb, c) = org(|_| {}).await;
    let all: Vec<_> = c.groups().list().limit(2).stream().try_collect().await.unwrap();
    assert_eq!(
        all.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
        ids(&server(&sb, "/api/v1/groups").await)
    );
    assert!(all.iter().any(|g| g.group_type.as_deref() == Some("BUILT_IN")));
    let found: Vec<_> = c.groups().list().q("Every").stream().try_collect().await.unwrap();
    assert_eq!(found.len(), 1);

    let g = c
        .groups()
        .create(&GroupProfile::new("Client testers", Some("made by okta-client".into())))
        .await
        .unwrap();
    assert_eq!(c.groups().get(&g.id).await.unwrap().profile.name, "Client testers");
    let renamed = c
        .groups()
        .replace(&g.id, &GroupProfile::new("Client testers 2", None))
        .await
        .unwrap();
    assert_eq!(renamed.profile.name, "Client testers 2");
    let some: Vec<_> = c.users().list().limit(5).send().await.unwrap().items;
    for u in &some {
        c.groups().add_member(&g.id, &u.id).await.unwrap();
    }
    c.groups().add_member(&g.id, &some[0].id).await.unwrap();
    let members: Vec<_> = c.groups().members(&g.id).limit(2).stream().try_collect().await.unwrap();
    assert_eq!(
        members.iter().map(|u| u.id.clone()).collect::<HashSet<_>>(),
        some.iter().map(|u| u.id.clone()).collect::<HashSet<_>>(),
        "adding twice is idempotent; members page by 2"
    );
    c.groups().remove_member(&g.id, &some[0].id).await.unwrap();
    let members: Vec<_> = c.groups().members(&g.id).stream().try_collect().await.unwrap();
    assert_eq!(members.len(), 4);
    c.groups().delete(&g.id).await.unwrap();
    assert_eq!(c.groups().get(&g.id).await.unwrap_err().error_code(), Some("E0000007"));
}

#[tokio::test]
async fn apps_their_users_and_groups() {
    let (sb, c) = org(|_| {}).await;
    let apps: Vec<_> = c.apps().list().stream().try_collect().await.unwrap();
    assert_eq!(
        apps.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        ids(&server(&sb, "/api/v1/apps").await)
    );
    let web = c.apps().get(&sb.config().client_id).await.unwrap();
    assert_eq!(web.sign_on_mode.as_deref(), Some("OPENID_CONNECT"));
    let users: Vec<_> = c.apps().users(&web.id).limit(7).stream().try_collect().await.unwrap();
    let expected = server(&sb, &format!("/api/v1/apps/{}/users?limit=500", web.id)).await;
    assert_eq!(users.iter().map(|u| u.id.clone()).collect::<Vec<_>>(), ids(&expected));
    let groups: Vec<_> = c.apps().groups(&web.id).stream().try_collect().await.unwrap();
    assert_eq!(
        groups.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
        ids(&server(&sb, &format!("/api/v1/apps/{}/groups", web.id)).await)
    );
    let filtered: Vec<_> = c
        .apps()
        .list()
        .filter(Attr::new("status").unwrap().eq("ACTIVE"))
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(filtered.len(), apps.len());
}

#[tokio::test]
async fn the_system_log_is_polled_and_resumed_from_a_cursor() {
    let (_sb, c) = org(|_| {}).await;
    let start = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let make = |login: &'static str| {
        let c = c.clone();
        async move {
            let new = NewUser::new(UserProfile::new(login, "Log", "Event", login));
            c.users().create(&new, false).await.unwrap()
        }
    };
    make("log1@example.com").await;
    let mut tail = c.logs().tail(start);
    let first = tail.catch_up().await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
        ["user.lifecycle.create"]
    );
    assert!(tail.poll().await.unwrap().is_empty(), "caught up: an empty page");
    let cursor = tail.cursor().to_string();

    make("log2@example.com").await;
    make("log3@example.com").await;
    let mut resumed = c.logs().resume(&cursor.parse().unwrap()).unwrap();
    let next = resumed.catch_up().await.unwrap();
    let targets: Vec<_> = next.iter().map(|e| e.target[0].alternate_id.clone().unwrap()).collect();
    assert_eq!(
        targets,
        ["log2@example.com", "log3@example.com"],
        "only what is new, once"
    );

    // A bounded query, filtered with a typed expression.
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let created: Vec<_> = c
        .logs()
        .query()
        .since(start)
        .until(until)
        .filter(Attr::new("eventType").unwrap().eq("user.lifecycle.create"))
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(created.len(), 3);

    let elsewhere = "https://evil.example.com/api/v1/logs?after=1".parse().unwrap();
    assert!(matches!(c.logs().resume(&elsewhere), Err(Error::Pagination(_))));
}

/// Whatever string goes into an expression is what the server compares against: quotes,
/// backslashes, `and`/`or`, parentheses, non-ASCII, all intact.
#[test]
fn any_string_in_an_expression_arrives_intact() {
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_sb, c) = rt.block_on(org(|c| {
        c.users = 1;
        c.groups = 0;
    }));
    let admin = rt.block_on(c.users().get("admin@example.com")).unwrap();
    let nick = Attr::new("profile.nickName").unwrap();
    let mut runner = TestRunner::new(Config::with_cases(40));
    runner
        .run(&"\\PC{1,24}", |s| {
            rt.block_on(async {
                let mut changes = serde_json::Map::new();
                changes.insert("nickName".into(), json!(s));
                let stored = c.users().update_profile(&admin.id, changes).await.unwrap();
                assert_eq!(stored.profile.extra["nickName"], s.as_str());
                let found: Vec<_> = c
                    .users()
                    .list()
                    .search(nick.eq(s.as_str()))
                    .stream()
                    .try_collect()
                    .await
                    .unwrap_or_else(|e| panic!("search for {s:?}: {e}"));
                assert_eq!(found.len(), 1, "eq {s:?}");
                let longer = format!("{s}\"x");
                let none: Vec<_> = c
                    .users()
                    .list()
                    .search(nick.eq(longer.as_str()))
                    .stream()
                    .try_collect()
                    .await
                    .unwrap();
                assert!(none.is_empty(), "eq {longer:?} matches nothing");
            });
            Ok(())
        })
        .unwrap();
}
