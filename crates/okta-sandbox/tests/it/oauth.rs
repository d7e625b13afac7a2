//! The org authorization server: authorize, sign-in, token, refresh, revoke, introspect, keys.
//!
//! Longer than our other files (~680 lines) for a reason: one authorization server's endpoints,
//! each test a scenario of Okta's documented behaviour, read together.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use okta_sandbox::RefreshTokenRotation;
use reqwest::header::LOCATION;
use serde_json::Value;

use crate::util::{REDIRECT, authorize, code_for, http, pkce, query_of, sandbox, token, tokens_for};

#[tokio::test]
async fn authorize_validates_before_showing_the_sign_in_page() {
    let sb = sandbox(|_| {}).await;
    // Errors about the client or redirect URI are shown, never redirected.
    for params in [
        vec![
            ("client_id", "0oaUnknown"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ],
        vec![
            ("redirect_uri", "http://127.0.0.1:3000/evil"),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ],
    ] {
        let res = authorize(&sb, &params).await;
        assert_eq!(res.status(), 400, "{params:?}");
        assert!(res.headers().get(LOCATION).is_none());
    }
    // Protocol errors go back to the redirect URI with error and error_description.
    for (params, error) in [
        (
            vec![("response_type", "token"), ("scope", "openid"), ("state", "s")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "code"), ("scope", "openid")], "invalid_request"),
        (
            vec![("response_type", "code"), ("scope", "okta.nope.read"), ("state", "s")],
            "invalid_scope",
        ),
        (
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "s"),
                ("code_challenge", &"x".repeat(43)),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
    ] {
        let res = authorize(&sb, &params).await;
        assert_eq!(res.status(), 303, "{params:?}");
        let location = res.headers()[LOCATION].to_str().unwrap();
        assert!(location.starts_with(REDIRECT));
        let q = query_of(location);
        assert_eq!(q["error"], error, "{params:?}");
        assert!(!q["error_description"].is_empty());
    }
}

#[tokio::test]
async fn sign_in_rejects_a_wrong_password_and_inactive_users() {
    let sb = sandbox(|c| c.users = 200).await;
    let page = authorize(&sb, &[("response_type", "code"), ("scope", "openid"), ("state", "s")]).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("<form") && html.contains("name=\"username\"") && html.contains("name=\"password\""));
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let suspended = sb
        .state()
        .listed_user_ids()
        .iter()
        .filter_map(|id| sb.state().user_json(id))
        .find(|u| u["status"] == "SUSPENDED")
        .map(|u| u["profile"]["login"].as_str().unwrap().to_owned())
        .expect("the generated org has suspended users");
    for (user, password) in [
        ("admin@example.com", "wrong"),
        (suspended.as_str(), sb.config().user_password_value()),
        ("ghost@example.com", sb.config().user_password_value()),
    ] {
        let res = http()
            .post(format!("{}/login/signin", sb.url()))
            .form(&[
                ("request_id", request_id.as_str()),
                ("username", user),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{user}");
        assert!(res.text().await.unwrap().contains("Unable to sign in"));
    }
}

#[tokio::test]
async fn codes_are_single_use_and_pkce_is_verified() {
    let sb = sandbox(|_| {}).await;
    let admin = sb.config().admin_login.clone();
    let (verifier, challenge) = pkce();

    let code = code_for(&sb, &admin, "okta.users.read", Some(&challenge)).await;
    let wrong = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"z".repeat(50)),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // A failed attempt used the code up.
    let again = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(again.status(), 400);

    let code = code_for(&sb, &admin, "okta.users.read", Some(&challenge)).await;
    let missing = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        missing.status(),
        400,
        "the verifier is required when a challenge was sent"
    );

    let code = code_for(&sb, &admin, "okta.users.read", None).await;
    let other_redirect = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:3000/other"),
        ],
    )
    .await;
    assert_eq!(other_redirect.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let code = code_for(&sb, &admin, "okta.users.read", None).await;
    let ok = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["cache-control"], "no-store");
    let replay = token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "codes are single-use"
    );
}

