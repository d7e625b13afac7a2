//! Okta's whole Management API through a connection: any method on any `/api/v1/` path, sent
//! with the connection's credentials (refreshed as needed), paced and retried by okta-client,
//! Okta's answer returned as it came. Writes are recorded in the audit log.

use okta_client::{ApiError, RawBody, RawResponse};
use reqwest::Method;

use super::Service;
use crate::error::{Error, Result};
use crate::model::{AccountName, OrgUrl};

/// What came back through the proxy: the org it came from (to rewrite its links) and Okta's
/// answer.
#[derive(Debug)]
pub struct Proxied {
    /// The connection's org.
    pub org: OrgUrl,
    /// Okta's answer, any status.
    pub response: RawResponse,
}

/// Whether `method` changes nothing at Okta (not audited; allowed to `directory:read` keys).
pub fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `path_and_query` (`/api/v1/…[?…]`) with `.` and `..` segments resolved; refused unless it
/// stays under `/api/v1/`.
fn checked_path(path_and_query: &str) -> Result<String> {
    let refuse = || {
        Error::invalid(
            "path",
            format!(
                "only Okta's /api/v1/ paths pass through a connection, not {path_and_query:?}: e.g. /api/connections/NAME/okta/api/v1/users"
            ),
        )
    };
    if !path_and_query.starts_with("/api/v1/") {
        return Err(refuse());
    }
    let base = url::Url::parse("http://okta.invalid/").expect("a valid URL");
    let url = base.join(path_and_query).map_err(|_| refuse())?;
    if url.host_str() != Some("okta.invalid") || !url.path().starts_with("/api/v1/") {
        return Err(refuse());
    }
    Ok(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    })
}

impl Service {
    /// Sends `method path_and_query` (with `body`) to the org of `account`'s connection and
    /// returns Okta's answer, whatever its status. A 401 refreshes the connection's token and
    /// tries once more, as every call through a connection does. A write (any method but
    /// `GET`, `HEAD`, `OPTIONS`) is recorded in the audit log: `actor`, method, path and
    /// status; never its body or query.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a path outside `/api/v1/`; [`Error::UnknownConnection`];
    /// the connection's errors (reconnect required, …); [`Error::Okta`] when Okta could not be
    /// reached or its rate limit is spent for longer than calls wait.
    pub async fn proxy(
        &self,
        account: &AccountName,
        method: Method,
        path_and_query: &str,
        body: Option<RawBody>,
        actor: &str,
    ) -> Result<Proxied> {
        let target = checked_path(path_and_query)?;
        let outcome = self
            .call(account, |client| {
                let (method, target, body) = (method.clone(), target.clone(), body.clone());
                async move {
                    let response = client.send_raw(method, &target, body.as_ref()).await?;
                    if response.status == reqwest::StatusCode::UNAUTHORIZED {
                        // The connection's credentials: refreshed (or the connection marked)
                        // like any call's.
                        return Err(okta_client::Error::Api(Box::new(ApiError::from_response(
                            response.status,
                            &response.body,
                        ))));
                    }
                    Ok(Proxied {
                        org: client.org_url().clone(),
                        response,
                    })
                }
            })
            .await;
        if !is_read(&method) {
            let path = target.split('?').next().unwrap_or_default();
            let (result, org) = match &outcome {
                Ok(p) => (p.response.status.as_u16().to_string(), p.org.to_string()),
                // Rare: the org is read again only to say where the failed write was going.
                Err(e) => (
                    format!("failed: {}", e.ours()),
                    match self.store.connection(account).await {
                        Ok(Some(c)) => c.org_url.to_string(),
                        _ => String::new(),
                    },
                ),
            };
            let detail = format!("{method} {path} -> {result}");
            if let Err(e) = self.store.audit_by(account, &org, "okta_write", &detail, actor).await {
                tracing::error!(error = %e, %account, %detail, "could not record a write through the proxy in the audit log");
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::checked_path;

    #[test]
    fn only_api_v1_paths_pass() {
        assert_eq!(checked_path("/api/v1/users?limit=2").unwrap(), "/api/v1/users?limit=2");
        assert_eq!(checked_path("/api/v1/users/a/../b").unwrap(), "/api/v1/users/b");
        for bad in [
            "/oauth2/v1/token",
            "/api/v1/../../oauth2/v1/token",
            "/api/v1/%2e%2e/%2e%2e/oauth2/v1/keys",
            "/api/v2/x",
            "//evil.example/api/v1/users",
            "/api/v1",
        ] {
            assert!(checked_path(bad).is_err(), "{bad} passed");
        }
    }
}
