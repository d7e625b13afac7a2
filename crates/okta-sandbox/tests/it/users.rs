//! `/api/v1/users`: paging by `Link` headers, headers on every response, authentication and
//! scopes, rate limits.

use std::collections::HashSet;

use reqwest::Method;
use reqwest::header::LINK;
use serde_json::{Value, json};

use crate::util::{api, http_for, on_listener, ordinary_user, sandbox, send, ssws, tokens_for};

fn links(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(LINK)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn target(link: &str) -> &str {
    &link[1..link.find('>').unwrap()]
}

#[tokio::test]
async fn pages_follow_next_links_to_every_user() {
    let sb = sandbox(|c| c.users = 50).await;
    let mut url = format!("{}/api/v1/users?limit=7", sb.url());
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let res = reqwest::Client::new()
            .get(&url)
            .header("authorization", ssws(&sb))
            .send()
            .await
            .unwrap();
        let l = links(&res);
        // One header line per relation, self first, both absolute and keeping the query.
        assert_eq!(l[0], format!("<{url}>; rel=\"self\""));
        let users: Vec<Value> = res.json().await.unwrap();
        ids.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match l.get(1) {
            Some(next) => {
                assert!(next.ends_with("; rel=\"next\""));
                assert_eq!(users.len(), 7);
                let next_url = target(next).to_owned();
                assert!(
                    next_url.starts_with(&format!("{}/api/v1/users?limit=7&after=", sb.url())),
                    "{next_url}"
                );
                url = next_url;
            }
            None => break,
        }
    }
    assert_eq!(pages, 8);
    assert_eq!(ids, sb.state().listed_user_ids());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 50);
}

