//! Using and ending connections: an okta-client authorized as the connection was made, what an
//! Okta refusal means for it, and disconnecting with revocation.

use std::sync::Arc;

use secrecy::ExposeSecret;

use super::Service;
use crate::apps::Apps;
use crate::error::{Error, OAuthFailure, Result};
use crate::model::{AccountName, Connection, ConnectionMethod, ConnectionStatus};
use crate::tokens::ConnectionTokenSource;

/// The versions a cached client depends on: nothing for OAuth connections (their tokens are
/// read from the store on every request); the row's version for an API token; that and the
/// account's version for a service app (a new key or DPoP needs a new client).
pub type ClientStamp = (i64, i64);

/// Okta's `errorCode` for credentials it does not accept: "Invalid token provided".
const INVALID_TOKEN: &str = "E0000011";

/// Whether a 401 with `error_code` says the request's *credentials* are bad: Okta's E0000011,
/// or no Okta error code at all (a token refused before Okta's API saw it). Okta answers other
/// 401s that say nothing about them — E0000015 for a feature the org is not licensed for, such
/// as `GET /api/v1/authorizationServers` without API Access Management — and those must never
/// take a connection out of service.
pub(super) fn says_credentials_refused(error_code: Option<&str>) -> bool {
    error_code.is_none_or(|c| c == INVALID_TOKEN)
}

/// Whether the org refused the request's credentials (see [`says_credentials_refused`]).
fn refused(e: &okta_client::Error) -> bool {
    matches!(e, okta_client::Error::Api(api) if api.status == 401 && says_credentials_refused(api.error_code.as_deref()))
}

/// The request okta-bridge chooses to learn whether a connection's credentials work, whatever
/// the connection may read: `GET /api/v1/users/me`. Okta refuses it with 401 only for bad
/// credentials (a token without `okta.users.read.self`, or a service app's, which has no user,
/// gets 403 or 404: the credentials were accepted).
pub(super) async fn probe(client: okta_client::Client) -> std::result::Result<(), okta_client::Error> {
    let res = client.send_raw(reqwest::Method::GET, "/api/v1/users/me", None).await?;
    match credentials_refusal(&res) {
        Some(e) => Err(okta_client::Error::Api(Box::new(e))),
        None => Ok(()),
    }
}

/// Okta's error, when `response` says the credentials were refused (a 401 that
/// [`says_credentials_refused`]).
pub(super) fn credentials_refusal(response: &okta_client::RawResponse) -> Option<okta_client::ApiError> {
    if response.status != reqwest::StatusCode::UNAUTHORIZED {
        return None;
    }
    let e = okta_client::ApiError::from_response(response.status, &response.body);
    says_credentials_refused(e.error_code.as_deref()).then_some(e)
}

/// Okta's error `e` in a line: status, `errorCode` and `errorSummary`.
fn okta_error(e: &okta_client::Error) -> String {
    match e {
        okta_client::Error::Api(api) => format!(
            "{} {}: {}",
            api.status.as_u16(),
            api.error_code.as_deref().unwrap_or("(no errorCode)"),
            api.error_summary.as_deref().unwrap_or("(no errorSummary)")
        ),
        other => other.to_string(),
    }
}

/// What reading the org of a connection whose directory SCIM pushes answers.
pub(super) fn scim_only(account: &AccountName) -> Error {
    crate::error::Conflict::OtherSource {
        account: account.to_string(),
        source_now: "SCIM push".into(),
        what: "okta-bridge holds no access to its org's API; its directory is what the customer's Okta pushes (GET /api/connections/{account}/directory/users)".replace("{account}", account.as_str()),
    }
    .into()
}

impl Service {
    pub(super) async fn connection(&self, account: &AccountName) -> Result<Connection> {
        self.store
            .connection(account)
            .await?
            .ok_or_else(|| Error::UnknownConnection(account.to_string()))
    }

    async fn stamp(&self, conn: &Connection) -> Result<ClientStamp> {
        Ok(match conn.method {
            ConnectionMethod::ApiToken => (conn.version, 0),
            ConnectionMethod::ServiceApp => (
                conn.version,
                self.store.account(&conn.account).await?.map_or(0, |a| a.updated_at),
            ),
            ConnectionMethod::AuthorizationCode | ConnectionMethod::Scim => (0, 0),
        })
    }

    /// An okta-client for the stored connection `account`, authorized as the connection was
    /// made: the API token (`SSWS`), the account's service app (tokens minted by this instance,
    /// DPoP when the org requires it), or the connection's tokens through the refresher
    /// (refreshed as needed, once across instances). Kept, with its rate-limit pacing, while
    /// the connection is the same one, even if another instance made it.
    ///
    /// # Errors
    /// [`Error::UnknownConnection`]; [`Error::Reconnect`] / [`Error::AppRejected`] when the
    /// connection does not work; [`Error::Database`].
    pub async fn client(&self, account: &AccountName) -> Result<okta_client::Client> {
        let conn = self.connection(account).await?;
        self.client_of(conn).await
    }

