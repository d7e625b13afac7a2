//! Refreshes in processes killed (SIGKILL) at random moments, under refresh-token rotation:
//! with Okta's default leeway no connection is lost; without leeway, every kill that lands
//! between Okta's token response and our commit loses the connection. See docs/reliability.md.

use std::time::Duration;

use okta_bridge::model::{AccountName, ConnectionStatus};
use rand::Rng;
use sqlx::Connection;

use crate::util::{AppOptions, Browser, TEST_KEY_B64, TestApp, TestDb, connect, spawn_app};

#[derive(Debug, Default)]
struct Outcome {
    completed: usize,
    killed_before_okta: usize,
    killed_in_window: usize,
    killed_after_commit: usize,
    lost: usize,
}

async fn connect_fresh(app: &TestApp) {
    connect(app, &mut Browser::signed_in(app).await).await;
}

/// `n` refreshes, each by `okta-bridge connections refresh` killed after a random 0-30 ms.
async fn killed_refreshes(leeway: Duration, n: usize) -> Outcome {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::rotating(leeway)).await;
    connect_fresh(&app).await;
    let account = AccountName::parse(&format!("127-0-0-1-{}", app.sandbox.addr().port())).unwrap();
    let client_id = app.sandbox.config().client_id.clone();
    let checker = crate::util::refresher(
        &app.store.clone(),
        Some(crate::util::oauth_app(&app)),
        Duration::from_secs(60),
    );
    let mut sql = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    let mut out = Outcome::default();
    for _ in 0..n {
        let version = app.store.connection(&account).await.unwrap().unwrap().version;
        let grants = app.sandbox.state().token_grants(&client_id);
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
            .args(["connections", "refresh", account.as_str()])
            .env_clear()
            .env("OKTA_BRIDGE_DATABASE_URL", &db.url)
            .env("OKTA_BRIDGE_MASTER_KEY", TEST_KEY_B64.as_str())
            .env("OKTA_CLIENT_CLIENTID", &client_id)
            .env("OKTA_CLIENT_CLIENTSECRET", app.sandbox.config().client_secret_value())
            .env("OKTA_BRIDGE_LOG", "off")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // The chaos: a kill at a random moment of the refresh (not a wait for anything).
        let at = Duration::from_micros(rand::rng().random_range(0..30_000));
        let finished = tokio::time::timeout(at, child.wait()).await;
        let completed = match finished {
            Ok(status) => status.unwrap().success(),
            Err(_) => {
                child.start_kill().unwrap();
                child.wait().await.unwrap();
                false
            }
        };
        // A dead holder's lease runs out within seconds and another instance then completes
        // its refresh (`a_serve_killed_after_okta_rotated_the_token_…` below shows that, in
        // production timing); this test measures the commit window, a thousand times, so its
        // harness lets the lease run out at once.
        sqlx::query("UPDATE connections SET refresh_lease_owner = NULL, refresh_lease_until = NULL")
            .execute(&mut sql)
            .await
            .unwrap();
        let after = app.store.connection(&account).await.unwrap().unwrap().version;
        let okta_answered = app.sandbox.state().token_grants(&client_id) > grants;
        match (completed, okta_answered, after > version) {
            (true, _, _) => out.completed += 1,
            (false, _, true) => out.killed_after_commit += 1,
            (false, true, false) => out.killed_in_window += 1,
            (false, false, false) => out.killed_before_okta += 1,
        }
        // Is the connection still usable? One more refresh says.
        if let Err(e) = checker.refresh_now(&account).await {
            assert!(matches!(e, okta_bridge::Error::Reconnect { .. }), "{e}");
            out.lost += 1;
            connect_fresh(&app).await;
        }
    }
    out
}

#[tokio::test]
async fn a_thousand_killed_refreshes_lose_nothing_with_okta_leeway() {
    let with = killed_refreshes(Duration::from_secs(30), 1_000).await;
    eprintln!("ROTATE, leeway 30 s: {with:?}");
    assert_eq!(with.lost, 0, "no connection may end up unusable: {with:?}");
    assert!(
        with.killed_in_window > 0,
        "some kills must land between Okta's answer and the commit for this to show anything: {with:?}"
    );

    let without = killed_refreshes(Duration::ZERO, 1_000).await;
    eprintln!("ROTATE, leeway 0: {without:?}");
    assert_eq!(
        without.lost, without.killed_in_window,
        "without leeway, exactly the kills between Okta's answer and the commit lose the connection: {without:?}"
    );
}

const ADMIN: &str = "failpoint-admin-token-0123456789";

/// `okta-bridge serve` on `db` with `app`'s sandbox as its org, with `failpoint` set.
async fn spawn_serve(app: &TestApp, db: &TestDb, failpoint: &str) -> (tokio::process::Child, String) {
    let config = app.sandbox.config();
    crate::util::spawn_server_process(&[
        ("OKTA_BRIDGE_DATABASE_URL", db.url.as_str()),
        ("OKTA_BRIDGE_MASTER_KEY", TEST_KEY_B64.as_str()),
        ("OKTA_BRIDGE_ADMIN_TOKEN", ADMIN),
        ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0"),
        ("OKTA_CLIENT_ORGURL", app.sandbox.url()),
        ("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true"),
        ("OKTA_CLIENT_CLIENTID", config.client_id.as_str()),
        ("OKTA_CLIENT_CLIENTSECRET", config.client_secret_value()),
        ("OKTA_BRIDGE_FAILPOINTS", failpoint),
        // No background refresher: its first tick could refresh the token the test expires
        // before the doomed instance does. The recovery of abandoned refreshes always runs.
        ("OKTA_BRIDGE_REFRESH_AHEAD", "0"),
    ])
    .await
}

