//! Accounts: the orgs okta-bridge works with, and the app each connects through.

use std::fmt;

use okta_client::OrgUrl;
use url::Url;

use super::names::{AccountName, Scopes};
use super::secrets::{ClientSecret, PrivateKeyPem, secret_opt};
use crate::egress::Egress;
use crate::error::{Error, Result};

/// The scopes a web app asks for unless told otherwise: read users, and a refresh token.
pub const DEFAULT_WEB_SCOPES: &str = "okta.users.read offline_access";
/// The scopes a service app asks for unless told otherwise.
pub const DEFAULT_SERVICE_SCOPES: &str = "okta.users.read";

/// The kind of app an account connects through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AppKind {
    /// An OAuth web app: authorization code + PKCE, with a client secret.
    Web,
    /// A service app: client credentials with `private_key_jwt`.
    Service,
    /// No app: an admin connects it with an API token.
    ApiToken,
}

impl AppKind {
    /// `web`, `service` or `token`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Service => "service",
            Self::ApiToken => "token",
        }
    }

    /// The kind named `s` (`web`, `service`, `token`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "web" => Some(Self::Web),
            "service" => Some(Self::Service),
            "token" => Some(Self::ApiToken),
            _ => None,
        }
    }

    /// Whether it is [`AppKind::Web`] (for templates).
    pub fn is_web(self) -> bool {
        self == Self::Web
    }

    /// Whether it is [`AppKind::Service`] (for templates).
    pub fn is_service(self) -> bool {
        self == Self::Service
    }
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for AppKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How an account connects to its org.
#[derive(Clone)]
#[non_exhaustive]
pub enum AppCredentials {
    /// An OAuth web app: authorization code + PKCE, with a client secret.
    Web {
        /// Its client id.
        client_id: String,
        /// Its client secret.
        client_secret: ClientSecret,
    },
    /// A service app: client credentials with `private_key_jwt`, or, for an API service
    /// integration installed from the Okta Integration Network, with its client secret
    /// (`client_secret_basic`).
    Service {
        /// Its client id.
        client_id: String,
        /// How it authenticates.
        auth: ServiceAuth,
    },
    /// No app: an admin connects it with an API token.
    ApiToken,
}

/// How a service account's app authenticates at the token endpoint.
#[derive(Clone)]
pub enum ServiceAuth {
    /// `private_key_jwt`: a service app of the org's own, with a key pair.
    PrivateKey {
        /// Its private key, PEM or private JWK, as given.
        private_key: PrivateKeyPem,
        /// The key's id (`kid`) as registered with the app, when the key does not carry one.
        key_id: Option<String>,
    },
    /// `client_secret_basic`: an API service integration; the secret Okta showed its admin once.
    ClientSecret(ClientSecret),
}

impl fmt::Debug for ServiceAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PrivateKey { key_id, .. } => f
                .debug_struct("PrivateKey")
                .field("key_id", key_id)
                .finish_non_exhaustive(),
            Self::ClientSecret(_) => f.write_str("ClientSecret([REDACTED])"),
        }
    }
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Web { client_id, .. } => f
                .debug_struct("Web")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::Service { client_id, auth } => f
                .debug_struct("Service")
                .field("client_id", client_id)
                .field("auth", auth)
                .finish(),
            Self::ApiToken => f.write_str("ApiToken"),
        }
    }
}

impl AppCredentials {
    /// Its kind.
    pub fn kind(&self) -> AppKind {
        match self {
            Self::Web { .. } => AppKind::Web,
            Self::Service { .. } => AppKind::Service,
            Self::ApiToken => AppKind::ApiToken,
        }
    }

    /// The app's client id, if it has an app.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Web { client_id, .. } | Self::Service { client_id, .. } => Some(client_id),
            Self::ApiToken => None,
        }
    }

    /// The key id of a service app's key, when one was given.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Self::Service {
                auth: ServiceAuth::PrivateKey { key_id, .. },
                ..
            } => key_id.as_deref(),
            _ => None,
        }
    }
}

/// An org okta-bridge works with.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its name (and the name of its connection).
    pub name: AccountName,
    /// The org.
    pub org_url: OrgUrl,
    /// How it connects.
    pub app: AppCredentials,
    /// The authorization server, by issuer, when not the org's own (web apps; discovery).
    pub issuer: Option<Url>,
    /// The scopes its app asks for (none for API-token accounts).
    pub scopes: Scopes,
    /// Whether the org requires DPoP-bound tokens for its service app (found when connecting).
    pub dpop: bool,
    /// When it was added (unix seconds).
    pub created_at: i64,
    /// When it last changed (unix seconds); versions the account.
    pub updated_at: i64,
}

