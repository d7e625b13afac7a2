//! The client as a service app: client credentials with private_key_jwt, DPoP, token caching.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::TryStreamExt;
use okta_client::{Client, Error, PrivateKey, ServiceApp};
use okta_sandbox::{Sandbox, SandboxConfig};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use serde_json::json;

const CLIENT: &str = "0oaClientSvc1";

struct Key {
    pem: String,
    jwk_private: String,
    jwk_public: serde_json::Value,
}

fn rsa_key(kid: &str) -> Key {
    let k = rsa::RsaPrivateKey::new(&mut rand_core06::OsRng, 2048).unwrap();
    let b = |n: &rsa::BigUint| URL_SAFE_NO_PAD.encode(n.to_bytes_be());
    let public = json!({ "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b(k.n()), "e": b(k.e()) });
    let mut private = public.clone();
    private["d"] = json!(b(k.d()));
    private["p"] = json!(b(&k.primes()[0]));
    private["q"] = json!(b(&k.primes()[1]));
    Key {
        pem: k.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string(),
        jwk_private: private.to_string(),
        jwk_public: public,
    }
}

async fn org(key: &Key, dpop: bool) -> Sandbox {
    let jwks = serde_json::from_value(json!({ "keys": [key.jwk_public] })).unwrap();
    Sandbox::spawn(SandboxConfig {
        users: 45,
        service_apps: vec![okta_sandbox::ServiceApp {
            client_id: CLIENT.into(),
            jwks,
            client_secret: None,
            scopes: vec!["okta.users.read".into(), "okta.groups.read".into()],
            require_dpop: dpop,
        }],
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

fn client(sb: &Sandbox, app: ServiceApp) -> Client {
    Client::builder(sb.url()).unwrap().service_app(app).build().unwrap()
}

async fn user_ids(c: &Client) -> Result<Vec<String>, Error> {
    c.users().list().limit(10).stream().map_ok(|u| u.id).try_collect().await
}

#[tokio::test]
async fn private_key_jwt_from_pem_with_one_cached_token() {
    let key = rsa_key("pem-key");
    let sb = org(&key, false).await;
    let pk = PrivateKey::parse(&key.pem).unwrap().with_key_id("pem-key");
    let c = client(&sb, ServiceApp::new(CLIENT, &["okta.users.read"], pk));
    assert_eq!(user_ids(&c).await.unwrap(), sb.state().listed_user_ids());
    c.users().get("admin@example.com").await.unwrap();
    assert_eq!(sb.state().token_grants(CLIENT), 1, "five pages and a get on one token");
}

#[tokio::test]
async fn private_key_jwt_from_a_jwk_renews_when_told_to() {
    let key = rsa_key("jwk-key");
    let sb = org(&key, false).await;
    let mut app = ServiceApp::new(
        CLIENT,
        &["okta.users.read"],
        PrivateKey::parse(&key.jwk_private).unwrap(),
    );
    // Renew when less than two hours are left of a one-hour token: before every request.
    app.renew_before = Duration::from_secs(7200);
    let c = client(&sb, app);
    for _ in 0..3 {
        c.users().get("admin@example.com").await.unwrap();
    }
    assert_eq!(sb.state().token_grants(CLIENT), 3);
}

#[tokio::test]
async fn dpop_bound_tokens_with_the_nonce_round_trip_and_ath() {
    let key = rsa_key("dpop-app-key");
    let sb = org(&key, true).await;
    let pk = PrivateKey::parse(&key.pem).unwrap().with_key_id("dpop-app-key");
    let c = client(
        &sb,
        ServiceApp::new(CLIENT, &["okta.users.read"], pk.clone()).with_dpop(),
    );
    // The sandbox requires DPoP and a nonce, and checks `ath`, `htm`, `htu` and `jti` on
    // every page: a Bearer or a replayed proof would fail.
    assert_eq!(user_ids(&c).await.unwrap(), sb.state().listed_user_ids());
    assert_eq!(sb.state().token_grants(CLIENT), 1);

    // Without DPoP the app's requests are refused with Okta's error, typed.
    let plain = client(&sb, ServiceApp::new(CLIENT, &["okta.users.read"], pk));
    let err = plain.users().list().send().await.unwrap_err();
    let Error::OAuth { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(error, "invalid_dpop_proof");
}

#[tokio::test]
async fn token_errors_are_typed_and_hold_no_secret() {
    let key = rsa_key("err-key");
    let sb = org(&key, false).await;
    let pk = PrivateKey::parse(&key.pem).unwrap().with_key_id("err-key");
    let err = client(&sb, ServiceApp::new(CLIENT, &["okta.apps.manage"], pk))
        .users()
        .list()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { error, .. } if error == "invalid_scope"),
        "{err}"
    );
    let other = rsa_key("err-key");
    let wrong = PrivateKey::parse(&other.pem).unwrap().with_key_id("err-key");
    let err = client(&sb, ServiceApp::new(CLIENT, &["okta.users.read"], wrong))
        .users()
        .list()
        .send()
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::OAuth { error, status, .. } if error == "invalid_client" && status.as_u16() == 401));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&other.pem[30..60]) && !shown.contains("eyJ"), "{shown}");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let key = rsa_key("revoke-key");
    let sb = org(&key, false).await;
    let pk = PrivateKey::parse(&key.pem).unwrap().with_key_id("revoke-key");
    let c = client(&sb, ServiceApp::new(CLIENT, &["okta.users.read"], pk));
    c.users().get("admin@example.com").await.unwrap();
    // Revoke every access token issued so far, as an admin would.
    sb.state().revoke_all_access_tokens();
    c.users().get("admin@example.com").await.unwrap();
    assert_eq!(
        sb.state().token_grants(CLIENT),
        2,
        "a 401, a new token, the request again"
    );
}

