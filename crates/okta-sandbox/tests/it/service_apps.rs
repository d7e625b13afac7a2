//! Service apps: `client_credentials` with `private_key_jwt`, assertions built independently
//! here (RSA key, JWK, RS256 JWT) rather than by any code of the sandbox.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use okta_sandbox::ServiceApp;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use crate::util::{api, http, sandbox};

pub(crate) struct Key {
    kid: String,
    encoding: EncodingKey,
    /// The public key as a JWK (with `kid`).
    pub jwk: Value,
    /// The private key, PKCS#1 PEM, as Okta's SDKs take it.
    pub pem: String,
}

/// A fresh 2048-bit RSA key named `kid`.
pub(crate) fn key(kid: &str) -> Key {
    let private = rsa::RsaPrivateKey::new(&mut rand08::rngs::OsRng, 2048).unwrap();
    let jwk = json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
    });
    Key {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_rsa_der(private.to_pkcs1_der().unwrap().as_bytes()),
        jwk,
        pem: private.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string(),
    }
}

const CLIENT: &str = "0oaServiceApp000001";

fn assertion(key: &Key, aud: &str, claims: Value) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut c = json!({ "iss": CLIENT, "sub": CLIENT, "aud": aud, "iat": now, "exp": now + 300, "jti": format!("jti-{}", rand08::random::<u64>()) });
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, &c, &key.encoding).unwrap()
}

async fn token(sb: &okta_sandbox::Sandbox, assertion: &str, scope: &str) -> reqwest::Response {
    token_with(sb, assertion, scope, None).await
}

async fn token_with(sb: &okta_sandbox::Sandbox, assertion: &str, scope: &str, dpop: Option<&str>) -> reqwest::Response {
    let mut req = http().post(format!("{}/oauth2/v1/token", sb.url()));
    if let Some(proof) = dpop {
        req = req.header("DPoP", proof);
    }
    req.form(&[
        ("grant_type", "client_credentials"),
        ("scope", scope),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ])
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn client_credentials_with_private_key_jwt() {
    let registered = key("key-1");
    let stranger = key("key-1");
    let jwks = serde_json::from_value(json!({ "keys": [registered.jwk] })).unwrap();
    let sb = sandbox(move |c| {
        c.service_apps = vec![ServiceApp {
            client_id: CLIENT.into(),
            jwks,
            client_secret: None,
            scopes: vec!["okta.users.read".into(), "okta.groups.read".into()],
            require_dpop: false,
        }];
    })
    .await;
    let aud = format!("{}/oauth2/v1/token", sb.url());

    let good = assertion(&registered, &aud, json!({}));
    let res = token(&sb, &good, "okta.users.read okta.groups.read").await;
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    crate::spec::OAUTH.assert_valid("TokenResponse", &t);
    assert!(t.get("refresh_token").is_none());
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    assert_eq!(
        api(&sb, "/api/v1/users?limit=1", &bearer).await.status(),
        200,
        "the token reads users"
    );
    assert_eq!(
        api(&sb, "/api/v1/logs", &bearer).await.status(),
        403,
        "but not what it was not granted"
    );

    let replay = token(&sb, &good, "okta.users.read").await;
    assert_eq!(replay.status(), 401, "an assertion works once (jti)");
    for (why, bad) in [
        ("another key", assertion(&stranger, &aud, json!({}))),
        (
            "wrong audience",
            assertion(&registered, "https://elsewhere/oauth2/v1/token", json!({})),
        ),
        (
            "expired",
            assertion(&registered, &aud, json!({ "exp": 1_000_000_000, "iat": 999_999_000 })),
        ),
        (
            "too long",
            assertion(
                &registered,
                &aud,
                json!({ "exp": time::OffsetDateTime::now_utc().unix_timestamp() + 7200 }),
            ),
        ),
        (
            // exp - iat overflows: it once wrapped into a pass (release) or panicked (debug).
            "exp = i64::MAX, iat = -1",
            assertion(&registered, &aud, json!({ "exp": i64::MAX, "iat": -1 })),
        ),
        ("sub differs", assertion(&registered, &aud, json!({ "sub": "someone" }))),
        (
            "unknown client",
            assertion(&registered, &aud, json!({ "iss": "0oaNobody", "sub": "0oaNobody" })),
        ),
    ] {
        let res = token(&sb, &bad, "okta.users.read").await;
        assert_eq!(res.status(), 401, "{why}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_client", "{why}");
    }
    let res = token(&sb, &assertion(&registered, &aud, json!({})), "okta.users.manage").await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"], "invalid_scope");
    assert!(err["error_description"].as_str().unwrap().contains("okta.users.manage"));
    assert_eq!(sb.state().token_grants(CLIENT), 1);
}

/// A DPoP proof (RFC 9449) signed by `key`, built here from the RFC, not by the sandbox.
fn proof(key: &Key, method: &str, url: &str, nonce: Option<&str>, token: Option<&str>) -> String {
    proof_at(
        key,
        method,
        url,
        nonce,
        token,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    )
}

/// [`proof`] issued at `iat`.
fn proof_at(key: &Key, method: &str, url: &str, nonce: Option<&str>, token: Option<&str>, iat: i64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Header::new(Algorithm::RS256);
    h.typ = Some("dpop+jwt".into());
    let mut public = key.jwk.clone();
    public.as_object_mut().unwrap().remove("kid");
    h.jwk = Some(serde_json::from_value(public).unwrap());
    let mut claims = json!({
        "htm": method, "htu": url,
        "iat": iat,
        "jti": format!("proof-{}", rand08::random::<u64>()),
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    if let Some(t) = token {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes())));
    }
    jsonwebtoken::encode(&h, &claims, &key.encoding).unwrap()
}

