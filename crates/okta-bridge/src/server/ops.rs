//! Operating the server: one log line per request with a request id, `/readyz`, and
//! `/metrics` in Prometheus' text format (refreshes and their outcome per account, connections
//! by status, rate-limit headroom per org and bucket, request counts and latencies per route).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Reader;
use crate::model::ConnectionStatus;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Request counters of the server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    fn record(&self, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((route.to_owned(), status))
            .or_default() += 1;
        let mut latency = self.latency.lock().expect("metrics lock");
        let h = latency.entry(route.to_owned()).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }
}

/// Logs one line per request (request id, method, route, status, latency; never the query,
/// which can hold an authorization code) and counts it. The request id is the caller's
/// `X-Request-Id` when it sends a short one, else a new one; it is returned in the response.
pub(crate) async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_owned);
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id);
    let mut res = tracing::Instrument::instrument(next.run(req), span).await;
    let status = res.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.record(&route, status, seconds);
    tracing::info!(request_id = %id, %method, route, status, latency_ms = (seconds * 1000.0).round() as u64, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// How long `/readyz` waits for the database.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(900);

/// `GET /readyz`: 200 when the database answers, 503 otherwise, within a second either way.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match tokio::time::timeout(READY_WITHIN, state.store().ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
        Err(_) => {
            tracing::warn!("not ready: the database did not answer within {READY_WITHIN:?}");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `GET /metrics` (admin token): Prometheus' text format.
pub(crate) async fn metrics(_: Reader, State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP okta_bridge_refreshes_total Token refreshes by account and outcome.\n");
    out.push_str("# TYPE okta_bridge_refreshes_total counter\n");
    for (account, outcome, n) in state.service.refresher().outcomes() {
        let _ = writeln!(
            out,
            "okta_bridge_refreshes_total{{account=\"{}\",outcome=\"{outcome}\"}} {n}",
            label(&account)
        );
    }
    out.push_str("# HELP okta_bridge_connections Stored connections by status.\n");
    out.push_str("# TYPE okta_bridge_connections gauge\n");
    match state.store().connections().await {
        Ok(conns) => {
            let mut by_status: BTreeMap<&str, u64> = ConnectionStatus::ALL.iter().map(|s| (*s, 0)).collect();
            for c in &conns {
                *by_status.entry(c.status.as_str()).or_default() += 1;
            }
            for (status, n) in by_status {
                let _ = writeln!(out, "okta_bridge_connections{{status=\"{status}\"}} {n}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count connections"),
    }
    out.push_str(
        "# HELP okta_bridge_rate_limit_remaining Requests left in the current rate-limit window, per org and bucket.\n",
    );
    out.push_str("# TYPE okta_bridge_rate_limit_remaining gauge\n");
    let clients = state.service.clients_in_use();
    let mut limits = String::new();
    for (account, client) in &clients {
        for (bucket, rl) in client.rate_limits() {
            let labels = format!(
                "account=\"{}\",org=\"{}\",bucket=\"{}\"",
                label(account),
                label(client.org_url().as_str()),
                label(&bucket)
            );
            let _ = writeln!(out, "okta_bridge_rate_limit_remaining{{{labels}}} {}", rl.remaining);
            let _ = writeln!(limits, "okta_bridge_rate_limit_limit{{{labels}}} {}", rl.limit);
        }
    }
    out.push_str("# HELP okta_bridge_rate_limit_limit Requests allowed in the current window, per org and bucket.\n");
    out.push_str("# TYPE okta_bridge_rate_limit_limit gauge\n");
    out.push_str(&limits);
    out.push_str("# HELP okta_bridge_http_requests_total Requests served, by route and status.\n");
    out.push_str("# TYPE okta_bridge_http_requests_total counter\n");
    for ((route, status), n) in state.metrics.requests.lock().expect("metrics lock").iter() {
        let _ = writeln!(
            out,
            "okta_bridge_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
            label(route)
        );
    }
    out.push_str("# HELP okta_bridge_http_request_duration_seconds Time to answer, by route.\n");
    out.push_str("# TYPE okta_bridge_http_request_duration_seconds histogram\n");
    for (route, h) in state.metrics.latency.lock().expect("metrics lock").iter() {
        let route = label(route);
        for (le, n) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "okta_bridge_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "okta_bridge_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "okta_bridge_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "okta_bridge_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
            h.count
        );
    }
    work_metrics(&state, &mut out).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}

/// Per kind of work counted across instances: how many items are due and since when the
/// oldest has been (unix seconds). A kind that cannot be counted now is left out (and logged).
pub(crate) async fn work_backlog(state: &AppState) -> Vec<(&'static str, (i64, Option<i64>))> {
    let mut backlog = Vec::new();
    match state.store().stream_backlog().await {
        Ok(b) => backlog.push(("webhook_stream", b)),
        Err(e) => tracing::warn!(error = %e, "cannot count the webhook backlog"),
    }
    if let Some(interval) = state.service.sync_policy().interval {
        match state
            .store()
            .sync_backlog(i64::try_from(interval.as_secs()).unwrap_or(i64::MAX))
            .await
        {
            Ok(b) => backlog.push(("scheduled_sync", b)),
            Err(e) => tracing::warn!(error = %e, "cannot count the syncs due"),
        }
    }
    backlog
}

/// Background work: per kind, what runs in this instance (running, limit, done, failed) and,
/// across instances, what is due and how long the oldest due item has waited.
async fn work_metrics(state: &AppState, out: &mut String) {
    let stats = state.service.work_stats();
    out.push_str("# HELP okta_bridge_work_running Background work items running in this instance, by kind.\n");
    out.push_str("# TYPE okta_bridge_work_running gauge\n");
    for s in &stats {
        let _ = writeln!(out, "okta_bridge_work_running{{kind=\"{}\"}} {}", s.kind, s.running);
    }
    out.push_str("# HELP okta_bridge_work_limit Background work items this instance runs at once, by kind.\n");
    out.push_str("# TYPE okta_bridge_work_limit gauge\n");
    for s in &stats {
        let _ = writeln!(out, "okta_bridge_work_limit{{kind=\"{}\"}} {}", s.kind, s.limit);
    }
    out.push_str(
        "# HELP okta_bridge_work_items_total Background work items ended in this instance, by kind and outcome.\n",
    );
    out.push_str("# TYPE okta_bridge_work_items_total counter\n");
    for s in &stats {
        let _ = writeln!(
            out,
            "okta_bridge_work_items_total{{kind=\"{}\",outcome=\"done\"}} {}",
            s.kind, s.done
        );
        let _ = writeln!(
            out,
            "okta_bridge_work_items_total{{kind=\"{}\",outcome=\"failed\"}} {}",
            s.kind, s.failed
        );
    }
    let now = crate::model::now();
    let backlog = work_backlog(state).await;
    out.push_str("# HELP okta_bridge_webhook_circuits_open Webhook endpoints whose circuit is open (none of their streams tried).\n");
    out.push_str("# TYPE okta_bridge_webhook_circuits_open gauge\n");
    match state.store().open_circuits().await {
        Ok(n) => {
            let _ = writeln!(out, "okta_bridge_webhook_circuits_open {n}");
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count open circuits"),
    }
    out.push_str("# HELP okta_bridge_work_due Background work items due, across instances, by kind.\n");
    out.push_str("# TYPE okta_bridge_work_due gauge\n");
    for (kind, (due, _)) in &backlog {
        let _ = writeln!(out, "okta_bridge_work_due{{kind=\"{kind}\"}} {due}");
    }
    out.push_str(
        "# HELP okta_bridge_work_lag_seconds How long the oldest due item of a kind has waited (0: none due).\n",
    );
    out.push_str("# TYPE okta_bridge_work_lag_seconds gauge\n");
    for (kind, (_, since)) in &backlog {
        let lag = since.map_or(0, |t| (now - t).max(0));
        let _ = writeln!(out, "okta_bridge_work_lag_seconds{{kind=\"{kind}\"}} {lag}");
    }
}
