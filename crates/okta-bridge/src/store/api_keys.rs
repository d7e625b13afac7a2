//! `api_keys`: applications' keys for the API, by the hash of the key only.

use super::{Pool, Store, with_pool};
use crate::error::{Conflict, Error, Result};
use crate::model::{ApiKey, Scope, now};

type KeyRow = (String, String, String, i64, Option<i64>, Option<i64>);

macro_rules! columns {
    () => {
        "id, name, scope, created_at, last_used_at, revoked_at"
    };
}

fn key_of(row: KeyRow) -> Result<ApiKey> {
    let (id, name, scope, created_at, last_used_at, revoked_at) = row;
    let scope = Scope::parse(&scope).map_err(|_| Error::Unreadable {
        table: "api_keys",
        row: id.clone(),
        column: "scope",
        value: scope.clone(),
    })?;
    Ok(ApiKey {
        id,
        name,
        scope,
        created_at,
        last_used_at,
        revoked_at,
    })
}

/// How stale `last_used_at` may get before a use writes it again: one write a minute per key
/// at most, however busy the key.
const LAST_USED_RESOLUTION: i64 = 60;

impl Store {
    /// Stores `key`, whose secret hashes to `key_hash`.
    ///
    /// # Errors
    /// [`Conflict::ApiKeyName`] when a key not revoked has its name; [`Error::Database`].
    pub async fn create_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<()> {
        let inserted = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_keys (id, name, scope, key_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&key.id)
            .bind(&key.name)
            .bind(key.scope.as_str())
            .bind(key_hash)
            .bind(key.created_at)
            .execute(pool)
            .await
            .map(drop)
        });
        match inserted {
            Ok(()) => Ok(()),
            // A key not revoked has the name (the partial unique index): say which.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                let existing: Option<String> = with_pool!(self, pool => {
                    sqlx::query_scalar("SELECT id FROM api_keys WHERE name = $1 AND revoked_at IS NULL")
                        .bind(&key.name)
                        .fetch_optional(pool)
                        .await?
                });
                Err(Conflict::ApiKeyName {
                    name: key.name.clone(),
                    id: existing.unwrap_or_else(|| "(revoked meanwhile)".to_owned()),
                }
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every key, revoked ones too, newest first.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`] for a row with an unknown scope.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>> {
        let rows: Vec<KeyRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM api_keys ORDER BY created_at DESC, id"))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(key_of).collect()
    }

    /// The key, not revoked, whose secret hashes to `key_hash`; its use is recorded (to the
    /// minute).
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn use_api_key(&self, key_hash: &str) -> Result<Option<ApiKey>> {
        let row: Option<KeyRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"))
                .bind(key_hash)
                .fetch_optional(pool)
                .await?
        });
        let Some(mut key) = row.map(key_of).transpose()? else {
            return Ok(None);
        };
        let now = now();
        if key.last_used_at.is_none_or(|t| t <= now - LAST_USED_RESOLUTION) {
            with_pool!(self, pool => {
                sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&key.id)
                    .execute(pool)
                    .await?;
            });
            key.last_used_at = Some(now);
        }
        Ok(Some(key))
    }

    /// Whether the key with id `id` exists and is not revoked.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn api_key_live(&self, id: &str) -> Result<bool> {
        let found: Option<String> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    /// Revokes the key, not revoked yet, with id or name `which`: it stops working at once.
    ///
    /// # Errors
    /// [`Error::UnknownApiKey`]; [`Error::Database`].
    pub async fn revoke_api_key(&self, which: &str) -> Result<ApiKey> {
        let row: Option<KeyRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "UPDATE api_keys SET revoked_at = $1 WHERE (id = $2 OR name = $2) AND revoked_at IS NULL RETURNING ",
                columns!()
            ))
            .bind(now())
            .bind(which)
            .fetch_optional(pool)
            .await?
        });
        row.map(key_of)
            .transpose()?
            .ok_or_else(|| Error::UnknownApiKey(which.to_owned()))
    }
}
