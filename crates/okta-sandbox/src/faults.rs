//! Fault injection for resilience tests, and the sandbox-only control endpoint.
//!
//! Rules apply per route (a path prefix, `*` for all): added latency, a share of 500/503
//! answers, a share of Okta-shaped 429s, and a share of responses whose connection is cut
//! mid-body. They are set by `--fault` flags or at run time under `/__sandbox/` (which also
//! serves counters), guarded by the admin's API token and never subject to faults itself.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rand::Rng;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::error::ApiError;
use crate::state::SandboxState;
pub use crate::state::faults::FaultRule;
use crate::util::{constant_time_eq, now};

enum Fault {
    Error(StatusCode),
    RateLimit,
    Cut,
}

/// Counts every request and injects the faults of the first rule that applies.
pub(crate) async fn inject(
    State(s): State<Arc<SandboxState>>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let route = matched.as_ref().map_or(path.as_str(), |m| m.as_str()).to_owned();
    let (latency, fault) = {
        let mut f = s.faults.lock().expect("faults lock");
        *f.requests.entry(format!("{} {route}", req.method())).or_default() += 1;
        let index = f.rules.iter().position(|r| r.applies_to(&path) && r.times != Some(0));
        let rule = index.map(|i| f.rules[i].clone());
        let rng = &mut f.rng;
        let fault = rule.as_ref().and_then(|r| {
            if rng.random_bool(r.rate_limits) {
                Some(Fault::RateLimit)
            } else if rng.random_bool(r.errors) {
                Some(Fault::Error(if rng.random_bool(0.5) {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }))
            } else if rng.random_bool(r.cuts) {
                Some(Fault::Cut)
            } else {
                None
            }
        });
        if let (Some(i), Some(_)) = (index, &fault)
            && let Some(t) = f.rules[i].times.as_mut()
        {
            *t = t.saturating_sub(1);
        }
        if let Some(kind) = fault.as_ref().map(|f| match f {
            Fault::Error(_) => "errors",
            Fault::RateLimit => "rateLimits",
            Fault::Cut => "cuts",
        }) {
            *f.injected.entry(kind).or_default() += 1;
        }
        (rule.map_or(0, |r| r.latency_ms), fault)
    };
    if latency > 0 {
        // Simulated network/server latency of the fake org (not test synchronisation).
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    match fault {
        None => next.run(req).await,
        Some(Fault::Error(status)) => {
            let mut res = ApiError::internal().into_response();
            *res.status_mut() = status;
            res
        }
        Some(Fault::RateLimit) => {
            let mut res = ApiError::rate_limited().into_response();
            // The window "resets" a second from now, so well-behaved clients wait briefly.
            let h = res.headers_mut();
            h.insert("x-rate-limit-remaining", HeaderValue::from(0));
            h.insert("x-injected-fault", HeaderValue::from_static("429"));
            res.extensions_mut().insert(InjectedReset(now().unix_timestamp() + 1));
            res
        }
        Some(Fault::Cut) => {
            let res = next.run(req).await;
            let (mut parts, body) = res.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            // Send half (chunked, so the client cannot mistake it for the whole), then fail.
            parts.headers.remove(header::CONTENT_LENGTH);
            // The pause lets the head and first half reach the client before the cut.
            let cut = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err::<bytes::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault injected: connection cut",
                ))
            };
            let stream = futures::stream::iter([Ok::<_, std::io::Error>(half)]).chain(futures::stream::once(cut));
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}

/// Marks a 429 the fault layer injected, so the rate-limit headers say when to come back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InjectedReset(pub i64);

pub(crate) fn control_auth(s: &SandboxState, headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("SSWS "))
        .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), s.config.api_token.expose_secret().as_bytes()));
    if ok { Ok(()) } else { Err(ApiError::invalid_token()) }
}

/// The largest rate-limit scale `PUT /__sandbox/rate-limits` takes.
const MAX_RATE_LIMIT_SCALE: u32 = 1_000_000;

/// `PUT /__sandbox/rate-limits`: `{"scale": N}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimitsRequest {
    scale: u32,
}

fn rate_limits_status(s: &SandboxState) -> serde_json::Value {
    let scale = s.rate_limit_scale.load(std::sync::atomic::Ordering::Relaxed);
    json!({ "scale": scale, "windowSeconds": s.config.rate_limit_window.as_secs() })
}

/// `GET /__sandbox/rate-limits`: every bucket's limit is Okta's times `scale`.
pub(crate) async fn get_rate_limits(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    Ok(Json(rate_limits_status(&s)).into_response())
}

/// `PUT /__sandbox/rate-limits {"scale": N}`: Okta's limits (1) or lifted (N times them), from
/// the next request on; the windows' counts so far stay.
pub(crate) async fn put_rate_limits(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    crate::extract::OktaJson(req): crate::extract::OktaJson<RateLimitsRequest>,
) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    if req.scale == 0 || req.scale > MAX_RATE_LIMIT_SCALE {
        return Err(ApiError::validation(format!(
            "scale: every limit is Okta's times this, from 1 (Okta's limits) to {MAX_RATE_LIMIT_SCALE}"
        )));
    }
    s.rate_limit_scale
        .store(req.scale, std::sync::atomic::Ordering::Relaxed);
    Ok(Json(rate_limits_status(&s)).into_response())
}

/// `GET /__sandbox/faults`.
pub(crate) async fn get_faults(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    Ok(Json(s.faults.lock().expect("faults lock").rules.clone()).into_response())
}

/// `PUT /__sandbox/faults`: replaces the rules with a JSON array of rules.
pub(crate) async fn put_faults(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    let rules: Vec<FaultRule> =
        serde_json::from_slice(&body).map_err(|e| ApiError::validation(format!("faults: {e}")))?;
    for r in &rules {
        r.validate().map_err(ApiError::validation)?;
    }
    s.faults.lock().expect("faults lock").rules = rules.clone();
    Ok(Json(rules).into_response())
}

/// `DELETE /__sandbox/faults`.
pub(crate) async fn clear_faults(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    s.faults.lock().expect("faults lock").rules.clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /__sandbox/counters`: requests per route, faults injected, token grants per client,
/// requests refused over a rate limit per bucket.
pub(crate) async fn counters(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    let f = s.faults.lock().expect("faults lock");
    let grants = s.grants.lock().expect("grants lock").token_grants.clone();
    let refused = s.limits.lock().expect("limits lock").refused.clone();
    Ok(Json(json!({
        "requests": f.requests,
        "faultsInjected": f.injected,
        "tokenGrants": grants,
        "rateLimited": refused,
    }))
    .into_response())
}

/// `GET /__sandbox/export`: the org as a document (`--load` reads it).
pub(crate) async fn export(State(s): State<Arc<SandboxState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    control_auth(&s, &headers)?;
    Ok(Json(s.snapshot()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_from_flags() {
        let r: FaultRule = "/api/v1/users:latency=50ms,errors=0.1,429=0.05,cuts=0.02"
            .parse()
            .unwrap();
        assert_eq!(
            r,
            FaultRule {
                route: "/api/v1/users".into(),
                latency_ms: 50,
                errors: 0.1,
                rate_limits: 0.05,
                cuts: 0.02,
                times: None,
            }
        );
        assert_eq!("/x:429=1,times=2".parse::<FaultRule>().unwrap().times, Some(2));
        assert!("*".parse::<FaultRule>().is_ok());
        for bad in ["api:errors=0.1", "/x:errors=2", "/x:nope=1", "/x:errors"] {
            assert!(bad.parse::<FaultRule>().is_err(), "{bad}");
        }
    }
}
