//! `admin_sessions`: the pages' sign-in sessions, by the hash of their cookie, each bound to
//! the admin token it was signed in with (a hash of both), so that changing the token ends them.

use super::{Pool, Store, with_pool};
use crate::error::Result;
use crate::model::now;

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
