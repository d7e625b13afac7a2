//! How requests are authenticated.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

/// An OAuth 2.0 access token. `Debug` never shows it.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }
    /// The token itself, for the `Authorization` header.
    ///
    /// # Security
    /// Never log or store what this returns in plaintext.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

/// Why a [`TokenSource`] could not hand out a token. The message must not hold a secret.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TokenSourceError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TokenSourceError {
    /// An error with a message for the user.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }
    /// An error with a message and its cause.
    pub fn with_source(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Hands out a currently valid access token for each request: the application implements it
/// over its stored connections (refreshing when the token is about to expire).
#[async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// A token valid for at least the next request.
    ///
    /// # Errors
    /// When no valid token can be had (refresh failed, connection revoked, …).
    async fn access_token(&self) -> Result<AccessToken, TokenSourceError>;
}

/// What the client puts in `Authorization`.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// `Authorization: SSWS <token>`.
    ApiToken(SecretString),
    /// `Authorization: Bearer <token from the source>`.
    Bearer(Arc<dyn TokenSource>),
    /// A service app's own tokens (client credentials, `private_key_jwt`, maybe DPoP).
    ServiceApp(Arc<crate::service_app::ServiceAppAuth>),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ApiToken(_) => f.write_str("ApiToken([REDACTED])"),
            Credentials::Bearer(_) => f.write_str("Bearer(TokenSource)"),
            Credentials::ServiceApp(a) => write!(f, "ServiceApp({a:?})"),
        }
    }
}

impl Credentials {
    /// The headers that authenticate `method url`: `Authorization`, and `DPoP` with a proof
    /// for DPoP-bound tokens.
    pub(crate) async fn headers(
        &self,
        method: &reqwest::Method,
        url: &url::Url,
    ) -> Result<Vec<(&'static str, reqwest::header::HeaderValue)>, crate::Error> {
        let bad = || crate::Error::Config("the token holds characters not allowed in an HTTP header".to_owned());
        let sensitive = |raw: String| {
            let mut v = reqwest::header::HeaderValue::from_str(&raw).map_err(|_| bad())?;
            v.set_sensitive(true);
            Ok::<_, crate::Error>(v)
        };
        Ok(match self {
            Credentials::ApiToken(t) => vec![("authorization", sensitive(format!("SSWS {}", t.expose_secret()))?)],
            Credentials::Bearer(source) => vec![(
                "authorization",
                sensitive(format!("Bearer {}", source.access_token().await?.expose()))?,
            )],
            Credentials::ServiceApp(app) => {
                let (token, dpop) = app.token().await?;
                let mut h = vec![("authorization", crate::service_app::authorization(&token, dpop)?)];
                if dpop && let Some(proof) = app.proof(method, url, Some(token.expose_secret()))? {
                    h.push(("dpop", proof));
                }
                h
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_tokens() {
        let t = AccessToken::new("eyJsecret");
        assert!(!format!("{t:?}").contains("eyJsecret"));
        let c = Credentials::ApiToken(SecretString::from("00secret".to_owned()));
        assert!(!format!("{c:?}").contains("00secret"));
    }
}
