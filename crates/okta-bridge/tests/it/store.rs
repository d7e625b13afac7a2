//! The store's contract, run on SQLite and on PostgreSQL alike.

use okta_bridge::crypto::MasterKey;
use okta_bridge::crypto::hash;
use okta_bridge::model::AccountName;
use okta_bridge::model::{NewConnection, PendingAuthorization, TokenSet};
use okta_bridge::store::Store;
use okta_client::OrgUrl;
use secrecy::ExposeSecret;

use crate::flow::on_both_databases;
use crate::util::TestDb;

fn new_connection(account: &str, access: &str, refresh: Option<&str>) -> NewConnection {
    NewConnection {
        account: AccountName::parse(account).unwrap(),
        org_url: OrgUrl::parse("https://dev-207260.okta.com").unwrap(),
        scopes: okta_bridge::model::Scopes::parse_any("okta.users.read offline_access").unwrap(),
        token_type: "Bearer".into(),
        tokens: TokenSet {
            access_token: access.to_owned().into(),
            refresh_token: refresh.map(|r| r.to_owned().into()),
            expires_at: okta_bridge::model::Expiry::At(1_900_000_000),
        },
        method: okta_bridge::model::ConnectionMethod::AuthorizationCode,
    }
}

async fn connections_round_trip(db: TestDb) {
    let store = db.open().await;
    store
        .upsert_connection(&new_connection(
            "dev-207260",
            "access-one-0123456789abcdef",
            Some("refresh-one-0123456789abcdef"),
        ))
        .await
        .unwrap();
    store
        .upsert_connection(&new_connection("acme", "access-two-0123456789abcdef", None))
        .await
        .unwrap();
    let all = store.connections().await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.account.as_str()).collect::<Vec<_>>(),
        ["acme", "dev-207260"]
    );
    let c = store
        .connection(&AccountName::parse("dev-207260").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.access_token.expose_secret(), "access-one-0123456789abcdef");
    assert_eq!(
        c.refresh_token.as_ref().unwrap().expose_secret(),
        "refresh-one-0123456789abcdef"
    );
    assert_eq!(
        (c.org_url.as_str(), c.expires_at, c.version),
        (
            "https://dev-207260.okta.com",
            okta_bridge::model::Expiry::At(1_900_000_000),
            1
        )
    );

    // Connecting again under the same name replaces the tokens and bumps the version.
    store
        .upsert_connection(&new_connection(
            "dev-207260",
            "access-three-0123456789abcdef",
            Some("refresh-3"),
        ))
        .await
        .unwrap();
    let c2 = store.connection(&c.account).await.unwrap().unwrap();
    assert_eq!(
        (c2.access_token.expose_secret(), c2.version, c2.created_at),
        ("access-three-0123456789abcdef", 2, c.created_at)
    );

    // Compare-and-swap: a stale version writes nothing.
    let tokens = TokenSet {
        access_token: "access-four".to_owned().into(),
        refresh_token: Some("refresh-4".to_owned().into()),
        expires_at: okta_bridge::model::Expiry::At(1_900_000_100),
    };
    assert!(
        !store.update_tokens(&c.account, 1, &tokens).await.unwrap(),
        "stale version"
    );
    assert!(store.update_tokens(&c.account, 2, &tokens).await.unwrap());
    let c3 = store.connection(&c.account).await.unwrap().unwrap();
    assert_eq!(
        (
            c3.access_token.expose_secret(),
            c3.refresh_token.unwrap().expose_secret(),
            c3.version
        ),
        ("access-four", "refresh-4", 3)
    );

    assert!(
        store
            .remove_connection(&c.account, "removed", "by the test", true)
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_connection(&c.account, "removed", "again", true)
            .await
            .unwrap()
    );
    assert!(store.connection(&c.account).await.unwrap().is_none());
    let audit = store.audit(&c.account).await.unwrap();
    assert_eq!(audit.len(), 1, "one record, for the removal that happened: {audit:?}");
    assert_eq!(
        (audit[0].event.as_str(), audit[0].detail.as_deref()),
        ("removed", Some("by the test"))
    );
}
on_both_databases!(connections_round_trip_test, super::connections_round_trip);