#[tokio::test]
async fn limits_default_and_cap_at_200() {
    let sb = sandbox(|c| c.users = 450).await;
    let res = api(&sb, "/api/v1/users", &ssws(&sb)).await;
    let next = target(&links(&res)[1]).to_owned();
    assert!(next.contains("limit=200"), "{next}");
    assert_eq!(res.json::<Vec<Value>>().await.unwrap().len(), 200);
    let res = api(&sb, "/api/v1/users?limit=1000", &ssws(&sb)).await;
    assert_eq!(res.json::<Vec<Value>>().await.unwrap().len(), 200);
    for bad in ["0", "-5", "x"] {
        assert_eq!(
            api(&sb, &format!("/api/v1/users?limit={bad}"), &ssws(&sb))
                .await
                .status(),
            400,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn links_use_the_public_url() {
    let sb = sandbox(|c| {
        c.users = 5;
        c.public_url = Some("https://dev-207260.okta.example".parse().unwrap());
    })
    .await;
    let res = api(&sb, "/api/v1/users?limit=2", &ssws(&sb)).await;
    let l = links(&res);
    assert!(
        l[0].starts_with("<https://dev-207260.okta.example/api/v1/users?limit=2>"),
        "{l:?}"
    );
    assert!(
        l[1].starts_with("<https://dev-207260.okta.example/api/v1/users?limit=2&after="),
        "{l:?}"
    );
}

#[tokio::test]
async fn every_response_carries_okta_headers() {
    let sb = sandbox(|_| {}).await;
    for (path, auth) in [
        ("/api/v1/users", ssws(&sb)),
        ("/api/v1/users", "SSWS bad".to_owned()),
        ("/api/v1/users/x", ssws(&sb)),
        ("/oauth2/v1/keys", String::new()),
    ] {
        let res = api(&sb, path, &auth).await;
        for h in [
            "x-rate-limit-limit",
            "x-rate-limit-remaining",
            "x-rate-limit-reset",
            "date",
            "x-okta-request-id",
        ] {
            assert!(res.headers().contains_key(h), "{path} lacks {h}");
        }
        let reset: i64 = res.headers()["x-rate-limit-reset"].to_str().unwrap().parse().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(
            reset > now && reset <= now + 60,
            "reset is the end of the current minute"
        );
    }
}

#[tokio::test]
async fn exceeding_the_rate_limit_gives_okta_429() {
    // Four requests inside one window; if the minute turns mid-way, try again on a fresh org.
    for _attempt in 0..3 {
        let sb = sandbox(|c| c.users_rate_limit = 3).await;
        let mut seen = Vec::new();
        for _ in 0..4 {
            let res = api(&sb, "/api/v1/users?limit=1", &ssws(&sb)).await;
            let h = |n: &str| res.headers()[n].to_str().unwrap().to_owned();
            seen.push((
                res.status().as_u16(),
                h("x-rate-limit-remaining"),
                h("x-rate-limit-reset"),
                res.json::<Value>().await.unwrap(),
            ));
        }
        if seen.iter().any(|s| s.2 != seen[0].2) {
            continue;
        }
        let statuses: Vec<_> = seen.iter().map(|s| (s.0, s.1.as_str())).collect();
        assert_eq!(statuses, [(200, "2"), (200, "1"), (200, "0"), (429, "0")]);
        assert_eq!(seen[3].3["errorCode"], "E0000047");
        // Other buckets are not affected.
        assert_eq!(api(&sb, "/oauth2/v1/keys", "").await.status(), 200);
        return;
    }
    panic!("could not fit four requests in one rate-limit window");
}

#[tokio::test]
async fn rate_limits_are_lifted_and_restored_while_the_org_runs() {
    let sb = sandbox(|c| c.users_rate_limit = 3).await;
    let limit = |res: &reqwest::Response| res.headers()["x-rate-limit-limit"].to_str().unwrap().to_owned();
    let status = |res: reqwest::Response| async { res.json::<Value>().await.unwrap() };
    let res = send(&sb, Method::GET, "/__sandbox/rate-limits", None).await;
    assert_eq!(status(res).await, json!({ "scale": 1, "windowSeconds": 60 }));
    assert_eq!(limit(&api(&sb, "/api/v1/users?limit=1", &ssws(&sb)).await), "3");

    let res = send(
        &sb,
        Method::PUT,
        "/__sandbox/rate-limits",
        Some(json!({ "scale": 1000 })),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(status(res).await["scale"], 1000);
    assert_eq!(limit(&api(&sb, "/api/v1/users?limit=1", &ssws(&sb)).await), "3000");

    for bad in [json!({ "scale": 0 }), json!({ "scale": -1 }), json!({ "rate": 2 })] {
        let res = send(&sb, Method::PUT, "/__sandbox/rate-limits", Some(bad.clone())).await;
        assert_eq!(res.status(), 400, "{bad}");
        let e = status(res).await;
        assert!(e["errorSummary"].as_str().is_some_and(|s| !s.is_empty()), "{bad}: {e}");
    }
    let res = http_for(&sb)
        .put(on_listener(&sb, "/__sandbox/rate-limits"))
        .json(&json!({ "scale": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the control takes the admin's token");

    send(&sb, Method::PUT, "/__sandbox/rate-limits", Some(json!({ "scale": 1 }))).await;
    assert_eq!(
        limit(&api(&sb, "/api/v1/users?limit=1", &ssws(&sb)).await),
        "3",
        "Okta's limits again"
    );
}

#[tokio::test]
async fn get_by_id_login_and_me() {
    let sb = sandbox(|_| {}).await;
    let admin: Value = api(&sb, "/api/v1/users/ADMIN@example.com", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(admin["profile"]["login"], "admin@example.com");
    let id = admin["id"].as_str().unwrap();
    let by_id: Value = api(&sb, &format!("/api/v1/users/{id}"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_id["id"], id);
    let me: Value = api(&sb, "/api/v1/users/me", &ssws(&sb)).await.json().await.unwrap();
    assert_eq!(me["id"], id, "an SSWS token acts as its admin");
}

#[tokio::test]
async fn bearer_tokens_need_scope_and_admin_role() {
    let sb = sandbox(|_| {}).await;
    let admin = sb.config().admin_login.clone();
    let good = tokens_for(&sb, &admin, "okta.users.read").await;
    let bearer = |t: &Value| format!("Bearer {}", t["access_token"].as_str().unwrap());
    assert_eq!(api(&sb, "/api/v1/users?limit=1", &bearer(&good)).await.status(), 200);
    let manage = tokens_for(&sb, &admin, "okta.users.manage").await;
    assert_eq!(
        api(&sb, "/api/v1/users?limit=1", &bearer(&manage)).await.status(),
        200,
        "manage implies read"
    );

    let no_scope = tokens_for(&sb, &admin, "okta.groups.read").await;
    let res = api(&sb, "/api/v1/users", &bearer(&no_scope)).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(res.json::<Value>().await.unwrap()["errorCode"], "E0000006");

    let user = ordinary_user(&sb);
    let not_admin = tokens_for(&sb, &user, "okta.users.read").await;
    assert_eq!(
        api(&sb, "/api/v1/users", &bearer(&not_admin)).await.status(),
        403,
        "not an admin"
    );
    let me: Value = api(&sb, "/api/v1/users/me", &bearer(&not_admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["profile"]["login"], user.as_str(), "anyone may read themselves");

    // A revoked access token stops working.
    let res = reqwest::Client::new()
        .post(format!("{}/oauth2/v1/revoke", sb.url()))
        .basic_auth(&sb.config().client_id, Some(sb.config().client_secret_value()))
        .form(&[
            ("token", good["access_token"].as_str().unwrap()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(api(&sb, "/api/v1/users", &bearer(&good)).await.status(), 401);
}

/// Every user of the org in Okta's JSON, for computing expected results independently.
fn all_users(sb: &okta_sandbox::Sandbox) -> Vec<Value> {
    sb.state()
        .listed_user_ids()
        .iter()
        .map(|id| sb.state().user_json(id).unwrap())
        .collect()
}

/// Every id a query lists, following `next` links.
async fn ids_for(sb: &okta_sandbox::Sandbox, query: &[(&str, &str)]) -> Vec<String> {
    let mut url = reqwest::Url::parse_with_params(&format!("http://{}/api/v1/users", sb.addr()), query).unwrap();
    let mut ids = Vec::new();
    loop {
        let res = reqwest::Client::new()
            .get(url.clone())
            .header("authorization", ssws(sb))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let next = links(&res).get(1).map(|l| target(l).to_owned());
        let page: Vec<Value> = res.json().await.unwrap();
        ids.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match next {
            // Links are on the public URL; the test talks to the listener directly.
            Some(n) => url = reqwest::Url::parse(&n.replace(sb.url(), &format!("http://{}", sb.addr()))).unwrap(),
            None => return ids,
        }
    }
}

fn ids_where(users: &[Value], pred: impl Fn(&Value) -> bool) -> Vec<String> {
    users
        .iter()
        .filter(|u| pred(u))
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_filter_and_q_select_as_okta_documents() {
    let sb = sandbox(|c| c.users = 300).await;
    let users = all_users(&sb);

    let suspended = ids_where(&users, |u| u["status"] == "SUSPENDED");
    assert!(!suspended.is_empty());
    assert_eq!(
        ids_for(&sb, &[("search", r#"status eq "SUSPENDED""#), ("limit", "7")]).await,
        suspended
    );
    assert_eq!(ids_for(&sb, &[("filter", r#"status eq "SUSPENDED""#)]).await, suspended);

    let engineering_or_old = ids_where(&users, |u| {
        u["profile"]["department"] == "Engineering"
            && (u["created"].as_str().unwrap() < "2022-01-01T00:00:00.000Z" || u["status"] == "ACTIVE")
    });
    let found = ids_for(
        &sb,
        &[(
            "search",
            r#"profile.department eq "engineering" and (created lt "2022-01-01T00:00:00.000Z" or status eq "ACTIVE")"#,
        )],
    )
    .await;
    assert_eq!(found, engineering_or_old);

    let since = "2023-01-01T00:00:00.000Z";
    let updated = ids_where(&users, |u| u["lastUpdated"].as_str().unwrap() > since);
    assert_eq!(
        ids_for(&sb, &[("filter", &format!(r#"lastUpdated gt "{since}""#))]).await,
        updated
    );

    let not_staged = ids_where(&users, |u| u["status"] != "STAGED");
    assert_eq!(
        ids_for(&sb, &[("search", r#"(status lt "STAGED" or status gt "STAGED")"#)]).await,
        not_staged
    );

    let with_phone = ids_where(&users, |u| !u["profile"]["mobilePhone"].is_null());
    assert_eq!(ids_for(&sb, &[("search", "profile.mobilePhone pr")]).await, with_phone);

    let ada = ids_where(&users, |u| {
        let p = &u["profile"];
        ["firstName", "lastName", "email"]
            .iter()
            .any(|f| p[*f].as_str().unwrap().to_lowercase().starts_with("ad"))
    });
    // q lists 10 by default.
    let first_page: Vec<Value> = api(&sb, "/api/v1/users?q=Ad", &ssws(&sb)).await.json().await.unwrap();
    assert_eq!(first_page.len(), ada.len().min(10));
    assert_eq!(ids_for(&sb, &[("q", "Ad"), ("limit", "200")]).await, ada);
}

#[tokio::test]
async fn search_sorts_by_any_property() {
    let sb = sandbox(|c| c.users = 120).await;
    let mut users = all_users(&sb);
    users.sort_by(|a, b| {
        let key = |u: &Value| u["profile"]["lastName"].as_str().unwrap().to_lowercase();
        key(a)
            .cmp(&key(b))
            .then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
    });
    let expected: Vec<String> = users.iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
    let asc = ids_for(
        &sb,
        &[
            ("search", r#"status pr"#),
            ("sortBy", "profile.lastName"),
            ("limit", "25"),
        ],
    )
    .await;
    assert_eq!(asc, expected);
    let desc = ids_for(
        &sb,
        &[
            ("search", r#"status pr"#),
            ("sortBy", "profile.lastName"),
            ("sortOrder", "desc"),
        ],
    )
    .await;
    assert_eq!(desc, expected.into_iter().rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn malformed_or_unsupported_expressions_get_okta_400() {
    let sb = sandbox(|_| {}).await;
    for (param, expr) in [
        ("search", r#"status eq"#),
        ("search", r#"status ne "ACTIVE""#),
        ("search", r#"profile.department co "eng""#),
        ("search", r#"created gt "last week""#),
        ("filter", r#"profile.department eq "Engineering""#),
        ("filter", r#"status sw "ACT""#),
        (
            "search",
            "((((((((((((((((((((((((((((((((((a eq \"b\"))))))))))))))))))))))))))))))))))",
        ),
    ] {
        let url =
            reqwest::Url::parse_with_params(&format!("http://{}/api/v1/users", sb.addr()), &[(param, expr)]).unwrap();
        let res = reqwest::Client::new()
            .get(url)
            .header("authorization", ssws(&sb))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{param}={expr}");
        let body: Value = res.json().await.unwrap();
        crate::spec::MANAGEMENT.assert_valid("Error", &body);
        assert_eq!(body["errorCode"], "E0000031", "{param}={expr}");
        assert!(!body["errorCauses"][0]["errorSummary"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn deprovisioned_users_are_found_only_by_queries() {
    let sb = sandbox(|c| {
        c.users = 200;
        c.deprovisioned_percent = 10;
    })
    .await;
    let listed = ids_for(&sb, &[]).await;
    let gone = ids_for(&sb, &[("filter", r#"status eq "DEPROVISIONED""#)]).await;
    assert!(!gone.is_empty(), "about a tenth of the org");
    assert_eq!(listed.len() + gone.len(), 200, "the org holds exactly 200 users");
    assert!(gone.iter().all(|id| !listed.contains(id)));
    assert_eq!(listed, sb.state().listed_user_ids());
}

#[tokio::test]
async fn rate_limit_buckets_follow_okta_published_limits() {
    // Okta's limits, and the same multiplied (limits lifted for benchmarks).
    for scale in [1, 1000] {
        rate_limit_buckets_at(scale).await;
    }
}

async fn rate_limit_buckets_at(scale: u32) {
    let sb = sandbox(|c| c.rate_limit_scale = scale).await;
    let groups: Vec<Value> = api(&sb, "/api/v1/groups", &ssws(&sb)).await.json().await.unwrap();
    let gid = groups[0]["id"].as_str().unwrap().to_owned();
    let client_id = sb.config().client_id.clone();
    let limit_of = |path: String| {
        let sb = &sb;
        async move {
            api(sb, &path, &ssws(sb)).await.headers()["x-rate-limit-limit"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap()
        }
    };
    // Okta's management limits for Workforce Identity orgs, a minute.
    for (path, limit) in [
        ("/api/v1/users".to_owned(), 600),
        ("/api/v1/users/admin@example.com".to_owned(), 2_000),
        ("/api/v1/users/admin@example.com/groups".to_owned(), 1_200),
        ("/api/v1/groups".to_owned(), 500),
        (format!("/api/v1/groups/{gid}"), 1_000),
        (format!("/api/v1/groups/{gid}/users"), 500),
        ("/api/v1/apps".to_owned(), 100),
        (format!("/api/v1/apps/{client_id}"), 500),
        (format!("/api/v1/apps/{client_id}/users"), 100),
        ("/api/v1/logs".to_owned(), 120),
    ] {
        assert_eq!(limit_of(path.clone()).await, limit * scale, "{path}");
    }
}

#[tokio::test]
async fn an_api_token_revokes_itself_and_is_refused_after() {
    let sb = sandbox(|_| {}).await;
    let http = reqwest::Client::new();
    let me = |auth: String| {
        http.get(format!("{}/api/v1/users/me", sb.url()))
            .header("authorization", auth)
            .send()
    };
    assert_eq!(me(ssws(&sb)).await.unwrap().status(), 200);
    // An OAuth access token cannot revoke an API token.
    let tokens = tokens_for(&sb, &sb.config().admin_login, "okta.users.read").await;
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let res = http
        .delete(format!("{}/api/v1/api-tokens/current", sb.url()))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(sb.state().api_token_live());
    let res = http
        .delete(format!("{}/api/v1/api-tokens/current", sb.url()))
        .header("authorization", ssws(&sb))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(!sb.state().api_token_live());
    let res = me(ssws(&sb)).await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errorCode"], "E0000011");
}

#[tokio::test]
async fn profile_attributes_are_checked_against_the_schema() {
    use reqwest::Method;
    use serde_json::json;

    use crate::util::send;

    let sb = sandbox(|c| c.users = 5).await;
    let id = sb.state().listed_user_ids()[1].clone();
    let path = format!("/api/v1/users/{id}");
    for (profile, why) in [
        (json!({ "costCenter": 3.5 }), "Does not match required type"),
        (json!({ "honorificPrefix": { "a": 1 } }), "Does not match required type"),
        (json!({ "countryCode": "USA" }), "too long or too short"),
        (json!({ "firstName": "" }), "too long or too short"),
    ] {
        let res = send(&sb, Method::POST, &path, Some(json!({ "profile": profile }))).await;
        assert_eq!(res.status(), 400, "{profile}");
        let e: serde_json::Value = res.json().await.unwrap();
        assert_eq!(e["errorCode"], "E0000001", "{e}");
        assert!(e.to_string().contains(why), "{profile}: {e}");
    }
    let before = sb.state().user_json(&id).unwrap();
    let res = send(
        &sb,
        Method::POST,
        &path,
        Some(json!({ "profile": { "nickName": "Nick", "costCenter": null, "officeFloor": 4 } })),
    )
    .await;
    assert_eq!(res.status(), 200);
    let after: serde_json::Value = res.json().await.unwrap();
    assert_eq!(after["profile"]["nickName"], "Nick");
    assert_eq!(after["profile"]["officeFloor"], 4, "custom attributes take any type");
    assert_eq!(after["profile"]["login"], before["profile"]["login"]);
}