    /// [`client`](Self::client) for the connection `conn`, already read.
    async fn client_of(&self, conn: Connection) -> Result<okta_client::Client> {
        conn.usable()?;
        let account = conn.account.clone();
        let stamp = self.stamp(&conn).await?;
        if let Some((s, c)) = self.clients.lock().expect("clients lock").get(account.as_str())
            && *s == stamp
        {
            return Ok(c.clone());
        }
        let client = self.client_for(conn).await?;
        self.clients
            .lock()
            .expect("clients lock")
            .insert(account.to_string(), (stamp, client.clone()));
        Ok(client)
    }

    async fn client_for(&self, conn: Connection) -> Result<okta_client::Client> {
        let account = &conn.account;
        let mut builder = self.apps.egress().client_builder(conn.org_url.clone());
        if let Some(wait) = self.rate_limit_wait {
            builder = builder.max_rate_limit_wait(wait);
        }
        Ok(match conn.method {
            ConnectionMethod::ApiToken => builder.api_token(conn.access_token.expose_secret()).build()?,
            ConnectionMethod::ServiceApp => {
                let a = self.store.account(account).await?.ok_or_else(|| Error::Reconnect {
                    account: account.to_string(),
                    reason: "its account (with the service app's key) was removed".into(),
                })?;
                builder.service_app(Apps::service_app(&a)?).build()?
            }
            ConnectionMethod::AuthorizationCode => {
                let source = ConnectionTokenSource::new(self.refresher.clone(), account.clone());
                builder.token_source(Arc::new(source)).build()?
            }
            ConnectionMethod::Scim => return Err(scim_only(account)),
        })
    }

    /// Runs `call` with an okta-client for the stored connection `account` (see
    /// [`client`](Self::client)) and settles what a refusal by the org (401) means for the
    /// connection. Only a 401 that says the credentials are bad counts (E0000011; see
    /// `says_credentials_refused`): any other error, a 401 E0000015 included, is returned as
    /// Okta's and leaves the connection as it is. `call` must be a request okta-bridge chose,
    /// never one a caller did (the proxy confirms with `probe`, `GET /api/v1/users/me`, first):
    /// - an API token Okta refuses (revoked, or expired after 30 days unused) cannot come back
    ///   by itself: the connection is marked `needs_reauth`;
    /// - an OAuth connection's access token may have been revoked alone: its token is
    ///   refreshed once (one forced refresh per token, however many requests were refused at
    ///   once) and the call made again; if the org refuses that fresh token too (e.g. one from
    ///   a custom authorization server), the connection is marked `token_refused` with Okta's
    ///   error, and later calls answer at once with it instead of asking the org again.
    ///
    /// Every mark is conditional on the version the refused token came from.
    ///
    /// # Errors
    /// [`Error::Okta`] for the org's other errors; [`Error::Reconnect`], [`Error::AppRejected`],
    /// [`Error::TokenRefused`] when the connection does not work; [`Error::Database`].
    pub async fn call<T, F, Fut>(&self, account: &AccountName, call: F) -> Result<T>
    where
        F: Fn(okta_client::Client) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, okta_client::Error>>,
    {
        let before = self.connection(account).await?;
        let client = self.client_of(before.clone()).await?;
        let err = match call(client.clone()).await {
            Ok(v) => return Ok(v),
            Err(e) if refused(&e) => e,
            Err(e) => return Err(Error::Okta(e)),
        };
        match before.method {
            ConnectionMethod::ApiToken => {
                let reason = "Okta no longer accepts the API token (revoked, or unused for 30 days): connect it again with a new token".to_owned();
                Err(self
                    .mark(account, before.version, ConnectionStatus::NeedsReauth(reason), err)
                    .await)
            }
            ConnectionMethod::AuthorizationCode => {
                self.refresher.refresh_refused(account, before.version).await?;
                let fresh = self.connection(account).await?;
                match call(client).await {
                    Ok(v) => Ok(v),
                    Err(e) if refused(&e) => {
                        let reason = okta_error(&e);
                        tracing::warn!(account = %account, %reason, "the org refuses even a fresh token of this connection");
                        Err(self
                            .mark(account, fresh.version, ConnectionStatus::TokenRefused(reason), e)
                            .await)
                    }
                    Err(e) => Err(Error::Okta(e)),
                }
            }
            // okta-client already took a new token (or the DPoP nonce) once.
            ConnectionMethod::ServiceApp | ConnectionMethod::Scim => Err(Error::Okta(err)),
        }
    }

