//! Okta's two error shapes: the Management API's error JSON and OAuth 2.0's.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::util::random_token;

/// An error of the Management API, rendered as Okta renders it:
/// `{errorCode, errorSummary, errorLink, errorId, errorCauses}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub summary: String,
    pub causes: Vec<String>,
    pub www_authenticate: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, summary: impl Into<String>) -> Self {
        Self {
            status,
            code,
            summary: summary.into(),
            causes: Vec::new(),
            www_authenticate: None,
        }
    }
    pub fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "E0000011", "Invalid token provided")
    }
    /// A feature the org is not licensed for (e.g. API Access Management): Okta answers 401
    /// E0000015, whatever the credentials.
    pub fn feature_not_enabled() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "E0000015",
            "You do not have permission to access the feature you are requesting",
        )
    }
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "E0000006",
            "You do not have permission to perform the requested action",
        )
    }
    pub fn insufficient_scope() -> Self {
        Self {
            www_authenticate: Some(
                "Bearer authorization_uri=\"http://okta\", realm=\"http://okta\", scope=\"okta.users.read\", error=\"insufficient_scope\", error_description=\"The access token provided does not contain the required scopes.\", resource=\"/api/v1/users\"",
            ),
            ..Self::forbidden()
        }
    }
    pub fn not_found(what: &str, kind: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "E0000007",
            format!("Not found: Resource not found: {what} ({kind})"),
        )
    }
    /// A body that is not JSON, not sent as JSON, or not of the operation's shape.
    pub fn malformed_body(cause: impl Into<String>) -> Self {
        Self {
            causes: vec![cause.into()],
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "E0000003",
                "The request body was not well-formed.",
            )
        }
    }
    /// A route that exists, called with a method it does not take.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        )
    }
    pub fn validation(cause: impl Into<String>) -> Self {
        let cause = cause.into();
        Self {
            causes: vec![cause.clone()],
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "E0000001",
                format!("Api validation failed: {cause}"),
            )
        }
    }
    /// A `search` or `filter` expression that does not parse or is not allowed.
    pub fn invalid_search(cause: impl Into<String>) -> Self {
        Self {
            causes: vec![cause.into()],
            ..Self::new(StatusCode::BAD_REQUEST, "E0000031", "Invalid search criteria.")
        }
    }
    /// E0000001 with one cause, as Okta reports a field that fails validation.
    pub fn validation_cause(cause: impl Into<String>) -> Self {
        let cause = cause.into();
        let field = cause.split(':').next().unwrap_or_default().to_owned();
        Self {
            causes: vec![cause],
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "E0000001",
                format!("Api validation failed: {field}"),
            )
        }
    }
    /// E0000001 with a summary of its own (invalid lifecycle transitions).
    pub fn validation_summary(summary: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "E0000001", summary)
    }
    /// E0000038: a lifecycle operation the user's status does not allow (403, as Okta answers
    /// every lifecycle operation but suspend and unsuspend, whose spec documents a 400).
    pub fn not_allowed_in_status(cause: impl Into<String>) -> Self {
        Self {
            causes: vec![cause.into()],
            ..Self::new(
                StatusCode::FORBIDDEN,
                "E0000038",
                "This operation is not allowed in the user's current status.",
            )
        }
    }
    /// E0000016: activating an active user.
    pub fn already_active() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "E0000016",
            "Activation failed because the user is already active",
        )
    }
    /// E0000006 with the reason as its cause.
    pub fn forbidden_because(cause: impl Into<String>) -> Self {
        Self {
            causes: vec![cause.into()],
            ..Self::forbidden()
        }
    }
    /// E0000009, as Okta's 5xx answers carry.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "E0000009", "Internal Server Error")
    }
    /// A DPoP proof missing or wrong on a resource call: 401 with a `WWW-Authenticate: DPoP`
    /// challenge, as Okta answers.
    pub fn invalid_dpop(cause: impl Into<String>) -> Self {
        Self {
            causes: vec![cause.into()],
            www_authenticate: Some(
                "DPoP algs=\"RS256 RS384 RS512 ES256 ES384 ES512\", error=\"invalid_dpop_proof\", error_description=\"'DPoP' proof is invalid.\"",
            ),
            ..Self::invalid_token()
        }
    }
    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        )
    }
    pub fn resource_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let causes: Vec<_> = self.causes.iter().map(|c| json!({ "errorSummary": c })).collect();
        let body = json!({
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": format!("oae{}", random_token(22)),
            "errorCauses": causes,
        });
        let mut res = (self.status, Json(body)).into_response();
        if let Some(v) = self.www_authenticate {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
        }
        res
    }
}

/// An OAuth 2.0 error response (RFC 6749 §5.2): `{error, error_description}`.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    pub fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed. Either the client or the client credentials are invalid.",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"okta\""),
            );
        }
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}
