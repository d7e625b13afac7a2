//! Configuration as Okta's SDKs read it, so an existing setup works unchanged.
//!
//! Sources, each overriding the one before, as Okta's management SDKs document:
//! 1. `~/.okta/okta.yaml`
//! 2. `./.okta.yaml` (the application's directory)
//! 3. environment variables: `OKTA_CLIENT_ORGURL`, `OKTA_CLIENT_TOKEN`,
//!    `OKTA_CLIENT_AUTHORIZATIONMODE` (`SSWS`, `Bearer` or `PrivateKey`),
//!    `OKTA_CLIENT_CLIENTID`, `OKTA_CLIENT_SCOPES` (comma- or space-separated),
//!    `OKTA_CLIENT_PRIVATEKEY` (PEM, a private JWK, or a file holding either),
//!    `OKTA_CLIENT_PRIVATEKEYID`, `OKTA_CLIENT_DPOPENABLED`,
//!    `OKTA_CLIENT_CONNECTIONTIMEOUT` and `OKTA_CLIENT_REQUESTTIMEOUT` (seconds),
//!    `OKTA_CLIENT_RATELIMIT_MAXRETRIES`
//! 4. what the program sets on the [`ClientBuilder`] afterwards.
//!
//! The YAML files have the SDKs' shape:
//!
//! ```yaml
//! okta:
//!   client:
//!     orgUrl: "https://dev-123456.okta.com"
//!     authorizationMode: "PrivateKey"
//!     clientId: "0oa…"
//!     scopes: ["okta.users.read", "okta.groups.read"]
//!     privateKey: "/etc/okta/key.pem"
//!     privateKeyId: "key-1"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::client::{Client, ClientBuilder};
use crate::error::{Error, Result};
use crate::service_app::{PrivateKey, ServiceApp};

/// How the client authenticates (`authorizationMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizationMode {
    /// An API token: `Authorization: SSWS …` (the default).
    Ssws,
    /// An OAuth 2.0 access token obtained elsewhere: `Authorization: Bearer …`.
    Bearer,
    /// A service app's private key: client credentials with `private_key_jwt`.
    PrivateKey,
}

impl std::str::FromStr for AuthorizationMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ssws" => Ok(Self::Ssws),
            "bearer" => Ok(Self::Bearer),
            "privatekey" => Ok(Self::PrivateKey),
            other => Err(Error::Config(format!(
                "authorizationMode {other:?} is not one of SSWS, Bearer, PrivateKey"
            ))),
        }
    }
}

/// Everything the configuration sources can say; `None` where none said anything.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct OktaConfig {
    /// `orgUrl`
    pub org_url: Option<String>,
    /// `token`: the API token (SSWS) or access token (Bearer).
    pub token: Option<SecretString>,
    /// `authorizationMode`
    pub authorization_mode: Option<AuthorizationMode>,
    /// `clientId` of a service app.
    pub client_id: Option<String>,
    /// `scopes` of a service app.
    pub scopes: Option<Vec<String>>,
    /// `privateKey`: PEM, a private JWK, or the path of a file holding either.
    pub private_key: Option<SecretString>,
    /// `privateKeyId`
    pub private_key_id: Option<String>,
    /// `dpopEnabled`
    pub dpop: Option<bool>,
    /// `connectionTimeout`
    pub connection_timeout: Option<Duration>,
    /// `requestTimeout`
    pub request_timeout: Option<Duration>,
    /// `rateLimit.maxRetries`
    pub max_retries: Option<u32>,
}

impl std::fmt::Debug for OktaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OktaConfig")
            .field("org_url", &self.org_url)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("authorization_mode", &self.authorization_mode)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("private_key", &self.private_key.as_ref().map(|_| "[REDACTED]"))
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
struct YamlRoot {
    okta: Option<YamlOkta>,
}
#[derive(Deserialize, Default)]
struct YamlOkta {
    client: Option<YamlClient>,
}
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct YamlClient {
    org_url: Option<String>,
    token: Option<String>,
    authorization_mode: Option<String>,
    client_id: Option<String>,
    scopes: Option<Scopes>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    dpop_enabled: Option<bool>,
    connection_timeout: Option<u64>,
    request_timeout: Option<u64>,
    rate_limit: Option<YamlRateLimit>,
}
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct YamlRateLimit {
    max_retries: Option<u32>,
}
#[derive(Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Text(String),
}

