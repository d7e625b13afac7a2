//! Writes the upgrade fixtures (`tests/fixtures/upgrade/`) with the code of the day: run once,
//! by hand, on the commit named in the fixtures' README:
//!
//! ```sh
//! OKTA_BRIDGE_MAKE_FIXTURES=1 cargo test -p okta-bridge --test it make_fixtures -- --ignored
//! ```

use std::path::PathBuf;

use okta_bridge::accounts::NewAccount;
use okta_bridge::store::{ConnectionMethod, NEVER, NewConnection, PendingAuthorization, Store, TokenSet};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::util::TestDb;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn test_key() -> String {
    use rsa::pkcs8::EncodePrivateKey;
    rsa::RsaPrivateKey::new(&mut rand_core06::OsRng, 2048)
        .unwrap()
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

fn conn(account: &str, org: &str, method: ConnectionMethod, token_type: &str, scopes: &str, access: &str, refresh: Option<&str>, expires_at: i64) -> NewConnection {
    NewConnection {
        account: okta_bridge::domain::AccountName::parse(account).unwrap(),
        org_url: okta_client::OrgUrl::parse(org).unwrap(),
        scopes: scopes.into(),
        token_type: token_type.into(),
        tokens: TokenSet {
            access_token: SecretString::from(access.to_owned()),
            refresh_token: refresh.map(|r| SecretString::from(r.to_owned())),
            expires_at,
        },
        method,
    }
}

/// Fills `store` with one of everything; returns what the new code must find.
async fn fill(store: &Store, private_key: &str) -> Value {
    let name = |s: &str| okta_bridge::domain::AccountName::parse(s).unwrap();
    let accounts = [
        NewAccount {
            name: "acme-web".into(),
            org_url: "https://acme.okta.com".into(),
            client_id: Some("0oaweb1".into()),
            client_secret: Some("web-client-secret-1".to_owned().into()),
            ..NewAccount::default()
        },
        NewAccount {
            name: "acme-custom".into(),
            org_url: "https://acme.okta.com".into(),
            client_id: Some("0oaweb2".into()),
            client_secret: Some("web-client-secret-2".to_owned().into()),
            issuer: Some("https://acme.okta.com/oauth2/default".into()),
            scopes: Some("openid offline_access".into()),
            ..NewAccount::default()
        },
        NewAccount {
            name: "acme-reauth".into(),
            org_url: "https://reauth.okta.com".into(),
            client_id: Some("0oaweb3".into()),
            client_secret: Some("web-client-secret-3".to_owned().into()),
            ..NewAccount::default()
        },
        NewAccount {
            name: "acme-svc".into(),
            org_url: "https://svc.okta.com".into(),
            client_id: Some("0oasvc1".into()),
            private_key: Some(private_key.to_owned().into()),
            key_id: Some("kid-1".into()),
            scopes: Some("okta.users.read okta.groups.read".into()),
            ..NewAccount::default()
        },
        NewAccount {
            name: "acme-token".into(),
            org_url: "https://token.okta.com".into(),
            ..NewAccount::default()
        },
        NewAccount {
            name: "idle".into(),
            org_url: "https://idle.okta.com".into(),
            kind: Some("token".into()),
            ..NewAccount::default()
        },
        NewAccount {
            name: "gone".into(),
            org_url: "https://gone.okta.com".into(),
            ..NewAccount::default()
        },
    ];
    for a in accounts {
        let a = a.validate(false).unwrap();
        okta_bridge::accounts::save(store, &a, false).await.unwrap();
    }
    store.set_account_dpop(&name("acme-svc"), true).await.unwrap();
    let far = 4_102_444_800; // 2100-01-01
    let conns = [
        conn("acme-web", "https://acme.okta.com", ConnectionMethod::AuthorizationCode, "Bearer", "okta.users.read offline_access", "at-web", Some("rt-web"), 1_900_000_000),
        conn("acme-custom", "https://acme.okta.com", ConnectionMethod::AuthorizationCode, "Bearer", "openid offline_access", "at-custom", Some("rt-custom"), 1_900_000_100),
        conn("acme-reauth", "https://reauth.okta.com", ConnectionMethod::AuthorizationCode, "Bearer", "okta.users.read offline_access", "at-reauth", Some("rt-reauth"), 1_700_000_000),
        conn("acme-svc", "https://svc.okta.com", ConnectionMethod::ServiceApp, "DPoP", "okta.users.read okta.groups.read", "", None, NEVER),
        conn("acme-token", "https://token.okta.com", ConnectionMethod::ApiToken, "SSWS", "", "00ssws-token", None, NEVER),
        // A connection made through the server-wide app, without an account of its own.
        conn("dev-207260", "https://dev-207260.okta.com", ConnectionMethod::AuthorizationCode, "Bearer", "okta.users.read offline_access", "at-legacy", Some("rt-legacy"), 1_900_000_200),
        conn("gone", "https://gone.okta.com", ConnectionMethod::ApiToken, "SSWS", "", "00gone", None, NEVER),
    ];
    for c in &conns {
        store.upsert_connection(c).await.unwrap();
    }
    store
        .mark_needs_reauth(&name("acme-reauth"), "Okta rejected the refresh token (The refresh token is invalid or expired.)")
        .await
        .unwrap();
    store.remove_connection(&name("gone"), "disconnected", "API token forgotten").await.unwrap();
    store.remove_account(&name("gone")).await.unwrap();
    store
        .put_pending(&PendingAuthorization {
            state_hash: okta_bridge::connect::hash("state-1"),
            browser_hash: okta_bridge::connect::binding_hash("binding-1", "session-1"),
            pkce_verifier: SecretString::from("verifier-1".to_owned()),
            account: Some(name("acme-web")),
            expires_at: far,
        })
        .await
        .unwrap();
    store
        .put_pending(&PendingAuthorization {
            state_hash: okta_bridge::connect::hash("state-2"),
            browser_hash: okta_bridge::connect::binding_hash("binding-2", "session-1"),
            pkce_verifier: SecretString::from("verifier-2".to_owned()),
            account: None,
            expires_at: far,
        })
        .await
        .unwrap();
    store.create_session(&okta_bridge::connect::hash("session-1"), far).await.unwrap();

    let mut expected_accounts = Vec::new();
    for a in store.accounts().await.unwrap() {
        use okta_bridge::accounts::AppCredentials;
        let (secret, key, key_id) = match &a.app {
            AppCredentials::Web { client_secret, .. } => (Some(client_secret.expose_secret().to_owned()), None, None),
            AppCredentials::Service { private_key, key_id, .. } => {
                (None, Some(private_key.expose_secret().to_owned()), key_id.clone())
            }
            _ => (None, None, None),
        };
        expected_accounts.push(json!({
            "name": a.name, "orgUrl": a.org_url.as_str(), "kind": a.app.kind(), "clientId": a.app.client_id(),
            "clientSecret": secret, "privateKey": key, "keyId": key_id, "issuer": a.issuer.as_ref().map(|i| i.as_str()),
            "scopes": a.scopes, "dpop": a.dpop, "createdAt": a.created_at, "updatedAt": a.updated_at,
        }));
    }
    let mut expected_conns = Vec::new();
    for c in store.connections().await.unwrap() {
        expected_conns.push(json!({
            "account": c.account, "orgUrl": c.org_url.as_str(), "scopes": c.scopes, "tokenType": c.token_type,
            "accessToken": c.access_token.expose_secret(), "refreshToken": c.refresh_token.as_ref().map(|r| r.expose_secret().to_owned()),
            "expiresAt": c.expires_at, "version": c.version, "createdAt": c.created_at, "updatedAt": c.updated_at,
            "status": c.status.as_str(),
            "statusReason": match &c.status { okta_bridge::store::ConnectionStatus::NeedsReauth(r) => Some(r.clone()), _ => None },
            "method": c.method.as_str(),
        }));
    }
    let audit: Vec<Value> = store
        .audit(&name("gone"))
        .await
        .unwrap()
        .into_iter()
        .map(|(event, detail, at)| json!({"event": event, "detail": detail, "at": at}))
        .collect();
    json!({
        "accounts": expected_accounts,
        "connections": expected_conns,
        "pending": [
            {"state": "state-1", "binding": "binding-1", "session": "session-1", "verifier": "verifier-1", "account": "acme-web", "expiresAt": far},
            {"state": "state-2", "binding": "binding-2", "session": "session-1", "verifier": "verifier-2", "account": null, "expiresAt": far},
        ],
        "sessions": [{"session": "session-1", "expiresAt": far}],
        "audit": {"gone": audit},
        // Sealed in the format before key ids (`1 | nonce | ciphertext`).
        "legacyCiphertexts": ["connections/dev-207260/access_token", "connections/dev-207260/refresh_token", "accounts/acme-web/client_secret"],
    })
}

const LEGACY_SQL: [&str; 3] = [
    "UPDATE connections SET access_token = {legacy(access_token)} WHERE account = 'dev-207260'",
    "UPDATE connections SET refresh_token = {legacy(refresh_token)} WHERE account = 'dev-207260'",
    "UPDATE accounts SET client_secret = {legacy(client_secret)} WHERE name = 'acme-web'",
];

/// `2 | key id (8) | nonce | ct` → `1 | nonce | ct`, in SQL of each database.
fn legacy_sql(sqlite: bool) -> Vec<String> {
    LEGACY_SQL
        .iter()
        .map(|s| {
            let (head, rest) = s.split_once("{legacy(").unwrap();
            let (col, tail) = rest.split_once(")}").unwrap();
            let expr = if sqlite {
                format!("CAST(X'01' || substr({col}, 10) AS BLOB)")
            } else {
                format!("'\\x01'::bytea || substring({col} from 10)")
            };
            format!("{head}{expr}{tail}")
        })
        .collect()
}

#[tokio::test]
#[ignore = "writes the upgrade fixtures; run by hand with OKTA_BRIDGE_MAKE_FIXTURES=1"]
async fn make_fixtures() {
    if std::env::var_os("OKTA_BRIDGE_MAKE_FIXTURES").is_none() {
        return;
    }
    let out = dir();
    std::fs::create_dir_all(&out).unwrap();
    let key = okta_bridge::crypto::MasterKey::generate().1;
    std::fs::write(out.join("master.key.b64"), &key).unwrap();
    let private_key = test_key();

    // SQLite: the file itself.
    let db = TestDb::sqlite();
    let store = okta_bridge::settings::open_store(Some(&db.url), Some(&key)).await.unwrap();
    let expected = fill(&store, &private_key).await;
    {
        use sqlx::Connection;
        store.close().await;
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        for sql in legacy_sql(true) {
            assert_eq!(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap().rows_affected(), 1);
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut c).await.unwrap();
        sqlx::query("VACUUM").execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    }
    std::fs::copy(db.files()[0].clone(), out.join("sqlite.db")).unwrap();
    std::fs::write(out.join("expected.json"), serde_json::to_string_pretty(&expected).unwrap()).unwrap();

    // PostgreSQL: a schema of its own, dumped by `pg_dump` (see the README).
    let pg = TestDb::postgres().await.expect("PostgreSQL");
    let store = okta_bridge::settings::open_store(Some(&pg.url), Some(&key)).await.unwrap();
    let pg_expected = fill(&store, &private_key).await;
    {
        use sqlx::Connection;
        store.close().await;
        let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        for sql in legacy_sql(false) {
            assert_eq!(sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap().rows_affected(), 1);
        }
        let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(&mut c).await.unwrap();
        std::fs::write(out.join("postgres.schema"), &schema).unwrap();
    }
    std::fs::write(out.join("expected-postgres.json"), serde_json::to_string_pretty(&pg_expected).unwrap()).unwrap();
    // Keep the schema for pg_dump: forget the TestDb without dropping it.
    std::mem::forget(pg);
}
