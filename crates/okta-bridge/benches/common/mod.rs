//! What the benches share.

/// A PostgreSQL URL for a bench, in a fresh schema `{prefix}_{pid}`: from
/// `OKTA_BRIDGE_TEST_POSTGRES` (default `postgres://root@127.0.0.1:5432/test`); `None` when it
/// is not reachable.
#[allow(dead_code)]
pub async fn postgres_url(prefix: &str) -> Option<String> {
    use sqlx::Connection;
    let base =
        std::env::var("OKTA_BRIDGE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned());
    let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
    let schema = format!("{prefix}_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    )))
    .execute(&mut conn)
    .await
    .ok()?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

/// The admin token of the servers the benches start.
pub const ADMIN: &str = "bench-admin-token-0123456789";
/// The master key of the benches' databases (32 bytes of 7, base64).
pub const MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// The lines a child prints until one starting with `prefix`: the rest of that line (the
/// child's later output is read and dropped, so it never blocks on a full pipe).
#[allow(dead_code)]
pub async fn wait_for_line(child: &mut tokio::process::Child, prefix: &str) -> String {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let found = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the process exited before printing {prefix:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            break rest.to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    found
}

/// `okta-bridge serve` on database `db` (orgs on loopback allowed, no scheduled syncs); the
/// process and its URL.
#[allow(dead_code)]
pub async fn start_server(db: &str) -> (tokio::process::Child, String) {
    start_server_with(db, &[]).await
}

/// [`start_server`] with more environment (`env`, after the defaults: it may override them).
#[allow(dead_code)]
pub async fn start_server_with(db: &str, env: &[(&str, &str)]) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("OKTA_BRIDGE_DATABASE_URL", db)
        .env("OKTA_BRIDGE_MASTER_KEY", MASTER_KEY)
        .env("OKTA_BRIDGE_ADMIN_TOKEN", ADMIN)
        .env("OKTA_BRIDGE_LISTEN", "127.0.0.1:0")
        .env("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS", "true")
        .env("OKTA_BRIDGE_SYNC_INTERVAL", "0")
        .env("OKTA_BRIDGE_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("okta-bridge serve starts");
    let line = wait_for_line(&mut child, "okta-bridge listening on ").await;
    let url = line.split_whitespace().next().unwrap().trim_end_matches('/').to_owned();
    (child, url)
}

/// A call to `server`'s API as the admin; the answer's JSON (a failure stops the bench).
#[allow(dead_code)]
pub async fn api(
    server: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{server}{path}"))
        .bearer_auth(ADMIN)
        .timeout(std::time::Duration::from_secs(600));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Adds account `bench` for `org` to `server` and connects it with API token `token`.
#[allow(dead_code)]
pub async fn connect_bench(server: &str, org: &str, token: &str) {
    let body = serde_json::json!({ "name": "bench", "orgUrl": org });
    api(server, reqwest::Method::POST, "/api/accounts", Some(body)).await;
    let body = serde_json::json!({ "apiToken": token });
    api(server, reqwest::Method::POST, "/api/accounts/bench/connect", Some(body)).await;
}

/// The number after flag `name` on the bench's command line (`-- --users 1000`), or `default`.
#[allow(dead_code)]
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `okta-bridge sandbox` on a free loopback port with API token `token` and a fixed seed (the
/// same org every run); add its size and limits.
#[allow(dead_code)]
pub fn sandbox_command(token: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_okta-bridge"));
    c.args([
        "sandbox",
        "--listen",
        "127.0.0.1:0",
        "--api-token",
        token,
        "--seed",
        "7",
    ]);
    c
}

/// `okta-bridge sandbox` ([`sandbox_command`]) with `args` (its size and limits), started: the
/// process and the org's URL.
#[allow(dead_code)]
pub async fn spawn_sandbox(token: &str, args: &[String]) -> (tokio::process::Child, String) {
    let mut child = sandbox_command(token)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("okta-bridge sandbox starts");
    let url = wait_for_line(&mut child, "okta-sandbox org running at ").await;
    (child, url)
}
