//! The master key's check at start-up and online re-encryption under a new key.

use super::{Pool, Store, with_pool};
use crate::crypto::{KeyId, MasterKey, key_id_hex};
use crate::error::{Error, Result};

/// A sealed value and where it lives.
struct Sealed {
    table: &'static str,
    key: String,
    column: &'static str,
    context: String,
    bytes: Vec<u8>,
}

/// The context a connection's token is sealed under.
pub(super) fn connection_ctx(account: &str, column: &str) -> String {
    format!("connections/{account}/{column}")
}

/// The context an account's secret is sealed under.
pub(super) fn account_ctx(name: &str, column: &str) -> String {
    format!("accounts/{name}/{column}")
}

/// The context a webhook endpoint's secret is sealed under.
pub(super) fn webhook_ctx(id: &str, column: &str) -> String {
    format!("webhooks/{id}/{column}")
}

/// The context a connection's event hook secret is sealed under.
pub(super) fn hook_ctx(account: &str) -> String {
    format!("event_hooks/{account}/secret")
}

/// The context a setup link's generated private key is sealed under.
pub(super) fn setup_ctx(id: &str) -> String {
    format!("setup_links/{id}/private_key")
}

/// The context a pending authorization's verifier is sealed under.
pub(super) fn pending_ctx(state_hash: &str) -> String {
    format!("oauth_states/{state_hash}/pkce_verifier")
}

/// An account's name with its sealed client secret and private key.
type SealedAccountRow = (String, Option<Vec<u8>>, Option<Vec<u8>>);

impl Store {
    /// Every sealed value in the database, with where it lives.
    async fn sealed_values(&self) -> Result<Vec<Sealed>> {
        let conns: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT account, access_token, refresh_token FROM connections").fetch_all(pool).await?
        });
        let states: Vec<(String, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT state_hash, pkce_verifier FROM oauth_states").fetch_all(pool).await?
        });
        let accounts: Vec<SealedAccountRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT name, client_secret, private_key FROM accounts").fetch_all(pool).await?
        });
        let webhooks: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, secret, previous_secret FROM webhooks").fetch_all(pool).await?
        });
        let hooks: Vec<(String, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT account, secret FROM event_hooks").fetch_all(pool).await?
        });
        let setup: Vec<(String, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, private_key FROM setup_links WHERE private_key IS NOT NULL").fetch_all(pool).await?
        });
        let meta: Vec<(String, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT name, value FROM store_meta").fetch_all(pool).await?
        });
        let mut out = Vec::new();
        let mut push = |table, key: &str, column, context, bytes| {
            out.push(Sealed {
                table,
                key: key.to_owned(),
                column,
                context,
                bytes,
            });
        };
        for (account, access, refresh) in conns {
            push(
                "connections",
                &account,
                "access_token",
                connection_ctx(&account, "access_token"),
                access,
            );
            if let Some(r) = refresh {
                push(
                    "connections",
                    &account,
                    "refresh_token",
                    connection_ctx(&account, "refresh_token"),
                    r,
                );
            }
        }
        for (state, verifier) in states {
            push("oauth_states", &state, "pkce_verifier", pending_ctx(&state), verifier);
        }
        for (name, secret, key) in accounts {
            for (column, value) in [("client_secret", secret), ("private_key", key)] {
                if let Some(v) = value {
                    push("accounts", &name, column, account_ctx(&name, column), v);
                }
            }
        }
        for (id, secret, previous) in webhooks {
            for (column, value) in [("secret", Some(secret)), ("previous_secret", previous)] {
                if let Some(v) = value {
                    push("webhooks", &id, column, webhook_ctx(&id, column), v);
                }
            }
        }
        for (account, secret) in hooks {
            push("event_hooks", &account, "secret", hook_ctx(&account), secret);
        }
        for (id, key) in setup {
            push("setup_links", &id, "private_key", setup_ctx(&id), key);
        }
        for (name, value) in meta {
            push("store_meta", &name, "value", format!("store_meta/{name}"), value);
        }
        Ok(out)
    }

    /// Refuses to start when the database holds ciphertexts under a key this server does not
    /// have (every token would be unreadable), or when the key check does not open.
    pub(super) async fn check_key(&self) -> Result<()> {
        const CTX: &str = "store_meta/key_check";
        for sealed in self.sealed_values().await? {
            if let Some(id) = MasterKey::sealed_with(&sealed.bytes)
                && !self.key.has(&id)
            {
                return Err(Error::UnknownKey(key_id_hex(&id)));
            }
        }
        let existing: Option<Vec<u8>> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'key_check'").fetch_optional(pool).await?
        });
        match existing {
            Some(sealed) => self.key.open(CTX, &sealed).map(drop).map_err(|_| {
                Error::config(
                    "OKTA_BRIDGE_MASTER_KEY",
                    "the master key does not match the one this database was written with: set OKTA_BRIDGE_MASTER_KEY (or restore the key file) to the original key",
                )
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
    pub fn key_id(&self) -> KeyId {
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
        for s in self.sealed_values().await? {
            if MasterKey::sealed_with(&s.bytes) == Some(current) {
                continue;
            }
            let plain = self.key.open(&s.context, &s.bytes)?;
            let resealed = self.key.seal(&s.context, &plain);
            let sql = match (s.table, s.column) {
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
                ("webhooks", "secret") => "UPDATE webhooks SET secret = $1 WHERE id = $2 AND secret = $3",
                ("webhooks", _) => "UPDATE webhooks SET previous_secret = $1 WHERE id = $2 AND previous_secret = $3",
                ("setup_links", _) => "UPDATE setup_links SET private_key = $1 WHERE id = $2 AND private_key = $3",
                ("event_hooks", _) => "UPDATE event_hooks SET secret = $1 WHERE account = $2 AND secret = $3",
                ("oauth_states", _) => {
                    "UPDATE oauth_states SET pkce_verifier = $1 WHERE state_hash = $2 AND pkce_verifier = $3"
                }
                _ => "UPDATE store_meta SET value = $1 WHERE name = $2 AND value = $3",
            };
            let changed = with_pool!(self, pool => {
                sqlx::query(sql).bind(resealed).bind(&s.key).bind(&s.bytes).execute(pool).await?.rows_affected()
            });
            n += usize::try_from(changed).unwrap_or(0);
        }
        Ok(n)
    }
}