impl Account {
    /// The origins of the org and of the issuer, to check where they resolve.
    pub fn origins(&self) -> Vec<OrgUrl> {
        let mut urls = vec![self.org_url.clone()];
        if let Some(issuer) = &self.issuer
            && let Ok(u) = OrgUrl::parse(&issuer[..url::Position::BeforePath])
        {
            urls.push(u);
        }
        urls
    }
}

/// An account as an admin describes it (CLI or JSON API), before it is checked.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAccount {
    /// Its name.
    pub name: String,
    /// The org URL.
    pub org_url: String,
    /// `web`, `service` or `token` (default: `web` with a client secret, `service` with a
    /// private key, `token` with neither).
    #[serde(default)]
    pub kind: Option<String>,
    /// The app's client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The web app's client secret.
    #[serde(default, deserialize_with = "secret_opt")]
    pub client_secret: Option<ClientSecret>,
    /// The service app's private key (PEM or private JWK).
    #[serde(default, deserialize_with = "secret_opt")]
    pub private_key: Option<PrivateKeyPem>,
    /// The key's id, as registered with the service app.
    #[serde(default)]
    pub key_id: Option<String>,
    /// A custom authorization server's issuer (web apps).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Scopes, space-separated.
    #[serde(default)]
    pub scopes: Option<String>,
}

fn check_client_id(id: Option<String>, kind: AppKind) -> Result<String> {
    let id = id.map(|s| s.trim().to_owned()).unwrap_or_default();
    if id.is_empty() {
        return Err(Error::invalid(
            "clientId",
            format!("a {kind} account needs the client id of the org's app (clientId / --client-id)"),
        ));
    }
    if id.len() > 255 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid(
            "clientId",
            "the client id holds characters Okta client ids do not have: copy it from the app's General tab",
        ));
    }
    Ok(id)
}

