//! `connections`: each account's tokens (sealed), status, and the refresh lease.

use okta_client::OrgUrl;
use secrecy::ExposeSecret;

use super::keys::connection_ctx;
use super::{Pool, Store, with_pool};
use crate::error::{Error, Result};
use crate::model::{
    AccessToken, AccountName, Connection, ConnectionMethod, ConnectionStatus, Expiry, NewConnection, RefreshToken,
    Scopes, TokenSet, now,
};

/// The expiry stored for tokens that do not expire: 9999-12-31T23:59:59Z.
pub(super) const NEVER: i64 = 253_402_300_799;

fn stored_expiry(e: Expiry) -> i64 {
    e.at().unwrap_or(NEVER)
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

/// `SELECT` of every column of `connections`, followed by `$tail`.
macro_rules! select_connections {
    ($tail:literal) => {
        concat!(
            "SELECT account, org_url, scopes, token_type, access_token, refresh_token, expires_at, version, created_at, updated_at, status, status_reason, method FROM connections ",
            $tail
        )
    };
}

/// An [`Error::Unreadable`] of `connections`.
fn unreadable(row: &str, column: &'static str, value: &str) -> Error {
    Error::Unreadable {
        table: "connections",
        row: row.to_owned(),
        column,
        value: value.to_owned(),
    }
}

impl Store {
    /// Stores a connection, replacing one with the same account name (which makes it
    /// `connected` again).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn upsert_connection(&self, c: &NewConnection) -> Result<()> {
        let account = c.account.as_str();
        let access = self.key.seal(
            &connection_ctx(account, "access_token"),
            c.tokens.access_token.expose_secret().as_bytes(),
        );
        let refresh = c.tokens.refresh_token.as_ref().map(|r| {
            self.key
                .seal(&connection_ctx(account, "refresh_token"), r.expose_secret().as_bytes())
        });
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
            .bind(c.scopes.to_string())
            .bind(&c.token_type)
            .bind(access)
            .bind(refresh)
            .bind(stored_expiry(c.tokens.expires_at))
            .bind(now())
            .bind(c.method.as_str())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    fn decode_connection(&self, row: ConnectionRow) -> Result<Connection> {
        let name = row.account.as_str();
        let access_token = self.open_text(&connection_ctx(name, "access_token"), &row.access_token)?;
        let refresh_token = row
            .refresh_token
            .as_deref()
            .map(|r| self.open_text(&connection_ctx(name, "refresh_token"), r))
            .transpose()?;
        let method = ConnectionMethod::parse(&row.method).ok_or_else(|| unreadable(name, "method", &row.method))?;
        let status = ConnectionStatus::parse(&row.status, row.status_reason.clone())
            .ok_or_else(|| unreadable(name, "status", &row.status))?;
        Ok(Connection {
            account: AccountName::parse(name).map_err(|_| unreadable(name, "account", name))?,
            org_url: OrgUrl::parse(&row.org_url).map_err(|_| unreadable(name, "org_url", &row.org_url))?,
            scopes: Scopes::parse_any(&row.scopes).map_err(|_| unreadable(name, "scopes", &row.scopes))?,
            token_type: row.token_type,
            access_token: AccessToken::new(access_token),
            refresh_token: refresh_token.map(RefreshToken::new),
            expires_at: if row.expires_at == NEVER {
                Expiry::Never
            } else {
                Expiry::At(row.expires_at)
            },
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            status,
            method,
        })
    }

    /// One connection, tokens decrypted.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Decrypt`] with the wrong key; [`Error::Unreadable`] for a
    /// value this version does not know.
    pub async fn connection(&self, account: &AccountName) -> Result<Option<Connection>> {
        let row: Option<ConnectionRow> = with_pool!(self, pool => {
            sqlx::query_as(select_connections!("WHERE account = $1")).bind(account.as_str()).fetch_optional(pool).await?
        });
        row.map(|r| self.decode_connection(r)).transpose()
    }

    /// Every readable connection, by account name. A row that cannot be read (a value this
    /// version does not know, a secret that does not open) is left out and logged with its
    /// table, row and column; [`unreadable_connections`](Self::unreadable_connections) lists them.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn connections(&self) -> Result<Vec<Connection>> {
        let (ok, bad) = self.all_connections().await?;
        for e in bad {
            tracing::error!(error = %e, "a stored connection cannot be read; it is left out");
        }
        Ok(ok)
    }

    /// Why each connection that cannot be read cannot.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn unreadable_connections(&self) -> Result<Vec<Error>> {
        Ok(self.all_connections().await?.1)
    }

    async fn all_connections(&self) -> Result<(Vec<Connection>, Vec<Error>)> {
        let rows: Vec<ConnectionRow> =
            with_pool!(self, pool => sqlx::query_as(select_connections!("ORDER BY account")).fetch_all(pool).await?);
        let mut ok = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for r in rows {
            match self.decode_connection(r) {
                Ok(c) => ok.push(c),
                Err(e @ (Error::Unreadable { .. } | Error::Decrypt { .. } | Error::UnknownKey(_))) => bad.push(e),
                Err(e) => return Err(e),
            }
        }
        Ok((ok, bad))
    }

    /// Replaces the tokens of `account` if it is still at `expected_version` (compare and
    /// swap). Returns whether it was; `false` means someone else wrote first: read again.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn update_tokens(&self, account: &AccountName, expected_version: i64, tokens: &TokenSet) -> Result<bool> {
        let a = account.as_str();
        let access = self.key.seal(
            &connection_ctx(a, "access_token"),
            tokens.access_token.expose_secret().as_bytes(),
        );
        let refresh = tokens.refresh_token.as_ref().map(|r| {
            self.key
                .seal(&connection_ctx(a, "refresh_token"), r.expose_secret().as_bytes())
        });
        let result = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET access_token = $1, refresh_token = $2, expires_at = $3, version = version + 1, updated_at = $4, \
                 refresh_lease_owner = NULL, refresh_lease_until = NULL \
                 WHERE account = $5 AND version = $6",
            )
            .bind(access)
            .bind(refresh)
            .bind(stored_expiry(tokens.expires_at))
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

    /// Extends `owner`'s refresh lease of `account` to `until` (the holder's heartbeat).
    /// Returns whether `owner` still held it; `false` means it ran out and someone else took
    /// it (the holder's later write fails its version check, so nothing is lost).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn renew_refresh_lease(&self, account: &AccountName, owner: &str, until: i64) -> Result<bool> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET refresh_lease_until = $1 WHERE account = $2 AND refresh_lease_owner = $3",
            )
            .bind(until)
            .bind(account.as_str())
            .bind(owner)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Connected connections whose refresh lease ran out while still held: their holder died
    /// (or lost the database) in the middle of a refresh, perhaps after Okta rotated the
    /// refresh token. Each with the dead holder's name, for
    /// [`take_abandoned_lease`](Self::take_abandoned_lease).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn abandoned_leases(&self) -> Result<Vec<(AccountName, String)>> {
        let rows: Vec<(String, String)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT account, refresh_lease_owner FROM connections \
                 WHERE refresh_lease_owner IS NOT NULL AND refresh_lease_until < $1 AND status = 'connected' ORDER BY account",
            )
            .bind(now())
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(a, o)| AccountName::parse(&a).ok().map(|a| (a, o)))
            .collect())
    }

    /// Takes over the abandoned refresh lease of `account` from `dead` for `owner` until
    /// `until`, if it is still `dead`'s and still run out: one statement, so one instance
    /// recovers it. Returns whether `owner` holds it now.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn take_abandoned_lease(
        &self,
        account: &AccountName,
        dead: &str,
        owner: &str,
        until: i64,
    ) -> Result<bool> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET refresh_lease_owner = $1, refresh_lease_until = $2 \
                 WHERE account = $3 AND refresh_lease_owner = $4 AND refresh_lease_until < $5",
            )
            .bind(owner)
            .bind(until)
            .bind(account.as_str())
            .bind(dead)
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

    /// Marks `account`'s connection as not working (`status` is
    /// [`ConnectionStatus::NeedsReauth`], [`ConnectionStatus::AppRejected`] or
    /// [`ConnectionStatus::TokenRefused`], with Okta's reason) if it is still at
    /// `expected_version`, the version whose tokens Okta refused, and gives up its refresh
    /// lease. Returns whether it was marked: `false` means new tokens were written meanwhile
    /// (a late refusal of old tokens says nothing about them). Connecting it again clears the
    /// mark; new credentials for the account clear `app_rejected`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn mark_connection(
        &self,
        account: &AccountName,
        expected_version: i64,
        status: &ConnectionStatus,
    ) -> Result<bool> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET status = $1, status_reason = $2, updated_at = $3, version = version + 1, \
                 refresh_lease_owner = NULL, refresh_lease_until = NULL WHERE account = $4 AND version = $5",
            )
            .bind(status.as_str())
            .bind(status.reason())
            .bind(now())
            .bind(account.as_str())
            .bind(expected_version)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Deletes a connection and records why in the audit log, in one transaction; returns
    /// whether it existed. With `end_setup_links` (an operator's disconnect), the account's
    /// setup links still in force end in the same transaction.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn remove_connection(
        &self,
        account: &AccountName,
        event: &str,
        detail: &str,
        end_setup_links: bool,
    ) -> Result<bool> {
        let n = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let org: Option<(String,)> = sqlx::query_as("DELETE FROM connections WHERE account = $1 RETURNING org_url")
                .bind(account.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some((org,)) = &org {
                sqlx::query(super::audit::INSERT)
                    .bind(account.as_str())
                    .bind(org)
                    .bind(event)
                    .bind(detail)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                if end_setup_links {
                    let ended = sqlx::query(super::setup::END_SETUP_LINKS)
                        .bind(account.as_str())
                        .bind(now())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if ended > 0 {
                        sqlx::query(super::audit::INSERT)
                            .bind(account.as_str())
                            .bind(org)
                            .bind("setup_links_ended")
                            .bind(format!("{ended} setup link(s) ended: the account was {event}"))
                            .bind(now())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            tx.commit().await?;
            org.is_some()
        });
        Ok(n)
    }
}
