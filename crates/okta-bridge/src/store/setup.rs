//! `setup_links`: the links customers' admins connect their orgs through (token and browser
//! session by hash only; a generated private key sealed), with each use in the audit log.

use secrecy::ExposeSecret;

use super::keys::setup_ctx;
use super::{Pool, Store, with_pool};
use crate::error::{Error, Result};
use crate::model::{AccountName, PrivateKeyPem, Scopes, SetupLink, now};

type LinkRow = (
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    bool,
    bool,
    bool,
);

macro_rules! columns {
    () => {
        "id, account, scopes, created_at, expires_at, opened_at, revoked_at, connected_at, method, key_id, choose_scope, map_roles, manage"
    };
}

fn link_of(row: LinkRow) -> Result<SetupLink> {
    let (
        id,
        account,
        scopes,
        created_at,
        expires_at,
        opened_at,
        revoked_at,
        connected_at,
        method,
        key_id,
        choose_scope,
        map_roles,
        manage,
    ) = row;
    let unreadable = |column: &'static str, value: &str| Error::Unreadable {
        table: "setup_links",
        row: id.clone(),
        column,
        value: value.to_owned(),
    };
    Ok(SetupLink {
        account: AccountName::parse(&account).map_err(|_| unreadable("account", &account))?,
        scopes: Scopes::parse_any(&scopes).map_err(|_| unreadable("scopes", &scopes))?,
        id,
        created_at,
        expires_at,
        opened_at,
        revoked_at,
        connected_at,
        method,
        key_id,
        choose_scope,
        map_roles,
        manage,
    })
}