#[tokio::test]
async fn client_authentication_basic_and_post() {
    let sb = sandbox(|_| {}).await;
    let admin = sb.config().admin_login.clone();
    let code = code_for(&sb, &admin, "okta.users.read", None).await;
    let c = sb.config();
    let post = http()
        .post(format!("{}/oauth2/v1/token", sb.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &c.client_id),
            ("client_secret", c.client_secret_value()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200, "client_secret_post");

    let bad = http()
        .post(format!("{}/oauth2/v1/token", sb.url()))
        .basic_auth(&c.client_id, Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers().contains_key("www-authenticate"));
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "invalid_client");

    let both = http()
        .post(format!("{}/oauth2/v1/token", sb.url()))
        .basic_auth(&c.client_id, Some(c.client_secret_value()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_secret", c.client_secret_value()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(both.json::<Value>().await.unwrap()["error"], "invalid_request");

    let unsupported = token(&sb, &[("grant_type", "password")]).await;
    assert_eq!(
        unsupported.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn access_tokens_are_rs256_jwts_verifiable_with_the_published_key() {
    let sb = sandbox(|c| c.access_token_ttl = std::time::Duration::from_secs(120)).await;
    let tokens = tokens_for(&sb, &sb.config().admin_login, "okta.users.read offline_access").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 120);
    assert_eq!(tokens["scope"], "okta.users.read offline_access");
    let jwks: Value = http()
        .get(format!("{}/oauth2/v1/keys", sb.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    let header = jsonwebtoken::decode_header(tokens["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding = DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[sb.url()]);
    v.set_audience(&[sb.url()]);
    let claims = jsonwebtoken::decode::<Value>(tokens["access_token"].as_str().unwrap(), &decoding, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["scp"], serde_json::json!(["okta.users.read", "offline_access"]));
    assert_eq!(claims["cid"], sb.config().client_id.as_str());
    assert_eq!(claims["sub"], "admin@example.com");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
}

async fn refresh(sb: &okta_sandbox::Sandbox, rt: &str) -> reqwest::Response {
    token(sb, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await
}

#[tokio::test]
async fn refresh_tokens_only_with_offline_access() {
    let sb = sandbox(|_| {}).await;
    let tokens = tokens_for(&sb, &sb.config().admin_login, "okta.users.read").await;
    assert!(tokens.get("refresh_token").is_none());
}

#[tokio::test]
async fn static_refresh_tokens_stay_the_same() {
    let sb = sandbox(|c| c.refresh_token_rotation = RefreshTokenRotation::Static).await;
    let tokens = tokens_for(&sb, &sb.config().admin_login, "okta.users.read offline_access").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        let res: Value = refresh(&sb, rt).await.json().await.unwrap();
        assert_eq!(res["refresh_token"], rt);
        assert_ne!(res["access_token"], tokens["access_token"]);
    }
}

#[tokio::test]
async fn rotating_refresh_tokens_replace_the_old_one() {
    let sb = sandbox(|c| {
        c.refresh_token_rotation = RefreshTokenRotation::Rotate;
        c.refresh_token_leeway = std::time::Duration::ZERO;
    })
    .await;
    let tokens = tokens_for(&sb, &sb.config().admin_login, "okta.users.read offline_access").await;
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let res: Value = refresh(&sb, &rt1).await.json().await.unwrap();
    let rt2 = res["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert_eq!(
        refresh(&sb, &rt1).await.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "the old one is gone"
    );
    assert_eq!(refresh(&sb, &rt2).await.status(), 200);
    // Narrowing the scope is allowed, widening is not.
    let narrowed = token(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("scope", "okta.users.read"),
        ],
    )
    .await;
    assert_eq!(narrowed.status(), 400, "rt2 was rotated by the previous refresh");
}

#[tokio::test]
async fn revoke_and_introspect() {
    let sb = sandbox(|_| {}).await;
    let tokens = tokens_for(&sb, &sb.config().admin_login, "okta.users.read offline_access").await;
    let c = sb.config();
    let introspect = |t: String| {
        let c = c.clone();
        let url = format!("{}/oauth2/v1/introspect", sb.url());
        async move {
            http()
                .post(url)
                .basic_auth(&c.client_id, Some(c.client_secret_value()))
                .form(&[("token", t)])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(rt.clone()).await["active"], true);
    assert_eq!(introspect(at.clone()).await["active"], true);
    assert_eq!(
        introspect("garbage".into()).await,
        serde_json::json!({ "active": false })
    );
    let res = http()
        .post(format!("{}/oauth2/v1/revoke", sb.url()))
        .basic_auth(&c.client_id, Some(c.client_secret_value()))
        .form(&[("token", &rt)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(rt.clone()).await["active"], false);
    assert_eq!(
        refresh(&sb, &rt).await.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        introspect(at).await["active"],
        true,
        "revoking the refresh token leaves the access token"
    );
    let unauthenticated = http()
        .post(format!("{}/oauth2/v1/revoke", sb.url()))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn a_rotated_refresh_token_keeps_working_during_the_leeway() {
    let sb = sandbox(|c| {
        c.refresh_token_rotation = RefreshTokenRotation::Rotate;
        c.refresh_token_leeway = std::time::Duration::from_secs(30);
    })
    .await;
    let tokens = tokens_for(&sb, &sb.config().admin_login, "okta.users.read offline_access").await;
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let first: Value = refresh(&sb, &rt1).await.json().await.unwrap();
    let rt2 = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    // The answer to the first refresh was "lost": the old token still works, and hands out
    // the same successor instead of rotating again.
    let again: Value = refresh(&sb, &rt1).await.json().await.unwrap();
    assert_eq!(again["refresh_token"], rt2.as_str());
    assert_ne!(again["access_token"], first["access_token"]);
    assert_eq!(refresh(&sb, &rt2).await.status(), 200, "the successor works");
    // Once the successor has itself been rotated, the predecessor's grace is over.
    let res: Value = refresh(&sb, &rt1).await.json().await.unwrap();
    assert_eq!(res["error"], "invalid_grant");
}

/// The claims of `token`, verified with the key published at `{issuer}/v1/keys`, for `issuer`
/// and `audience`.
async fn verified_claims(issuer: &str, audience: &str, token: &str) -> Value {
    let jwks: Value = http()
        .get(format!("{issuer}/v1/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    let decoding = DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &decoding, &v).unwrap().claims
}

/// Signs the admin in at the custom authorization server `default`; returns the code.
async fn custom_code(sb: &okta_sandbox::Sandbox, scope: &str) -> String {
    crate::util::code_at(sb, "/oauth2/default/v1", &sb.config().admin_login, scope, None).await
}

#[tokio::test]
async fn the_default_custom_authorization_server_has_its_own_issuer() {
    let sb = sandbox(|_| {}).await;
    let meta: Value = http()
        .get(format!(
            "{}/oauth2/default/.well-known/oauth-authorization-server",
            sb.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    crate::spec::OAUTH.assert_valid("OAuthMetadata", &meta);
    let issuer = format!("{}/oauth2/default", sb.url());
    assert_eq!(meta["issuer"], issuer.as_str());
    assert_eq!(meta["token_endpoint"], format!("{issuer}/v1/token"));
    assert!(
        !meta["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().starts_with("okta."))
    );

    let code = custom_code(&sb, "openid offline_access").await;
    let c = sb.config();
    let exchange = |url: String, code: String| {
        let c = c.clone();
        async move {
            http()
                .post(url)
                .basic_auth(&c.client_id, Some(c.client_secret_value()))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", REDIRECT),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // A code of the custom server is not accepted by the org server…
    let wrong = exchange(format!("{}/oauth2/v1/token", sb.url()), code.clone()).await;
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_grant");
    // …(and was used up by that attempt, as codes are single-use).
    let code = custom_code(&sb, "openid offline_access").await;
    let tokens: Value = exchange(format!("{issuer}/v1/token"), code).await.json().await.unwrap();
    let claims = verified_claims(&issuer, "api://default", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["scp"], serde_json::json!(["openid", "offline_access"]));
    // Its tokens are not Management API tokens.
    let res = crate::util::api(
        &sb,
        "/api/v1/users",
        &format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(res.status(), 401);
    // Its refresh tokens refresh there, not at the org server.
    let rt = tokens["refresh_token"].as_str().unwrap();
    let at = |url: String| {
        let c = c.clone();
        let rt = rt.to_owned();
        async move {
            http()
                .post(url)
                .basic_auth(&c.client_id, Some(c.client_secret_value()))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(at(format!("{}/oauth2/v1/token", sb.url())).await, 400);
    assert_eq!(at(format!("{issuer}/v1/token")).await, 200);

    // okta.* scopes belong to the org server; unknown servers are not found.
    let res = http()
        .get(format!("{issuer}/v1/authorize"))
        .query(&[
            ("client_id", c.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "okta.users.read"),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(res.headers()[LOCATION].to_str().unwrap())["error"],
        "invalid_scope"
    );
    let res = http()
        .get(format!(
            "{}/oauth2/aus1234/.well-known/oauth-authorization-server",
            sb.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.unwrap()["errorCode"], "E0000007");
}

#[tokio::test]
async fn custom_authorization_servers_besides_default() {
    let sb = sandbox(|c| {
        c.authorization_servers
            .push("id=ausOrders1,scopes=orders.read orders.write".parse().unwrap());
    })
    .await;
    let issuer = format!("{}/oauth2/ausOrders1", sb.url());
    // Both discovery documents, as clients that use discovery look for either.
    for doc in ["oauth-authorization-server", "openid-configuration"] {
        let meta: Value = http()
            .get(format!("{issuer}/.well-known/{doc}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // OpenID Connect's document is the OAuth one and what OIDC adds.
        let schema = if doc == "openid-configuration" {
            "OidcMetadata"
        } else {
            "OAuthMetadata"
        };
        crate::spec::OAUTH.assert_valid(schema, &meta);
        assert_eq!(meta["issuer"], issuer.as_str());
        assert_eq!(meta["authorization_endpoint"], format!("{issuer}/v1/authorize"));
        let scopes: Vec<&str> = meta["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(
            scopes.contains(&"orders.read") && scopes.contains(&"openid"),
            "{scopes:?}"
        );
    }
    let admin = sb.config().admin_login.clone();
    let code = crate::util::code_at(&sb, "/oauth2/ausOrders1/v1", &admin, "openid orders.read", None).await;
    let c = sb.config().clone();
    let post = |url: String, form: Vec<(&'static str, String)>| {
        let c = c.clone();
        async move {
            http()
                .post(url)
                .basic_auth(&c.client_id, Some(c.client_secret_value()))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let tokens: Value = post(
        format!("{issuer}/v1/token"),
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_owned()),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = verified_claims(&issuer, "api://ausOrders1", &at).await;
    assert_eq!(claims["scp"], serde_json::json!(["openid", "orders.read"]));

    // Each server introspects only its own tokens.
    let introspect = |server: &str| {
        post(
            format!("{}/oauth2/{server}/v1/introspect", sb.url()),
            vec![("token", at.clone())],
        )
    };
    let own: Value = introspect("ausOrders1").await.json().await.unwrap();
    assert_eq!(own["active"], true);
    let other: Value = introspect("default").await.json().await.unwrap();
    assert_eq!(other["active"], false);
    // A custom scope of one server is unknown to another.
    let res = crate::util::authorize_at(
        &sb,
        "/oauth2/default/v1",
        &[("response_type", "code"), ("scope", "orders.read"), ("state", "s")],
    )
    .await;
    assert_eq!(
        query_of(res.headers()[LOCATION].to_str().unwrap())["error"],
        "invalid_scope"
    );
}

#[tokio::test]
async fn oauth_rate_limit_buckets_follow_okta() {
    let sb = sandbox(|c| {
        c.oauth_rate_limit = 2;
        c.authorization_servers.push("id=ausOther".parse().unwrap());
    })
    .await;
    let post = |path: &'static str| {
        let url = format!("{}{path}", sb.url());
        async move {
            http()
                .post(url)
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };
    let remaining = |r: &reqwest::Response| r.headers()["x-rate-limit-remaining"].to_str().unwrap().to_owned();
    // All custom servers share one token bucket.
    let a = post("/oauth2/default/v1/token").await;
    assert_eq!((a.status().as_u16(), remaining(&a)), (401, "1".to_owned()));
    let b = post("/oauth2/ausOther/v1/token").await;
    assert_eq!(remaining(&b), "0");
    let c = post("/oauth2/default/v1/token").await;
    assert_eq!(c.status(), 429);
    let body: Value = c.json().await.unwrap();
    assert_eq!(body["errorCode"], "E0000047");
    // The org authorization server has its own bucket, and so do the custom servers' other endpoints.
    assert_ne!(post("/oauth2/v1/token").await.status(), 429);
    assert_ne!(post("/oauth2/default/v1/introspect").await.status(), 429);
    // Public metadata is not limited like them.
    for _ in 0..4 {
        let res = http()
            .get(format!("{}/oauth2/default/.well-known/openid-configuration", sb.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-rate-limit-limit"], "10000");
    }
    // Defaults: Okta's Workforce Identity 2,000 a minute.
    let sb = sandbox(|_| {}).await;
    let res = http()
        .post(format!("{}/oauth2/v1/token", sb.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-rate-limit-limit"], "2000");
}
