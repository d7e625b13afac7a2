//! Connections: the tokens (or the way to get them) okta-bridge holds for an account's org.

use okta_client::OrgUrl;

use super::names::{AccountName, Scopes};
use super::secrets::{AccessToken, ApiToken, PkceVerifier, RefreshToken};
use crate::error::{Error, Result};

/// When an access token stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// At this time (unix seconds).
    At(i64),
    /// Never (API tokens; service-app connections, whose tokens are minted per instance).
    Never,
}

impl Expiry {
    /// Whether a token with this expiry still has more than `margin_secs` left at `now`.
    pub fn fresh_at(self, now: i64, margin_secs: i64) -> bool {
        match self {
            Expiry::At(t) => t.saturating_sub(margin_secs) > now,
            Expiry::Never => true,
        }
    }

    /// The time, when there is one.
    pub fn at(self) -> Option<i64> {
        match self {
            Expiry::At(t) => Some(t),
            Expiry::Never => None,
        }
    }
}

/// How a connection was made, which says how its requests are authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionMethod {
    /// Authorization code + PKCE: Bearer tokens, refreshed with the refresh token.
    AuthorizationCode,
    /// An API token pasted by an admin (`SSWS`): never expires, never refreshed.
    ApiToken,
    /// The account's service app: each instance mints its own tokens (client credentials with
    /// `private_key_jwt`), so the row holds none.
    ServiceApp,
    /// The customer's Okta pushes the directory by SCIM 2.0: okta-bridge holds no token for
    /// the org (the row holds none) and reads nothing from it.
    Scim,
}

impl ConnectionMethod {
    /// As stored and shown: `authorization_code`, `api_token`, `service_app`, `scim`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ApiToken => "api_token",
            Self::ServiceApp => "service_app",
            Self::Scim => "scim",
        }
    }

    /// The method stored as `s`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "api_token" => Some(Self::ApiToken),
            "service_app" => Some(Self::ServiceApp),
            "scim" => Some(Self::Scim),
            _ => None,
        }
    }
}

/// Whether a connection still works.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// Tokens are valid or can be refreshed.
    Connected,
    /// Okta refused the refresh token (or the API token): an admin must connect the org
    /// again. The reason is what Okta said.
    NeedsReauth(String),
    /// Okta refused the account's app itself (`invalid_client`): the account needs its app's
    /// current credentials; giving them clears this.
    AppRejected(String),
    /// The org's API refused a token just issued for this connection (e.g. one from a
    /// custom authorization server, whose tokens the Management API does not take): no
    /// refresh helps; the account must be pointed at the org authorization server and
    /// connected again. The reason is Okta's error.
    TokenRefused(String),
}

impl ConnectionStatus {
    /// `connected`, `needs_reauth`, `app_rejected` or `token_refused`, as stored and shown.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::NeedsReauth(_) => "needs_reauth",
            ConnectionStatus::AppRejected(_) => "app_rejected",
            ConnectionStatus::TokenRefused(_) => "token_refused",
        }
    }

    /// Every status, as stored (for metrics that list each).
    pub const ALL: [&'static str; 4] = ["connected", "needs_reauth", "app_rejected", "token_refused"];

    /// The status stored as `s` with `reason`.
    pub fn parse(s: &str, reason: Option<String>) -> Option<Self> {
        match s {
            "connected" => Some(Self::Connected),
            "needs_reauth" => Some(Self::NeedsReauth(reason.unwrap_or_default())),
            "app_rejected" => Some(Self::AppRejected(reason.unwrap_or_default())),
            "token_refused" => Some(Self::TokenRefused(reason.unwrap_or_default())),
            _ => None,
        }
    }

    /// Why it does not work, if it does not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ConnectionStatus::Connected => None,
            ConnectionStatus::NeedsReauth(r) | ConnectionStatus::AppRejected(r) | ConnectionStatus::TokenRefused(r) => {
                Some(r)
            }
        }
    }
}

