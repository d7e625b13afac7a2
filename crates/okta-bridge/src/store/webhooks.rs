//! `webhooks`: the endpoints the change feed is delivered to. Their signing secrets are sealed
//! under the master key (context `webhooks/{id}/{column}`), re-sealed by key rotation.

use secrecy::ExposeSecret;

use super::keys::webhook_ctx;
use super::{Pool, Store, with_pool};
use crate::error::{Error, Result};
use crate::model::{AccountName, EventType, Webhook, WebhookFilter, WebhookSecret, WebhookStatus, now};

type WebhookRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    i64,
    Option<i64>,
);

fn unreadable(row: &str, column: &'static str, value: &str) -> Error {
    Error::Unreadable {
        table: "webhooks",
        row: row.to_owned(),
        column,
        value: value.chars().take(80).collect(),
    }
}

fn webhook_of(r: WebhookRow) -> Result<Webhook> {
    let (id, url, events, connections, status, created_at, updated_at, previous_until) = r;
    let list = |column: &'static str, v: &Option<String>| -> Result<Option<Vec<String>>> {
        v.as_deref()
            .map(|s| serde_json::from_str::<Vec<String>>(s).map_err(|_| unreadable(&id, column, s)))
            .transpose()
    };
    let events = list("events", &events)?
        .map(|v| {
            v.iter()
                .map(|e| EventType::parse(e).ok_or_else(|| unreadable(&id, "events", e)))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let connections = list("connections", &connections)?
        .map(|v| {
            v.iter()
                .map(|c| AccountName::parse(c).map_err(|_| unreadable(&id, "connections", c)))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let status = WebhookStatus::parse(&status).ok_or_else(|| unreadable(&id, "status", &status))?;
    Ok(Webhook {
        id,
        url,
        filter: WebhookFilter { events, connections },
        status,
        created_at,
        updated_at,
        previous_secret_until: previous_until.filter(|t| *t > now()),
    })
}

fn events_json(f: &WebhookFilter) -> Option<String> {
    f.events
        .as_ref()
        .map(|e| serde_json::to_string(&e.iter().map(|t| t.as_str()).collect::<Vec<_>>()).unwrap_or_default())
}

fn connections_json(f: &WebhookFilter) -> Option<String> {
    f.connections
        .as_ref()
        .map(|c| serde_json::to_string(&c.iter().map(AccountName::as_str).collect::<Vec<_>>()).unwrap_or_default())
}

impl Store {
    /// Stores a new endpoint `id` at `url` for `filter`, signing with `secret`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn insert_webhook(
        &self,
        id: &str,
        url: &str,
        filter: &WebhookFilter,
        secret: &WebhookSecret,
    ) -> Result<Webhook> {
        let sealed = self
            .key
            .seal(&webhook_ctx(id, "secret"), secret.expose_secret().as_bytes());
        let t = now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO webhooks (id, url, events, connections, secret, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)",
            )
            .bind(id)
            .bind(url)
            .bind(events_json(filter))
            .bind(connections_json(filter))
            .bind(sealed)
            .bind(t)
            .execute(&mut *tx)
            .await?;
            // Deliveries begin with the events after those the feeds hold now.
            sqlx::query("INSERT INTO webhook_streams (webhook_id, account, delivered) SELECT $1, account, next_seq - 1 FROM dir_sync")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.webhook(id)
            .await?
            .ok_or_else(|| Error::UnknownWebhook(id.to_owned()))
    }

    /// Every endpoint, oldest first.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, url, events, connections, status, created_at, updated_at, previous_until FROM webhooks ORDER BY created_at, id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(webhook_of).collect()
    }

    /// The endpoint `id`.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn webhook(&self, id: &str) -> Result<Option<Webhook>> {
        let row: Option<WebhookRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, url, events, connections, status, created_at, updated_at, previous_until FROM webhooks WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(webhook_of).transpose()
    }

    /// Changes endpoint `id`'s URL, filter and status to these.
    ///
    /// # Errors
    /// [`Error::UnknownWebhook`]; [`Error::Database`].
    pub async fn update_webhook(
        &self,
        id: &str,
        url: &str,
        filter: &WebhookFilter,
        status: WebhookStatus,
    ) -> Result<Webhook> {
        let changed = with_pool!(self, pool => {
            // A changed endpoint (a new URL, set active again) starts with its circuit closed.
            sqlx::query("UPDATE webhooks SET url = $2, events = $3, connections = $4, status = $5, updated_at = $6, circuit_failures = 0, circuit_open_until = NULL, circuit_opened = 0 WHERE id = $1")
                .bind(id)
                .bind(url)
                .bind(events_json(filter))
                .bind(connections_json(filter))
                .bind(status.as_str())
                .bind(now())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(Error::UnknownWebhook(id.to_owned()));
        }
        self.webhook(id)
            .await?
            .ok_or_else(|| Error::UnknownWebhook(id.to_owned()))
    }

    /// Deletes endpoint `id`; whether there was one.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        let n = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for sql in ["DELETE FROM webhook_streams WHERE webhook_id = $1", "DELETE FROM webhook_deliveries WHERE webhook_id = $1"] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            let n = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }

    /// Makes `secret` endpoint `id`'s signing secret; the one it replaces keeps signing until
    /// `previous_until` (unix seconds).
    ///
    /// # Errors
    /// [`Error::UnknownWebhook`]; [`Error::Database`].
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: &WebhookSecret,
        previous_until: i64,
    ) -> Result<Webhook> {
        let (current, previous) = (webhook_ctx(id, "secret"), webhook_ctx(id, "previous_secret"));
        let old: Option<(Vec<u8>,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT secret FROM webhooks WHERE id = $1").bind(id).fetch_optional(pool).await?
        });
        let Some((old,)) = old else {
            return Err(Error::UnknownWebhook(id.to_owned()));
        };
        // The old secret is sealed again under its new place's context.
        let old_plain = self.key.open(&current, &old)?;
        let old_resealed = self.key.seal(&previous, &old_plain);
        let sealed = self.key.seal(&current, secret.expose_secret().as_bytes());
        let changed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhooks SET secret = $2, previous_secret = $3, previous_until = $4, updated_at = $5 WHERE id = $1 AND secret = $6",
            )
            .bind(id)
            .bind(sealed)
            .bind(old_resealed)
            .bind(previous_until)
            .bind(now())
            .bind(old)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(Error::Conflict(crate::error::Conflict::WebhookChanged {
                id: id.to_owned(),
            }));
        }
        self.webhook(id)
            .await?
            .ok_or_else(|| Error::UnknownWebhook(id.to_owned()))
    }

    /// The secrets that sign endpoint `id`'s deliveries now: the current one, and the previous
    /// one while its overlap lasts.
    ///
    /// # Errors
    /// [`Error::UnknownWebhook`]; [`Error::Decrypt`]/[`Error::UnknownKey`]; [`Error::Database`].
    pub async fn webhook_secrets(&self, id: &str) -> Result<Vec<WebhookSecret>> {
        type SecretsRow = (Vec<u8>, Option<Vec<u8>>, Option<i64>);
        let row: Option<SecretsRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT secret, previous_secret, previous_until FROM webhooks WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        let Some((secret, previous, until)) = row else {
            return Err(Error::UnknownWebhook(id.to_owned()));
        };
        let open = |column: &str, sealed: &[u8]| -> Result<WebhookSecret> {
            let plain = self.key.open(&webhook_ctx(id, column), sealed)?;
            String::from_utf8(plain)
                .map(WebhookSecret::new)
                .map_err(|_| unreadable(id, "secret", "(not UTF-8)"))
        };
        let mut out = vec![open("secret", &secret)?];
        if let (Some(p), Some(until)) = (previous, until)
            && until > now()
        {
            out.push(open("previous_secret", &p)?);
        }
        Ok(out)
    }
}
