//! The one error type of okta-client.

use std::fmt;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::page::RateLimit;

/// A specialised `Result` for okta-client.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to Okta. No variant ever holds a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Okta answered with a non-2xx status (its error JSON decoded where present).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The request did not complete: DNS, connect, TLS, reset connection. The message holds
    /// the causes (e.g. what the resolver or the TCP connect said).
    #[error("request to Okta failed: {}", with_causes(.0))]
    Transport(#[source] reqwest::Error),
    /// The request or connection timed out.
    #[error("request to Okta timed out: {0}")]
    Timeout(#[source] reqwest::Error),
    /// A 2xx response whose body is not what Okta's spec describes.
    #[error("could not decode Okta's response: {message} (body starts with: {excerpt:?})")]
    Decode {
        /// What serde said.
        message: String,
        /// The first bytes of the body.
        excerpt: String,
    },
    /// Pagination went wrong: a `next` link repeated or pointing away from the org.
    #[error("pagination stopped: {0}")]
    Pagination(String),
    /// The client is configured wrongly (org URL, credentials); the message says how to fix it.
    #[error("okta-client configuration: {0}")]
    Config(String),
    /// The authorization server refused a token request (RFC 6749 error).
    #[error("Okta's token endpoint answered {status}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        /// HTTP status.
        status: StatusCode,
        /// The RFC 6749 `error`, e.g. `invalid_client`, `invalid_scope`.
        error: String,
        /// Its `error_description`.
        description: Option<String>,
    },
    /// The response body was larger than okta-client reads ([`crate::body::MAX_PAGE_BYTES`]
    /// for a page, [`crate::body::MAX_SMALL_BYTES`] for tokens and errors).
    #[error("Okta's response is larger than {limit} bytes; it was not read")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The org's rate limit for `bucket` is spent and its window resets later than the client
    /// may wait ([`ClientBuilder::max_rate_limit_wait`](crate::ClientBuilder::max_rate_limit_wait)).
    #[error(
        "Okta's rate limit for {bucket} is spent; its window resets in {} s: try again then",
        retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)
    )]
    RateLimited {
        /// The rate-limit bucket (an API family, e.g. `/api/v1/users`).
        bucket: String,
        /// How long until the window resets.
        retry_after: std::time::Duration,
    },
    /// The [`TokenSource`](crate::TokenSource) could not hand out an access token.
    #[error("no access token: {0}")]
    TokenSource(#[from] crate::auth::TokenSourceError),
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// Okta's error code (`E0000011`, …) of an API error.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.error_code.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn from_read(e: crate::body::ReadError) -> Self {
        match e {
            crate::body::ReadError::Transport(e) => Self::from_reqwest(e),
            crate::body::ReadError::TooLarge { limit } => Error::TooLarge { limit },
        }
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> Self {
        // Strip the URL: it is ours, but a caller's query may hold data they would not log.
        let e = e.without_url();
        if e.is_timeout() {
            Error::Timeout(e)
        } else {
            Error::Transport(e)
        }
    }
}

/// A non-2xx answer of the Management API.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Okta's `errorCode`, e.g. `E0000007`.
    pub error_code: Option<String>,
    /// Okta's `errorSummary`.
    pub error_summary: Option<String>,
    /// Okta's `errorId`, for Okta support.
    pub error_id: Option<String>,
    /// Okta's `errorLink`.
    pub error_link: Option<String>,
    /// Okta's `errorCauses[].errorSummary`.
    pub error_causes: Vec<String>,
    /// The `X-Okta-Request-Id` header.
    pub request_id: Option<String>,
    /// The rate-limit headers of the response.
    pub rate_limit: Option<RateLimit>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Okta API error {}", self.status.as_u16())?;
        if let Some(code) = &self.error_code {
            write!(f, " {code}")?;
        }
        if let Some(summary) = &self.error_summary {
            write!(f, ": {summary}")?;
        }
        for cause in &self.error_causes {
            write!(f, "; {cause}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OktaErrorBody {
    error_code: Option<String>,
    error_summary: Option<String>,
    error_id: Option<String>,
    error_link: Option<String>,
    #[serde(default)]
    error_causes: Vec<OktaErrorCause>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OktaErrorCause {
    error_summary: Option<String>,
}

impl ApiError {
    /// The error Okta's answer `status` with JSON `body` (`errorCode`, `errorSummary`, …)
    /// stands for, e.g. to test how an application handles Okta's refusals.
    pub fn from_response(status: StatusCode, body: &[u8]) -> Self {
        Self::from_parts(status, None, None, body)
    }

    /// Builds the error of a non-2xx response from its status, request id and body.
    pub(crate) fn from_parts(
        status: StatusCode,
        request_id: Option<String>,
        rate_limit: Option<RateLimit>,
        body: &[u8],
    ) -> Self {
        let parsed: Option<OktaErrorBody> = serde_json::from_slice(body).ok();
        let mut e = ApiError {
            status,
            error_code: None,
            error_summary: None,
            error_id: None,
            error_link: None,
            error_causes: Vec::new(),
            request_id,
            rate_limit,
        };
        match parsed {
            Some(b) => {
                e.error_code = b.error_code;
                e.error_summary = b.error_summary;
                e.error_id = b.error_id;
                e.error_link = b.error_link;
                e.error_causes = b.error_causes.into_iter().filter_map(|c| c.error_summary).collect();
            }
            None if status.is_redirection() => {
                e.error_summary = Some(
                    "Okta answered with a redirect, which okta-client never follows; check the org URL".to_owned(),
                );
            }
            None => {
                e.error_summary = Some(excerpt(body));
            }
        }
        e
    }
}

/// The first 200 characters of a body, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// `e` followed by each distinct message of its sources, as `a: b: c`: reqwest's own message
/// is only "error sending request", while its causes say what the resolver, the TCP connect or
/// TLS said.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let msg = cause.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_okta_error_json() {
        let body = br#"{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: x (User)","errorLink":"E0000007","errorId":"oae123","errorCauses":[{"errorSummary":"why"}]}"#;
        let e = ApiError::from_parts(StatusCode::NOT_FOUND, Some("req1".into()), None, body);
        assert_eq!(e.error_code.as_deref(), Some("E0000007"));
        assert_eq!(e.error_id.as_deref(), Some("oae123"));
        assert_eq!(e.error_causes, vec!["why".to_owned()]);
        assert_eq!(
            e.to_string(),
            "Okta API error 404 E0000007: Not found: Resource not found: x (User); why (request id req1)"
        );
    }

    #[test]
    fn non_json_body_becomes_an_excerpt() {
        let e = ApiError::from_parts(StatusCode::BAD_GATEWAY, None, None, b"<html>bad gateway</html>");
        assert_eq!(e.error_summary.as_deref(), Some("<html>bad gateway</html>"));
        assert!(e.error_code.is_none());
    }
}
