//! How errors become HTTP answers, in one place: [`classify`] picks the status, a stable code
//! and a message safe to show (internal details are logged, never sent); the JSON API answers
//! `{"error": code, "message": …}` (and the `field` to fix, for invalid input) with Okta's `errorCode`, `errorSummary` and `errorId` under
//! `okta` when Okta's API refused (`impl IntoResponse for Error`), the pages the error page
//! ([`PageError`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::views::error_page;
use crate::error::{BodyRefusal, Error, OAuthFailure, Refusal, SetupRefusal};

/// Status, code and message of `e`.
pub(crate) fn classify(e: &Error) -> (StatusCode, &'static str, String) {
    // A request whose connection's token could not be had fails with our own error: that one
    // says what happened (a wait that ran out is not a reason to reconnect).
    let e = e.ours();
    let shown = || e.to_string();
    match e {
        Error::Invalid { .. } | Error::Egress(_) => (StatusCode::BAD_REQUEST, "invalid_request", shown()),
        Error::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", shown()),
        Error::CrossOrigin => (StatusCode::FORBIDDEN, "cross_origin", shown()),
        Error::InsufficientScope { .. } => (StatusCode::FORBIDDEN, "insufficient_scope", shown()),
        Error::ConsoleRefused { .. } => (StatusCode::FORBIDDEN, "not_allowed", shown()),
        Error::HookUnauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized", shown()),
        Error::HookRegistration { refused: true, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "hook_not_registered", shown())
        }
        Error::HookRegistration { .. } => (StatusCode::BAD_GATEWAY, "hook_not_registered", shown()),
        Error::UnknownConnection(_)
        | Error::UnknownAccount(_)
        | Error::UnknownWebhook(_)
        | Error::UnknownApiKey(_)
        | Error::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", shown()),
        Error::CursorExpired { .. } => (StatusCode::GONE, "cursor_expired", shown()),
        Error::ApiKeyRevoked { .. } => (StatusCode::UNAUTHORIZED, "unauthorized", shown()),
        Error::TooManyLongPolls { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_long_polls", shown()),
        Error::Body(BodyRefusal::TooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", shown()),
        Error::Body(BodyRefusal::TooSlow { .. }) => (StatusCode::REQUEST_TIMEOUT, "body_too_slow", shown()),
        Error::Body(BodyRefusal::Broken) => (StatusCode::BAD_REQUEST, "invalid_request", shown()),
        Error::SetupLink(SetupRefusal::Unknown) => (StatusCode::NOT_FOUND, "setup_link_unknown", shown()),
        Error::SetupLink(SetupRefusal::TooManyAttempts) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", shown()),
        Error::SetupLink(_) => (StatusCode::GONE, "setup_link_gone", shown()),
        Error::AccountExists(_) => (StatusCode::CONFLICT, "account_exists", shown()),
        Error::Conflict(_) => (StatusCode::CONFLICT, "conflict", shown()),
        Error::Reconnect { .. } => (StatusCode::CONFLICT, "reconnect_required", shown()),
        Error::AppRejected { .. } => (StatusCode::CONFLICT, "app_rejected", shown()),
        Error::TokenRefused { .. } => (StatusCode::CONFLICT, "token_refused", shown()),
        Error::Rejected { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "credentials_rejected", shown()),
        Error::Scim { status, scim_type, .. } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            scim_type.unwrap_or("scim"),
            shown(),
        ),
        e if e.database_unavailable() => {
            tracing::warn!(error = %e, "the database is unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unreachable; try again shortly".to_owned(),
            )
        }
        Error::RefreshWaitTimeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy_try_again", shown()),
        Error::Okta(okta_client::Error::RateLimited { .. }) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", shown()),
        Error::Okta(okta_client::Error::TokenSource(t)) => (StatusCode::CONFLICT, "reconnect_required", t.to_string()),
        Error::Okta(okta_client::Error::Timeout(_)) => (StatusCode::GATEWAY_TIMEOUT, "okta_error", shown()),
        Error::Okta(_) | Error::OAuth { .. } => (StatusCode::BAD_GATEWAY, "okta_error", shown()),
        _ => {
            tracing::error!(error = %e, "request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error; see the server log".to_owned(),
            )
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code, message) = classify(&self);
        let mut body = json!({ "error": code, "message": message });
        // The field to fix, as the API names it.
        if let Error::Invalid { field, .. } = self.ours() {
            body["field"] = json!(field);
        }
        // Okta's own error, where the failure came from Okta's API, for its support.
        if let Error::Okta(okta_client::Error::Api(api))
        | Error::Rejected {
            cause: Refusal::Api(api),
            ..
        } = self.ours()
        {
            body["okta"] = json!({
                "errorCode": api.error_code,
                "errorSummary": api.error_summary,
                "errorId": api.error_id,
            });
        }
        if let Error::InsufficientScope { needed, .. } = self.ours() {
            body["scope"] = json!(needed);
        }
        let mut res = (status, Json(body)).into_response();
        if let Error::InsufficientScope { needed, .. } = self.ours()
            && let Ok(v) = axum::http::HeaderValue::from_str(&format!(
                "Bearer realm=\"okta-bridge\", error=\"insufficient_scope\", scope=\"{needed}\""
            ))
        {
            // RFC 6750, section 3.1.
            res.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, v);
        }
        if let Error::TooManyLongPolls { .. } = self.ours() {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(1));
        }
        if let Error::Okta(okta_client::Error::RateLimited { retry_after, .. }) = self.ours() {
            // Whole seconds, never early.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs.max(1)),
            );
        }
        res
    }
}

/// An error of a page: the error page with a title saying what did not happen.
#[derive(Debug)]
pub(crate) struct PageError {
    /// What did not happen, e.g. "Not connected".
    pub title: &'static str,
    /// Why.
    pub error: Error,
}

/// Wraps errors of a page's work with its title.
pub(crate) trait PageContext<T> {
    /// `Err(e)` as a [`PageError`] titled `title`.
    fn page(self, title: &'static str) -> Result<T, PageError>;
}

impl<T, E: Into<Error>> PageContext<T> for Result<T, E> {
    fn page(self, title: &'static str) -> Result<T, PageError> {
        self.map_err(|e| PageError { title, error: e.into() })
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        // A refused connect flow is the person's to retry: 400, with what Okta said.
        let (status, _, message) = match &self.error {
            Error::OAuth {
                kind: OAuthFailure::Refused | OAuthFailure::ClientRejected,
                detail,
                ..
            } => {
                tracing::warn!(message = %detail, "connect flow rejected");
                (StatusCode::BAD_REQUEST, "", detail.clone())
            }
            e => classify(e),
        };
        error_page(status, self.title, &message)
    }
}