impl NewAccount {
    /// Checks every field and says what to fix: the name, the org URL (https on a public
    /// address unless `egress` allows private ones), the app's credentials (a private key must
    /// parse), the scopes (a service app cannot ask for `offline_access`).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field; [`Error::Egress`] for an org okta-bridge must not
    /// reach.
    pub fn validate(self, egress: &Egress, now: i64) -> Result<Account> {
        use secrecy::ExposeSecret;
        let name = AccountName::parse(self.name.trim())?;
        let org_url = OrgUrl::parse(self.org_url.trim()).map_err(|e| Error::invalid("orgUrl", e.to_string()))?;
        egress.check_url(&org_url)?;
        let kind = match self.kind.as_deref().map(str::trim) {
            Some(k) => AppKind::parse(k).ok_or_else(|| {
                Error::invalid(
                    "kind",
                    format!(
                        "account kind {k:?} is not one of web (OAuth web app), service (service app) or token (API token)"
                    ),
                )
            })?,
            None if self.private_key.is_some() => AppKind::Service,
            None if self.client_secret.is_some() || self.client_id.is_some() => AppKind::Web,
            None => AppKind::ApiToken,
        };
        let app = match kind {
            AppKind::Web => {
                if self.private_key.is_some() {
                    return Err(Error::invalid(
                        "privateKey",
                        "a web app authenticates with a client secret, not a private key",
                    ));
                }
                let client_secret = self.client_secret.ok_or_else(|| {
                    Error::invalid(
                        "clientSecret",
                        "a web account needs the app's client secret (clientSecret; on the command line from --client-secret-file or --client-secret-stdin)",
                    )
                })?;
                AppCredentials::Web {
                    client_id: check_client_id(self.client_id, kind)?,
                    client_secret,
                }
            }
            AppKind::Service => {
                let auth = match (self.private_key, self.client_secret) {
                    (Some(_), Some(_)) => {
                        return Err(Error::invalid(
                            "clientSecret",
                            "a service app authenticates with a private key (private_key_jwt) or, an API service integration, with its client secret: give one, not both",
                        ));
                    }
                    (None, None) => {
                        return Err(Error::invalid(
                            "clientSecret",
                            "a service account needs the client secret Okta showed when the API service integration was installed (clientSecret; on the command line --client-secret-stdin), or its own service app's private key, PEM or private JWK (privateKey; --private-key-file)",
                        ));
                    }
                    (None, Some(secret)) => {
                        if secret.expose_secret().trim().is_empty() {
                            return Err(Error::invalid("clientSecret", "the client secret is empty"));
                        }
                        ServiceAuth::ClientSecret(secret)
                    }
                    (Some(private_key), None) => {
                        if let Err(e) = okta_client::PrivateKey::parse(private_key.expose_secret()) {
                            let reason = match e {
                                okta_client::Error::Config(m) => m,
                                other => other.to_string(),
                            };
                            return Err(Error::invalid("privateKey", reason));
                        }
                        let key_id = self.key_id.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
                        ServiceAuth::PrivateKey { private_key, key_id }
                    }
                };
                AppCredentials::Service {
                    client_id: check_client_id(self.client_id, kind)?,
                    auth,
                }
            }
            AppKind::ApiToken => {
                if self.client_id.is_some() || self.client_secret.is_some() || self.private_key.is_some() {
                    return Err(Error::invalid(
                        "clientId",
                        "an API-token account has no app: leave out the client id, secret and key",
                    ));
                }
                AppCredentials::ApiToken
            }
        };
        let issuer = match self.issuer.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(_) if kind != AppKind::Web => {
                return Err(Error::invalid(
                    "issuer",
                    "an issuer (custom authorization server) only applies to web apps",
                ));
            }
            Some(i) => {
                let url = Url::parse(i).map_err(|e| Error::invalid("issuer", format!("issuer {i:?}: {e}")))?;
                let as_org = OrgUrl::parse(&url[..url::Position::BeforePath])
                    .map_err(|e| Error::invalid("issuer", format!("issuer {i:?}: {e}")))?;
                egress.check_url(&as_org)?;
                Some(url)
            }
        };
        let scopes = match kind {
            AppKind::ApiToken => Scopes::none(),
            AppKind::Web => Scopes::parse(self.scopes.as_deref().unwrap_or(DEFAULT_WEB_SCOPES))?,
            AppKind::Service => {
                let s = Scopes::parse(self.scopes.as_deref().unwrap_or(DEFAULT_SERVICE_SCOPES))?;
                if s.contains("offline_access") {
                    return Err(Error::invalid(
                        "scopes",
                        "a service app gets no refresh token: leave offline_access out of its scopes",
                    ));
                }
                s
            }
        };
        Ok(Account {
            name,
            org_url,
            app,
            issuer,
            scopes,
            dpop: false,
            created_at: now,
            updated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str, org: &str) -> NewAccount {
        NewAccount {
            name: name.into(),
            org_url: org.into(),
            ..NewAccount::default()
        }
    }

    #[test]
    fn kinds_follow_the_credentials_given() {
        let strict = Egress::public_only();
        let mut web = new("acme", "https://acme.okta.com");
        web.client_id = Some("0oa1".into());
        web.client_secret = Some(ClientSecret::new("s3cret"));
        let a = web.validate(&strict, 0).unwrap();
        assert_eq!(a.app.kind(), AppKind::Web);
        assert_eq!(a.scopes.to_string(), DEFAULT_WEB_SCOPES);
        assert!(!format!("{a:?}").contains("s3cret"), "Debug shows no secret");

        let t = new("acme-token", "https://acme.okta.com").validate(&strict, 0).unwrap();
        assert_eq!(t.app.kind(), AppKind::ApiToken);
    }

    #[test]
    fn bad_input_says_what_to_fix() {
        let cases: Vec<(NewAccount, &str, &str)> = vec![
            (new("Acme", "https://acme.okta.com"), "name", "account name"),
            (new("acme", "http://acme.okta.com"), "orgUrl", "https is required"),
            (
                NewAccount {
                    kind: Some("web".into()),
                    client_id: Some("0oa1".into()),
                    ..new("acme", "https://acme.okta.com")
                },
                "clientSecret",
                "client secret",
            ),
            (
                NewAccount {
                    client_id: Some("0oa1".into()),
                    private_key: Some(PrivateKeyPem::new("not a key")),
                    ..new("acme", "https://acme.okta.com")
                },
                "privateKey",
                "not an RSA or P-256 private key",
            ),
            (
                NewAccount {
                    kind: Some("ldap".into()),
                    ..new("acme", "https://acme.okta.com")
                },
                "kind",
                "not one of web",
            ),
        ];
        for (input, field, expected) in cases {
            match input.validate(&Egress::public_only(), 0).unwrap_err() {
                Error::Invalid { field: f, reason } => {
                    assert_eq!(f, field, "{reason}");
                    assert!(reason.contains(expected), "{reason:?} should say {expected:?}");
                }
                other => panic!("{other}"),
            }
        }
        let private = new("acme", "https://10.1.2.3")
            .validate(&Egress::public_only(), 0)
            .unwrap_err();
        assert!(matches!(private, Error::Egress(_)), "{private}");
        assert!(private.to_string().contains("private"), "{private}");
    }
}
