//! The one error type of the okta-bridge library.

/// Everything okta-bridge's library code can fail with. Messages say what to do and never
/// contain a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or wrong (→ exit at start-up). The message names the setting.
    #[error("configuration: {0}")]
    Config(String),
    /// Input that does not pass validation (→ 400/422).
    #[error("{0}")]
    Invalid(String),
    /// No connection with that account name (→ 404).
    #[error("no connection named {0:?}: connect one at /authenticate_okta")]
    UnknownConnection(String),
    /// No account with that name (→ 404).
    #[error("no account named {0:?}: add it with `okta-bridge accounts add` or POST /api/accounts")]
    UnknownAccount(String),
    /// An account with that name exists already (→ 409).
    #[error("an account named {0:?} exists already: remove it first, or replace it (--replace / ?replace=true)")]
    AccountExists(String),
    /// The request conflicts with what is stored, e.g. removing an account that is still
    /// connected (→ 409). The message says what to do first.
    #[error("{0}")]
    Conflict(String),
    /// The connection can no longer produce an access token; the user must connect again
    /// (→ 409 with a link to reconnect).
    #[error("connection {account:?} needs to be connected again: {reason}")]
    Reconnect {
        /// The connection.
        account: String,
        /// Why.
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
        "stored secret {0} does not decrypt: is OKTA_BRIDGE_MASTER_KEY (or the key file) the one the database was written with?"
    )]
    Decrypt(String),
    /// A stored value was sealed with a key this server does not have (→ refuse to start).
    #[error(
        "the database holds secrets sealed with master key id {0}, which this server does not have: set OKTA_BRIDGE_MASTER_KEY to that key, or add it to OKTA_BRIDGE_OLD_MASTER_KEYS"
    )]
    UnknownKey(String),
    /// Okta did not accept the credentials an admin gave (an API token, a service app's key):
    /// nothing was stored (→ 422).
    #[error("{0}")]
    Rejected(String),
    /// The OAuth flow failed (→ 400 error page).
    #[error("{0}")]
    OAuth(String),
    /// Okta answered with an error or could not be reached (→ 502).
    #[error(transparent)]
    Okta(#[from] okta_client::Error),
    /// The database failed (→ 500; details logged).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed at start-up.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A specialised `Result` for okta-bridge.
pub type Result<T, E = Error> = std::result::Result<T, E>;
