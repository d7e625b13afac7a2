//! The store: connections, pending authorizations and admin sessions in SQLite (default) or
//! PostgreSQL, behind one interface. The same SQL runs on both (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`); each database has its own embedded migrations.
//!
//! Every token is sealed with the [`MasterKey`] before it reaches a query, and opened only when
//! read back; a row's ciphertexts are bound to its account and column.

use std::str::FromStr;
use std::time::Duration;

use okta_client::OrgUrl;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::accounts::{Account, AppCredentials};
use crate::crypto::MasterKey;
use crate::domain::AccountName;
use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has: the SQL is shared, the
/// driver types are not.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// The database, with the key its secrets are sealed with. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    key: MasterKey,
}

/// A stored connection to an org, tokens decrypted.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The name it is stored under.
    pub account: AccountName,
    /// The org.
    pub org_url: OrgUrl,
    /// Granted scopes, space-separated.
    pub scopes: String,
    /// `Bearer` (or `DPoP` later).
    pub token_type: String,
    /// The current access token.
    pub access_token: SecretString,
    /// The refresh token, when `offline_access` was granted.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (unix seconds).
    pub expires_at: i64,
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
}

impl ConnectionMethod {
    /// As stored and shown: `authorization_code`, `api_token`, `service_app`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ApiToken => "api_token",
            Self::ServiceApp => "service_app",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "api_token" => Self::ApiToken,
            "service_app" => Self::ServiceApp,
            _ => Self::AuthorizationCode,
        }
    }
}

/// The expiry stored for tokens that do not expire (API tokens; service-app connections):
/// 9999-12-31T23:59:59Z.
pub const NEVER: i64 = 253_402_300_799;

/// Whether a connection still works.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// Tokens are valid or can be refreshed.
    Connected,
    /// Okta refused the refresh token: an admin must connect the org again. The reason is
    /// what Okta said.
    NeedsReauth(String),
}

impl ConnectionStatus {
    /// `connected` or `needs_reauth`, as stored and shown.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::NeedsReauth(_) => "needs_reauth",
        }
    }
}

/// What the connect flow hands the store.
#[derive(Debug)]
pub struct NewConnection {
    /// The name to store it under (replaces a connection of the same name).
    pub account: AccountName,
    /// The org.
    pub org_url: OrgUrl,
    /// Granted scopes.
    pub scopes: String,
    /// Token type.
    pub token_type: String,
    /// Tokens and expiry.
    pub tokens: TokenSet,
    /// How it was made.
    pub method: ConnectionMethod,
}

/// A token set from a token response.
#[derive(Debug)]
pub struct TokenSet {
    /// Access token.
    pub access_token: SecretString,
    /// Refresh token, if any.
    pub refresh_token: Option<SecretString>,
    /// Expiry of the access token (unix seconds).
    pub expires_at: i64,
}

/// A pending authorization, as stored (hashes only; the verifier sealed).
#[derive(Debug)]
pub struct PendingAuthorization {
    /// SHA-256 of the state, hex.
    pub state_hash: String,
    /// SHA-256 of the browser binding cookie, hex.
    pub browser_hash: String,
    /// The PKCE verifier.
    pub pkce_verifier: SecretString,
    /// The account name asked for, if any.
    pub account: Option<AccountName>,
    /// When it stops being usable (unix seconds).
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    account: String,
    org_url: String,
    scopes: String,
    token_type: String,
    access_token: Vec<u8>,
    refresh_token: Option<Vec<u8>>,
    expires_at: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
    status: String,
    status_reason: Option<String>,
    method: String,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    browser_hash: String,
    pkce_verifier: Vec<u8>,
    account: Option<String>,
    expires_at: i64,
}

