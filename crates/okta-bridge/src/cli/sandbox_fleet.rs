//! `okta-bridge sandbox --orgs N`: many independent orgs from one process, so that a fleet of
//! customers can be run, tested and benchmarked on one machine.
//!
//! Each org is a sandbox of its own on its own port: its own directory (seeded apart), tokens,
//! rate-limit windows, churn, faults and counters; its `/__sandbox/…` controls address it
//! alone. One more listener, the fleet's control, addresses all of them at once:
//! `/__fleet/orgs` lists them, and any other `/__fleet/{path}` is sent to every org's
//! `/__sandbox/{path}` (same method and body) and answered with each org's answer, in order.
//! The orgs share one token-signing key (generating a thousand RSA keys would take minutes);
//! each has its own issuer, so one org's tokens are refused by the others.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt};
use okta_sandbox::{Sandbox, SandboxConfig, SandboxKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::shutdown_signal;

/// How many orgs start, or are sent a control request, at once.
const AT_ONCE: usize = 16;

/// What `okta-bridge sandbox` was asked for beyond one org's configuration.
#[derive(Debug)]
pub(crate) struct FleetArgs {
    pub orgs: usize,
    pub listen: SocketAddr,
    pub out: Option<std::path::PathBuf>,
    /// Whether `--api-token` was given (every org takes it) or each org makes its own.
    pub same_token: bool,
    /// Whether `--client-id` was given (every org takes it and the client secret).
    pub same_client: bool,
}

/// The orgs and the token their common control asks for.
struct Fleet {
    orgs: Vec<Sandbox>,
    http: reqwest::Client,
    token: SecretString,
}

pub(crate) async fn run(a: FleetArgs, config: SandboxConfig) -> Result<()> {
    anyhow::ensure!(a.orgs >= 1, "--orgs must be at least 1");
    let key = SandboxKey::generate();
    let configs = (0..a.orgs).map(|i| {
        let fresh = SandboxConfig::default();
        let mut c = config.clone();
        c.seed = config.seed.wrapping_add(i as u64);
        c.signing_key = Some(key.clone());
        if !a.same_token {
            c.api_token = fresh.api_token;
        }
        if !a.same_client {
            c.client_id = fresh.client_id;
            c.client_secret = fresh.client_secret;
        }
        let port = match a.listen.port() {
            0 => 0,
            p => u16::try_from(usize::from(p) + i).unwrap_or(0),
        };
        (SocketAddr::new(a.listen.ip(), port), c)
    });
    let started = std::time::Instant::now();
    let orgs: Vec<Sandbox> = futures::stream::iter(configs)
        .map(|(addr, c)| async move {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (an org of --orgs; --listen sets the first port)"))?;
            Sandbox::spawn_on(listener, c).await.context("cannot start an org")
        })
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    let fleet = Arc::new(Fleet {
        orgs,
        http: reqwest::Client::new(),
        token: format!("00{}", okta_bridge::crypto::random_secret()).into(),
    });
    let control = TcpListener::bind(SocketAddr::new(a.listen.ip(), 0))
        .await
        .context("cannot listen for the fleet's control")?;
    let control_url = format!("http://{}", control.local_addr()?);
    let router = Router::new()
        .route("/__fleet/{*path}", axum::routing::any(forward))
        .with_state(fleet.clone());
    let server = tokio::spawn(async move { axum::serve(control, router).await });
    if let Some(path) = &a.out {
        write_atomically(path, &listing(&fleet, &control_url))
            .with_context(|| format!("cannot write the orgs to {} (--orgs-out)", path.display()))?;
    }
    let (first, last) = (&fleet.orgs[0], &fleet.orgs[fleet.orgs.len() - 1]);
    println!(
        "okta-sandbox fleet of {} orgs running at {} … {} (started in {:.1} s), {} users each",
        fleet.orgs.len(),
        first.url(),
        last.url(),
        started.elapsed().as_secs_f64(),
        config.users
    );
    println!(
        "  control of every org: {control_url}/__fleet/orgs, {control_url}/__fleet/{{path}} → each org's /__sandbox/{{path}} (SSWS {})",
        fleet.token.expose_secret()
    );
    match &a.out {
        Some(path) => println!("  each org's URL and credentials: {}", path.display()),
        None => println!("  each org's URL and credentials: GET {control_url}/__fleet/orgs (or --orgs-out FILE)"),
    }
    println!("\nPress Ctrl-C to stop.");
    shutdown_signal().await;
    server.abort();
    let fleet = Arc::try_unwrap(fleet).map_err(|_| anyhow::anyhow!("the fleet's control is still running"))?;
    futures::stream::iter(fleet.orgs)
        .map(Sandbox::shutdown)
        .buffer_unordered(AT_ONCE)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Every org's URL and credentials, and the control that addresses them all.
fn listing(fleet: &Fleet, control_url: &str) -> Value {
    let orgs: Vec<Value> = fleet
        .orgs
        .iter()
        .map(|o| {
            let c = o.config();
            json!({
                "url": o.url(),
                "apiToken": c.api_token_value(),
                "clientId": c.client_id,
                "clientSecret": c.client_secret_value(),
                "adminLogin": c.admin_login,
                "userPassword": c.user_password_value(),
                "seed": c.seed,
            })
        })
        .collect();
    json!({ "control": control_url, "controlToken": fleet.token.expose_secret(), "orgs": orgs })
}

/// Writes `value` to `path` whole or not at all (a reader never sees half a file).
fn write_atomically(path: &std::path::Path, value: &Value) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)?;
    std::fs::rename(tmp, path)
}

/// `/__fleet/orgs`: the listing; `/__fleet/{path}`: the request sent to every org's
/// `/__sandbox/{path}`, answered `{"orgs": [{"url", "status", "body"}, …]}` in the orgs' order.
async fn forward(
    State(fleet): State<Arc<Fleet>>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("SSWS "));
    if given != Some(fleet.token.expose_secret()) {
        let e = json!({ "errorCode": "E0000011", "errorSummary": "Invalid token provided: the fleet's control takes its own SSWS token (printed at start)" });
        return (StatusCode::UNAUTHORIZED, axum::Json(e)).into_response();
    }
    if path == "orgs" && method == Method::GET {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        return axum::Json(listing(&fleet, &format!("http://{host}"))).into_response();
    }
    let targets: Vec<(String, String)> = fleet
        .orgs
        .iter()
        .map(|o| (o.url().to_owned(), o.config().api_token_value().to_owned()))
        .collect();
    let answers: Vec<Value> = futures::stream::iter(targets)
        .map(|(url, token)| {
            let req = fleet
                .http
                .request(method.clone(), format!("{url}/__sandbox/{path}"))
                .header("authorization", format!("SSWS {token}"))
                .header("content-type", "application/json")
                .body(body.clone());
            async move {
                match req.send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let body = res.json::<Value>().await.unwrap_or(Value::Null);
                        json!({ "url": url, "status": status, "body": body })
                    }
                    Err(e) => json!({ "url": url, "status": 502, "error": e.to_string() }),
                }
            }
        })
        .buffered(AT_ONCE)
        .collect()
        .await;
    axum::Json(json!({ "orgs": answers })).into_response()
}
