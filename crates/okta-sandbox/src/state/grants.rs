//! What the authorization servers have handed out: pending sign-ins, codes, refresh tokens,
//! revoked access tokens, used client assertions.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;

/// Which authorization server a request is for: the org's (`/oauth2/v1/*`) or a custom one
/// (`/oauth2/{id}/v1/*`, by its index in [`SandboxConfig::authorization_servers`]). Taken from
/// the request's path.
///
/// [`SandboxConfig::authorization_servers`]: crate::SandboxConfig::authorization_servers
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthServer {
    Org,
    Custom(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct AuthRequest {
    pub(crate) server: AuthServer,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) state: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) code_challenge: Option<String>,
    /// OpenID Connect's `nonce`, returned in the ID token.
    pub(crate) nonce: Option<String>,
    pub(crate) expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) server: AuthServer,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) server: AuthServer,
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: OffsetDateTime,
}

/// Everything the authorization server has handed out.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    pub(crate) pending: HashMap<String, AuthRequest>,
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) refresh: HashMap<String, RefreshGrant>,
    /// Rotated-out refresh tokens: their successor and when they were rotated. They keep
    /// working during the app's leeway, as Okta's do, handing out the successor.
    pub(crate) rotated: HashMap<String, (String, OffsetDateTime)>,
    pub(crate) revoked_access: HashSet<String>,
    /// `jti`s of the access tokens issued (kept to revoke them all at once).
    pub(crate) issued_access: Vec<String>,
    /// `jti`s of client assertions already used (an assertion works once).
    pub(crate) used_assertions: HashMap<String, i64>,
    /// Token grants per client id, for tests that count refreshes.
    pub token_grants: HashMap<String, u64>,
}

impl Grants {
    pub(crate) fn prune(&mut self, now: OffsetDateTime) {
        self.pending.retain(|_, r| r.expires_at > now);
        self.codes.retain(|_, c| c.expires_at > now);
    }
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked_access.contains(jti)
    }
    pub fn live_refresh_tokens(&self) -> usize {
        self.refresh.len()
    }
    /// Revokes every access token issued so far.
    pub fn revoke_all_access(&mut self) {
        let issued = std::mem::take(&mut self.issued_access);
        self.revoked_access.extend(issued);
    }
}
