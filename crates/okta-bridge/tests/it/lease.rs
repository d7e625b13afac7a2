//! The refresh lease (issue 11, finding 9): a live holder keeps it however slow the token
//! endpoint is (its heartbeat), a dead holder's refresh is completed at once by another
//! instance (with the old refresh token, inside Okta's leeway), and every write is
//! conditional on the version its writer read.

use std::time::Duration;

use okta_bridge::model::{AccountName, ConnectionStatus};
use okta_bridge::store::Store;
use secrecy::ExposeSecret;

use crate::flow::on_both_databases;
use crate::util::{AppOptions, Browser, TestApp, TestDb, connect, expire, set_faults, spawn_app};

fn account_of(app: &TestApp) -> AccountName {
    AccountName::parse(&format!("127-0-0-1-{}", app.sandbox.addr().port())).unwrap()
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A connected app whose sandbox rotates refresh tokens with `leeway`, stopped (no recovery
/// task of its own running), with a store of the test's own.
pub(crate) async fn connected_then_stopped(db: &TestDb, leeway: Duration) -> (TestApp, AccountName, Store) {
    let mut app = spawn_app(db, AppOptions::rotating(leeway)).await;
    connect(&app, &mut Browser::new()).await;
    let account = account_of(&app);
    app.stop().await;
    (app, account, db.open().await)
}

/// A token endpoint slower than the lease (7 s against 5 s) and two instances asking at once:
/// the holder's heartbeat keeps its lease, so the other waits and Okta sees one refresh.
async fn a_slow_token_endpoint_is_refreshed_once(db: TestDb) {
    let (app, account, store) = connected_then_stopped(&db, Duration::from_secs(30)).await;
    assert!(Duration::from_secs(7) > okta_bridge::tokens::LEASE);
    let client_id = app.sandbox.config().client_id.clone();
    let grants = app.sandbox.state().token_grants(&client_id);
    expire(&store, &account).await;
    set_faults(
        &app,
        serde_json::json!([{ "route": "/oauth2/v1/token", "latencyMs": 7_000 }]),
    )
    .await;
    let tokens = crate::util::two_instances_ask(&app, &db, &store, &account, 10).await;
    assert_eq!(
        app.sandbox.state().token_grants(&client_id),
        grants + 1,
        "one refresh, however long it took"
    );
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "everyone got the new token");
}
on_both_databases!(
    a_token_endpoint_slower_than_the_lease_is_refreshed_once,
    super::a_slow_token_endpoint_is_refreshed_once
);

/// A holder that died after Okta rotated the refresh token: its lease runs out while still
/// held, and the next instance to look completes the refresh with the old refresh token
/// (inside the leeway); two instances looking at once complete it once.
async fn an_abandoned_refresh_is_completed_once(db: TestDb) {
    let (app, account, store) = connected_then_stopped(&db, Duration::from_secs(30)).await;
    let client_id = app.sandbox.config().client_id.clone();
    let oauth = crate::util::oauth_app(&app);
    let before = store.connection(&account).await.unwrap().unwrap();
    // The dead holder: it took the lease and Okta rotated the refresh token for it, then it
    // died before writing anything.
    assert!(
        store
            .take_refresh_lease(&account, "dead-instance", unix_now() - 1)
            .await
            .unwrap()
    );
    let lost = oauth
        .refresh(&account, before.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    assert_ne!(
        lost.refresh_token.as_ref().unwrap().expose_secret(),
        before.refresh_token.as_ref().unwrap().expose_secret(),
        "Okta rotated the refresh token"
    );
    let grants = app.sandbox.state().token_grants(&client_id);

    let other_store = db.open().await;
    let a = crate::util::refresher(&store, Some(oauth.clone()), Duration::from_secs(60));
    let b = crate::util::refresher(&other_store, Some(oauth), Duration::from_secs(60));
    let (ra, rb) = tokio::join!(a.recover_abandoned(), b.recover_abandoned());
    assert_eq!(ra.unwrap() + rb.unwrap(), 1, "one instance completes it");
    assert_eq!(app.sandbox.state().token_grants(&client_id), grants + 1);
    let after = store.connection(&account).await.unwrap().unwrap();
    assert_eq!(after.status, ConnectionStatus::Connected);
    assert!(after.version > before.version);
    assert_ne!(
        after.refresh_token.as_ref().unwrap().expose_secret(),
        before.refresh_token.as_ref().unwrap().expose_secret()
    );
    let recovered: u64 = a
        .outcomes()
        .into_iter()
        .chain(b.outcomes())
        .filter(|(_, o, _)| *o == "recovered")
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(recovered, 1);
    // Nothing is left to recover, and the connection refreshes on.
    assert_eq!(a.recover_abandoned().await.unwrap(), 0);
    a.refresh_now(&account).await.unwrap();
}
on_both_databases!(
    an_abandoned_refresh_is_completed_at_once_and_once,
    super::an_abandoned_refresh_is_completed_once
);

/// A live holder's lease is not abandoned: recovery leaves it alone.
async fn a_live_lease_is_not_taken_over(db: TestDb) {
    let (app, account, store) = connected_then_stopped(&db, Duration::from_secs(30)).await;
    let client_id = app.sandbox.config().client_id.clone();
    let grants = app.sandbox.state().token_grants(&client_id);
    assert!(
        store
            .take_refresh_lease(&account, "live-instance", unix_now() + 60)
            .await
            .unwrap()
    );
    let r = crate::util::refresher(&store, Some(crate::util::oauth_app(&app)), Duration::from_secs(60));
    assert_eq!(r.recover_abandoned().await.unwrap(), 0);
    assert_eq!(app.sandbox.state().token_grants(&client_id), grants);
    // Its holder renews it; a stranger cannot.
    assert!(
        store
            .renew_refresh_lease(&account, "live-instance", unix_now() + 60)
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_refresh_lease(&account, "stranger", unix_now() + 60)
            .await
            .unwrap()
    );
}
on_both_databases!(
    a_live_lease_is_left_to_its_holder,
    super::a_live_lease_is_not_taken_over
);

/// A late refusal of old tokens (an `invalid_grant` for the refresh token another instance
/// already replaced) cannot mark the connection: the mark is conditional on the version its
/// writer read.
async fn a_late_refusal_cannot_spoil_new_tokens(db: TestDb) {
    let (app, account, store) = connected_then_stopped(&db, Duration::from_secs(30)).await;
    let read = store.connection(&account).await.unwrap().unwrap();
    let r = crate::util::refresher(&store, Some(crate::util::oauth_app(&app)), Duration::from_secs(60));
    r.refresh_now(&account).await.unwrap();
    let late = ConnectionStatus::NeedsReauth("invalid_grant: the refresh token is invalid".into());
    assert!(!store.mark_connection(&account, read.version, &late).await.unwrap());
    let now = store.connection(&account).await.unwrap().unwrap();
    assert_eq!(now.status, ConnectionStatus::Connected);
    // At the current version the mark is written.
    assert!(store.mark_connection(&account, now.version, &late).await.unwrap());
    assert_eq!(store.connection(&account).await.unwrap().unwrap().status, late);
}
on_both_databases!(
    a_late_refusal_of_old_tokens_marks_nothing,
    super::a_late_refusal_cannot_spoil_new_tokens
);