fn split_scopes(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl OktaConfig {
    /// Reads the standard sources: `~/.okta/okta.yaml`, `./.okta.yaml`, then the environment.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file or variable that cannot be read.
    pub fn load() -> Result<Self> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let cwd = std::env::current_dir().map_err(|e| Error::Config(format!("no current directory: {e}")))?;
        Self::load_from(home.as_deref(), &cwd, |k| std::env::var(k).ok())
    }

    /// [`load`](Self::load) with the home directory, application directory and environment
    /// given (for tests and embedding).
    ///
    /// # Errors
    /// [`Error::Config`] naming the file or variable that cannot be read.
    pub fn load_from(home: Option<&Path>, app_dir: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut c = Self::default();
        if let Some(home) = home {
            c.merge_yaml(&home.join(".okta").join("okta.yaml"))?;
        }
        c.merge_yaml(&app_dir.join(".okta.yaml"))?;
        c.merge_env(env)?;
        Ok(c)
    }

    fn merge_yaml(&mut self, path: &Path) -> Result<()> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::Config(format!("cannot read {}: {e}", path.display()))),
        };
        let root: YamlRoot = serde_yaml_ng::from_str(&text)
            .map_err(|e| Error::Config(format!("{} is not valid okta.yaml: {e}", path.display())))?;
        let Some(y) = root.okta.and_then(|o| o.client) else {
            return Ok(());
        };
        let mode = y.authorization_mode.as_deref().map(str::parse).transpose()?;
        self.set(
            y.org_url,
            y.token,
            mode,
            y.client_id,
            y.scopes.map(|s| match s {
                Scopes::List(v) => v,
                Scopes::Text(t) => split_scopes(&t),
            }),
            y.private_key,
            y.private_key_id,
        );
        self.dpop = y.dpop_enabled.or(self.dpop);
        self.connection_timeout = y
            .connection_timeout
            .map(Duration::from_secs)
            .or(self.connection_timeout);
        self.request_timeout = y
            .request_timeout
            .filter(|t| *t > 0)
            .map(Duration::from_secs)
            .or(self.request_timeout);
        self.max_retries = y.rate_limit.and_then(|r| r.max_retries).or(self.max_retries);
        Ok(())
    }

    fn merge_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let mode = var("OKTA_CLIENT_AUTHORIZATIONMODE")
            .as_deref()
            .map(str::parse)
            .transpose()?;
        self.set(
            var("OKTA_CLIENT_ORGURL"),
            var("OKTA_CLIENT_TOKEN"),
            mode,
            var("OKTA_CLIENT_CLIENTID"),
            var("OKTA_CLIENT_SCOPES").map(|s| split_scopes(&s)),
            var("OKTA_CLIENT_PRIVATEKEY"),
            var("OKTA_CLIENT_PRIVATEKEYID"),
        );
        let number = |k: &str| -> Result<Option<u64>> {
            var(k)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| Error::Config(format!("{k}={v:?} is not a whole number")))
                })
                .transpose()
        };
        if let Some(d) = var("OKTA_CLIENT_DPOPENABLED") {
            self.dpop = Some(
                d.trim()
                    .parse()
                    .map_err(|_| Error::Config(format!("OKTA_CLIENT_DPOPENABLED={d:?}: true or false")))?,
            );
        }
        self.connection_timeout = number("OKTA_CLIENT_CONNECTIONTIMEOUT")?
            .map(Duration::from_secs)
            .or(self.connection_timeout);
        self.request_timeout = number("OKTA_CLIENT_REQUESTTIMEOUT")?
            .filter(|t| *t > 0)
            .map(Duration::from_secs)
            .or(self.request_timeout);
        self.max_retries = number("OKTA_CLIENT_RATELIMIT_MAXRETRIES")?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .or(self.max_retries);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn set(
        &mut self,
        org_url: Option<String>,
        token: Option<String>,
        mode: Option<AuthorizationMode>,
        client_id: Option<String>,
        scopes: Option<Vec<String>>,
        private_key: Option<String>,
        private_key_id: Option<String>,
    ) {
        self.org_url = org_url.or(self.org_url.take());
        self.token = token.map(SecretString::from).or(self.token.take());
        self.authorization_mode = mode.or(self.authorization_mode);
        self.client_id = client_id.or(self.client_id.take());
        self.scopes = scopes.or(self.scopes.take());
        self.private_key = private_key.map(SecretString::from).or(self.private_key.take());
        self.private_key_id = private_key_id.or(self.private_key_id.take());
    }

    /// A builder set up from this configuration; the program can still change it.
    ///
    /// # Errors
    /// [`Error::Config`] saying which setting is missing or wrong for the authorization mode.
    pub fn builder(&self) -> Result<ClientBuilder> {
        let org = self
            .org_url
            .as_deref()
            .ok_or_else(|| Error::Config("no org URL: set OKTA_CLIENT_ORGURL or okta.client.orgUrl".into()))?;
        let mut b = Client::builder(org)?;
        let mode = self.authorization_mode.unwrap_or(AuthorizationMode::Ssws);
        let token = || {
            self.token.as_ref().ok_or_else(|| {
                Error::Config(format!(
                    "authorizationMode {mode:?} needs a token: set OKTA_CLIENT_TOKEN or okta.client.token"
                ))
            })
        };
        b = match mode {
            AuthorizationMode::Ssws => b.api_token(token()?.expose_secret().to_owned()),
            AuthorizationMode::Bearer => b.token_source(std::sync::Arc::new(StaticToken(token()?.clone()))),
            AuthorizationMode::PrivateKey => {
                let client_id = self
                    .client_id
                    .as_deref()
                    .ok_or_else(|| Error::Config("authorizationMode PrivateKey needs OKTA_CLIENT_CLIENTID".into()))?;
                let scopes = self.scopes.as_ref().filter(|s| !s.is_empty()).ok_or_else(|| {
                    Error::Config("authorizationMode PrivateKey needs OKTA_CLIENT_SCOPES, e.g. okta.users.read".into())
                })?;
                let raw = self.private_key.as_ref().ok_or_else(|| {
                    Error::Config(
                        "authorizationMode PrivateKey needs OKTA_CLIENT_PRIVATEKEY (PEM, JWK or a file)".into(),
                    )
                })?;
                let mut key = PrivateKey::parse(&key_text(raw.expose_secret())?)?;
                if let Some(kid) = &self.private_key_id {
                    key = key.with_key_id(kid.clone());
                }
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                let mut app = ServiceApp::new(client_id, &scopes, key);
                app.dpop = self.dpop.unwrap_or(false);
                b.service_app(app)
            }
        };
        if let Some(t) = self.connection_timeout {
            b = b.connect_timeout(t);
        }
        if let Some(t) = self.request_timeout {
            b = b.timeout(t);
        }
        if let Some(n) = self.max_retries {
            b = b.max_retries(n);
        }
        Ok(b)
    }
}

