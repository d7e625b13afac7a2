//! Nothing stored is lost on upgrade: databases written before the layered redesign
//! (`tests/fixtures/upgrade/`, see its README) open with today's code, every later migration
//! applied, and every account, connection, status and secret is as it was. A value this
//! version does not know is reported with its table, row and column, and everything else is
//! still served.

use std::path::PathBuf;

use okta_bridge::app::{App, OrgSource};
use okta_bridge::crypto::hash;
use okta_bridge::model::{AccountName, AppCredentials, Expiry};
use okta_bridge::oauth::binding_hash;
use okta_bridge::settings::StoreSettings;
use okta_bridge::store::Store;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::flow::on_both_databases;
use crate::util::TestDb;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap()).unwrap()
}

/// The fixture's database in `db`, and the settings that open it with the fixture's key.
async fn load(db: &TestDb) -> StoreSettings {
    if let Some(path) = db.sqlite_path() {
        std::fs::copy(fixtures().join("sqlite.db"), path).unwrap();
    } else {
        use sqlx::Connection;
        let schema = db.schema().unwrap();
        let sql = std::fs::read_to_string(fixtures().join("postgres.sql"))
            .unwrap()
            .replace("__SCHEMA__", schema);
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await.unwrap();
    }
    let key = std::fs::read_to_string(fixtures().join("master.key.b64")).unwrap();
    StoreSettings::new(&db.url, Some(SecretString::from(key.trim().to_owned())))
}

fn opt(v: &Value) -> Option<&str> {
    v.as_str()
}