/// `SELECT` of every column of `connections`, followed by `$tail`.
macro_rules! select_connections {
    ($tail:literal) => {
        concat!(
            "SELECT account, org_url, scopes, token_type, access_token, refresh_token, expires_at, version, created_at, updated_at, status, status_reason, method FROM connections ",
            $tail
        )
    };
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn ctx(account: &str, column: &str) -> String {
    format!("connections/{account}/{column}")
}

/// An account's name with its sealed client secret and private key.
type SealedAccountRow = (String, Option<Vec<u8>>, Option<Vec<u8>>);

fn account_ctx(name: &str, column: &str) -> String {
    format!("accounts/{name}/{column}")
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    name: String,
    org_url: String,
    kind: String,
    client_id: Option<String>,
    client_secret: Option<Vec<u8>>,
    private_key: Option<Vec<u8>>,
    key_id: Option<String>,
    issuer: Option<String>,
    scopes: String,
    dpop: i64,
    created_at: i64,
    updated_at: i64,
}

/// `SELECT` of every column of `accounts`, followed by `$tail`.
macro_rules! select_accounts {
    ($tail:literal) => {
        concat!(
            "SELECT name, org_url, kind, client_id, client_secret, private_key, key_id, issuer, scopes, dpop, created_at, updated_at FROM accounts ",
            $tail
        )
    };
}

impl Store {
    /// Opens the database at `url` (`sqlite://file.db` or `postgres://…`), creating a SQLite
    /// file if missing, and runs the migrations.
    ///
    /// # Errors
    /// [`Error::Config`] for an unsupported URL or a master key that does not match the one
    /// the database was written with; [`Error::Database`]/[`Error::Migrate`] otherwise.
    pub async fn open(url: &str, key: MasterKey) -> Result<Self> {
        let pool = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| Error::Config(format!("OKTA_BRIDGE_DATABASE_URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts =
                PgConnectOptions::from_str(url).map_err(|e| Error::Config(format!("OKTA_BRIDGE_DATABASE_URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Pool::Postgres(pool)
        } else {
            return Err(Error::Config(
                "OKTA_BRIDGE_DATABASE_URL must start with sqlite:// (e.g. sqlite://okta-bridge.db) or postgres://"
                    .to_owned(),
            ));
        };
        let store = Self { pool, key };
        store.check_key().await?;
        Ok(store)
    }

    /// Which database this is: `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// Every sealed value in the database, with its context: (table, key, column, context, bytes).
    async fn sealed_values(&self) -> Result<Vec<(&'static str, String, &'static str, String, Vec<u8>)>> {
        let conns: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT account, access_token, refresh_token FROM connections").fetch_all(pool).await?
        });
        let states: Vec<(String, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT state_hash, pkce_verifier FROM oauth_states").fetch_all(pool).await?
        });
        let accounts: Vec<SealedAccountRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT name, client_secret, private_key FROM accounts").fetch_all(pool).await?
        });
        let meta: Vec<(String, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT name, value FROM store_meta").fetch_all(pool).await?
        });
        let mut out = Vec::new();
        for (account, access, refresh) in conns {
            out.push((
                "connections",
                account.clone(),
                "access_token",
                ctx(&account, "access_token"),
                access,
            ));
            if let Some(r) = refresh {
                out.push((
                    "connections",
                    account.clone(),
                    "refresh_token",
                    ctx(&account, "refresh_token"),
                    r,
                ));
            }
        }
        for (state, verifier) in states {
            out.push((
                "oauth_states",
                state.clone(),
                "pkce_verifier",
                format!("oauth_states/{state}/pkce_verifier"),
                verifier,
            ));
        }
        for (name, secret, key) in accounts {
            for (column, value) in [("client_secret", secret), ("private_key", key)] {
                if let Some(v) = value {
                    out.push(("accounts", name.clone(), column, account_ctx(&name, column), v));
                }
            }
        }
        for (name, value) in meta {
            out.push(("store_meta", name.clone(), "value", format!("store_meta/{name}"), value));
        }
        Ok(out)
    }

    /// Refuses to start when the database holds ciphertexts under a key this server does not
    /// have (every token would be unreadable), or when the key check does not open.
    async fn check_key(&self) -> Result<()> {
        const CTX: &str = "store_meta/key_check";
        for (_, _, _, _, sealed) in self.sealed_values().await? {
            if let Some(id) = MasterKey::sealed_with(&sealed)
                && !self.key.has(&id)
            {
                return Err(Error::UnknownKey(crate::crypto::key_id_hex(&id)));
            }
        }
        let existing: Option<Vec<u8>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'key_check'").fetch_optional(pool).await?
        });
        match existing {
            Some(sealed) => self.key.open(CTX, &sealed).map(drop).map_err(|_| {
                Error::Config("the master key does not match the one this database was written with: set OKTA_BRIDGE_MASTER_KEY (or restore the key file) to the original key".to_owned())
            }),
            None => {
                let sealed = self.key.seal(CTX, b"okta-bridge");
                with_pool!(self, pool => {
                    sqlx::query("INSERT INTO store_meta (name, value) VALUES ('key_check', $1) ON CONFLICT (name) DO NOTHING")
                        .bind(sealed).execute(pool).await?;
                });
                Ok(())
            }
        }
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> crate::crypto::KeyId {
        self.key.current_id()
    }

    /// Re-seals every secret under the key ring's first key, online: each value is replaced
    /// only if it is still the one read (a token refreshed meanwhile was sealed anew already).
    /// Returns how many values were re-sealed.
    ///
    /// # Errors
    /// [`Error::UnknownKey`]/[`Error::Decrypt`] when a value does not open; [`Error::Database`].
    pub async fn rotate_keys(&self) -> Result<usize> {
        let current = self.key.current_id();
        let mut n = 0;
        for (table, key, column, context, sealed) in self.sealed_values().await? {
            if MasterKey::sealed_with(&sealed) == Some(current) {
                continue;
            }
            let plain = self.key.open(&context, &sealed)?;
            let resealed = self.key.seal(&context, &plain);
            let sql = match (table, column) {
                ("connections", "access_token") => {
                    "UPDATE connections SET access_token = $1 WHERE account = $2 AND access_token = $3"
                }
                ("connections", _) => {
                    "UPDATE connections SET refresh_token = $1 WHERE account = $2 AND refresh_token = $3"
                }
                ("accounts", "client_secret") => {
                    "UPDATE accounts SET client_secret = $1 WHERE name = $2 AND client_secret = $3"
                }
                ("accounts", _) => "UPDATE accounts SET private_key = $1 WHERE name = $2 AND private_key = $3",
                ("oauth_states", _) => {
                    "UPDATE oauth_states SET pkce_verifier = $1 WHERE state_hash = $2 AND pkce_verifier = $3"
                }
                _ => "UPDATE store_meta SET value = $1 WHERE name = $2 AND value = $3",
            };
            let changed = with_pool!(self, pool => {
                sqlx::query(sql).bind(resealed).bind(&key).bind(&sealed).execute(pool).await?.rows_affected()
            });
            n += usize::try_from(changed).unwrap_or(0);
        }
        Ok(n)
    }

    /// Stores a connection, replacing one with the same account name.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn upsert_connection(&self, c: &NewConnection) -> Result<()> {
        let account = c.account.as_str();
        let access = self.key.seal(
            &ctx(account, "access_token"),
            c.tokens.access_token.expose_secret().as_bytes(),
        );
        let refresh = c.tokens.refresh_token.as_ref().map(|r| {
            self.key
                .seal(&ctx(account, "refresh_token"), r.expose_secret().as_bytes())
        });
        let now = now();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO connections (account, org_url, scopes, token_type, access_token, refresh_token, expires_at, version, created_at, updated_at, method) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9) \
                 ON CONFLICT (account) DO UPDATE SET org_url = excluded.org_url, scopes = excluded.scopes, token_type = excluded.token_type, \
                 access_token = excluded.access_token, refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, \
                 version = connections.version + 1, updated_at = excluded.updated_at, status = 'connected', status_reason = NULL, \
                 method = excluded.method, refresh_lease_owner = NULL, refresh_lease_until = NULL",
            )
            .bind(account)
            .bind(c.org_url.as_str())
            .bind(&c.scopes)
            .bind(&c.token_type)
            .bind(access)
            .bind(refresh)
            .bind(c.tokens.expires_at)
            .bind(now)
            .bind(c.method.as_str())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    fn decode(&self, row: ConnectionRow) -> Result<Connection> {
        let open = |column: &str, sealed: &[u8]| -> Result<SecretString> {
            let bytes = self.key.open(&ctx(&row.account, column), sealed)?;
            String::from_utf8(bytes)
                .map(SecretString::from)
                .map_err(|_| Error::Decrypt(ctx(&row.account, column)))
        };
        let access_token = open("access_token", &row.access_token)?;
        let refresh_token = row
            .refresh_token
            .as_deref()
            .map(|r| open("refresh_token", r))
            .transpose()?;
        Ok(Connection {
            account: AccountName::parse(&row.account)?,
            org_url: OrgUrl::parse(&row.org_url).map_err(|e| Error::Invalid(e.to_string()))?,
            scopes: row.scopes,
            token_type: row.token_type,
            access_token,
            refresh_token,
            expires_at: row.expires_at,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            status: match row.status.as_str() {
                "needs_reauth" => ConnectionStatus::NeedsReauth(row.status_reason.unwrap_or_default()),
                _ => ConnectionStatus::Connected,
            },
            method: ConnectionMethod::parse(&row.method),
        })
    }

    /// One connection, tokens decrypted.
    ///
    /// # Errors
    /// [`Error::Database`], or [`Error::Decrypt`] with the wrong key.
    pub async fn connection(&self, account: &AccountName) -> Result<Option<Connection>> {
        let row: Option<ConnectionRow> = with_pool!(self, pool => {
            sqlx::query_as(select_connections!("WHERE account = $1")).bind(account.as_str()).fetch_optional(pool).await?
        });
        row.map(|r| self.decode(r)).transpose()
    }

    /// Every connection, by account name.
    ///
    /// # Errors
    /// [`Error::Database`], or [`Error::Decrypt`] with the wrong key.
    pub async fn connections(&self) -> Result<Vec<Connection>> {
        let rows: Vec<ConnectionRow> =
            with_pool!(self, pool => sqlx::query_as(select_connections!("ORDER BY account")).fetch_all(pool).await?);
        rows.into_iter().map(|r| self.decode(r)).collect()
    }

    /// Replaces the tokens of `account` if it is still at `expected_version` (compare and
    /// swap). Returns whether it was; `false` means someone else wrote first: read again.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn update_tokens(&self, account: &AccountName, expected_version: i64, tokens: &TokenSet) -> Result<bool> {
        let a = account.as_str();
        let access = self
            .key
            .seal(&ctx(a, "access_token"), tokens.access_token.expose_secret().as_bytes());
        let refresh = tokens
            .refresh_token
            .as_ref()
            .map(|r| self.key.seal(&ctx(a, "refresh_token"), r.expose_secret().as_bytes()));
        let result = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET access_token = $1, refresh_token = $2, expires_at = $3, version = version + 1, updated_at = $4, \
                 refresh_lease_owner = NULL, refresh_lease_until = NULL \
                 WHERE account = $5 AND version = $6",
            )
            .bind(access)
            .bind(refresh)
            .bind(tokens.expires_at)
            .bind(now())
            .bind(a)
            .bind(expected_version)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(result == 1)
    }

    /// Takes the refresh lease of `account` for `owner` until `until` (epoch seconds) if no
    /// one holds an unexpired one: one statement, so at most one taker wins across every
    /// process sharing the database. Returns whether `owner` holds it now.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn take_refresh_lease(&self, account: &AccountName, owner: &str, until: i64) -> Result<bool> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET refresh_lease_owner = $1, refresh_lease_until = $2 \
                 WHERE account = $3 AND (refresh_lease_until IS NULL OR refresh_lease_until < $4 OR refresh_lease_owner = $1)",
            )
            .bind(owner)
            .bind(until)
            .bind(account.as_str())
            .bind(now())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Gives the refresh lease back (when the refresh did not happen); only its owner can.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn release_refresh_lease(&self, account: &AccountName, owner: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET refresh_lease_owner = NULL, refresh_lease_until = NULL \
                 WHERE account = $1 AND refresh_lease_owner = $2",
            )
            .bind(account.as_str())
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Marks `account` as needing a new connection (Okta refused its refresh token), with
    /// Okta's reason. Connecting it again clears the mark.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn mark_needs_reauth(&self, account: &AccountName, reason: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET status = 'needs_reauth', status_reason = $1, updated_at = $2, \
                 refresh_lease_owner = NULL, refresh_lease_until = NULL WHERE account = $3",
            )
            .bind(reason)
            .bind(now())
            .bind(account.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    ///
    /// # Errors
    /// [`Error::Database`] when it does not.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Deletes a connection and records why in the audit log, in one transaction; returns
    /// whether it existed.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn remove_connection(&self, account: &AccountName, event: &str, detail: &str) -> Result<bool> {
        let n = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let org: Option<(String,)> = sqlx::query_as("SELECT org_url FROM connections WHERE account = $1")
                .bind(account.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let n = match org {
                Some((org,)) => {
                    sqlx::query("DELETE FROM connections WHERE account = $1").bind(account.as_str()).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO connection_audit (account, org_url, event, detail, at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(account.as_str())
                        .bind(org)
                        .bind(event)
                        .bind(detail)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    1
                }
                None => 0,
            };
            tx.commit().await?;
            n
        });
        Ok(n == 1)
    }

    /// The audit log of `account`, oldest first: (event, detail, unix seconds).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn audit(&self, account: &AccountName) -> Result<Vec<(String, Option<String>, i64)>> {
        let rows: Vec<(String, Option<String>, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT event, detail, at FROM connection_audit WHERE account = $1 ORDER BY at")
                .bind(account.as_str())
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Records a pending authorization (and forgets expired ones).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn put_pending(&self, p: &PendingAuthorization) -> Result<()> {
        let verifier = self.key.seal(
            &format!("oauth_states/{}/pkce_verifier", p.state_hash),
            p.pkce_verifier.expose_secret().as_bytes(),
        );
        let now = now();
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1").bind(now).execute(pool).await?;
            sqlx::query(
                "INSERT INTO oauth_states (state_hash, browser_hash, pkce_verifier, account, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&p.state_hash)
            .bind(&p.browser_hash)
            .bind(verifier)
            .bind(p.account.as_ref().map(AccountName::as_str))
            .bind(now)
            .bind(p.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Removes and returns the pending authorization with this state hash: a state can be
    /// taken once, whatever happens next.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Decrypt`].
    pub async fn take_pending(&self, state_hash: &str) -> Result<Option<PendingAuthorization>> {
        let row: Option<StateRow> = with_pool!(self, pool => {
            sqlx::query_as("DELETE FROM oauth_states WHERE state_hash = $1 RETURNING browser_hash, pkce_verifier, account, expires_at")
                .bind(state_hash)
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else { return Ok(None) };
        let context = format!("oauth_states/{state_hash}/pkce_verifier");
        let verifier =
            String::from_utf8(self.key.open(&context, &row.pkce_verifier)?).map_err(|_| Error::Decrypt(context))?;
        Ok(Some(PendingAuthorization {
            state_hash: state_hash.to_owned(),
            browser_hash: row.browser_hash,
            pkce_verifier: verifier.into(),
            account: row.account.as_deref().map(AccountName::parse).transpose()?,
            expires_at: row.expires_at,
        }))
    }

    /// Records an admin session (by the hash of its cookie).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn create_session(&self, session_hash: &str, expires_at: i64) -> Result<()> {
        let now = now();
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM admin_sessions WHERE expires_at < $1").bind(now).execute(pool).await?;
            sqlx::query("INSERT INTO admin_sessions (session_hash, expires_at) VALUES ($1, $2)")
                .bind(session_hash).bind(expires_at).execute(pool).await?;
        });
        Ok(())
    }

    /// Whether an unexpired session with this hash exists.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn session_valid(&self, session_hash: &str) -> Result<bool> {
        let found: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT expires_at FROM admin_sessions WHERE session_hash = $1 AND expires_at > $2")
                .bind(session_hash).bind(now()).fetch_optional(pool).await?
        });
        Ok(found.is_some())
    }

    /// Ends a session.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn delete_session(&self, session_hash: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM admin_sessions WHERE session_hash = $1").bind(session_hash).execute(pool).await?;
        });
        Ok(())
    }

    fn decode_account(&self, row: AccountRow) -> Result<Account> {
        let open = |column: &str, sealed: Option<&[u8]>| -> Result<SecretString> {
            let context = account_ctx(&row.name, column);
            let sealed = sealed.ok_or_else(|| Error::Decrypt(context.clone()))?;
            let bytes = self.key.open(&context, sealed)?;
            String::from_utf8(bytes)
                .map(SecretString::from)
                .map_err(|_| Error::Decrypt(context))
        };
        let client_id = || row.client_id.clone().unwrap_or_default();
        let app = match row.kind.as_str() {
            "web" => AppCredentials::Web {
                client_id: client_id(),
                client_secret: open("client_secret", row.client_secret.as_deref())?,
            },
            "service" => AppCredentials::Service {
                client_id: client_id(),
                private_key: open("private_key", row.private_key.as_deref())?,
                key_id: row.key_id.clone(),
            },
            _ => AppCredentials::ApiToken,
        };
        Ok(Account {
            name: AccountName::parse(&row.name)?,
            org_url: OrgUrl::parse(&row.org_url).map_err(|e| Error::Invalid(e.to_string()))?,
            app,
            issuer: row
                .issuer
                .as_deref()
                .map(url::Url::parse)
                .transpose()
                .map_err(|e| Error::Invalid(format!("stored issuer of {}: {e}", row.name)))?,
            scopes: row.scopes,
            dpop: row.dpop != 0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// Adds an account, or replaces the one of the same name when `replace` (keeping its
    /// connection and creation time; `updated_at` always moves forward, so it versions the
    /// account). Returns `false` when it exists and `replace` is not set. See
    /// [`crate::accounts::save`] for the checks around it.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn put_account(&self, a: &Account, replace: bool) -> Result<bool> {
        use secrecy::ExposeSecret;
        let name = a.name.as_str();
        let (secret, key, key_id) = match &a.app {
            AppCredentials::Web { client_secret, .. } => (
                Some(self.key.seal(
                    &account_ctx(name, "client_secret"),
                    client_secret.expose_secret().as_bytes(),
                )),
                None,
                None,
            ),
            AppCredentials::Service {
                private_key, key_id, ..
            } => (
                None,
                Some(self.key.seal(
                    &account_ctx(name, "private_key"),
                    private_key.expose_secret().as_bytes(),
                )),
                key_id.clone(),
            ),
            AppCredentials::ApiToken => (None, None, None),
        };
        let sql = if replace {
            "INSERT INTO accounts (name, org_url, kind, client_id, client_secret, private_key, key_id, issuer, scopes, dpop, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             ON CONFLICT (name) DO UPDATE SET org_url = excluded.org_url, kind = excluded.kind, client_id = excluded.client_id, \
             client_secret = excluded.client_secret, private_key = excluded.private_key, key_id = excluded.key_id, issuer = excluded.issuer, \
             scopes = excluded.scopes, dpop = excluded.dpop, \
             updated_at = CASE WHEN excluded.updated_at > accounts.updated_at THEN excluded.updated_at ELSE accounts.updated_at + 1 END"
        } else {
            "INSERT INTO accounts (name, org_url, kind, client_id, client_secret, private_key, key_id, issuer, scopes, dpop, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON CONFLICT (name) DO NOTHING"
        };
        let n = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(name)
                .bind(a.org_url.as_str())
                .bind(a.app.kind())
                .bind(a.app.client_id())
                .bind(secret)
                .bind(key)
                .bind(key_id)
                .bind(a.issuer.as_ref().map(url::Url::as_str))
                .bind(&a.scopes)
                .bind(i64::from(a.dpop))
                .bind(now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// One account, secrets decrypted.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Decrypt`].
    pub async fn account(&self, name: &AccountName) -> Result<Option<Account>> {
        let row: Option<AccountRow> = with_pool!(self, pool => {
            sqlx::query_as(select_accounts!("WHERE name = $1")).bind(name.as_str()).fetch_optional(pool).await?
        });
        row.map(|r| self.decode_account(r)).transpose()
    }

    /// Every account, by name.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Decrypt`].
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let rows: Vec<AccountRow> = with_pool!(self, pool => {
            sqlx::query_as(select_accounts!("ORDER BY name")).fetch_all(pool).await?
        });
        rows.into_iter().map(|r| self.decode_account(r)).collect()
    }

    /// Records whether the org requires DPoP for the account's service app.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn set_account_dpop(&self, name: &AccountName, dpop: bool) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE accounts SET dpop = $1, updated_at = CASE WHEN $3 > updated_at THEN $3 ELSE updated_at + 1 END WHERE name = $2 AND dpop <> $1")
                .bind(i64::from(dpop))
                .bind(name.as_str())
                .bind(now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// Removes an account that has no connection, with an audit record, in one transaction.
    /// Returns whether it existed.
    ///
    /// # Errors
    /// [`Error::Conflict`] when it is still connected (disconnect it first, which revokes its
    /// tokens: removing the account must not strand live tokens); [`Error::Database`].
    pub async fn remove_account(&self, name: &AccountName) -> Result<bool> {
        let outcome: Result<bool> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let connected: Option<(String,)> = sqlx::query_as("SELECT account FROM connections WHERE account = $1")
                .bind(name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if connected.is_some() {
                Err(Error::Conflict(format!(
                    "account {name} is connected: disconnect it first (okta-bridge connections disconnect {name}, or DELETE /api/connections/{name}), which revokes its tokens at Okta"
                )))
            } else {
                let org: Option<(String,)> = sqlx::query_as("DELETE FROM accounts WHERE name = $1 RETURNING org_url")
                    .bind(name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some((org,)) = &org {
                    sqlx::query("INSERT INTO connection_audit (account, org_url, event, detail, at) VALUES ($1, $2, 'account_removed', NULL, $3)")
                        .bind(name.as_str())
                        .bind(org)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(org.is_some())
            }
        });
        outcome
    }
}