/// The key itself, or the contents of the file it names.
fn key_text(value: &str) -> Result<String> {
    let v = value.trim();
    if v.starts_with("-----BEGIN") || v.starts_with('{') {
        return Ok(v.to_owned());
    }
    std::fs::read_to_string(v).map_err(|e| {
        Error::Config(format!(
            "the private key is neither PEM nor a JWK, and no file of that name can be read: {e}"
        ))
    })
}

/// An access token given as configuration (`authorizationMode: Bearer`).
struct StaticToken(SecretString);

#[async_trait::async_trait]
impl crate::auth::TokenSource for StaticToken {
    async fn access_token(&self) -> std::result::Result<crate::AccessToken, crate::TokenSourceError> {
        Ok(crate::AccessToken::new(self.0.expose_secret().to_owned()))
    }
}

impl Client {
    /// A client configured as Okta's SDKs are: `~/.okta/okta.yaml`, `./.okta.yaml`, then
    /// `OKTA_CLIENT_*` environment variables (see [`crate::config`]).
    ///
    /// # Errors
    /// [`Error::Config`] saying what is missing or wrong.
    pub fn from_env() -> Result<Client> {
        OktaConfig::load()?.builder()?.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn later_sources_override_earlier_ones() {
        let dir = std::env::temp_dir().join(format!("okta-client-config-{}", fastrand::u64(..)));
        let (home, app) = (dir.join("home"), dir.join("app"));
        std::fs::create_dir_all(home.join(".okta")).unwrap();
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(
            home.join(".okta/okta.yaml"),
            "okta:\n  client:\n    orgUrl: https://home.okta.com\n    token: home-token\n    scopes: [okta.users.read]\n    rateLimit:\n      maxRetries: 7\n",
        )
        .unwrap();
        std::fs::write(
            app.join(".okta.yaml"),
            "okta:\n  client:\n    orgUrl: https://app.okta.com\n    clientId: 0oaApp\n",
        )
        .unwrap();
        let c = OktaConfig::load_from(Some(&home), &app, env(&[])).unwrap();
        assert_eq!(
            c.org_url.as_deref(),
            Some("https://app.okta.com"),
            "the app's file wins"
        );
        assert_eq!(
            c.token.as_ref().unwrap().expose_secret(),
            "home-token",
            "the rest stays"
        );
        assert_eq!((c.client_id.as_deref(), c.max_retries), (Some("0oaApp"), Some(7)));
        let c = OktaConfig::load_from(
            Some(&home),
            &app,
            env(&[
                ("OKTA_CLIENT_ORGURL", "https://env.okta.com"),
                ("OKTA_CLIENT_SCOPES", "okta.users.read,okta.groups.read"),
                ("OKTA_CLIENT_AUTHORIZATIONMODE", "PrivateKey"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.org_url.as_deref(),
            Some("https://env.okta.com"),
            "the environment wins"
        );
        assert_eq!(c.scopes.as_ref().unwrap().len(), 2);
        assert_eq!(c.authorization_mode, Some(AuthorizationMode::PrivateKey));
        assert!(!format!("{c:?}").contains("home-token"));
        let err = c.builder().unwrap_err().to_string();
        assert!(err.contains("OKTA_CLIENT_PRIVATEKEY"), "{err}");

        std::fs::write(app.join(".okta.yaml"), "okta: [not, a, map]").unwrap();
        let err = OktaConfig::load_from(None, &app, env(&[])).unwrap_err().to_string();
        assert!(err.contains(".okta.yaml is not valid"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_are_checked_with_clear_messages() {
        let none = OktaConfig::load_from(None, Path::new("/nonexistent"), env(&[])).unwrap();
        assert!(none.builder().unwrap_err().to_string().contains("OKTA_CLIENT_ORGURL"));
        for (vars, says) in [
            (
                &[
                    ("OKTA_CLIENT_ORGURL", "https://x.okta.com"),
                    ("OKTA_CLIENT_AUTHORIZATIONMODE", "Magic"),
                ][..],
                "not one of SSWS",
            ),
            (
                &[
                    ("OKTA_CLIENT_ORGURL", "https://x.okta.com"),
                    ("OKTA_CLIENT_RATELIMIT_MAXRETRIES", "lots"),
                ][..],
                "not a whole number",
            ),
        ] {
            let vars: &'static [(&str, &str)] = Box::leak(vars.to_vec().into_boxed_slice());
            let err = OktaConfig::load_from(None, Path::new("/nonexistent"), env(vars))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err}");
        }
        let ssws = OktaConfig::load_from(
            None,
            Path::new("/nonexistent"),
            env(&[("OKTA_CLIENT_ORGURL", "https://x.okta.com")]),
        )
        .unwrap();
        assert!(ssws.builder().unwrap_err().to_string().contains("OKTA_CLIENT_TOKEN"));
    }
}
