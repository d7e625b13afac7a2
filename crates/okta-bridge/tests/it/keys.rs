//! Key ids on every ciphertext, online rotation, and a server that refuses to start on a key it
//! does not have.

use crate::util::open_store_with;
use okta_bridge::crypto::MasterKey;
use okta_bridge::model::AccountName;
use okta_bridge::model::{NewConnection, TokenSet};
use secrecy::ExposeSecret;

use crate::flow::on_both_databases;
use crate::util::TestDb;

async fn rotation(db: TestDb) {
    let (_, old) = MasterKey::generate();
    let (_, new) = MasterKey::generate();
    let store = open_store_with(Some(&db.url), Some(&old), None).await.unwrap();
    let account = AccountName::parse("acme").unwrap();
    store
        .upsert_connection(&NewConnection {
            account: account.clone(),
            org_url: okta_client::OrgUrl::parse("https://acme.okta.com").unwrap(),
            scopes: okta_bridge::model::Scopes::parse_any("okta.users.read offline_access").unwrap(),
            token_type: "Bearer".into(),
            tokens: TokenSet {
                access_token: okta_bridge::model::AccessToken::from("access-1".to_owned()),
                refresh_token: Some(okta_bridge::model::RefreshToken::from("refresh-1".to_owned())),
                expires_at: okta_bridge::model::Expiry::At(0),
            },
            method: okta_bridge::model::ConnectionMethod::AuthorizationCode,
        })
        .await
        .unwrap();
    // Accounts' app secrets are sealed and rotated like tokens.
    let web = okta_bridge::model::NewAccount {
        name: "acme-web".into(),
        org_url: "https://acme.okta.com".into(),
        client_id: Some("0oaWeb".into()),
        client_secret: Some(okta_bridge::model::ClientSecret::from("web-secret-1".to_owned())),
        ..Default::default()
    }
    .validate(&okta_bridge::egress::Egress::public_only(), 0)
    .unwrap();
    assert!(store.put_account(&web, false).await.unwrap());
    // Webhook secrets too: the current one and, during a rotation, the previous one.
    let filter = okta_bridge::model::WebhookFilter::default();
    let first = okta_bridge::model::WebhookSecret::new("whsec_first");
    store
        .insert_webhook("wh_keys", "https://hooks.example.com/okta", &filter, &first)
        .await
        .unwrap();
    let second = okta_bridge::model::WebhookSecret::new("whsec_second");
    store
        .rotate_webhook_secret("wh_keys", &second, okta_bridge::model::now() + 3600)
        .await
        .unwrap();
    // And the secret the org sends to the connection's event hook.
    store
        .hook_secret(&account, || okta_bridge::model::HookSecret::new("hook-secret-1"))
        .await
        .unwrap();
    store.close().await;

    // A server with only the new key refuses to start, and says what to do.
    let err = open_store_with(Some(&db.url), Some(&new), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OKTA_BRIDGE_OLD_MASTER_KEYS") && err.contains("key id"),
        "{err}"
    );
    assert!(!err.contains(&old) && !err.contains(&new), "no key in the message");

    // With the old key as an old key: it starts, reads, and `keys rotate` re-seals everything.
    let both = open_store_with(Some(&db.url), Some(&new), Some(&old)).await.unwrap();
    let c = both.connection(&account).await.unwrap().unwrap();
    assert_eq!(c.access_token.expose_secret(), "access-1");
    let n = both.rotate_keys().await.unwrap();
    assert_eq!(
        n, 7,
        "access token, refresh token, the account's client secret, two webhook secrets, the hook secret, key check"
    );
    assert_eq!(both.rotate_keys().await.unwrap(), 0, "nothing left under the old key");
    both.close().await;

    // Now the new key alone is enough, and the old one alone is refused.
    let only_new = open_store_with(Some(&db.url), Some(&new), None).await.unwrap();
    let c = only_new.connection(&account).await.unwrap().unwrap();
    assert_eq!(c.refresh_token.unwrap().expose_secret(), "refresh-1");
    let web = only_new.account(&web.name).await.unwrap().unwrap();
    let okta_bridge::model::AppCredentials::Web { client_secret, .. } = web.app else {
        panic!("{web:?}")
    };
    assert_eq!(client_secret.expose_secret(), "web-secret-1");
    let signing: Vec<String> = only_new
        .webhook_secrets("wh_keys")
        .await
        .unwrap()
        .iter()
        .map(|s| s.expose_secret().to_owned())
        .collect();
    assert_eq!(signing, ["whsec_second", "whsec_first"]);
    let hook = only_new.stored_hook_secret(&account).await.unwrap().unwrap();
    assert_eq!(hook.expose_secret(), "hook-secret-1");
    only_new.close().await;
    assert!(open_store_with(Some(&db.url), Some(&old), None).await.is_err());
}
on_both_databases!(keys_rotate_online_and_unknown_keys_refuse_to_start, super::rotation);

#[tokio::test]
async fn the_cli_rotates_and_serve_refuses_an_unknown_key() {
    let db = TestDb::sqlite();
    let (_, old) = MasterKey::generate();
    let (_, new) = MasterKey::generate();
    let store = open_store_with(Some(&db.url), Some(&old), None).await.unwrap();
    store.close().await;
    let run = |args: &[&str], master: &str, olds: Option<&str>| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"));
        c.args(args)
            .env_clear()
            .env("OKTA_BRIDGE_SYNC_INTERVAL", "0")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OKTA_BRIDGE_DATABASE_URL", &db.url)
            .env("OKTA_BRIDGE_MASTER_KEY", master)
            .env("OKTA_CLIENT_ORGURL", "https://acme.okta.com")
            .env("OKTA_CLIENT_CLIENTID", "0oa1")
            .env("OKTA_CLIENT_CLIENTSECRET", "secret")
            .env("OKTA_BRIDGE_LISTEN", "127.0.0.1:0")
            .kill_on_drop(true);
        if let Some(o) = olds {
            c.env("OKTA_BRIDGE_OLD_MASTER_KEYS", o);
        }
        c
    };
    let out = run(&["serve"], &new, None).output().await.unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("OKTA_BRIDGE_OLD_MASTER_KEYS"), "{err}");
    let out = run(&["keys", "rotate"], &new, Some(&old)).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Re-encrypted 1 stored secret"));
    let reopened = open_store_with(Some(&db.url), Some(&new), None).await;
    assert!(reopened.is_ok(), "the new key alone opens it after rotation");
}