/// A sandbox whose service app `CLIENT` (signing with `signing`) must use DPoP.
async fn dpop_sandbox(signing: &Key) -> okta_sandbox::Sandbox {
    let jwks = serde_json::from_value(json!({ "keys": [signing.jwk] })).unwrap();
    sandbox(move |c| {
        c.service_apps = vec![ServiceApp {
            client_id: CLIENT.into(),
            jwks,
            client_secret: None,
            scopes: vec!["okta.users.read".into()],
            require_dpop: true,
        }];
    })
    .await
}

/// A proof with an extreme `iat` is refused, and cannot take the DPoP state down with it (a
/// panic under its lock once failed every later proof until restart).
#[tokio::test]
async fn extreme_dpop_iats_are_refused_and_later_proofs_still_work() {
    let signing = key("assertion-key");
    let dpop_key = key("dpop-key");
    let sb = dpop_sandbox(&signing).await;
    let token_url = format!("{}/oauth2/v1/token", sb.url());
    for iat in [i64::MIN, i64::MAX, -1] {
        let res = token_with(
            &sb,
            &assertion(&signing, &token_url, json!({})),
            "okta.users.read",
            Some(&proof_at(&dpop_key, "POST", &token_url, None, None, iat)),
        )
        .await;
        assert_eq!(res.status(), 400, "iat {iat}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "invalid_dpop_proof", "iat {iat}: {err}");
    }
    let res = token_with(
        &sb,
        &assertion(&signing, &token_url, json!({})),
        "okta.users.read",
        Some(&proof(&dpop_key, "POST", &token_url, None, None)),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "use_dpop_nonce",
        "a good proof is still checked: the nonce comes next"
    );
}

#[tokio::test]
async fn dpop_bound_tokens_with_nonce_and_ath() {
    let signing = key("assertion-key");
    let dpop_key = key("dpop-key");
    let other = key("other-key");
    let sb = dpop_sandbox(&signing).await;
    let token_url = format!("{}/oauth2/v1/token", sb.url());

    let missing = token(&sb, &assertion(&signing, &token_url, json!({})), "okta.users.read").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"],
        "invalid_dpop_proof",
        "this app requires DPoP"
    );

    // First attempt without a nonce: Okta answers use_dpop_nonce and hands one out.
    let first = token_with(
        &sb,
        &assertion(&signing, &token_url, json!({})),
        "okta.users.read",
        Some(&proof(&dpop_key, "POST", &token_url, None, None)),
    )
    .await;
    assert_eq!(first.status(), 400);
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(first.json::<Value>().await.unwrap()["error"], "use_dpop_nonce");
    let res = token_with(
        &sb,
        &assertion(&signing, &token_url, json!({})),
        "okta.users.read",
        Some(&proof(&dpop_key, "POST", &token_url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap().to_owned();

    let users_url = format!("{}/api/v1/users", sb.url());
    let call = |scheme: &'static str, proof: Option<String>| {
        let (at, addr) = (at.clone(), sb.addr());
        async move {
            let mut req = http()
                .get(format!("http://{addr}/api/v1/users?limit=2"))
                .header("authorization", format!("{scheme} {at}"));
            if let Some(p) = proof {
                req = req.header("DPoP", p);
            }
            req.send().await.unwrap()
        }
    };
    let good = proof(&dpop_key, "GET", &users_url, None, Some(&at));
    assert_eq!(
        call("DPoP", Some(good.clone())).await.status(),
        200,
        "DPoP token with a proof and ath"
    );
    assert_eq!(call("DPoP", Some(good)).await.status(), 401, "a proof works once (jti)");
    assert_eq!(
        call("Bearer", None).await.status(),
        401,
        "a DPoP-bound token is not a bearer token"
    );
    let res = call("DPoP", None).await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP"));
    assert_eq!(
        call("DPoP", Some(proof(&dpop_key, "GET", &users_url, None, None)))
            .await
            .status(),
        401,
        "ath is required"
    );
    assert_eq!(
        call("DPoP", Some(proof(&other, "GET", &users_url, None, Some(&at))))
            .await
            .status(),
        401,
        "the token's key only"
    );
    assert_eq!(
        call("DPoP", Some(proof(&dpop_key, "POST", &users_url, None, Some(&at))))
            .await
            .status(),
        401,
        "htm must match"
    );
}

/// POST the web app's token endpoint (client_secret_basic) with an optional DPoP proof.
async fn web_token(sb: &okta_sandbox::Sandbox, form: &[(&str, &str)], dpop: Option<String>) -> reqwest::Response {
    let mut req = http()
        .post(format!("{}/oauth2/v1/token", sb.url()))
        .basic_auth(&sb.config().client_id, Some(sb.config().client_secret_value()));
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    req.form(form).send().await.unwrap()
}

#[tokio::test]
async fn web_app_authorization_code_tokens_bound_by_dpop() {
    let dpop_key = key("web-dpop-key");
    let sb = sandbox(|c| c.web_app_require_dpop = true).await;
    let token_url = format!("{}/oauth2/v1/token", sb.url());
    let (verifier, challenge) = crate::util::pkce();
    let admin = sb.config().admin_login.clone();
    let code = crate::util::code_for(&sb, &admin, "okta.users.read offline_access", Some(&challenge)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", crate::util::REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];

    let missing = web_token(&sb, &form, None).await;
    assert_eq!(missing.status(), 400);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "invalid_dpop_proof");
    // The nonce round trip leaves the code usable: a client retries the same request.
    let first = web_token(&sb, &form, Some(proof(&dpop_key, "POST", &token_url, None, None))).await;
    assert_eq!(first.status(), 400);
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(first.json::<Value>().await.unwrap()["error"], "use_dpop_nonce");
    let res = web_token(
        &sb,
        &form,
        Some(proof(&dpop_key, "POST", &token_url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap().to_owned();

    let users_url = format!("{}/api/v1/users", sb.url());
    let res = http()
        .get(format!("http://{}/api/v1/users?limit=1", sb.addr()))
        .header("authorization", format!("DPoP {at}"))
        .header("DPoP", proof(&dpop_key, "GET", &users_url, None, Some(&at)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the delegated DPoP token reads users with a proof");
    let res = api(&sb, "/api/v1/users?limit=1", &format!("Bearer {at}")).await;
    assert_eq!(res.status(), 401, "and is no bearer token");

    // Refreshing needs a proof too, and yields a DPoP-bound token again.
    let rt = t["refresh_token"].as_str().unwrap();
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let res = web_token(&sb, &refresh, None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_dpop_proof");
    let res = web_token(
        &sb,
        &refresh,
        Some(proof(&dpop_key, "POST", &token_url, Some(&nonce), None)),
    )
    .await;
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "DPoP");
    let introspected: Value = http()
        .post(format!("{}/oauth2/v1/introspect", sb.url()))
        .basic_auth(&sb.config().client_id, Some(sb.config().client_secret_value()))
        .form(&[("token", t["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (introspected["active"].as_bool(), introspected["token_type"].as_str()),
        (Some(true), Some("DPoP"))
    );
}

#[tokio::test]
async fn a_web_app_that_does_not_require_dpop_ignores_proofs() {
    let dpop_key = key("optional-dpop-key");
    let sb = sandbox(|_| {}).await;
    let token_url = format!("{}/oauth2/v1/token", sb.url());
    let admin = sb.config().admin_login.clone();
    let code = crate::util::code_for(&sb, &admin, "okta.users.read", None).await;
    let res = web_token(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", crate::util::REDIRECT),
        ],
        Some(proof(&dpop_key, "POST", &token_url, None, None)),
    )
    .await;
    assert_eq!(res.status(), 200, "no nonce round trip: the proof is not looked at");
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(
        api(&sb, "/api/v1/users?limit=1", &format!("Bearer {at}"))
            .await
            .status(),
        200
    );
}

/// An API service integration: `client_credentials` with its client secret, in the
/// `Authorization: Basic` header (`client_secret_basic`) or the body (`client_secret_post`);
/// a wrong secret is `invalid_client`, a scope not granted `invalid_scope`.
#[tokio::test]
async fn client_credentials_with_a_client_secret() {
    const ID: &str = "0oaIntegrationX";
    const SECRET: &str = "integration-secret-abc123";
    let sb = sandbox(|c| {
        c.service_apps = vec![ServiceApp {
            client_id: ID.into(),
            jwks: jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
            client_secret: Some(SECRET.to_owned().into()),
            scopes: vec!["okta.users.read".into()],
            require_dpop: false,
        }];
    })
    .await;
    let url = format!("{}/oauth2/v1/token", sb.url());
    let form = [("grant_type", "client_credentials"), ("scope", "okta.users.read")];
    let basic = |secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{ID}:{secret}"))
        )
    };
    let res = http()
        .post(&url)
        .header("authorization", basic(SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    crate::spec::OAUTH.assert_valid("TokenResponse", &t);
    assert!(
        t.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    let bearer = format!("Bearer {}", t["access_token"].as_str().unwrap());
    assert_eq!(api(&sb, "/api/v1/users?limit=1", &bearer).await.status(), 200);

    let res = http()
        .post(&url)
        .form(&[&form[..], &[("client_id", ID), ("client_secret", SECRET)]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "client_secret_post");

    let res = http()
        .post(&url)
        .header("authorization", basic("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client");

    let res = http()
        .post(&url)
        .header("authorization", basic(SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "okta.groups.manage")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"], "invalid_scope");
}
