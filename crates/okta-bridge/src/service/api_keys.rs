//! API keys: made (the key shown once, kept as a hash), listed, revoked, and checked when an
//! application presents one.

use secrecy::ExposeSecret;

use super::Service;
use crate::crypto::{hash, random_secret};
use crate::error::Result;
use crate::model::{API_KEY_PREFIX, ApiKey, ApiKeySecret, Scope, check_key_name, now};

impl Service {
    /// Makes a key named `name` with `scope`; the secret is returned here only.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a bad name; [`crate::error::Conflict::ApiKeyName`] when a
    /// key not revoked has the name; [`crate::Error::Database`].
    pub async fn create_api_key(&self, name: &str, scope: Scope) -> Result<(ApiKey, ApiKeySecret)> {
        check_key_name(name)?;
        let key = ApiKey {
            id: format!("ak_{}", &random_secret()[..16]),
            name: name.trim().to_owned(),
            scope,
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
        };
        let secret = ApiKeySecret::new(format!("{API_KEY_PREFIX}{}", random_secret()));
        self.store.create_api_key(&key, &hash(secret.expose_secret())).await?;
        tracing::info!(id = %key.id, name = %key.name, scope = %key.scope, "API key created");
        Ok((key, secret))
    }

    /// The key `presented` is, if it is one not revoked (its use is recorded).
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn authenticate_api_key(&self, presented: &str) -> Result<Option<ApiKey>> {
        if !presented.starts_with(API_KEY_PREFIX) {
            return Ok(None);
        }
        self.store.use_api_key(&hash(presented)).await
    }

    /// Whether `key` still works (not revoked since it was presented): for a request that
    /// answers long after it was authenticated, such as a long poll.
    ///
    /// # Errors
    /// [`crate::Error::ApiKeyRevoked`]; [`crate::Error::Database`].
    pub async fn still_live(&self, key: &ApiKey) -> Result<()> {
        if self.store.api_key_live(&key.id).await? {
            Ok(())
        } else {
            Err(crate::Error::ApiKeyRevoked {
                name: key.name.clone(),
                id: key.id.clone(),
            })
        }
    }

    /// Revokes the key with id or name `which`.
    ///
    /// # Errors
    /// [`crate::Error::UnknownApiKey`]; [`crate::Error::Database`].
    pub async fn revoke_api_key(&self, which: &str) -> Result<ApiKey> {
        let key = self.store.revoke_api_key(which).await?;
        tracing::info!(id = %key.id, name = %key.name, "API key revoked");
        Ok(key)
    }
}
