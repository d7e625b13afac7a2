//! The store: accounts, connections, pending authorizations, admin sessions and the audit log
//! in SQLite (default) or PostgreSQL, behind one [`Store`]. The same SQL runs on both (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`); each database has its own embedded migrations.
//!
//! Every secret is sealed with the [`MasterKey`] before it reaches a query, and opened only
//! when read back; a ciphertext is bound to its table, row and column. A value this version
//! does not know is an [`Error::Unreadable`] naming its table, row and column: that row is
//! refused, every other row is still served.
//!
//! One file per table family: `accounts`, `connections` (with the refresh lease), `pending`,
//! `sessions`, `audit`, `keys` (the key check and rotation), `directory` (each org's synced
//! directory, its change feed and the sync lease), `pass` (what a full pass reads back),
//! `webhooks` and `delivery` (endpoints and their streams), `hooks` (Okta event hooks in),
//! `setup` (setup links).

mod accounts;
mod api_keys;
mod audit;
mod connections;
mod delivery;
mod directory;
mod hooks;
mod keys;
mod pass;
mod pending;
mod roles;
mod scim;
mod scim_sql;
mod scope;
mod sessions;
mod setup;
mod webhooks;

pub use delivery::{Attempt, Outcome, Stream};
pub use directory::{Seen, SyncMark, UserQuery};
pub use hooks::HookCall;
pub use roles::{StoredMappings, StoredRoles};
pub use scim::{ScimGroup, ScimLoaded, ScimTarget, ScimUser, ScimWrite};
pub use scope::StoredScope;
pub use setup::SetupLinkBy;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::crypto::MasterKey;
use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The setting that names the database, for messages.
const DATABASE_URL: &str = "OKTA_BRIDGE_DATABASE_URL";

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
pub(crate) use with_pool;

/// `… AND column IN (ids)`, for a query builder that ends at `account = <bound>`.
macro_rules! push_in {
    ($q:expr, $column:literal, $ids:expr) => {{
        $q.push(concat!(" AND ", $column, " IN ("));
        let mut list = $q.separated(", ");
        for id in $ids {
            list.push_bind(id.as_str());
        }
        list.push_unseparated(")");
    }};
}
pub(crate) use push_in;

/// The database, with the key its secrets are sealed with. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    key: MasterKey,
}

/// How long a request waits for a database connection before failing (503).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

impl Store {
    /// Opens the database at `url` (`sqlite://file.db` or `postgres://…`), creating a SQLite
    /// file if missing, and runs the migrations.
    ///
    /// # Errors
    /// [`Error::Config`] for an unsupported URL or a master key that does not match the one
    /// the database was written with; [`Error::UnknownKey`]; [`Error::Database`]/[`Error::Migrate`].
    pub async fn open(url: &str, key: MasterKey) -> Result<Self> {
        let pool = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| Error::config(DATABASE_URL, e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url).map_err(|e| Error::config(DATABASE_URL, e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                // While the database is unreachable, requests fail within seconds (503) instead
                // of queueing; the pool reconnects by itself when it is back.
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(opts)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Pool::Postgres(pool)
        } else {
            return Err(Error::config(
                DATABASE_URL,
                "must start with sqlite:// (e.g. sqlite://okta-bridge.db) or postgres://",
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

    /// Whether the database answers (for `/readyz`).
    ///
    /// # Errors
    /// [`Error::Database`] when it does not.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Opens the sealed `value` of `context` as text.
    fn open_text(&self, context: &str, sealed: &[u8]) -> Result<String> {
        String::from_utf8(self.key.open(context, sealed)?).map_err(|_| Error::Decrypt {
            context: context.to_owned(),
        })
    }
}
