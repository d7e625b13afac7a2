//! The one error type of the okta-bridge library.
//!
//! Variants carry typed causes (the field, the setting, Okta's own error, the kind of OAuth
//! failure), never a message to be parsed again. How an error becomes an HTTP answer lives in
//! one place (`server/error.rs`), how it becomes the CLI's message in another (`cli/mod.rs`).

use std::fmt;
use std::net::IpAddr;

/// Everything okta-bridge's library code can fail with. Messages say what to do and never
/// contain a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or wrong (→ refuse to start). Names the setting.
    #[error("{setting}: {reason}")]
    Config {
        /// The setting, as an operator writes it (`OKTA_BRIDGE_DATABASE_URL`, a key file, …).
        setting: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Input that does not pass validation (→ 400). Names the field.
    #[error("{reason}")]
    Invalid {
        /// The field, as the JSON API names it (`name`, `orgUrl`, `clientId`, …).
        field: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
    /// An org (or issuer) okta-bridge must not reach (→ 400 for input; refuse to start for a
    /// setting).
    #[error(transparent)]
    Egress(#[from] EgressRefusal),
    /// A JSON body sent without `Content-Type: application/json` (→ 415).
    #[error("send the body as JSON, with Content-Type: application/json")]
    NotJson,
    /// A state-changing request a browser made from another origin (→ 403).
    #[error(
        "this request came from another origin (a page of another site or port); okta-bridge only takes changes from its own pages or from API clients"
    )]
    CrossOrigin,
    /// No connection with that account name (→ 404).
    #[error("no connection named {0:?}: connect one at /authenticate_okta")]
    UnknownConnection(String),
    /// No webhook endpoint with that id (→ 404).
    #[error("no webhook endpoint {0:?}: GET /api/webhooks lists them")]
    UnknownWebhook(String),
    /// An API caller whose scope does not cover what it asked (→ 403 `insufficient_scope`).
    #[error(
        "{who} has scope {have}; this needs {needed}: use a key with that scope (okta-bridge api-keys create NAME --scope {needed})"
    )]
    InsufficientScope {
        /// `the admin token`, `API key "ci" (ak_…)`.
        who: String,
        /// The caller's scope.
        have: &'static str,
        /// The scope needed.
        needed: &'static str,
    },
    /// Someone signed in with the console's OpenID provider who is not on its allow lists
    /// (→ 403 on the sign-in page).
    #[error(
        "{who} signed in, but may not use this console: an admin adds them to OKTA_BRIDGE_CONSOLE_ALLOWED_EMAILS, or them to a group in OKTA_BRIDGE_CONSOLE_ALLOWED_GROUPS"
    )]
    ConsoleRefused {
        /// Their email, or subject.
        who: String,
    },
    /// No API key, not revoked, with that id or name (→ 404).
    #[error("no API key {0:?} that is not revoked: okta-bridge api-keys list (or GET /api/api-keys) shows them")]
    UnknownApiKey(String),
    /// No object with that id in a connection's synced directory (→ 404).
    #[error("no {what} {id:?} in the synced directory (sync it again if it is new at the org)")]
    NotFound {
        /// `user` or `group`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A feed cursor older than what retention keeps (→ 410).
    #[error(
        "cursor {after} is older than the feed keeps (events through {pruned_through} were deleted after the retention period): read the synced directory again, then follow the feed from the lastSeq that GET /api/connections/{account}/sync gives"
    )]
    CursorExpired {
        /// The connection.
        account: String,
        /// The cursor asked for.
        after: i64,
        /// The newest cursor deleted.
        pruned_through: i64,
    },
    /// No account with that name (→ 404).
    #[error("no account named {0:?}: add it with `okta-bridge accounts add` or POST /api/accounts")]
    UnknownAccount(String),
    /// An account with that name exists already (→ 409).
    #[error("an account named {0:?} exists already: remove it first, or replace it (--replace / ?replace=true)")]
    AccountExists(String),
    /// The request conflicts with what is stored (→ 409); says what to do first.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The connection can no longer produce an access token: an admin must connect again
    /// (→ 409 `reconnect_required`). `reason` is what Okta said.
    #[error("connection {account:?} needs to be connected again: {reason}")]
    Reconnect {
        /// The connection.
        account: String,
        /// Why.
        reason: String,
    },
    /// Okta refused the account's app itself (`invalid_client`: a rotated or wrong client
    /// secret, a removed app): retrying cannot help; new credentials for the account can
    /// (→ 409 `app_rejected`).
    #[error(
        "Okta rejected the app of connection {account:?} ({reason}): give the account its app's current credentials (okta-bridge accounts add {account} --replace …)"
    )]
    AppRejected {
        /// The connection.
        account: String,
        /// What Okta said.
        reason: String,
    },
    /// The org's API refused a token just issued for this connection (→ 409
    /// `token_refused`): refreshing again cannot help. `reason` is Okta's error.
    #[error(
        "the org refuses the tokens of connection {account:?} even when fresh ({reason}): point the account at the org authorization server (no issuer, or the org URL as issuer) with okta-bridge accounts add {account} --replace …, then connect again"
    )]
    TokenRefused {
        /// The connection.
        account: String,
        /// What Okta said.
        reason: String,
    },
    /// Another instance was refreshing this connection's token and did not finish in time
    /// (→ 503, retry later). Not a credentials problem: the connection is fine.
    #[error(
        "timed out after {waited_ms} ms waiting for another instance to refresh the token of connection {account:?}; try again"
    )]
    RefreshWaitTimeout {
        /// The connection.
        account: String,
        /// How long we waited.
        waited_ms: u128,
    },
    /// A stored value did not decrypt: the master key is not the one it was written with,
    /// or the data was tampered with (→ 500).
    #[error(
        "stored secret {context} does not decrypt: is OKTA_BRIDGE_MASTER_KEY (or the key file) the one the database was written with?"
    )]
    Decrypt {
        /// Table, row and column of the value.
        context: String,
    },
    /// A stored value was sealed with a key this server does not have (→ refuse to start).
    #[error(
        "the database holds secrets sealed with master key id {0}, which this server does not have: set OKTA_BRIDGE_MASTER_KEY to that key, or add it to OKTA_BRIDGE_OLD_MASTER_KEYS"
    )]
    UnknownKey(String),
    /// A value read from the database that this version does not know (written by a newer
    /// version, or by hand) (→ 500 for that row; every other row is still served).
    #[error(
        "the database holds {value:?} in {table}.{column} of row {row:?}, which this version of okta-bridge does not know (written by a newer version?)"
    )]
    Unreadable {
        /// The table.
        table: &'static str,
        /// The row's key.
        row: String,
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
    },
    /// Okta did not accept credentials an admin gave (an API token, a service app's key):
    /// nothing was stored (→ 422).
    #[error("{}", rejected_message(what, cause))]
    Rejected {
        /// What was refused (`API token`, `service app's credentials`).
        what: &'static str,
        /// Okta's answer.
        cause: Refusal,
    },
    /// A step of OAuth failed (→ 400 for the connect flow, 502 for the token endpoint).
    #[error("{detail}")]
    OAuth {
        /// What kind of failure: whether retrying can help.
        kind: OAuthFailure,
        /// The RFC 6749 error code, when the authorization server sent one.
        code: Option<String>,
        /// What happened and what to do.
        detail: String,
    },
    /// An event hook call without the connection's secret in its `Authorization` header
    /// (→ 401).
    #[error(
        "this event hook call does not carry {account}'s hook secret in its Authorization header: register the hook again (okta-bridge hooks register {account}) so the org sends the current one"
    )]
    HookUnauthorized {
        /// The connection the call was for.
        account: String,
    },
    /// The org did not take or verify the event hook: it refused (→ 422: a scope, a role or
    /// the hook's URL to fix), or could not be reached or failed (→ 502). Says why and what to
    /// do.
    #[error("the event hook of {account} could not be registered: {reason}")]
    HookRegistration {
        /// The connection.
        account: String,
        /// Why, and what to do.
        reason: String,
        /// Whether the org refused (a 4xx answer), rather than failed.
        refused: bool,
    },
    /// An API key revoked while its request waited (a long poll) (→ 401 `unauthorized`).
    #[error("the API key {name:?} ({id}) was revoked: use another key")]
    ApiKeyRevoked {
        /// Its name.
        name: String,
        /// Its id.
        id: String,
    },
    /// Too many long polls of the change feed wait already (→ 429 `too_many_long_polls`).
    #[error(
        "{max} long polls of the change feed are waiting already (OKTA_BRIDGE_MAX_LONG_POLLS): poll again in a second, or read without wait"
    )]
    TooManyLongPolls {
        /// The cap.
        max: usize,
    },
    /// A request body that was not taken (→ 413 too large, 408 too slow, 400 cut off).
    #[error("{0}")]
    Body(BodyRefusal),
    /// A setup link that cannot be used (→ 404 unknown, 410 expired, used or revoked, 429
    /// too many attempts).
    #[error("{0}")]
    SetupLink(SetupRefusal),
    /// Okta answered with an error or could not be reached (→ 502, 504 on a timeout).
    /// A SCIM request refused (`/scim/v2/…`): the status, SCIM's `scimType` and what to fix;
    /// answered as a SCIM error.
    #[error("{detail}")]
    Scim {
        /// The HTTP status.
        status: u16,
        /// `invalidFilter`, `invalidValue`, `uniqueness`, …
        scim_type: Option<&'static str>,
        /// What is wrong and what to do.
        detail: String,
    },
    #[error(transparent)]
    Okta(#[from] okta_client::Error),
    /// A bug: a task that panicked (→ 500; details logged, never sent).
    #[error("internal error: {0}")]
    Internal(String),
    /// The database failed (→ 500, details logged; → 503 `database_unavailable` when it cannot
    /// be reached, see [`Error::database_unavailable`]).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed at start-up.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    /// Whether this is the database being unreachable (no connection within the pool's
    /// acquire timeout, a connection refused or cut): a reason to try again shortly, not a bug.
    pub fn database_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_))
        )
    }

    /// An [`Error::Invalid`] of `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// An [`Error::Config`] of `setting`.
    pub fn config(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            setting: setting.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::OAuth`] without an RFC 6749 code.
    pub fn oauth(kind: OAuthFailure, detail: impl Into<String>) -> Self {
        Self::OAuth {
            kind,
            code: None,
            detail: detail.into(),
        }
    }

    /// The error of ours inside a token source's failure, if that is what this is (an
    /// `okta-client` request fails with our error when the connection's token could not be had).
    pub fn ours(&self) -> &Error {
        if let Error::Okta(okta_client::Error::TokenSource(t)) = self
            && let Some(inner) = std::error::Error::source(t).and_then(|s| s.downcast_ref::<Error>())
        {
            return inner.ours();
        }
        self
    }
}

/// Whether an OAuth failure can pass by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthFailure {
    /// The authorization server could not be reached, timed out, or answered 5xx or garbage:
    /// trying again later may work.
    Transient,
    /// The authorization server (or our checks of a callback) refused this request: the
    /// person must start again.
    Refused,
    /// The authorization server refused the app itself (`invalid_client`,
    /// `unauthorized_client`): its credentials must change.
    ClientRejected,
}

/// What Okta said when it refused an admin's credentials.
#[derive(Debug)]
#[non_exhaustive]
pub enum Refusal {
    /// A Management API error (401/403), with Okta's `errorCode`, `errorSummary`, `errorId`.
    Api(Box<okta_client::ApiError>),
    /// A token endpoint's RFC 6749 error.
    OAuth {
        /// `error`, e.g. `invalid_client`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The credentials cannot even be used (e.g. a key that does not parse).
    Unusable(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Api(api) => write!(
                f,
                "{} {}: {}",
                api.status.as_u16(),
                api.error_code.as_deref().unwrap_or("-"),
                api.error_summary.as_deref().unwrap_or("no summary")
            ),
            Refusal::OAuth { error, description } => {
                f.write_str(error)?;
                if let Some(d) = description {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            Refusal::Unusable(m) => f.write_str(m),
        }
    }
}

impl Refusal {
    /// Okta's refusal in `e`, when `e` is one (401/403, an OAuth error, unusable credentials).
    pub fn from_okta(e: okta_client::Error) -> Result<Self, okta_client::Error> {
        match e {
            okta_client::Error::Api(api) if matches!(api.status.as_u16(), 401 | 403) => Ok(Refusal::Api(api)),
            okta_client::Error::OAuth { error, description, .. } => Ok(Refusal::OAuth { error, description }),
            okta_client::Error::Config(m) => Ok(Refusal::Unusable(m)),
            other => Err(other),
        }
    }
}

/// What [`Error::Rejected`] says: Okta's refusal, or why the credentials could not even be sent.
fn rejected_message(what: &str, cause: &Refusal) -> String {
    match cause {
        Refusal::Unusable(m) => format!("the {what} cannot be used: {m}; nothing was stored"),
        cause => format!("Okta did not accept the {what} ({cause}); nothing was stored"),
    }
}

/// Why a request body was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyRefusal {
    /// Larger than the route takes.
    #[error("the request body is larger than this route takes ({limit} bytes at most)")]
    TooLarge {
        /// The route's limit in bytes.
        limit: usize,
    },
    /// Not all there before the server's deadline.
    #[error(
        "the request body did not arrive within {seconds} seconds: send the whole body at once (OKTA_BRIDGE_BODY_READ_TIMEOUT)"
    )]
    TooSlow {
        /// The deadline, in seconds.
        seconds: u64,
    },
    /// Cut off or malformed on the wire.
    #[error("the request body could not be read: it was cut off or malformed")]
    Broken,
}

/// Why a setup link cannot be used, in words for the customer's admin who holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupRefusal {
    /// No such link (mistyped, or forged).
    #[error("this setup link is not valid: check that the whole link was copied, or ask for a new one")]
    Unknown,
    /// Past its expiry.
    #[error("this setup link has expired: ask for a new one")]
    Expired,
    /// Opened already, by another browser.
    #[error(
        "this setup link was already opened, in another browser: links work once; continue there, or ask for a new one"
    )]
    Used,
    /// Revoked by an admin, or ended with its account (disconnected or removed).
    #[error("this setup link was revoked, or its account was disconnected or removed: ask for a new one")]
    Revoked,
    /// It connected its account already: a link connects once.
    #[error(
        "this setup link already connected its account: a link connects once; to connect again (another org, other credentials), ask for a new link"
    )]
    Connected,
    /// Too many credential checks in a short time.
    #[error("too many attempts through this setup link: wait ten minutes, then try again")]
    TooManyAttempts,
}

/// Why an org (or issuer) may not be reached.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EgressRefusal {
    /// Not https.
    #[error("the org URL {url} is not https: Okta orgs are reached over https ({SWITCH})")]
    NotHttps {
        /// The URL.
        url: String,
    },
    /// A loopback, private or link-local address (or a `localhost` name), as written.
    #[error(
        "the org URL {url} points at a loopback, private or link-local address, where no Okta org lives ({SWITCH})"
    )]
    PrivateUrl {
        /// The URL.
        url: String,
    },
    /// A name that resolves to such an address.
    #[error(
        "the org URL {url} resolves to {address}, a loopback, private or link-local address, where no Okta org lives ({SWITCH})"
    )]
    PrivateAddress {
        /// The URL.
        url: String,
        /// The address it resolved to.
        address: IpAddr,
    },
    /// A name that does not resolve (a mistyped org URL).
    #[error("{why}: check the org URL {url}")]
    Unresolved {
        /// The URL.
        url: String,
        /// What the resolver said.
        why: String,
    },
}

/// What to do about an org on a private address.
const SWITCH: &str = "set OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS=true only for local development";

/// A request that conflicts with what is stored.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Conflict {
    /// Removing an account that is still connected.
    #[error(
        "account {account} is connected: disconnect it first (okta-bridge connections disconnect {account}, or DELETE /api/connections/{account}), which revokes its tokens at Okta"
    )]
    StillConnected {
        /// The account.
        account: String,
    },
    /// Pointing a connected account at another org.
    #[error("account {account} is connected to {org}: disconnect it before pointing it at another org")]
    OtherOrg {
        /// The account.
        account: String,
        /// The org it is connected to.
        org: String,
    },
    /// Changing the app (client id) or the authorization server (issuer) of a connected account:
    /// its tokens were issued to the old one, which alone may refresh or revoke them.
    #[error(
        "account {account} is connected through {what} {old}: its tokens belong to that one, so disconnect it first (or add a new account) to change it"
    )]
    OtherApp {
        /// The account.
        account: String,
        /// `client id` or `issuer`.
        what: &'static str,
        /// The stored value.
        old: String,
    },
    /// Syncing a connection that another run (here or on another instance) is syncing.
    #[error(
        "a sync of {account} is running already: wait for it to finish (GET /api/connections/{account}/sync shows it)"
    )]
    SyncRunning {
        /// The account.
        account: String,
    },
    /// A sync run outlived its lease and another run took it over: this one wrote nothing.
    #[error(
        "the sync of {account} took longer than its lease and another run took over; nothing of this run was written"
    )]
    SyncLeaseLost {
        /// The account.
        account: String,
    },
    /// Rotating a webhook's secret while another rotation of it went first.
    #[error("the secret of webhook {id} was rotated meanwhile: read it again, and rotate again if needed")]
    WebhookChanged {
        /// The endpoint.
        id: String,
    },
    /// Making an API key with the name of one that is not revoked.
    #[error(
        "an API key named {name:?} exists: revoke it first (okta-bridge api-keys revoke {id}) or choose another name"
    )]
    ApiKeyName {
        /// The name.
        name: String,
        /// The existing key's id.
        id: String,
    },
    /// Turning SCIM on for an account connected another way, or reading the org of an account
    /// whose directory SCIM pushes: an account's directory has one source at a time.
    #[error("account {account}'s directory comes from {source_now}: {what}")]
    OtherSource {
        /// The account.
        account: String,
        /// `SCIM push` or `the API sync (…)`.
        source_now: String,
        /// What to do.
        what: String,
    },
    /// Turning SCIM on twice.
    #[error(
        "SCIM is on for account {account} already: rotate its token (okta-bridge scim rotate {account}, or POST /api/accounts/{account}/scim/rotate) for a new one"
    )]
    ScimOn {
        /// The account.
        account: String,
    },
    /// Declaring roles without one that accounts' role mappings still name.
    #[error(
        "role {role:?} is still mapped in account(s) {accounts}: change their role mappings first (PUT /api/accounts/{{name}}/role-mappings), then declare the roles without it"
    )]
    RoleInUse {
        /// The role's slug.
        role: String,
        /// The accounts that name it, comma-separated.
        accounts: String,
    },
    /// Changing a connected account's kind of app.
    #[error("account {account} is connected through its {kind} app: disconnect it before changing the kind of app")]
    OtherKind {
        /// The account.
        account: String,
        /// `web` or `service`.
        kind: &'static str,
    },
}

/// A specialised `Result` for okta-bridge.
pub type Result<T, E = Error> = std::result::Result<T, E>;
