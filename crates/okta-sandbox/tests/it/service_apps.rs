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

struct Key {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn key(kid: &str) -> Key {
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
    http()
        .post(format!("{}/oauth2/v1/token", sb.url()))
        .form(&[
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
            scopes: vec!["okta.users.read".into(), "okta.groups.read".into()],
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