impl Store {
    /// Stores a new link whose token hashes to `token_hash`, with an audit record.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn create_setup_link(&self, link: &SetupLink, token_hash: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO setup_links (id, account, token_hash, scopes, created_at, expires_at, choose_scope, map_roles, manage) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&link.id)
            .bind(link.account.as_str())
            .bind(token_hash)
            .bind(link.scopes.to_string())
            .bind(link.created_at)
            .bind(link.expires_at)
            .bind(link.choose_scope)
            .bind(link.map_roles)
            .bind(link.manage)
            .execute(pool)
            .await?;
        });
        self.audit_setup(
            &link.account,
            "",
            "setup_link_created",
            &format!("{} expires at {}", link.id, link.expires_at),
        )
        .await
    }

    /// Writes one audit record of a setup link's use (`org` empty while it is not known).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn audit_setup(&self, account: &AccountName, org: &str, event: &str, detail: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(super::audit::INSERT)
                .bind(account.as_str())
                .bind(org)
                .bind(event)
                .bind(detail)
                .bind(now())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The links of `account`, newest first.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Unreadable`].
    pub async fn setup_links(&self, account: &AccountName) -> Result<Vec<SetupLink>> {
        let rows: Vec<LinkRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM setup_links WHERE account = $1 ORDER BY created_at DESC, id"))
            .bind(account.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(link_of).collect()
    }

    /// The link with id `id`, the one whose token hashes to `token_hash`, or the one opened by
    /// the browser whose session hashes to `session_hash` — whichever is given.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Unreadable`].
    pub async fn setup_link(&self, by: SetupLinkBy<'_>) -> Result<Option<SetupLink>> {
        let (sql, value) = match by {
            SetupLinkBy::Id(v) => (concat!("SELECT ", columns!(), " FROM setup_links WHERE id = $1"), v),
            SetupLinkBy::Token(v) => (
                concat!("SELECT ", columns!(), " FROM setup_links WHERE token_hash = $1"),
                v,
            ),
            SetupLinkBy::Session(v) => (
                concat!("SELECT ", columns!(), " FROM setup_links WHERE session_hash = $1"),
                v,
            ),
        };
        let row: Option<LinkRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(value).fetch_optional(pool).await?
        });
        row.map(link_of).transpose()
    }

    /// Opens link `id` for the browser whose session hashes to `session_hash`, if it is still
    /// unopened, unrevoked and unexpired (exactly one browser can); returns whether it did.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn open_setup_link(&self, id: &str, session_hash: &str) -> Result<bool> {
        let t = now();
        let changed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE setup_links SET opened_at = $2, session_hash = $3 \
                 WHERE id = $1 AND opened_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(id)
            .bind(t)
            .bind(session_hash)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Revokes link `id` (once; a revoked link stays revoked); returns it (`None` if unknown).
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Unreadable`].
    pub async fn revoke_setup_link(&self, id: &str) -> Result<Option<SetupLink>> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE setup_links SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now())
                .execute(pool)
                .await?;
        });
        self.setup_link(SetupLinkBy::Id(id)).await
    }

    /// Counts one credential check of link `id` against its budget of `max` per `window`
    /// seconds (across instances); returns whether it was within it.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn count_setup_check(&self, id: &str, max: i64, window: i64) -> Result<bool> {
        let t = now();
        let changed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE setup_links SET \
                   checks = CASE WHEN window_start <= $2 - $4 THEN 1 ELSE checks + 1 END, \
                   window_start = CASE WHEN window_start <= $2 - $4 THEN $2 ELSE window_start END \
                 WHERE id = $1 AND (window_start <= $2 - $4 OR checks < $3)",
            )
            .bind(id)
            .bind(t)
            .bind(max)
            .bind(window)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// The key pair made for link `id`'s own-service-app path: made with `make` (private key
    /// sealed) the first time, the same one afterwards.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Decrypt`].
    pub async fn setup_key(
        &self,
        id: &str,
        make: impl FnOnce() -> Result<(PrivateKeyPem, String)>,
    ) -> Result<(PrivateKeyPem, String)> {
        if let Some(found) = self.stored_setup_key(id).await? {
            return Ok(found);
        }
        let (key, kid) = make()?;
        let sealed = self.key.seal(&setup_ctx(id), key.expose_secret().as_bytes());
        with_pool!(self, pool => {
            sqlx::query("UPDATE setup_links SET private_key = $2, key_id = $3 WHERE id = $1 AND private_key IS NULL")
                .bind(id)
                .bind(sealed)
                .bind(&kid)
                .execute(pool)
                .await?;
        });
        // Another request may have made one first: the stored one is the one.
        Ok(self.stored_setup_key(id).await?.unwrap_or((key, kid)))
    }

    async fn stored_setup_key(&self, id: &str) -> Result<Option<(PrivateKeyPem, String)>> {
        let row: Option<(Option<Vec<u8>>, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT private_key, key_id FROM setup_links WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some((Some(sealed), Some(kid))) => {
                let pem = self.open_text(&setup_ctx(id), &sealed)?;
                Ok(Some((PrivateKeyPem::new(pem), kid)))
            }
            _ => Ok(None),
        }
    }

    /// Records that link `id` connected its account by `method`, with an audit record — if it
    /// is still usable (not connected, revoked or expired: a link connects once, across
    /// instances). Returns whether it was; `false` means the link ended meanwhile and the
    /// caller must store nothing.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn setup_link_connected(&self, link: &SetupLink, org: &str, method: &str) -> Result<bool> {
        let t = now();
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE setup_links SET connected_at = $2, method = $3 \
                 WHERE id = $1 AND connected_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
            )
            .bind(&link.id)
            .bind(t)
            .bind(method)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 1 {
            self.audit_setup(
                &link.account,
                org,
                "setup_link_connected",
                &format!("{} by {method}", link.id),
            )
            .await?;
        }
        Ok(n == 1)
    }
}

/// Ends every setup link of an account (`$1`) still in force, as revoked at `$2`: run inside the
/// transaction that disconnects or removes the account. A link must not outlive its account's
/// connection, or the browser that used it could connect the account again, to another org.
pub(super) const END_SETUP_LINKS: &str =
    "UPDATE setup_links SET revoked_at = $2 WHERE account = $1 AND revoked_at IS NULL";

/// How [`Store::setup_link`] finds a link.
#[derive(Debug, Clone, Copy)]
pub enum SetupLinkBy<'a> {
    /// By its id.
    Id(&'a str),
    /// By the hash of its token.
    Token(&'a str),
    /// By the hash of the session of the browser that opened it.
    Session(&'a str),
}
