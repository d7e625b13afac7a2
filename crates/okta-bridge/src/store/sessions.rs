//! `admin_sessions`: the pages' sign-in sessions, by the hash of their cookie, each bound to
//! the admin token it was signed in with (a hash of both), so that changing the token ends them.

use super::{Pool, Store, with_pool};
use crate::error::{Error, Result};
use crate::model::{ConsoleSession, SessionGrant, now};

type GrantRow = (Option<String>, Option<String>, Option<String>, Option<String>);

/// A session's hash, its end, and its grant's columns.
type SessionRow = (
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn grant_of(session_hash: &str, (kind, subject, email, groups): GrantRow) -> Result<SessionGrant> {
    match kind.as_deref() {
        None | Some("token") => Ok(SessionGrant::AdminToken),
        Some("oidc") => Ok(SessionGrant::Oidc {
            subject: subject.unwrap_or_default(),
            email,
            groups: serde_json::from_str(groups.as_deref().unwrap_or("[]")).map_err(|_| Error::Unreadable {
                table: "admin_sessions",
                row: session_hash.chars().take(8).collect(),
                column: "grant_groups",
                value: groups.clone().unwrap_or_default(),
            })?,
        }),
        Some(other) => Err(Error::Unreadable {
            table: "admin_sessions",
            row: session_hash.chars().take(8).collect(),
            column: "grant_kind",
            value: other.to_owned(),
        }),
    }
}

impl Store {
    /// Records an admin session (by the hash of its cookie) bound to `token_binding` (a hash of
    /// the session and the admin token it was signed in with), and forgets expired ones.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn create_session(&self, session_hash: &str, token_binding: &str, expires_at: i64) -> Result<()> {
        let now = now();
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM admin_sessions WHERE expires_at < $1").bind(now).execute(pool).await?;
            sqlx::query("INSERT INTO admin_sessions (session_hash, token_binding, expires_at) VALUES ($1, $2, $3)")
                .bind(session_hash).bind(token_binding).bind(expires_at).execute(pool).await?;
        });
        Ok(())
    }

    /// Records a console session granted by `grant` (see [`create_session`](Self::create_session)).
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn create_granted_session(
        &self,
        session_hash: &str,
        token_binding: &str,
        expires_at: i64,
        grant: &SessionGrant,
    ) -> Result<()> {
        let (kind, subject, email, groups) = match grant {
            SessionGrant::AdminToken => ("token", None, None, None),
            SessionGrant::Oidc { subject, email, groups } => (
                "oidc",
                Some(subject.as_str()),
                email.as_deref(),
                Some(serde_json::to_string(groups).unwrap_or_else(|_| "[]".to_owned())),
            ),
        };
        let now = now();
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM admin_sessions WHERE expires_at < $1").bind(now).execute(pool).await?;
            sqlx::query(
                "INSERT INTO admin_sessions (session_hash, token_binding, expires_at, grant_kind, subject, email, grant_groups) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(session_hash)
            .bind(token_binding)
            .bind(expires_at)
            .bind(kind)
            .bind(subject)
            .bind(email)
            .bind(groups)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// How the unexpired session with this hash, bound to `token_binding`, was granted.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::Unreadable`].
    pub async fn session_grant(&self, session_hash: &str, token_binding: &str) -> Result<Option<SessionGrant>> {
        let row: Option<GrantRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT grant_kind, subject, email, grant_groups FROM admin_sessions \
                 WHERE session_hash = $1 AND token_binding = $2 AND expires_at > $3",
            )
            .bind(session_hash).bind(token_binding).bind(now()).fetch_optional(pool).await?
        });
        row.map(|r| grant_of(session_hash, r)).transpose()
    }

    /// Every unexpired console session, soonest to end first.
    ///
    /// # Errors
    /// [`crate::Error::Database`], [`crate::Error::Unreadable`].
    pub async fn console_sessions(&self) -> Result<Vec<ConsoleSession>> {
        let rows: Vec<SessionRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT session_hash, expires_at, grant_kind, subject, email, grant_groups FROM admin_sessions \
                 WHERE expires_at > $1 AND token_binding IS NOT NULL ORDER BY expires_at, session_hash",
            )
            .bind(now()).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(hash, expires_at, kind, subject, email, groups)| {
                Ok(ConsoleSession {
                    grant: grant_of(&hash, (kind, subject, email, groups))?,
                    expires_at,
                })
            })
            .collect()
    }

    /// Ends every OpenID Connect session of `person` (their subject, or their email in any
    /// case); returns how many.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn end_sessions_of(&self, person: &str) -> Result<u64> {
        let n = with_pool!(self, pool => {
            sqlx::query("DELETE FROM admin_sessions WHERE grant_kind = 'oidc' AND (subject = $1 OR email = $2)")
                .bind(person)
                .bind(person.trim().to_lowercase())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// Whether an unexpired session with this hash exists, bound to `token_binding`.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn session_valid(&self, session_hash: &str, token_binding: &str) -> Result<bool> {
        let found: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT expires_at FROM admin_sessions WHERE session_hash = $1 AND token_binding = $2 AND expires_at > $3",
            )
            .bind(session_hash).bind(token_binding).bind(now()).fetch_optional(pool).await?
        });
        Ok(found.is_some())
    }

    /// Whether a session with this hash is stored at all (valid or not).
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn session_exists(&self, session_hash: &str) -> Result<bool> {
        let found: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT expires_at FROM admin_sessions WHERE session_hash = $1")
                .bind(session_hash).fetch_optional(pool).await?
        });
        Ok(found.is_some())
    }

    /// Ends a session.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn delete_session(&self, session_hash: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM admin_sessions WHERE session_hash = $1").bind(session_hash).execute(pool).await?;
        });
        Ok(())
    }
}