#[tokio::test]
async fn configured_as_okta_sdks_are_from_the_environment() {
    let key = rsa_key("env-key");
    let sb = org(&key, true).await;
    let dir = std::env::temp_dir().join(format!("okta-client-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("key.pem");
    std::fs::write(&pem, &key.pem).unwrap();
    let vars = [
        ("OKTA_CLIENT_ORGURL", sb.url().to_owned()),
        ("OKTA_CLIENT_AUTHORIZATIONMODE", "PrivateKey".to_owned()),
        ("OKTA_CLIENT_CLIENTID", CLIENT.to_owned()),
        ("OKTA_CLIENT_SCOPES", "okta.users.read".to_owned()),
        ("OKTA_CLIENT_PRIVATEKEY", pem.display().to_string()),
        ("OKTA_CLIENT_PRIVATEKEYID", "env-key".to_owned()),
        ("OKTA_CLIENT_DPOPENABLED", "true".to_owned()),
    ];
    let config = okta_client::OktaConfig::load_from(None, &dir, |k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .unwrap();
    let c = config.builder().unwrap().build().unwrap();
    assert_eq!(user_ids(&c).await.unwrap(), sb.state().listed_user_ids());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An API service integration: client credentials with its client secret
/// (`client_secret_basic`), one token for many calls; a wrong secret is Okta's
/// `invalid_client`, and never appears in the error.
#[tokio::test]
async fn client_secret_basic_for_an_api_service_integration() {
    const ID: &str = "0oaIntegrationC";
    const SECRET: &str = "integration/secret+with:odd=chars";
    let sb = Sandbox::spawn(SandboxConfig {
        users: 25,
        service_apps: vec![okta_sandbox::ServiceApp {
            client_id: ID.into(),
            jwks: jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
            client_secret: Some(SECRET.to_owned().into()),
            scopes: vec!["okta.users.read".into()],
            require_dpop: false,
        }],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let c = client(&sb, ServiceApp::with_client_secret(ID, &["okta.users.read"], SECRET));
    assert_eq!(user_ids(&c).await.unwrap(), sb.state().listed_user_ids());
    assert_eq!(sb.state().token_grants(ID), 1, "three pages on one token");
    assert!(!format!("{:?}", ServiceApp::with_client_secret(ID, &[], SECRET)).contains(SECRET));

    let wrong = client(&sb, ServiceApp::with_client_secret(ID, &["okta.users.read"], "nope"));
    let err = user_ids(&wrong).await.unwrap_err();
    assert!(
        matches!(&err, Error::OAuth { error, .. } if error == "invalid_client"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("nope"));
}