/// `okta-bridge serve` killed (a failpoint) right after Okta answered its refresh grant, before
/// it wrote the new tokens, with refresh-token rotation and `leeway`: another `serve` on the same
/// database completes the refresh with the old refresh token, unprompted. Returns the time from
/// the kill to the recovered refresh.
async fn killed_after_token_answer(leeway: Duration) -> Duration {
    let db = TestDb::sqlite();
    let (app, account, store) = crate::lease::connected_then_stopped(&db, leeway).await;
    let client_id = app.sandbox.config().client_id.clone();
    let admin = ADMIN;
    let (mut doomed, doomed_url) = spawn_serve(&app, &db, "refresh.after_token_answer").await;
    let (mut survivor, survivor_url) = spawn_serve(&app, &db, "").await;

    crate::util::expire(&store, &account).await;
    let before = store.connection(&account).await.unwrap().unwrap();
    let grants = app.sandbox.state().token_grants(&client_id);
    let http = reqwest::Client::new();
    let users = |url: &str| {
        http.get(format!("{url}/api/connections/{account}/users?limit=1"))
            .bearer_auth(admin)
            .send()
    };
    // The doomed instance refreshes; Okta answers (and rotates); it dies before writing.
    if let Ok(res) = users(&doomed_url).await {
        panic!(
            "the doomed instance should have died mid-request; it answered {} {}",
            res.status(),
            res.text().await.unwrap_or_default()
        );
    }
    let status = doomed.wait().await.unwrap();
    let killed = std::time::Instant::now();
    assert_eq!(status.code(), Some(okta_bridge::failpoint::EXIT_STATUS), "{status}");
    assert_eq!(
        app.sandbox.state().token_grants(&client_id),
        grants + 1,
        "Okta answered before the kill"
    );
    assert_eq!(
        store.connection(&account).await.unwrap().unwrap().version,
        before.version,
        "nothing was written"
    );

    // Nobody asks the survivor anything: it finds the abandoned refresh by itself.
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    let deadline = leeway + Duration::from_secs(10);
    let recovered = loop {
        poll.tick().await;
        let c = store.connection(&account).await.unwrap().unwrap();
        if c.version > before.version {
            break c;
        }
        assert!(
            killed.elapsed() < deadline,
            "no instance completed the abandoned refresh within {deadline:?}"
        );
    };
    let took = killed.elapsed();
    assert_eq!(recovered.status, ConnectionStatus::Connected, "{:?}", recovered.status);
    assert_eq!(
        app.sandbox.state().token_grants(&client_id),
        grants + 2,
        "one more grant: the recovery"
    );
    assert!(
        took < leeway,
        "recovered {took:?} after the kill: outside the {leeway:?} leeway"
    );
    let res = users(&survivor_url).await.unwrap();
    assert_eq!(res.status(), 200, "the connection works on");
    survivor.kill().await.unwrap();
    took
}

#[tokio::test]
async fn a_serve_killed_after_okta_rotated_the_token_is_recovered_within_the_leeway() {
    for leeway in [Duration::from_secs(30), Duration::from_secs(10)] {
        let took = killed_after_token_answer(leeway).await;
        eprintln!("leeway {leeway:?}: the abandoned refresh was completed {took:?} after the kill");
    }
}

/// A refresh abandoned while no instance ran (its holder died after Okta rotated the token):
/// the next `serve` to start completes it first thing, before anyone asks it anything.
#[tokio::test]
async fn a_serve_starting_up_completes_an_abandoned_refresh_first() {
    let db = TestDb::sqlite();
    let (app, account, store) = crate::lease::connected_then_stopped(&db, Duration::from_secs(30)).await;
    let client_id = app.sandbox.config().client_id.clone();
    let before = store.connection(&account).await.unwrap().unwrap();
    let dead_since = time::OffsetDateTime::now_utc().unix_timestamp() - 1;
    assert!(
        store
            .take_refresh_lease(&account, "dead-instance", dead_since)
            .await
            .unwrap()
    );
    crate::util::oauth_app(&app)
        .refresh(&account, before.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    let grants = app.sandbox.state().token_grants(&client_id);

    let (mut server, _) = spawn_serve(&app, &db, "").await;
    let started = std::time::Instant::now();
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    let recovered = loop {
        poll.tick().await;
        let c = store.connection(&account).await.unwrap().unwrap();
        if c.version > before.version {
            break c;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "not recovered at start-up");
    };
    assert_eq!(recovered.status, ConnectionStatus::Connected);
    assert_eq!(app.sandbox.state().token_grants(&client_id), grants + 1);
    assert_ne!(
        secrecy::ExposeSecret::expose_secret(recovered.refresh_token.as_ref().unwrap()),
        secrecy::ExposeSecret::expose_secret(before.refresh_token.as_ref().unwrap())
    );
    server.kill().await.unwrap();
}