async fn check_everything(store: &Store, expected: &Value) {
    let accounts = store.accounts().await.unwrap();
    assert_eq!(accounts.len(), expected["accounts"].as_array().unwrap().len());
    for (a, e) in accounts.iter().zip(expected["accounts"].as_array().unwrap()) {
        assert_eq!(a.name.as_str(), e["name"], "{e}");
        assert_eq!(a.org_url.as_str(), e["orgUrl"]);
        assert_eq!(a.app.kind().as_str(), e["kind"]);
        assert_eq!(a.app.client_id(), opt(&e["clientId"]));
        assert_eq!(a.app.key_id(), opt(&e["keyId"]));
        match &a.app {
            AppCredentials::Web { client_secret, .. } => {
                assert_eq!(Some(client_secret.expose_secret()), opt(&e["clientSecret"]));
            }
            AppCredentials::Service {
                auth: okta_bridge::model::ServiceAuth::PrivateKey { private_key, .. },
                ..
            } => {
                assert_eq!(Some(private_key.expose_secret()), opt(&e["privateKey"]));
            }
            AppCredentials::Service {
                auth: okta_bridge::model::ServiceAuth::ClientSecret(secret),
                ..
            } => {
                assert_eq!(Some(secret.expose_secret()), opt(&e["clientSecret"]));
            }
            _ => assert!(e["clientSecret"].is_null() && e["privateKey"].is_null()),
        }
        assert_eq!(a.issuer.as_ref().map(|i| i.as_str()), opt(&e["issuer"]));
        assert_eq!(a.scopes.to_string(), e["scopes"]);
        assert_eq!(a.dpop, e["dpop"]);
        assert_eq!(
            (a.created_at, a.updated_at),
            (e["createdAt"].as_i64().unwrap(), e["updatedAt"].as_i64().unwrap())
        );
    }
    let conns = store.connections().await.unwrap();
    assert_eq!(conns.len(), expected["connections"].as_array().unwrap().len());
    for (c, e) in conns.iter().zip(expected["connections"].as_array().unwrap()) {
        assert_eq!(c.account.as_str(), e["account"], "{e}");
        assert_eq!(c.org_url.as_str(), e["orgUrl"]);
        assert_eq!(c.scopes.to_string(), e["scopes"]);
        assert_eq!(c.token_type, e["tokenType"]);
        assert_eq!(c.access_token.expose_secret(), e["accessToken"]);
        assert_eq!(
            c.refresh_token.as_ref().map(|r| r.expose_secret()),
            opt(&e["refreshToken"])
        );
        let expires = match e["expiresAt"].as_i64().unwrap() {
            253_402_300_799 => Expiry::Never,
            t => Expiry::At(t),
        };
        assert_eq!(c.expires_at, expires);
        assert_eq!(
            (c.version, c.created_at, c.updated_at),
            (1, e["createdAt"].as_i64().unwrap(), e["updatedAt"].as_i64().unwrap())
        );
        assert_eq!(c.status.as_str(), e["status"]);
        assert_eq!(c.status.reason(), opt(&e["statusReason"]));
        assert_eq!(c.method.as_str(), e["method"]);
    }
    // Sessions from before sessions were bound to the admin token are kept but no longer sign
    // anyone in (issue 11: a session must not outlive the token it was taken with).
    for s in expected["sessions"].as_array().unwrap() {
        let session = s["session"].as_str().unwrap();
        assert!(store.session_exists(&hash(session)).await.unwrap());
        let any_token = okta_bridge::crypto::session_binding(session, "any-admin-token-at-all");
        assert!(!store.session_valid(&hash(session), &any_token).await.unwrap());
    }
    let gone = AccountName::parse("gone").unwrap();
    let audit: Vec<(String, Option<String>)> = store
        .audit(&gone)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.event, r.detail))
        .collect();
    let want: Vec<(String, Option<String>)> = expected["audit"]["gone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_owned(),
                r["detail"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(audit, want);
}

async fn upgrade(db: TestDb) {
    let settings = load(&db).await;
    let expected = expected();
    let store = settings.open().await.expect("the old database opens, migrated");
    check_everything(&store, &expected).await;
    for p in expected["pending"].as_array().unwrap() {
        let taken = store
            .take_pending(&hash(p["state"].as_str().unwrap()))
            .await
            .unwrap()
            .expect("the pending authorization is there");
        assert_eq!(taken.pkce_verifier.expose_secret(), p["verifier"]);
        assert_eq!(taken.account.as_ref().map(AccountName::as_str), opt(&p["account"]));
        assert_eq!(taken.expires_at, p["expiresAt"].as_i64().unwrap());
        assert_eq!(
            taken.browser_hash,
            binding_hash(p["binding"].as_str().unwrap(), p["session"].as_str().unwrap())
        );
    }
    // The values sealed before key ids re-seal under the current key, and still read the same.
    assert_eq!(
        store.rotate_keys().await.unwrap(),
        expected["legacyCiphertexts"].as_array().unwrap().len()
    );
    store.close().await;
    let store = settings.open().await.unwrap();
    check_everything(&store, &expected).await;
    store.close().await;
}
on_both_databases!(an_old_database_opens_with_everything_as_it_was, super::upgrade);

async fn unknown_values(db: TestDb) {
    let settings = load(&db).await;
    // As a newer version might write: a method and a kind this one does not know.
    {
        let store = settings.open().await.unwrap();
        store.close().await;
        let sql = [
            "UPDATE connections SET method = 'carrier_pigeon' WHERE account = 'acme-token'",
            "UPDATE accounts SET kind = 'quantum' WHERE name = 'idle'",
        ];
        if db.is_sqlite() {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            for s in sql {
                sqlx::query(s).execute(&mut c).await.unwrap();
            }
        } else {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for s in sql {
                sqlx::query(s).execute(&mut c).await.unwrap();
            }
        }
    }
    let store = settings.open().await.unwrap();
    let token = AccountName::parse("acme-token").unwrap();
    let err = store.connection(&token).await.unwrap_err();
    match &err {
        okta_bridge::Error::Unreadable {
            table,
            row,
            column,
            value,
        } => assert_eq!(
            (*table, row.as_str(), *column, value.as_str()),
            ("connections", "acme-token", "method", "carrier_pigeon")
        ),
        other => panic!("{other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("connections.method") && message.contains("acme-token"),
        "{message}"
    );
    let bad = store.unreadable_accounts().await.unwrap();
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].to_string().contains("accounts.kind of row \"idle\""),
        "{}",
        bad[0]
    );

    // A server on it starts and serves every other account and connection.
    let expected = expected();
    let admin = "an-admin-token-for-the-upgrade-test";
    let app = App::build(
        &crate::util::server_settings(settings.clone(), admin),
        OrgSource::Configured,
        Some(store),
    )
    .await
    .expect("the server starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(listener, async {
        let _ = rx.await;
    }));
    let get = |path: &str| {
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .bearer_auth(admin)
            .send()
    };
    let conns: Vec<Value> = get("/api/connections").await.unwrap().json().await.unwrap();
    let names: Vec<&str> = conns.iter().map(|c| c["account"].as_str().unwrap()).collect();
    let want: Vec<&str> = expected["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["account"].as_str().unwrap())
        .filter(|a| *a != "acme-token")
        .collect();
    assert_eq!(names, want);
    let accounts: Vec<Value> = get("/api/accounts").await.unwrap().json().await.unwrap();
    assert_eq!(accounts.len(), expected["accounts"].as_array().unwrap().len() - 1);
    let res = get("/api/accounts/acme-web").await.unwrap();
    assert_eq!(res.status(), 200);
    let res = get("/api/connections/acme-token/users").await.unwrap();
    assert_eq!(res.status(), 500, "that connection alone is refused");
    let _ = tx.send(());
}
on_both_databases!(an_unknown_value_is_named_and_the_rest_is_served, super::unknown_values);

/// A database holding values sealed before key ids rotates to a new master key: the old key,
/// given as an old key, opens them, and afterwards the new key alone reads everything.
async fn legacy_values_rotate(db: TestDb) {
    let settings = load(&db).await;
    let expected = expected();
    let (_, new) = okta_bridge::crypto::MasterKey::generate();
    let mut rotating = settings.clone();
    rotating.old_master_keys = settings.master_key.clone();
    rotating.master_key = Some(SecretString::from(new.clone()));
    let store = rotating.open().await.expect("opens with the old key as an old key");
    assert!(store.rotate_keys().await.unwrap() > 0);
    store.close().await;
    let mut only_new = settings.clone();
    only_new.master_key = Some(SecretString::from(new));
    let store = only_new.open().await.expect("the new key alone opens it");
    check_everything(&store, &expected).await;
    store.close().await;
}
on_both_databases!(legacy_values_rotate_to_a_new_key, super::legacy_values_rotate);