async fn tokens_are_encrypted_in_the_rows(db: TestDb) {
    let store = db.open().await;
    store
        .upsert_connection(&new_connection(
            "acme",
            "plain-access-token-ABCDEFGHIJ",
            Some("plain-refresh-token-ABCDEFGHIJ"),
        ))
        .await
        .unwrap();
    // Read the raw columns with a plain connection, bypassing the store.
    let raw: Vec<Vec<u8>> = if db.is_sqlite() {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        let (a, r): (Vec<u8>, Vec<u8>) = sqlx::query_as("SELECT access_token, refresh_token FROM connections")
            .fetch_one(&mut c)
            .await
            .unwrap();
        vec![a, r]
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let (a, r): (Vec<u8>, Vec<u8>) = sqlx::query_as("SELECT access_token, refresh_token FROM connections")
            .fetch_one(&mut c)
            .await
            .unwrap();
        vec![a, r]
    };
    for bytes in raw {
        assert!(!String::from_utf8_lossy(&bytes).contains("plain-"), "ciphertext only");
        assert!(bytes.len() > 24 + 16, "nonce and tag present");
    }
}
on_both_databases!(tokens_are_encrypted, super::tokens_are_encrypted_in_the_rows);

async fn pending_authorizations_are_single_use(db: TestDb) {
    let store = db.open().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let pending = PendingAuthorization {
        state_hash: hash("state-1"),
        browser_hash: hash("browser-1"),
        pkce_verifier: "verifier-0123456789012345678901234567890123".to_owned().into(),
        account: Some(AccountName::parse("acme").unwrap()),
        expires_at: now + 600,
    };
    store.put_pending(&pending).await.unwrap();
    let taken = store.take_pending(&hash("state-1")).await.unwrap().expect("first take");
    assert_eq!(taken.browser_hash, hash("browser-1"));
    assert_eq!(
        taken.pkce_verifier.expose_secret(),
        "verifier-0123456789012345678901234567890123"
    );
    assert_eq!(taken.account.unwrap().as_str(), "acme");
    assert!(
        store.take_pending(&hash("state-1")).await.unwrap().is_none(),
        "second take finds nothing"
    );
    assert!(store.take_pending(&hash("never")).await.unwrap().is_none());
}
on_both_databases!(pending_single_use, super::pending_authorizations_are_single_use);

async fn sessions_expire(db: TestDb) {
    let store = db.open().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    store
        .create_session(&hash("live"), "bound-to-t1", now + 60)
        .await
        .unwrap();
    store
        .create_session(&hash("dead"), "bound-to-t1", now - 1)
        .await
        .unwrap();
    assert!(store.session_valid(&hash("live"), "bound-to-t1").await.unwrap());
    assert!(
        !store.session_valid(&hash("live"), "bound-to-t2").await.unwrap(),
        "another admin token's binding"
    );
    assert!(!store.session_valid(&hash("dead"), "bound-to-t1").await.unwrap());
    assert!(!store.session_valid(&hash("unknown"), "bound-to-t1").await.unwrap());
    store.delete_session(&hash("live")).await.unwrap();
    assert!(!store.session_valid(&hash("live"), "bound-to-t1").await.unwrap());
}
on_both_databases!(sessions, super::sessions_expire);

async fn a_different_master_key_is_refused(db: TestDb) {
    let store = db.open().await;
    store
        .upsert_connection(&new_connection("acme", "access-token-0123456789", None))
        .await
        .unwrap();
    store.close().await;
    let (other, _) = MasterKey::generate();
    let err = Store::open(&db.url, other).await.expect_err("wrong key").to_string();
    assert!(
        err.contains("sealed with master key id") && err.contains("OKTA_BRIDGE_MASTER_KEY"),
        "{err}"
    );
    // The right key still opens it and nothing was lost.
    let store = db.open().await;
    assert_eq!(store.connections().await.unwrap().len(), 1);
}
on_both_databases!(wrong_master_key, super::a_different_master_key_is_refused);

#[tokio::test]
async fn unsupported_database_urls_are_explained() {
    let (key, _) = MasterKey::generate();
    let err = Store::open("mysql://localhost/db", key)
        .await
        .expect_err("unsupported")
        .to_string();
    assert!(err.contains("sqlite://") && err.contains("postgres://"), "{err}");
}
