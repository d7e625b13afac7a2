//! The domain's types, each valid once constructed: names, accounts and their apps,
//! connections and their tokens, one type per secret; a connected org's directory and its
//! change feed; the webhook endpoints it is delivered to; the Okta event hooks that push
//! changes in; the setup links customers' admins connect their orgs through; the API keys
//! applications call okta-bridge with; how console sessions were granted; SCIM resources as a
//! pushed directory keeps them (`scim`).

mod account;
mod api_key;
mod connection;
mod directory;
mod hook;
mod names;
mod roles;
pub mod scim;
mod scope;
mod secrets;
mod session;
mod setup;
mod webhook;

pub use account::{
    Account, AppCredentials, AppKind, DEFAULT_SERVICE_SCOPES, DEFAULT_WEB_SCOPES, NewAccount, ServiceAuth,
};
pub use api_key::{API_KEY_PREFIX, ApiKey, Scope, check_key_name};
pub use connection::{
    AuditRecord, Connection, ConnectionMethod, ConnectionStatus, Expiry, NewConnection, PendingAuthorization, TokenSet,
    status_of,
};
pub use directory::{
    DirApp, DirGroup, DirUser, Directory, DirectoryChanges, EventType, FeedEvent, NewEvent, SyncCursors, SyncState,
};
pub use hook::{HOOK_EVENT_TYPES, HookState, HookTarget, targets_of};
pub use names::{AccountName, Scopes};
pub use okta_client::OrgUrl;
pub use roles::{
    MAX_ROLE_MAPPINGS, MAX_ROLES, Role, RoleMapping, RoleMappings, RolesBody, check_mappings, check_roles,
};
pub use scope::{MAX_SCOPE_GROUPS, ScopeBody, SyncScope, check_scope};
pub use secrets::{
    AccessToken, ApiKeySecret, ApiToken, ClientSecret, HookSecret, PkceVerifier, PrivateKeyPem, RefreshToken,
    ScimToken, SetupSession, SetupToken, WebhookSecret, secret_opt,
};
pub use session::{ConsoleSession, SessionGrant};
pub use setup::{LinkState, SetupLink, SetupMethod};
pub use webhook::{Webhook, WebhookFilter, WebhookStatus};

/// The time now, in unix seconds: the one clock of the crate.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Unix seconds `t` as RFC 3339 (UTC); `None` out of range.
pub fn rfc3339(t: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
}
