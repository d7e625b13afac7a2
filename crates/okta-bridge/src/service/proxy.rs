//! Okta's whole Management API through a connection: any method on any `/api/v1/` path, sent
//! with the connection's credentials (refreshed as needed), paced and retried by okta-client,
//! Okta's answer returned as it came. Writes are recorded in the audit log.

use okta_client::{RawBody, RawResponse};
use reqwest::Method;

use super::Service;
use super::connections::{credentials_refusal, probe};
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

/// `path_and_query` (`/api/v1/…[?…]`) if its path is a plain one under `/api/v1/`: every
/// segment non-empty, none `.` or `..`, and none that holds, once percent-decoded, a `/`, a
/// backslash, a `;` or a control character. Anything else is refused, not normalised: servers in front of
/// Okta differ in what `..;` (a path parameter to Java servers), `%2e%2e` or `%2f` mean, and a
/// path that means one thing to us and another to them could reach what the connection was
/// never meant to reach.
fn checked_path(path_and_query: &str) -> Result<String> {
    let refuse = |why: &str| {
        Error::invalid(
            "path",
            format!(
                "only plain paths under Okta's /api/v1/ pass through a connection ({why}), not {path_and_query:?}: e.g. /api/connections/NAME/okta/api/v1/users"
            ),
        )
    };
    let path = path_and_query.split('?').next().unwrap_or_default();
    let rest = path
        .strip_prefix("/api/v1/")
        .ok_or_else(|| refuse("the path must start with /api/v1/"))?;
    for segment in rest.split('/') {
        let decoded = percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| refuse("a segment is not UTF-8 once decoded"))?;
        if decoded.is_empty() {
            return Err(refuse("an empty segment"));
        }
        if decoded == "." || decoded == ".." {
            return Err(refuse("a dot segment"));
        }
        if decoded.contains(['/', '\\', ';']) || decoded.chars().any(char::is_control) {
            return Err(refuse("a segment holds '/', '\\', ';' or a control character"));
        }
    }
    if path_and_query.contains('#') {
        return Err(refuse("a fragment"));
    }
    Ok(path_and_query.to_owned())
}

impl Service {
    /// Sends `method path_and_query` (with `body`) to the org of `account`'s connection and
    /// returns Okta's answer, whatever its status. A write (any method but `GET`, `HEAD`,
    /// `OPTIONS`) is recorded in the audit log: `actor`, method, path and status; never its
    /// body or query.
    ///
    /// # Security
    /// The request is the caller's choice, so its answer never marks the connection: Okta
    /// answers 401 for more than bad credentials (E0000015 for a feature the org is not
    /// licensed for), and a read-only key must not be able to take a customer's connection out
    /// of service with one GET. Only a 401 that says the credentials are bad (E0000011) is
    /// checked, with okta-bridge's own request (`GET /api/v1/users/me`) through
    /// [`Service::call`]: refused too, the connection is settled as any call's (refreshed, or
    /// marked); accepted (perhaps after a refresh), the caller's request is sent once more.
    /// Every other answer comes back as Okta sent it.
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
        let outcome = self.forward(account, &method, &target, body.as_ref()).await;
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

    /// Sends the request, and settles a refusal of the credentials with okta-bridge's own
    /// probe, never with the caller's request (see [`proxy`](Self::proxy)).
    async fn forward(
        &self,
        account: &AccountName,
        method: &Method,
        target: &str,
        body: Option<&RawBody>,
    ) -> Result<Proxied> {
        let client = self.client(account).await?;
        let send = || async { client.send_raw(method.clone(), target, body).await.map_err(Error::Okta) };
        let response = send().await?;
        if credentials_refusal(&response).is_none() {
            return Ok(Proxied {
                org: client.org_url().clone(),
                response,
            });
        }
        match self.call(account, probe).await {
            // The credentials work (a revoked access token was just replaced): once more.
            Ok(()) => Ok(Proxied {
                org: client.org_url().clone(),
                response: send().await?,
            }),
            // Refused, but nothing to settle (a service app's token, already minted anew):
            // Okta's answer as it came.
            Err(Error::Okta(_)) => Ok(Proxied {
                org: client.org_url().clone(),
                response,
            }),
            // The connection was marked: say so, with what to do.
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::checked_path;

    #[test]
    fn only_api_v1_paths_pass() {
        assert_eq!(checked_path("/api/v1/users?limit=2").unwrap(), "/api/v1/users?limit=2");
        assert_eq!(
            checked_path("/api/v1/users/ada%40example.com").unwrap(),
            "/api/v1/users/ada%40example.com",
            "percent-encoded characters that are not separators pass"
        );
        assert_eq!(
            checked_path("/api/v1/users?search=profile.login%20sw%20%22a%2Fb%22").unwrap(),
            "/api/v1/users?search=profile.login%20sw%20%22a%2Fb%22",
            "the query is Okta's business"
        );
        for bad in [
            "/oauth2/v1/token",
            "/api/v1/../../oauth2/v1/token",
            "/api/v1/%2e%2e/%2e%2e/oauth2/v1/keys",
            "/api/v2/x",
            "//evil.example/api/v1/users",
            "/api/v1",
            "/api/v1/",
            "/api/v1/users/a/../b",
            // Issue 25, finding 10: what servers in front of Okta may read as `..`.
            "/api/v1/users/..;/..;/oauth2/v1/keys",
            "/api/v1/users/..;",
            "/api/v1/users/%2e%2e%2f%2e%2e%2foauth2%2fv1%2fkeys",
            "/api/v1/users/%2E%2E/x",
            "/api/v1/users/%2e/x",
            "/api/v1/users/.%2e/x",
            "/api/v1/users/x%2f..%2f..%2fadmin",
            "/api/v1/users/x%5c..%5cadmin",
            "/api/v1/users/x\\..\\admin",
            "/api/v1/users/x;jsessionid=1",
            "/api/v1/users/x%3bjsessionid=1",
            "/api/v1/users/x%00",
            "/api/v1/users/%ff",
            "/api/v1/users//x",
            "/api/v1/users/x#frag",
        ] {
            assert!(checked_path(bad).is_err(), "{bad} passed");
        }
    }
}