    /// Marks `account` with `status` if it is still at `version`, and says so as an error; if
    /// it moved on, the connection's current state (or Okta's error `e`) says what happened.
    async fn mark(
        &self,
        account: &AccountName,
        version: i64,
        status: ConnectionStatus,
        e: okta_client::Error,
    ) -> Error {
        match self.store.mark_connection(account, version, &status).await {
            Ok(true) => {
                tracing::warn!(account = %account, status = status.as_str(), reason = status.reason().unwrap_or_default(), "connection marked");
            }
            Ok(false) => {}
            Err(db) => {
                tracing::error!(account = %account, error = %db, "could not mark the connection");
                return Error::Okta(e);
            }
        }
        match self.connection(account).await.map(|c| c.usable()) {
            Ok(Err(marked)) => marked,
            _ => Error::Okta(e),
        }
    }

    /// Refreshes `account`'s token now, whatever its expiry (same lease and write as any
    /// refresh).
    ///
    /// # Errors
    /// As [`crate::tokens::Refresher::refresh_now`].
    pub async fn refresh_now(&self, account: &AccountName) -> Result<()> {
        self.refresher.refresh_now(account).await.map(drop)
    }

    /// Disconnects `account`: an OAuth connection's refresh and access tokens are revoked at
    /// the authorization server first (nothing is removed when that fails, so it can be tried
    /// again); then the stored tokens are removed with an audit record. An API token is revoked
    /// at Okta only when `revoke_api_token` says so (it is the admin's and may serve other
    /// tools), else forgotten; a service app's connection holds no token. Returns what was
    /// revoked.
    ///
    /// # Errors
    /// [`Error::UnknownConnection`]; [`Error::OAuth`] when revocation fails; [`Error::Database`].
    ///
    /// # Security
    /// The account's setup links still in force end with the connection (in the same
    /// transaction): the browser that used one cannot connect the account again.
    pub async fn disconnect(&self, account: &AccountName, revoke_api_token: bool) -> Result<Vec<&'static str>> {
        self.disconnect_as(account, revoke_api_token, true).await
    }

    /// [`disconnect`](Self::disconnect), ending the account's setup links or not (a setup
    /// link's own failed sign-in undoes its connection and leaves the link to try again).
    pub(super) async fn disconnect_as(
        &self,
        account: &AccountName,
        revoke_api_token: bool,
        end_setup_links: bool,
    ) -> Result<Vec<&'static str>> {
        let conn = self.connection(account).await?;
        let (revoked, detail) = match conn.method {
            ConnectionMethod::ApiToken if revoke_api_token => {
                let client = self
                    .apps
                    .egress()
                    .client_builder(conn.org_url.clone())
                    .api_token(conn.access_token.expose_secret())
                    .build()?;
                match client.revoke_current_api_token().await {
                    Ok(()) => (vec!["api_token"], "revoked the API token".to_owned()),
                    // Okta refuses it already: revoked or expired; nothing left to revoke.
                    Err(okta_client::Error::Api(e)) if e.status == 401 => {
                        (Vec::new(), "API token forgotten (Okta refused it already)".to_owned())
                    }
                    Err(e) => return Err(Error::Okta(e)),
                }
            }
            ConnectionMethod::ApiToken => (
                Vec::new(),
                "API token forgotten (not revoked: it is the admin's; revoke it in the Admin Console under Security > API > Tokens if it is no longer needed)".to_owned(),
            ),
            ConnectionMethod::ServiceApp => (
                Vec::new(),
                "service app connection removed (its tokens were never stored)".to_owned(),
            ),
            ConnectionMethod::Scim => {
                self.store.disable_scim(account).await?;
                (
                    vec!["scim_token"],
                    "SCIM push turned off (its token no longer works; the directory pushed so far is kept)".to_owned(),
                )
            }
            ConnectionMethod::AuthorizationCode => {
                let oauth = self.apps.web_app(account).await?;
                let oauth = oauth.as_ref().filter(|o| o.org() == &conn.org_url).ok_or_else(|| {
                    Error::oauth(
                        OAuthFailure::Refused,
                        format!(
                            "no OAuth client is configured for {}, so its tokens cannot be revoked",
                            conn.org_url
                        ),
                    )
                })?;
                let revoked = oauth.revoke(&conn.access_token, conn.refresh_token.as_ref()).await?;
                let detail = format!("revoked {}", revoked.join(" and "));
                (revoked, detail)
            }
        };
        self.store
            .remove_connection(account, "disconnected", &detail, end_setup_links)
            .await?;
        self.forget_client(account.as_str());
        tracing::info!(account = %account, "disconnected");
        Ok(revoked)
    }
}
