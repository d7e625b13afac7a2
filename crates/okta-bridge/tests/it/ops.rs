//! Operating the server: readiness, Prometheus metrics, request ids, JSON logs.

use crate::util::{AppOptions, Browser, TEST_KEY_B64, TestDb, api_get, connect, spawn_app};

#[tokio::test]
async fn readiness_metrics_and_request_ids() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let http = reqwest::Client::new();
    let ready = http.get(format!("{}/readyz", app.url)).send().await.unwrap();
    assert_eq!(
        (ready.status().as_u16(), ready.text().await.unwrap()),
        (200, "ready".to_owned())
    );
    assert_eq!(
        http.get(format!("{}/metrics", app.url)).send().await.unwrap().status(),
        401,
        "metrics need the admin token"
    );

    connect(&app, &mut Browser::new()).await;
    let account = format!("127-0-0-1-{}", app.sandbox.addr().port());
    let res = http
        .get(format!("{}/api/connections/{account}/users?limit=2", app.url))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["x-request-id"],
        "trace-me-42",
        "the caller's id comes back"
    );
    let res = api_get(&app, "/api/connections").await;
    assert_eq!(
        res.headers()["x-request-id"].to_str().unwrap().len(),
        16,
        "or a new one"
    );

    let metrics = api_get(&app, "/metrics").await;
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.text().await.unwrap();
    for expected in [
        "okta_bridge_connections{status=\"connected\"} 1".to_owned(),
        "okta_bridge_connections{status=\"needs_reauth\"} 0".to_owned(),
        "okta_bridge_http_requests_total{route=\"/api/connections/{account}/users\",status=\"200\"} 1".to_owned(),
        "okta_bridge_http_request_duration_seconds_count{route=\"/api/connections/{account}/users\"} 1".to_owned(),
        format!(
            "okta_bridge_rate_limit_limit{{account=\"{account}\",org=\"{}\",bucket=\"/api/v1/users\"}} 600",
            app.sandbox.url()
        ),
        format!(
            "okta_bridge_rate_limit_remaining{{account=\"{account}\",org=\"{}\",bucket=\"/api/v1/users\"}} 599",
            app.sandbox.url()
        ),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains(&app.admin_token));
}

#[tokio::test]
async fn json_logs_one_line_per_request_without_secrets() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let admin = "json-logs-admin-token-0123456789";
    let (mut child, url) = crate::util::spawn_server_process_with(
        &[
            ("OKTA_BRIDGE_DATABASE_URL", db.url.as_str()),
            ("OKTA_BRIDGE_MASTER_KEY", TEST_KEY_B64.as_str()),
            ("OKTA_BRIDGE_ADMIN_TOKEN", admin),
            ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0"),
            ("OKTA_BRIDGE_LOG", "okta_bridge=trace"),
            ("OKTA_BRIDGE_LOG_FORMAT", "json"),
            ("OKTA_CLIENT_ORGURL", app.sandbox.url()),
            ("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true"),
            ("OKTA_CLIENT_CLIENTID", &app.sandbox.config().client_id),
            ("OKTA_CLIENT_CLIENTSECRET", app.sandbox.config().client_secret_value()),
        ],
        std::process::Stdio::piped(),
    )
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/api/connections",
        "/readyz",
        "/authenticate_okta?account=x&code=secret-code",
    ] {
        http.get(format!("{url}{path}"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap();
    }
    child.kill().await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&serde_json::Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 3, "{logs}");
    assert!(
        requests
            .iter()
            .all(|r| r["request_id"].is_string() && r["status"].is_number())
    );
    assert_eq!(requests[0]["route"], "/api/connections");
    for secret in [admin, app.sandbox.config().client_secret_value(), "secret-code"] {
        assert!(!logs.contains(secret), "a secret in the logs: {logs}");
    }
}

