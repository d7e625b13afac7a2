//! `accounts`: each org okta-bridge works with and its app (secrets sealed).

use okta_client::OrgUrl;
use secrecy::ExposeSecret;

use super::keys::account_ctx;
use super::{Pool, Store, with_pool};
use crate::error::{Conflict, Error, Result};
use crate::model::{
    Account, AccountName, AppCredentials, AppKind, ClientSecret, PrivateKeyPem, Scopes, ServiceAuth, now,
};

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

/// An [`Error::Unreadable`] of `accounts`.
fn unreadable(row: &str, column: &'static str, value: &str) -> Error {
    Error::Unreadable {
        table: "accounts",
        row: row.to_owned(),
        column,
        value: value.to_owned(),
    }
}

impl Store {
    fn decode_account(&self, row: AccountRow) -> Result<Account> {
        let name = row.name.as_str();
        let open = |column: &'static str, sealed: Option<&[u8]>| -> Result<String> {
            let sealed = sealed.ok_or_else(|| unreadable(name, column, "NULL"))?;
            self.open_text(&account_ctx(name, column), sealed)
        };
        let client_id = || {
            row.client_id
                .clone()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| unreadable(name, "client_id", "NULL"))
        };
        let kind = AppKind::parse(&row.kind).ok_or_else(|| unreadable(name, "kind", &row.kind))?;
        let app = match kind {
            AppKind::Web => AppCredentials::Web {
                client_id: client_id()?,
                client_secret: ClientSecret::new(open("client_secret", row.client_secret.as_deref())?),
            },
            AppKind::Service => AppCredentials::Service {
                client_id: client_id()?,
                // An API service integration keeps a client secret, an own service app a key.
                auth: match (&row.private_key, &row.client_secret) {
                    (None, Some(secret)) => {
                        ServiceAuth::ClientSecret(ClientSecret::new(open("client_secret", Some(secret))?))
                    }
                    (key, _) => ServiceAuth::PrivateKey {
                        private_key: PrivateKeyPem::new(open("private_key", key.as_deref())?),
                        key_id: row.key_id.clone(),
                    },
                },
            },
            AppKind::ApiToken => AppCredentials::ApiToken,
        };
        Ok(Account {
            name: AccountName::parse(name).map_err(|_| unreadable(name, "name", name))?,
            org_url: OrgUrl::parse(&row.org_url).map_err(|_| unreadable(name, "org_url", &row.org_url))?,
            app,
            issuer: row
                .issuer
                .as_deref()
                .map(|i| url::Url::parse(i).map_err(|_| unreadable(name, "issuer", i)))
                .transpose()?,
            scopes: Scopes::parse_any(&row.scopes).map_err(|_| unreadable(name, "scopes", &row.scopes))?,
            dpop: row.dpop != 0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// Adds an account, or replaces the one of the same name when `replace` (keeping its
    /// connection and creation time; `updated_at` always moves forward, so it versions the
    /// account). New credentials clear an `app_rejected` mark of its connection, in the same
    /// transaction. Returns `false` when it exists and `replace` is not set.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn put_account(&self, a: &Account, replace: bool) -> Result<bool> {
        let name = a.name.as_str();
        let (secret, key) = match &a.app {
            AppCredentials::Web { client_secret, .. } => (
                Some(self.key.seal(
                    &account_ctx(name, "client_secret"),
                    client_secret.expose_secret().as_bytes(),
                )),
                None,
            ),
            AppCredentials::Service {
                auth: ServiceAuth::PrivateKey { private_key, .. },
                ..
            } => (
                None,
                Some(self.key.seal(
                    &account_ctx(name, "private_key"),
                    private_key.expose_secret().as_bytes(),
                )),
            ),
            AppCredentials::Service {
                auth: ServiceAuth::ClientSecret(client_secret),
                ..
            } => (
                Some(self.key.seal(
                    &account_ctx(name, "client_secret"),
                    client_secret.expose_secret().as_bytes(),
                )),
                None,
            ),
            AppCredentials::ApiToken => (None, None),
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
        let now = now();
        let n = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(sql)
                .bind(name)
                .bind(a.org_url.as_str())
                .bind(a.app.kind().as_str())
                .bind(a.app.client_id())
                .bind(secret)
                .bind(key)
                .bind(a.app.key_id())
                .bind(a.issuer.as_ref().map(url::Url::as_str))
                .bind(a.scopes.to_string())
                .bind(i64::from(a.dpop))
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE connections SET status = 'connected', status_reason = NULL, updated_at = $1 \
                     WHERE account = $2 AND status = 'app_rejected'",
                )
                .bind(now)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            n
        });
        Ok(n == 1)
    }

    /// One account, secrets decrypted.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Decrypt`], [`Error::Unreadable`].
    pub async fn account(&self, name: &AccountName) -> Result<Option<Account>> {
        let row: Option<AccountRow> = with_pool!(self, pool => {
            sqlx::query_as(select_accounts!("WHERE name = $1")).bind(name.as_str()).fetch_optional(pool).await?
        });
        row.map(|r| self.decode_account(r)).transpose()
    }

    /// Every readable account, by name; one that cannot be read is left out and logged with
    /// its table, row and column ([`unreadable_accounts`](Self::unreadable_accounts) lists them).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let (ok, bad) = self.all_accounts().await?;
        for e in bad {
            tracing::error!(error = %e, "a stored account cannot be read; it is left out");
        }
        Ok(ok)
    }

    /// Why each account that cannot be read cannot.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn unreadable_accounts(&self) -> Result<Vec<Error>> {
        Ok(self.all_accounts().await?.1)
    }

    async fn all_accounts(&self) -> Result<(Vec<Account>, Vec<Error>)> {
        let rows: Vec<AccountRow> = with_pool!(self, pool => {
            sqlx::query_as(select_accounts!("ORDER BY name")).fetch_all(pool).await?
        });
        let mut ok = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for r in rows {
            match self.decode_account(r) {
                Ok(a) => ok.push(a),
                Err(e @ (Error::Unreadable { .. } | Error::Decrypt { .. } | Error::UnknownKey(_))) => bad.push(e),
                Err(e) => return Err(e),
            }
        }
        Ok((ok, bad))
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

    /// Removes an account that has no connection, with its synced directory and change feed
    /// and an audit record, in one transaction. Returns whether it existed.
    ///
    /// # Errors
    /// [`Conflict::StillConnected`] (disconnecting revokes its tokens: removing the account
    /// must not strand live tokens); [`Error::Database`].
    pub async fn remove_account(&self, name: &AccountName) -> Result<bool> {
        let outcome: Result<bool> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // The write first, so that SQLite takes its write lock at once (a transaction that
            // reads first and then writes fails with "database is locked" when a sync wrote
            // in between).
            let org: Option<(String,)> = sqlx::query_as(
                "DELETE FROM accounts WHERE name = $1 \
                 AND NOT EXISTS (SELECT 1 FROM connections WHERE account = $1) RETURNING org_url",
            )
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            match &org {
                None => {
                    let connected: Option<(String,)> =
                        sqlx::query_as("SELECT account FROM connections WHERE account = $1")
                            .bind(name.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                    tx.rollback().await?;
                    if connected.is_some() {
                        Err(Conflict::StillConnected { account: name.to_string() }.into())
                    } else {
                        Ok(false)
                    }
                }
                Some((org,)) => {
                    // Its synced directory and change feed go with it (personal data kept for
                    // nothing once the account is gone).
                    for sql in super::directory::ACCOUNT_TABLES {
                        sqlx::query(*sql).bind(name.as_str()).execute(&mut *tx).await?;
                    }
                    // Its setup links end with it: none can connect it again.
                    sqlx::query(super::setup::END_SETUP_LINKS)
                        .bind(name.as_str())
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(super::audit::INSERT)
                        .bind(name.as_str())
                        .bind(org)
                        .bind("account_removed")
                        .bind(None::<String>)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                }
            }
        });
        outcome
    }
}
