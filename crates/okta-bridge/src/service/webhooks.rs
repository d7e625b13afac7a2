//! Webhook endpoints: made with a signing secret shown once, changed, rotated (the old secret
//! signing too for an overlap), deleted. Their URLs follow the org-URL rules: https on public
//! addresses unless private addresses are allowed for development.

use std::time::Duration;

use super::Service;
use crate::crypto::random_secret;
use crate::error::{Error, Result};
use crate::model::{AccountName, EventType, Webhook, WebhookFilter, WebhookSecret, WebhookStatus, now};
use crate::store::Stream;

/// The longest a rotated-out secret keeps signing.
pub const MAX_SECRET_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// A change to an endpoint: each field given replaces the stored one (`Some(None)`: all event
/// types, or all connections).
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<Option<Vec<String>>>,
    pub connections: Option<Option<Vec<String>>>,
    /// `active`: resume an endpoint marked failing.
    pub status: Option<String>,
}

/// A filter from names as given: known event types and valid connection names, `None` for all.
fn filter(events: Option<Vec<String>>, connections: Option<Vec<String>>) -> Result<WebhookFilter> {
    let events = events
        .map(|names| {
            if names.is_empty() {
                return Err(Error::invalid(
                    "events",
                    "leave events out to get every event type; an empty list would get none",
                ));
            }
            names
                .iter()
                .map(|n| {
                    EventType::parse(n).ok_or_else(|| {
                        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                        Error::invalid(
                            "events",
                            format!("unknown event type {n:?}: one of {}", known.join(", ")),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let connections = connections
        .map(|names| {
            if names.is_empty() {
                return Err(Error::invalid(
                    "connections",
                    "leave connections out to get every connection's events; an empty list would get none",
                ));
            }
            names
                .iter()
                .map(|n| AccountName::parse(n).map_err(|e| Error::invalid("connections", e.to_string())))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    Ok(WebhookFilter { events, connections })
}

impl Service {
    /// Checks `url` as a webhook endpoint's URL, and answers it parsed.
    async fn webhook_url(&self, url: &str) -> Result<url::Url> {
        let parsed = url::Url::parse(url).map_err(|e| Error::invalid("url", format!("{url:?} is not a URL ({e})")))?;
        self.apps
            .egress()
            .check_webhook_url(&parsed)
            .await
            .map_err(|why| Error::invalid("url", why))?;
        Ok(parsed)
    }

    /// Makes an endpoint at `url` for `events` (types; `None`: all) of `connections` (`None`:
    /// all), and answers it with its signing secret (the only time it is shown).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a URL the rules refuse, an unknown event type, an invalid
    /// connection name or an empty list; [`Error::Database`].
    pub async fn create_webhook(
        &self,
        url: &str,
        events: Option<Vec<String>>,
        connections: Option<Vec<String>>,
    ) -> Result<(Webhook, WebhookSecret)> {
        let url = self.webhook_url(url).await?;
        let filter = filter(events, connections)?;
        let id = format!("wh_{}", &random_secret()[..22]);
        let secret = WebhookSecret::new(format!("whsec_{}", random_secret()));
        let hook = self.store.insert_webhook(&id, url.as_str(), &filter, &secret).await?;
        tracing::info!(webhook = %hook.id, url = %hook.url, "webhook endpoint made");
        Ok((hook, secret))
    }

    /// Every endpoint.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        self.store.webhooks().await
    }

    /// The endpoint `id`.
    ///
    /// # Errors
    /// [`Error::UnknownWebhook`]; [`Error::Database`].
    pub async fn webhook(&self, id: &str) -> Result<Webhook> {
        self.store
            .webhook(id)
            .await?
            .ok_or_else(|| Error::UnknownWebhook(id.to_owned()))
    }

    /// Changes endpoint `id` as `change` says.
    ///
    /// # Errors
    /// As [`Service::create_webhook`]; [`Error::UnknownWebhook`]; [`Error::Invalid`] for a
    /// status other than `active`.
    pub async fn update_webhook(&self, id: &str, change: WebhookChange) -> Result<Webhook> {
        let hook = self.webhook(id).await?;
        let url = match &change.url {
            Some(u) => self.webhook_url(u).await?.to_string(),
            None => hook.url.clone(),
        };
        let names = |v: &Option<Vec<EventType>>| v.as_ref().map(|e| e.iter().map(|t| t.as_str().to_owned()).collect());
        let events = change.events.unwrap_or_else(|| names(&hook.filter.events));
        let connections = change.connections.unwrap_or_else(|| {
            hook.filter
                .connections
                .as_ref()
                .map(|c| c.iter().map(ToString::to_string).collect())
        });
        let filter = filter(events, connections)?;
        let status = match change.status.as_deref() {
            None => hook.status,
            Some("active") => WebhookStatus::Active,
            Some(other) => {
                return Err(Error::invalid(
                    "status",
                    format!("{other:?}: only \"active\" can be set (it resumes an endpoint marked failing)"),
                ));
            }
        };
        self.store.update_webhook(id, &url, &filter, status).await
    }

    /// Deletes endpoint `id`.
    ///
    /// # Errors
    /// [`Error::UnknownWebhook`]; [`Error::Database`].
    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        if self.store.delete_webhook(id).await? {
            tracing::info!(webhook = %id, "webhook endpoint deleted");
            Ok(())
        } else {
            Err(Error::UnknownWebhook(id.to_owned()))
        }
    }

    /// Gives endpoint `id` a new signing secret (answered, shown this once); the old one signs
    /// too for `overlap` (at most [`MAX_SECRET_OVERLAP`]), so receivers can switch without
    /// refusing a delivery.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a longer overlap; [`Error::UnknownWebhook`];
    /// [`crate::error::Conflict::WebhookChanged`] when another rotation went first;
    /// [`Error::Database`].
    pub async fn rotate_webhook_secret(&self, id: &str, overlap: Duration) -> Result<(Webhook, WebhookSecret)> {
        if overlap > MAX_SECRET_OVERLAP {
            return Err(Error::invalid(
                "overlapSeconds",
                format!("at most {} seconds (7 days)", MAX_SECRET_OVERLAP.as_secs()),
            ));
        }
        let secret = WebhookSecret::new(format!("whsec_{}", random_secret()));
        let until = now() + i64::try_from(overlap.as_secs()).unwrap_or(0);
        let hook = self.store.rotate_webhook_secret(id, &secret, until).await?;
        tracing::info!(webhook = %id, overlap_s = overlap.as_secs(), "webhook secret rotated");
        Ok((hook, secret))
    }

    /// Delivers `account`'s events after cursor `after` to endpoint `id` again, in order (a
    /// receiver that lost them, or a new one that wants history); the stream continues from
    /// there. Answers the stream.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a cursor ahead of the feed; [`Error::CursorExpired`] for one
    /// older than retention keeps; [`Error::UnknownWebhook`]; [`Error::UnknownConnection`];
    /// [`Error::Database`].
    pub async fn replay_webhook(&self, id: &str, account: &AccountName, after: i64) -> Result<Stream> {
        self.webhook(id).await?;
        let state = self.sync_state(account).await?;
        if after < 0 || after > state.last_seq {
            return Err(Error::invalid(
                "after",
                format!(
                    "a cursor of {account}'s feed: 0 (from its start) to {} (its newest event)",
                    state.last_seq
                ),
            ));
        }
        let pruned_through = self.store.pruned_through(account).await?;
        if after < pruned_through {
            return Err(Error::CursorExpired {
                account: account.to_string(),
                after,
                pruned_through,
            });
        }
        if !self.store.replay_stream(id, account.as_str(), after).await? {
            return Err(Error::UnknownWebhook(id.to_owned()));
        }
        tracing::info!(webhook = %id, account = %account, after, "webhook stream replayed");
        self.feed_written.send_modify(|n| *n += 1);
        self.store
            .webhook_streams(id)
            .await?
            .into_iter()
            .find(|s| s.account == account.as_str())
            .ok_or_else(|| Error::UnknownWebhook(id.to_owned()))
    }
}
