//! Setup links: a single-use URL an application sends its customer's Okta admin, who connects
//! one account through it without an okta-bridge admin token.

use super::names::{AccountName, Scopes};

/// The ways a setup link offers to connect, in the order it offers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupMethod {
    /// An API service integration from the Okta Integration Network (client id + secret,
    /// `client_credentials` + `client_secret_basic`): Okta's recommended way.
    Integration,
    /// An OAuth web app the admin creates (authorization code + PKCE; the admin signs in).
    WebApp,
    /// An API token the admin creates: a fallback, with its limits.
    ApiToken,
    /// A service app of the admin's own, with a key pair okta-bridge made (`private_key_jwt`).
    ServiceKey,
    /// No API access at all: the admin's Okta pushes the app's assigned users and groups to
    /// okta-bridge's SCIM endpoint (a base URL and a token made for the account).
    Scim,
}

impl SetupMethod {
    /// Every method, in the order the page offers them.
    pub const ALL: [Self; 5] = [
        Self::Integration,
        Self::WebApp,
        Self::ApiToken,
        Self::ServiceKey,
        Self::Scim,
    ];

    /// `integration`, `web`, `token`, `service-key` or `scim`: in URLs and forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integration => "integration",
            Self::WebApp => "web",
            Self::ApiToken => "token",
            Self::ServiceKey => "service-key",
            Self::Scim => "scim",
        }
    }

    /// The method named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Its name on the page.
    pub fn title(self) -> &'static str {
        match self {
            Self::Integration => "API service integration",
            Self::WebApp => "OAuth web app",
            Self::ApiToken => "API token",
            Self::ServiceKey => "Your own service app, with a key",
            Self::Scim => "SCIM provisioning (no API access)",
        }
    }
}

/// Where a setup link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Not opened yet.
    Active,
    /// Opened by a browser, which may use it until it expires.
    Opened,
    /// Its account was connected through it.
    Connected,
    /// Past its expiry.
    Expired,
    /// Revoked by an admin.
    Revoked,
}

/// A setup link as stored (without its token, of which only a hash is kept).
#[derive(Debug, Clone)]
pub struct SetupLink {
    /// `sl_…`: names it in the API and the audit log.
    pub id: String,
    /// The one account it can set up.
    pub account: AccountName,
    /// The scopes the account's app is asked to have.
    pub scopes: Scopes,
    /// When it was made (unix seconds).
    pub created_at: i64,
    /// When it stops working.
    pub expires_at: i64,
    /// When a browser opened it.
    pub opened_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// When its account was connected through it.
    pub connected_at: Option<i64>,
    /// How it was connected.
    pub method: Option<String>,
    /// The `kid` of the key pair made for the own-service-app path, once made.
    pub key_id: Option<String>,
    /// Whether the admin chooses the scope after connecting, before the first sync.
    pub choose_scope: bool,
    /// Whether that step also maps the org's groups to the application's roles.
    pub map_roles: bool,
    /// A manage link: for an account already connected, straight to the scope step (it never
    /// connects).
    pub manage: bool,
}

impl SetupLink {
    /// Where it stands at `now`.
    pub fn state(&self, now: i64) -> LinkState {
        if self.revoked_at.is_some() {
            LinkState::Revoked
        } else if self.connected_at.is_some() {
            LinkState::Connected
        } else if self.expires_at <= now {
            LinkState::Expired
        } else if self.opened_at.is_some() {
            LinkState::Opened
        } else {
            LinkState::Active
        }
    }

    /// Whether the browser that opened it may still use it to connect at `now`: not revoked
    /// (nor ended with its account), not expired, and not connected yet — a link connects its
    /// account once. Connecting again (another org, other credentials) takes a new link.
    pub fn usable(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.connected_at.is_none() && self.expires_at > now
    }

    /// Whether the browser that opened it may still see its summary at `now`: once it
    /// connected, until it is revoked or ends with its account; before, while usable.
    pub fn viewable(&self, now: i64) -> bool {
        self.revoked_at.is_none() && (self.connected_at.is_some() || self.expires_at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> SetupLink {
        SetupLink {
            id: "sl_1".into(),
            account: AccountName::parse("acme").unwrap(),
            scopes: Scopes::none(),
            created_at: 100,
            expires_at: 200,
            opened_at: None,
            revoked_at: None,
            connected_at: None,
            method: None,
            key_id: None,
            choose_scope: false,
            map_roles: false,
            manage: false,
        }
    }

    #[test]
    fn states_follow_the_links_life() {
        let mut l = link();
        assert_eq!(l.state(150), LinkState::Active);
        assert_eq!(l.state(200), LinkState::Expired);
        l.opened_at = Some(120);
        assert_eq!(l.state(150), LinkState::Opened);
        assert!(l.usable(150) && !l.usable(200));
        l.connected_at = Some(130);
        assert_eq!(l.state(150), LinkState::Connected);
        assert!(!l.usable(150), "a link connects once");
        assert!(
            l.viewable(150) && l.viewable(250),
            "its summary stays, even past its expiry"
        );
        l.revoked_at = Some(140);
        assert_eq!(l.state(150), LinkState::Revoked);
        assert!(!l.usable(150) && !l.viewable(150));
    }

    #[test]
    fn methods_round_trip() {
        for m in SetupMethod::ALL {
            assert_eq!(SetupMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(SetupMethod::parse("nope"), None);
    }
}
