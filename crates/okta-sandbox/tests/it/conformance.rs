//! Every implemented operation's responses validate against Okta's OpenAPI specs.

use serde_json::Value;

use crate::spec::{MANAGEMENT, OAUTH};
use crate::util::{REDIRECT, api, authorize, http, ordinary_user, sandbox, ssws, token, tokens_for};

#[tokio::test]
async fn users_responses_match_the_management_spec() {
    let sb = sandbox(|c| c.users = 120).await;
    let res = api(&sb, "/api/v1/users?limit=200", &ssws(&sb)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let users: Vec<Value> = res.json().await.unwrap();
    assert_eq!(users.len(), 120);
    let statuses: std::collections::HashSet<_> =
        users.iter().map(|u| u["status"].as_str().unwrap().to_owned()).collect();
    assert!(statuses.len() >= 2, "a realistic mix of statuses: {statuses:?}");
    for u in &users {
        MANAGEMENT.assert_valid("User", u);
        assert_eq!(
            u["_links"].as_object().unwrap().len(),
            1,
            "a collection carries only the self link"
        );
    }
    let id = users[0]["id"].as_str().unwrap();
    let one: Value = api(&sb, &format!("/api/v1/users/{id}"), &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    MANAGEMENT.assert_valid("User", &one);
    assert!(
        one["_links"].as_object().unwrap().len() > 1,
        "a single user carries lifecycle links"
    );
}

#[tokio::test]
async fn errors_match_the_management_spec() {
    let sb = sandbox(|_| {}).await;
    let user_tokens = tokens_for(&sb, &ordinary_user(&sb), "okta.users.read").await;
    let cases = [
        ("/api/v1/users", "SSWS wrong".to_owned(), 401, "E0000011"),
        ("/api/v1/users", "Bearer not.a.jwt".to_owned(), 401, "E0000011"),
        ("/api/v1/users/nobody@example.com", ssws(&sb), 404, "E0000007"),
        ("/api/v1/users?limit=abc", ssws(&sb), 400, "E0000001"),
        (
            "/api/v1/users",
            format!("Bearer {}", user_tokens["access_token"].as_str().unwrap()),
            403,
            "E0000006",
        ),
    ];
    for (path, auth, status, code) in cases {
        let res = api(&sb, path, &auth).await;
        assert_eq!(res.status(), status, "{path}");
        let body: Value = res.json().await.unwrap();
        MANAGEMENT.assert_valid("Error", &body);
        assert_eq!(body["errorCode"], code, "{path}");
        assert_eq!(body["errorLink"], code);
        assert!(body["errorId"].as_str().unwrap().starts_with("oae"));
    }
    let res = http().get(format!("{}/api/v1/users", sb.url())).send().await.unwrap();
    assert_eq!(res.status(), 401, "no Authorization header");
}

#[tokio::test]
async fn oauth_responses_match_the_oauth_spec() {
    let sb = sandbox(|_| {}).await;
    let meta: Value = http()
        .get(format!("{}/.well-known/oauth-authorization-server", sb.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    OAUTH.assert_valid("OAuthMetadata", &meta);
    assert_eq!(meta["issuer"], sb.url());
    assert_eq!(meta["token_endpoint"], format!("{}/oauth2/v1/token", sb.url()));
    let keys: Value = http()
        .get(format!("{}/oauth2/v1/keys", sb.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    OAUTH.assert_valid("OAuthKeys", &keys);

    let tokens = tokens_for(&sb, &sb.config().admin_login, "okta.users.read offline_access").await;
    OAUTH.assert_valid("TokenResponse", &tokens);
    let intro: Value = http()
        .post(format!("{}/oauth2/v1/introspect", sb.url()))
        .basic_auth(&sb.config().client_id, Some(sb.config().client_secret_value()))
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    OAUTH.assert_valid("IntrospectionResponse", &intro);
    assert_eq!(intro["active"], true);

    let err = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(err.status(), 400);
    let body: Value = err.json().await.unwrap();
    OAUTH.assert_valid("OAuthError", &body);
    assert_eq!(body["error"], "invalid_grant");

    // An authorize error goes back to the registered redirect URI.
    let res = authorize(&sb, &[("response_type", "code"), ("scope", "okta.users.read")]).await;
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with(REDIRECT));
}

/// Every answer the sandbox can give is Okta-shaped JSON: a body that is not JSON, or not sent
/// as JSON, answers 400 E0000003 ("The request body was not well-formed."), a method a route
/// does not take 405 E0000022, an unknown route 404 E0000022 — each a valid `Error`.
#[tokio::test]
async fn malformed_requests_get_oktas_errors_not_axums() {
    let sb = sandbox(|c| c.users = 5).await;
    let everyone: Vec<Value> = api(&sb, "/api/v1/groups?q=Everyone", &ssws(&sb))
        .await
        .json()
        .await
        .unwrap();
    let group = everyone[0]["id"].as_str().unwrap().to_owned();
    let url = |path: &str| crate::util::on_listener(&sb, path);
    // Method, URL, Content-Type, body, then the status and Okta error code expected.
    type Case<'a> = (reqwest::Method, String, Option<&'a str>, &'a str, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            reqwest::Method::POST,
            url("/api/v1/users"),
            Some("application/json"),
            "{not json",
            400,
            "E0000003",
        ),
        (
            reqwest::Method::POST,
            url("/api/v1/users"),
            Some("text/plain"),
            "{}",
            400,
            "E0000003",
        ),
        (reqwest::Method::POST, url("/api/v1/users"), None, "{}", 400, "E0000003"),
        (
            reqwest::Method::PUT,
            url(&format!("/api/v1/groups/{group}")),
            Some("application/json"),
            "[1,",
            400,
            "E0000003",
        ),
        (
            reqwest::Method::POST,
            url("/api/v1/groups"),
            Some("application/json"),
            "",
            400,
            "E0000003",
        ),
        (
            reqwest::Method::PATCH,
            url("/api/v1/users"),
            Some("application/json"),
            "{}",
            405,
            "E0000022",
        ),
        (
            reqwest::Method::GET,
            url("/api/v1/nothing-here"),
            None,
            "",
            404,
            "E0000022",
        ),
    ];
    for (method, target, content_type, body, status, code) in cases {
        let mut req = http()
            .request(method.clone(), &target)
            .header("authorization", ssws(&sb))
            .body(body.to_owned());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        let what = format!("{method} {target} ({content_type:?}, {body:?})");
        assert_eq!(res.status().as_u16(), status, "{what}");
        assert_eq!(res.headers()["content-type"], "application/json", "{what}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["errorCode"], code, "{what}: {err}");
        MANAGEMENT.assert_valid("Error", &err);
    }
}