/// Issue 11, finding 4: a request whose headers never finish (slowloris) is dropped after the
/// header-read timeout, and connections beyond the cap wait until one closes.
#[tokio::test]
async fn slow_headers_are_dropped_and_connections_are_capped() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let db = TestDb::sqlite();
    let server = |timeout: &'static str, cap: &'static str| {
        let url = db.url.clone();
        async move {
            crate::util::spawn_server_process(&[
                ("OKTA_BRIDGE_DATABASE_URL", url.as_str()),
                ("OKTA_BRIDGE_MASTER_KEY", TEST_KEY_B64.as_str()),
                ("OKTA_BRIDGE_ADMIN_TOKEN", "slowloris-admin-token-0123456789"),
                ("OKTA_BRIDGE_LISTEN", "127.0.0.1:0"),
                ("OKTA_BRIDGE_HEADER_READ_TIMEOUT", timeout),
                ("OKTA_BRIDGE_MAX_CONNECTIONS", cap),
            ])
            .await
        }
    };
    let half_sent = b"GET /healthz HTTP/1.1\r\nHost: x\r\n";

    // Headers that never finish: the server closes the connection after its 1-s timeout.
    let (_first, url) = server("1", "1024").await;
    let addr = url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(half_sent).await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the half-sent request is still held after 10 s");

    // With two places, two slow clients hold them: a third waits until one of them leaves.
    let (_second, url) = server("60", "2").await;
    let addr = url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(half_sent).await.unwrap();
        held.push(c);
    }
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut answer)).await;
    assert!(early.is_err(), "answered beyond the cap");
    drop(held.pop());
    let n = tokio::time::timeout(Duration::from_secs(10), third.read_exact(&mut answer))
        .await
        .expect("answered once a place was free")
        .unwrap();
    assert_eq!(&answer[..n], b"HTTP/1.1 200");
}

/// Issue 11: live calls on a spent rate-limit window answer 429 with `Retry-After` (the
/// window's reset) at once, instead of holding every caller until the window resets.
#[tokio::test]
async fn live_calls_on_a_spent_rate_limit_window_answer_429_with_retry_after() {
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users_rate_limit = 3;
                // Fixed windows of a year: no window ends during the test, whatever the clock.
                c.rate_limit_window = std::time::Duration::from_secs(365 * 86_400);
            }),
            ..AppOptions::default()
        },
    )
    .await;
    connect(&app, &mut Browser::new()).await;
    let account = format!("127-0-0-1-{}", app.sandbox.addr().port());
    let path = format!("/api/connections/{account}/users?limit=1");
    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..20).map(|_| api_get(&app, &path))).await;
    let waited = started.elapsed();
    let ok = answers.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 3, "the window's three requests are served");
    for res in answers.into_iter().filter(|r| r.status() != 200) {
        assert_eq!(res.status(), 429);
        let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(
            (11..=3_600).contains(&retry_after),
            "the window's reset, beyond the 10-s wait: {retry_after}"
        );
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "rate_limited", "{body}");
        assert!(body["message"].as_str().unwrap().contains("try again"), "{body}");
    }
    assert!(
        waited < std::time::Duration::from_secs(10),
        "nobody waited for the window ({waited:?})"
    );
}

/// Issue 11: with PostgreSQL gone, `/readyz` answers 503 within a second and other requests a
/// clear 503 within a few seconds (they used to hang past 10 s); when it is back, everything
/// works again by itself.
#[tokio::test]
async fn an_unreachable_database_gives_fast_503s_and_recovery_is_automatic() {
    let Some(db) = TestDb::postgres().await else { return };
    let (proxy, via_proxy) = crate::util::PostgresProxy::start(&db).await;
    let app = spawn_app(&via_proxy, AppOptions::default()).await;
    let http = reqwest::Client::new();
    let ready = || http.get(format!("{}/readyz", app.url)).send();
    let list = || {
        http.get(format!("{}/api/connections", app.url))
            .bearer_auth(&app.admin_token)
            .send()
    };
    assert_eq!(ready().await.unwrap().status(), 200);
    assert_eq!(list().await.unwrap().status(), 200);

    proxy.down();
    let started = std::time::Instant::now();
    let res = ready().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let res = list().await.unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "database_unavailable", "{body}");
    assert!(body["message"].as_str().unwrap().contains("try again"), "{body}");
    assert!(
        took <= okta_bridge::store::ACQUIRE_TIMEOUT + std::time::Duration::from_secs(2),
        "{took:?}"
    );

    proxy.up();
    // Back by itself: the first requests may still meet a connection cut while it was down.
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(100));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        poll.tick().await;
        if ready().await.unwrap().status() == 200 && list().await.unwrap().status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server did not recover");
    }
}