/// A stored connection to an org, tokens decrypted.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The name it is stored under.
    pub account: AccountName,
    /// The org.
    pub org_url: OrgUrl,
    /// Granted scopes.
    pub scopes: Scopes,
    /// `Bearer`, `DPoP` or `SSWS`.
    pub token_type: String,
    /// The current access token (an API token's connection: the API token; a service app's:
    /// empty).
    pub access_token: AccessToken,
    /// The refresh token, when `offline_access` was granted.
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires.
    pub expires_at: Expiry,
    /// Bumped on every write: token updates compare it so a concurrent refresh is not lost.
    pub version: i64,
    /// When the connection was first made (unix seconds).
    pub created_at: i64,
    /// When it last changed (unix seconds).
    pub updated_at: i64,
    /// Whether it still works.
    pub status: ConnectionStatus,
    /// How it was made.
    pub method: ConnectionMethod,
}

impl Connection {
    /// Checks the connection can produce tokens.
    ///
    /// # Errors
    /// [`Error::Reconnect`] when it needs to be connected again; [`Error::AppRejected`] when
    /// Okta refused its app; [`Error::TokenRefused`] when the org refuses its tokens.
    pub fn usable(&self) -> Result<()> {
        match &self.status {
            ConnectionStatus::Connected => Ok(()),
            ConnectionStatus::NeedsReauth(reason) => Err(Error::Reconnect {
                account: self.account.to_string(),
                reason: reason.clone(),
            }),
            ConnectionStatus::AppRejected(reason) => Err(Error::AppRejected {
                account: self.account.to_string(),
                reason: reason.clone(),
            }),
            ConnectionStatus::TokenRefused(reason) => Err(Error::TokenRefused {
                account: self.account.to_string(),
                reason: reason.clone(),
            }),
        }
    }

    /// The API token of an API-token connection.
    pub fn api_token(&self) -> Option<ApiToken> {
        use secrecy::ExposeSecret;
        (self.method == ConnectionMethod::ApiToken).then(|| ApiToken::new(self.access_token.expose_secret()))
    }
}

/// An account's status from its connection: `not_connected`, or its connection's status with
/// the reason (what Okta said).
pub fn status_of(conn: Option<&Connection>) -> (&'static str, Option<&str>) {
    match conn {
        None => ("not_connected", None),
        Some(c) => (c.status.as_str(), c.status.reason()),
    }
}

/// A token set from a token response (or an API token, which never expires).
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// Access token.
    pub access_token: AccessToken,
    /// Refresh token, if any.
    pub refresh_token: Option<RefreshToken>,
    /// Expiry of the access token.
    pub expires_at: Expiry,
}

/// What connecting hands the store.
#[derive(Debug)]
pub struct NewConnection {
    /// The name to store it under (replaces a connection of the same name).
    pub account: AccountName,
    /// The org.
    pub org_url: OrgUrl,
    /// Granted scopes.
    pub scopes: Scopes,
    /// Token type.
    pub token_type: String,
    /// Tokens and expiry.
    pub tokens: TokenSet,
    /// How it was made.
    pub method: ConnectionMethod,
}

/// A pending authorization, as stored (hashes only; the verifier sealed).
#[derive(Debug)]
pub struct PendingAuthorization {
    /// SHA-256 of the state, hex.
    pub state_hash: String,
    /// SHA-256 of the browser binding cookie and the admin session, hex.
    pub browser_hash: String,
    /// The PKCE verifier.
    pub pkce_verifier: PkceVerifier,
    /// The account name asked for, if any.
    pub account: Option<AccountName>,
    /// When it stops being usable (unix seconds).
    pub expires_at: i64,
}

/// One record of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// What happened: `disconnected`, `account_removed`.
    pub event: String,
    /// Details, never secret.
    pub detail: Option<String>,
    /// Who did it, where known: `admin token`, `api key NAME (ak_…)`.
    pub actor: Option<String>,
    /// When (unix seconds).
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip_and_unknown_ones_are_none() {
        for m in [
            ConnectionMethod::AuthorizationCode,
            ConnectionMethod::ApiToken,
            ConnectionMethod::ServiceApp,
        ] {
            assert_eq!(ConnectionMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(ConnectionMethod::parse("carrier_pigeon"), None);
        for s in ConnectionStatus::ALL {
            assert_eq!(ConnectionStatus::parse(s, None).unwrap().as_str(), s);
        }
        assert_eq!(ConnectionStatus::parse("paused", None), None);
        assert!(Expiry::Never.fresh_at(i64::MAX, 60));
        assert!(!Expiry::At(100).fresh_at(50, 60));
        assert!(Expiry::At(i64::MIN).at().is_some());
    }
}
