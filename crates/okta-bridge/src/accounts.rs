//! Accounts: the orgs okta-bridge works with, and how it connects to each.
//!
//! An account names an org and holds that org's app: an OAuth web app (client id and secret:
//! connected by an admin through the authorization-code flow), a service app (client id and
//! private key: client credentials with `private_key_jwt`, DPoP when the org requires it), or
//! no app at all (connected with an API token an admin pastes). The connection of the same
//! name holds the tokens. Secrets are sealed in the store like every token.
//!
//! [`Apps`] finds the web app that connects and refreshes a given account, building it once
//! per version of the account.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use okta_client::OrgUrl;
use secrecy::SecretString;
use url::Url;

use crate::connect::OAuthApp;
use crate::domain::{AccountName, Scopes, check_org_url};
use crate::error::{Error, Result};
use crate::store::{ConnectionMethod, NEVER, NewConnection, Store, TokenSet};

/// The scopes a web app asks for unless told otherwise.
pub const DEFAULT_WEB_SCOPES: &str = "okta.users.read offline_access";
/// The scopes a service app asks for unless told otherwise.
pub const DEFAULT_SERVICE_SCOPES: &str = "okta.users.read";

/// How an account connects to its org.
#[derive(Clone)]
#[non_exhaustive]
pub enum AppCredentials {
    /// An OAuth web app: authorization code + PKCE, with a client secret.
    Web {
        /// Its client id.
        client_id: String,
        /// Its client secret.
        client_secret: SecretString,
    },
    /// A service app: client credentials with `private_key_jwt`.
    Service {
        /// Its client id.
        client_id: String,
        /// Its private key, PEM or private JWK, as given.
        private_key: SecretString,
        /// The key's id (`kid`) as registered with the app, when the key does not carry one.
        key_id: Option<String>,
    },
    /// No app: an admin connects it with an API token.
    ApiToken,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Web { client_id, .. } => f
                .debug_struct("Web")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::Service { client_id, key_id, .. } => f
                .debug_struct("Service")
                .field("client_id", client_id)
                .field("key_id", key_id)
                .finish_non_exhaustive(),
            Self::ApiToken => f.write_str("ApiToken"),
        }
    }
}

impl AppCredentials {
    /// `web`, `service` or `token`, as stored and shown.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Web { .. } => "web",
            Self::Service { .. } => "service",
            Self::ApiToken => "token",
        }
    }

    /// The app's client id, if it has an app.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Web { client_id, .. } | Self::Service { client_id, .. } => Some(client_id),
            Self::ApiToken => None,
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
    /// The scopes its app asks for (empty for API-token accounts).
    pub scopes: String,
    /// Whether the org requires DPoP-bound tokens for its service app (found when connecting).
    pub dpop: bool,
    /// When it was added (unix seconds).
    pub created_at: i64,
    /// When it last changed (unix seconds).
    pub updated_at: i64,
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
    pub client_secret: Option<SecretString>,
    /// The service app's private key (PEM or private JWK).
    #[serde(default, deserialize_with = "secret_opt")]
    pub private_key: Option<SecretString>,
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

/// Deserializes an optional secret straight into a [`SecretString`]; blank counts as absent.
pub(crate) fn secret_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let s: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(s.filter(|s| !s.trim().is_empty()).map(SecretString::from))
}

/// An account's status from its connection: `not_connected`, `connected` or `needs_reauth`
/// (with Okta's reason).
pub fn status_of(conn: Option<&crate::store::Connection>) -> (&'static str, Option<&str>) {
    match conn.map(|c| &c.status) {
        None => ("not_connected", None),
        Some(crate::store::ConnectionStatus::NeedsReauth(r)) => ("needs_reauth", Some(r.as_str())),
        Some(s) => (s.as_str(), None),
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn check_client_id(id: Option<String>, kind: &str) -> Result<String> {
    let id = id.map(|s| s.trim().to_owned()).unwrap_or_default();
    if id.is_empty() {
        return Err(Error::Invalid(format!(
            "a {kind} account needs the client id of the org's app (clientId / --client-id)"
        )));
    }
    if id.len() > 255 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::Invalid(
            "the client id holds characters Okta client ids do not have: copy it from the app's General tab".into(),
        ));
    }
    Ok(id)
}

fn non_empty(secret: Option<SecretString>, what: &str) -> Result<SecretString> {
    use secrecy::ExposeSecret;
    match secret {
        Some(s) if !s.expose_secret().trim().is_empty() => Ok(SecretString::from(s.expose_secret().trim().to_owned())),
        _ => Err(Error::Invalid(format!("{what} is empty"))),
    }
}

impl NewAccount {
    /// Checks every field and says what to fix: the name, the org URL (https on a public
    /// address unless `allow_private`), the app's credentials (a private key must parse), the
    /// scopes (a service app cannot ask for `offline_access`).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(self, allow_private: bool) -> Result<Account> {
        use secrecy::ExposeSecret;
        let name = AccountName::parse(self.name.trim())?;
        let org_url = OrgUrl::parse(self.org_url.trim()).map_err(|e| Error::Invalid(e.to_string()))?;
        check_org_url(&org_url, allow_private)
            .map_err(|e| Error::Invalid(e.to_string().replace("configuration: ", "")))?;
        let kind = match self.kind.as_deref().map(str::trim) {
            Some(k) => k.to_owned(),
            None if self.private_key.is_some() => "service".into(),
            None if self.client_secret.is_some() || self.client_id.is_some() => "web".into(),
            None => "token".into(),
        };
        let app = match kind.as_str() {
            "web" => {
                if self.private_key.is_some() {
                    return Err(Error::Invalid(
                        "a web app authenticates with a client secret, not a private key".into(),
                    ));
                }
                AppCredentials::Web {
                    client_id: check_client_id(self.client_id, "web")?,
                    client_secret: non_empty(self.client_secret, "the client secret").map_err(|_| {
                        Error::Invalid(
                            "a web account needs the app's client secret (clientSecret; on the command line from --client-secret-file or --client-secret-stdin)".into(),
                        )
                    })?,
                }
            }
            "service" => {
                if self.client_secret.is_some() {
                    return Err(Error::Invalid(
                        "a service app authenticates with a private key (private_key_jwt), not a client secret".into(),
                    ));
                }
                let private_key = non_empty(self.private_key, "the private key").map_err(|_| {
                    Error::Invalid(
                        "a service account needs the app's private key, PEM or private JWK (privateKey; on the command line --private-key-file)".into(),
                    )
                })?;
                okta_client::PrivateKey::parse(private_key.expose_secret())
                    .map_err(|e| Error::Invalid(e.to_string().replace("configuration: ", "")))?;
                let key_id = self.key_id.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
                AppCredentials::Service {
                    client_id: check_client_id(self.client_id, "service")?,
                    private_key,
                    key_id,
                }
            }
            "token" => {
                if self.client_id.is_some() || self.client_secret.is_some() || self.private_key.is_some() {
                    return Err(Error::Invalid(
                        "an API-token account has no app: leave out the client id, secret and key".into(),
                    ));
                }
                AppCredentials::ApiToken
            }
            other => {
                return Err(Error::Invalid(format!(
                    "account kind {other:?} is not one of web (OAuth web app), service (service app) or token (API token)"
                )));
            }
        };
        let issuer = match self.issuer.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(_) if !matches!(app, AppCredentials::Web { .. }) => {
                return Err(Error::Invalid(
                    "an issuer (custom authorization server) only applies to web apps".into(),
                ));
            }
            Some(i) => {
                let url = Url::parse(i).map_err(|e| Error::Invalid(format!("issuer {i:?}: {e}")))?;
                let as_org = OrgUrl::parse(&url[..url::Position::BeforePath])
                    .map_err(|e| Error::Invalid(format!("issuer {i:?}: {e}")))?;
                check_org_url(&as_org, allow_private)
                    .map_err(|e| Error::Invalid(e.to_string().replace("configuration: ", "")))?;
                Some(url)
            }
        };
        let scopes = match &app {
            AppCredentials::ApiToken => String::new(),
            AppCredentials::Web { .. } => {
                Scopes::parse(self.scopes.as_deref().unwrap_or(DEFAULT_WEB_SCOPES))?.to_string()
            }
            AppCredentials::Service { .. } => {
                let s = Scopes::parse(self.scopes.as_deref().unwrap_or(DEFAULT_SERVICE_SCOPES))?;
                if s.contains("offline_access") {
                    return Err(Error::Invalid(
                        "a service app gets no refresh token: leave offline_access out of its scopes".into(),
                    ));
                }
                s.to_string()
            }
        };
        let now = now();
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

impl Account {
    /// Resolves the org's name (and the issuer's) and refuses one that leads to a loopback,
    /// private or link-local address, or that does not resolve at all (a mistyped org URL),
    /// unless `allow_private`.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying which name and what to do.
    pub async fn check_resolves(&self, allow_private: bool) -> Result<()> {
        let mut urls = vec![self.org_url.clone()];
        if let Some(issuer) = &self.issuer
            && let Ok(u) = OrgUrl::parse(&issuer[..url::Position::BeforePath])
        {
            urls.push(u);
        }
        for url in urls {
            match crate::domain::check_org_resolves(&url, allow_private).await {
                Ok(crate::domain::Resolution::Unresolved(why)) => {
                    return Err(Error::Invalid(format!("{why}: check the org URL {url}")));
                }
                Ok(_) => {}
                Err(e) => return Err(Error::Invalid(e.to_string().replace("configuration: ", ""))),
            }
        }
        Ok(())
    }
}

/// Stores an account the admin described: a new one, or with `replace` new credentials for an
/// existing one. A connected account keeps its org and its kind (its tokens came from that org
/// that way): changing either needs a disconnect first.
///
/// # Errors
/// [`Error::AccountExists`] (without `replace`), [`Error::Conflict`], [`Error::Database`].
pub async fn save(store: &Store, account: &Account, replace: bool) -> Result<()> {
    if replace && let Some(c) = store.connection(&account.name).await? {
        let kind_of_connection = match c.method {
            ConnectionMethod::ServiceApp => Some("service"),
            ConnectionMethod::AuthorizationCode => Some("web"),
            _ => None,
        };
        if c.org_url != account.org_url {
            return Err(Error::Conflict(format!(
                "account {} is connected to {}: disconnect it before pointing it at another org",
                account.name, c.org_url
            )));
        }
        if kind_of_connection.is_some_and(|k| k != account.app.kind()) {
            return Err(Error::Conflict(format!(
                "account {} is connected through its {} app: disconnect it before changing the kind of app",
                account.name,
                kind_of_connection.unwrap_or_default()
            )));
        }
    }
    let mut account = account.clone();
    if replace
        && let Some(old) = store.account(&account.name).await?
        && old.app.kind() == account.app.kind()
        && old.app.client_id() == account.app.client_id()
    {
        // The same app: what connecting learned about it (DPoP) still holds.
        account.dpop = old.dpop;
    }
    if !store.put_account(&account, replace).await? {
        return Err(Error::AccountExists(account.name.to_string()));
    }
    Ok(())
}

/// Finds the OAuth web app of an account: its own (an account of kind `web`), or the server's
/// configured app (`OKTA_CLIENT_*`) for connections that have no account. Built apps are kept
/// until the account changes.
#[derive(Debug)]
pub struct Apps {
    store: Store,
    fallback: Option<OAuthApp>,
    redirect_uri: String,
    allow_private: bool,
    built: Mutex<HashMap<String, (i64, OAuthApp)>>,
}

impl Apps {
    /// Apps of the accounts in `store`, redirecting to `redirect_uri`; `fallback` serves
    /// connections without an account.
    pub fn new(store: Store, fallback: Option<OAuthApp>, redirect_uri: impl Into<String>) -> Self {
        Self {
            store,
            fallback,
            redirect_uri: redirect_uri.into(),
            allow_private: false,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// Whether accounts' orgs may be on loopback or private addresses (development:
    /// `OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS`). Without it, every connection to an account's
    /// org resolves its name through [`crate::domain::PublicAddressesOnly`].
    #[must_use]
    pub fn allow_private_orgs(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Whether orgs on private addresses are allowed.
    pub fn allows_private_orgs(&self) -> bool {
        self.allow_private
    }

    /// The resolver for connections to accounts' orgs (`None`: the system's, unchecked).
    pub fn resolver(&self) -> Option<crate::connect::Resolver> {
        crate::domain::org_resolver(self.allow_private)
    }

    /// A client builder for `org` that resolves its name as this policy says.
    pub fn client_builder(&self, org: OrgUrl) -> okta_client::ClientBuilder {
        let builder = okta_client::Client::builder_for(org);
        match self.resolver() {
            Some(r) => builder.dns_resolver(r),
            None => builder,
        }
    }

    /// The server's configured app, if any.
    pub fn fallback(&self) -> Option<&OAuthApp> {
        self.fallback.as_ref()
    }

    /// The redirect URI apps are registered with.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The web app that connects and refreshes `account`: the account's own, or the configured
    /// one when there is no such account (`None` when there is neither).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the account connects another way (service app, API token);
    /// [`Error::Config`] when its issuer's discovery fails; [`Error::Database`].
    pub async fn web_app(&self, account: &AccountName) -> Result<Option<OAuthApp>> {
        let Some(a) = self.store.account(account).await? else {
            return Ok(self.fallback.clone());
        };
        if let Some((version, app)) = self.built.lock().expect("apps lock").get(account.as_str())
            && *version == a.updated_at
        {
            return Ok(Some(app.clone()));
        }
        let AppCredentials::Web {
            client_id,
            client_secret,
        } = a.app
        else {
            return Err(Error::Invalid(format!(
                "account {account} connects {}, not through the Okta sign-in flow",
                match a.app {
                    AppCredentials::Service { .. } => "as a service app",
                    _ => "with an API token",
                }
            )));
        };
        let scopes = Scopes::parse(&a.scopes)?;
        let app = match &a.issuer {
            Some(issuer) => {
                OAuthApp::discover(
                    a.org_url,
                    issuer,
                    client_id,
                    client_secret,
                    &self.redirect_uri,
                    scopes,
                    self.resolver(),
                )
                .await?
            }
            None => OAuthApp::new(
                a.org_url,
                client_id,
                client_secret,
                &self.redirect_uri,
                scopes,
                self.resolver(),
            )?,
        };
        self.built
            .lock()
            .expect("apps lock")
            .insert(account.to_string(), (a.updated_at, app.clone()));
        Ok(Some(app))
    }

    /// The okta-client service app of a `service` account.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the account has no service app or its key does not parse.
    pub fn service_app(account: &Account) -> Result<okta_client::ServiceApp> {
        use secrecy::ExposeSecret;
        let AppCredentials::Service {
            client_id,
            private_key,
            key_id,
        } = &account.app
        else {
            return Err(Error::Invalid(format!("account {} has no service app", account.name)));
        };
        let mut key = okta_client::PrivateKey::parse(private_key.expose_secret())
            .map_err(|e| Error::Invalid(format!("the private key of account {}: {e}", account.name)))?;
        if let Some(kid) = key_id {
            key = key.with_key_id(kid.clone());
        }
        let scopes: Vec<&str> = account.scopes.split_whitespace().collect();
        let app = okta_client::ServiceApp::new(client_id.clone(), &scopes, key);
        Ok(if account.dpop { app.with_dpop() } else { app })
    }
}

/// What connecting an account found.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connected {
    /// The account.
    pub account: AccountName,
    /// `api_token` or `service_app`.
    pub method: &'static str,
    /// `SSWS`, `Bearer` or `DPoP`.
    pub token_type: &'static str,
    /// The login of the API token's user (API tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Says why Okta refused, without anything secret (Okta's errors never echo credentials).
fn refused(what: &str, e: &okta_client::Error) -> Option<Error> {
    match e {
        okta_client::Error::Api(api) if matches!(api.status.as_u16(), 401 | 403) => Some(Error::Rejected(format!(
            "Okta did not accept the {what} ({} {}: {}); nothing was stored",
            api.status.as_u16(),
            api.error_code.as_deref().unwrap_or("-"),
            api.error_summary.as_deref().unwrap_or("no summary")
        ))),
        okta_client::Error::OAuth { error, description, .. } => Some(Error::Rejected(format!(
            "Okta did not accept the {what} ({error}{}); nothing was stored",
            description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
        ))),
        okta_client::Error::Config(m) => Some(Error::Rejected(format!("the {what} cannot be used: {m}"))),
        _ => None,
    }
}

/// Connects `account` with an API token an admin pasted: the token is checked with
/// `GET /api/v1/users/me` (Okta says whose it is) and stored, sealed, only when Okta accepts it.
/// It replaces any earlier connection of the account.
///
/// # Errors
/// [`Error::Rejected`] when Okta refuses the token (nothing stored); [`Error::Okta`] when Okta
/// cannot be reached; [`Error::Database`].
pub async fn connect_api_token(apps: &Apps, account: &Account, token: &SecretString) -> Result<Connected> {
    let store = &apps.store;
    use secrecy::ExposeSecret;
    let token = token.expose_secret().trim();
    if token.is_empty() {
        return Err(Error::Invalid(
            "the API token is empty: paste the token Okta showed when it was created".into(),
        ));
    }
    let client = apps
        .client_builder(account.org_url.clone())
        .api_token(token)
        .max_retries(1)
        .build()
        .map_err(|e| refused("API token", &e).unwrap_or(Error::Okta(e)))?;
    let me = client
        .users()
        .get("me")
        .await
        .map_err(|e| refused("API token", &e).unwrap_or(Error::Okta(e)))?;
    store
        .upsert_connection(&NewConnection {
            account: account.name.clone(),
            org_url: account.org_url.clone(),
            scopes: String::new(),
            token_type: "SSWS".into(),
            tokens: TokenSet {
                access_token: SecretString::from(token.to_owned()),
                refresh_token: None,
                expires_at: NEVER,
            },
            method: ConnectionMethod::ApiToken,
        })
        .await?;
    tracing::info!(account = %account.name, org = %account.org_url, "connected with an API token");
    Ok(Connected {
        account: account.name.clone(),
        method: ConnectionMethod::ApiToken.as_str(),
        token_type: "SSWS",
        user: Some(me.profile.login),
    })
}

/// One read the service app's scopes allow, to prove a token works (the token request alone
/// would not show that the app was granted the scope).
async fn probe(client: &okta_client::Client, scopes: &str) -> okta_client::Result<()> {
    let has = |s: &str| {
        scopes
            .split_whitespace()
            .any(|x| x == s || x == s.replace(".read", ".manage"))
    };
    if has("okta.users.read") {
        client.users().list().limit(1).send().await.map(drop)
    } else if has("okta.groups.read") {
        client.groups().list().limit(1).send().await.map(drop)
    } else if has("okta.apps.read") {
        client.apps().list().limit(1).send().await.map(drop)
    } else {
        client.logs().query().limit(1).send().await.map(drop)
    }
}

async fn try_service_app(apps: &Apps, a: &Account) -> Result<()> {
    let client = apps
        .client_builder(a.org_url.clone())
        .service_app(Apps::service_app(a)?)
        .max_retries(1)
        .build()?;
    probe(&client, &a.scopes).await.map_err(Error::Okta)
}

/// Connects a `service` account: a token is requested with the client credentials grant and
/// `private_key_jwt`, and used once. When the org requires DPoP (Okta answers
/// `invalid_dpop_proof`), it is asked again with DPoP and the account remembers it. Tokens are
/// then minted by each instance when needed; the connection row holds none.
///
/// # Errors
/// [`Error::Invalid`] for an account without a service app; [`Error::Rejected`] when Okta
/// refuses the app, key or scopes (nothing stored); [`Error::Okta`], [`Error::Database`].
pub async fn connect_service_app(apps: &Apps, account: &Account) -> Result<Connected> {
    let store = &apps.store;
    let mut account = account.clone();
    let mut result = try_service_app(apps, &account).await;
    if !account.dpop
        && matches!(&result, Err(Error::Okta(okta_client::Error::OAuth { error, .. })) if error == "invalid_dpop_proof")
    {
        account.dpop = true;
        result = try_service_app(apps, &account).await;
    }
    match result {
        Ok(()) => {}
        Err(Error::Okta(e)) => return Err(refused("service app's credentials", &e).unwrap_or(Error::Okta(e))),
        Err(e) => return Err(e),
    }
    store.set_account_dpop(&account.name, account.dpop).await?;
    let token_type = if account.dpop { "DPoP" } else { "Bearer" };
    store
        .upsert_connection(&NewConnection {
            account: account.name.clone(),
            org_url: account.org_url.clone(),
            scopes: account.scopes.clone(),
            token_type: token_type.into(),
            tokens: TokenSet {
                access_token: SecretString::from(String::new()),
                refresh_token: None,
                expires_at: NEVER,
            },
            method: ConnectionMethod::ServiceApp,
        })
        .await?;
    tracing::info!(account = %account.name, org = %account.org_url, dpop = account.dpop, "connected as a service app");
    Ok(Connected {
        account: account.name.clone(),
        method: ConnectionMethod::ServiceApp.as_str(),
        token_type,
        user: None,
    })
}

/// An okta-client for the stored connection `account`, authorized as the connection was made:
/// the API token (`SSWS`), the account's service app (tokens minted by this instance, DPoP when
/// the org requires it), or the connection's tokens through `refresher` (refreshed as needed,
/// once across instances).
///
/// # Errors
/// [`Error::Reconnect`] when the connection needs to be made again, or a service-app
/// connection lost its account; [`Error::Database`].
pub async fn client_for(
    store: &Store,
    refresher: &std::sync::Arc<crate::tokens::Refresher>,
    conn: crate::store::Connection,
) -> Result<okta_client::Client> {
    use secrecy::ExposeSecret;
    let account = &conn.account;
    if let crate::store::ConnectionStatus::NeedsReauth(reason) = &conn.status {
        return Err(Error::Reconnect {
            account: account.to_string(),
            reason: reason.clone(),
        });
    }
    let builder = refresher.apps().client_builder(conn.org_url);
    Ok(match conn.method {
        ConnectionMethod::ApiToken => builder.api_token(conn.access_token.expose_secret()).build()?,
        ConnectionMethod::ServiceApp => {
            let a = store.account(account).await?.ok_or_else(|| Error::Reconnect {
                account: account.to_string(),
                reason: "its account (with the service app's key) was removed".into(),
            })?;
            builder.service_app(Apps::service_app(&a)?).build()?
        }
        _ => {
            let source = crate::tokens::ConnectionTokenSource::new(refresher.clone(), account.clone());
            builder.token_source(std::sync::Arc::new(source)).build()?
        }
    })
}

/// The versions a cached client depends on (see [`client_stamp`]).
pub type ClientStamp = (i64, i64);

/// What a cached client of `conn` depends on: nothing for OAuth connections (their tokens are
/// read from the store on every request); the row's version for an API token; that and the
/// account's version for a service app (a new key or DPoP needs a new client).
///
/// # Errors
/// [`Error::Database`], [`Error::Decrypt`].
pub async fn client_stamp(store: &Store, conn: &crate::store::Connection) -> Result<ClientStamp> {
    Ok(match conn.method {
        ConnectionMethod::ApiToken => (conn.version, 0),
        ConnectionMethod::ServiceApp => (
            conn.version,
            store.account(&conn.account).await?.map_or(0, |a| a.updated_at),
        ),
        _ => (0, 0),
    })
}

/// Disconnects `account`: an OAuth connection's refresh and access tokens are revoked at the
/// authorization server first (nothing is removed when that fails, so it can be tried again);
/// then the stored tokens are removed with an audit record. An API token is revoked at Okta
/// only when `revoke_api_token` says so (it is the admin's and may serve other tools), else
/// forgotten; a service app's connection holds no token. Returns what was revoked.
///
/// # Errors
/// [`Error::UnknownConnection`]; [`Error::OAuth`] when revocation fails; [`Error::Database`].
pub async fn disconnect(
    store: &Store,
    apps: &Apps,
    account: &AccountName,
    revoke_api_token: bool,
) -> Result<Vec<&'static str>> {
    let conn = store
        .connection(account)
        .await?
        .ok_or_else(|| Error::UnknownConnection(account.to_string()))?;
    let (revoked, detail) = match conn.method {
        ConnectionMethod::ApiToken if revoke_api_token => {
            use secrecy::ExposeSecret;
            let client = apps
                .client_builder(conn.org_url.clone())
                .api_token(conn.access_token.expose_secret())
                .build()?;
            match client.revoke_current_api_token().await {
                Ok(()) => (vec!["api_token"], "revoked the API token".to_owned()),
                // Okta refuses it already: revoked or expired; nothing left to revoke.
                Err(okta_client::Error::Api(e)) if e.status == 401 => {
                    (Vec::new(), "API token forgotten (Okta refused it already)".to_owned())
                }
                Err(e) => return Err(Error::Okta(e)),
            }
        }
        ConnectionMethod::ApiToken => (
            Vec::new(),
            "API token forgotten (not revoked: it is the admin's; revoke it in the Admin Console under Security > API > Tokens if it is no longer needed)".to_owned(),
        ),
        ConnectionMethod::ServiceApp => (
            Vec::new(),
            "service app connection removed (its tokens were never stored)".to_owned(),
        ),
        _ => {
            let oauth = apps.web_app(account).await?;
            let oauth = oauth.as_ref().filter(|o| o.org() == &conn.org_url).ok_or_else(|| {
                Error::OAuth(format!(
                    "no OAuth client is configured for {}, so its tokens cannot be revoked",
                    conn.org_url
                ))
            })?;
            let revoked = oauth.revoke(&conn.access_token, conn.refresh_token.as_ref()).await?;
            let detail = format!("revoked {}", revoked.join(" and "));
            (revoked, detail)
        }
    };
    store.remove_connection(account, "disconnected", &detail).await?;
    tracing::info!(account = %account, "disconnected");
    Ok(revoked)
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
        let mut web = new("acme", "https://acme.okta.com");
        web.client_id = Some("0oa1".into());
        web.client_secret = Some("s3cret".to_owned().into());
        let a = web.validate(false).unwrap();
        assert_eq!(a.app.kind(), "web");
        assert_eq!(a.scopes, DEFAULT_WEB_SCOPES);
        assert!(!format!("{a:?}").contains("s3cret"), "Debug shows no secret");

        let t = new("acme-token", "https://acme.okta.com").validate(false).unwrap();
        assert_eq!(t.app.kind(), "token");
    }

    #[test]
    fn bad_input_says_what_to_fix() {
        let cases: Vec<(NewAccount, &str)> = vec![
            (new("Acme", "https://acme.okta.com"), "account name"),
            (new("acme", "http://acme.okta.com"), "https is required"),
            (new("acme", "https://10.1.2.3"), "private"),
            (
                NewAccount {
                    kind: Some("web".into()),
                    client_id: Some("0oa1".into()),
                    ..new("acme", "https://acme.okta.com")
                },
                "client secret",
            ),
            (
                NewAccount {
                    client_id: Some("0oa1".into()),
                    private_key: Some("not a key".to_owned().into()),
                    ..new("acme", "https://acme.okta.com")
                },
                "not an RSA or P-256 private key",
            ),
            (
                NewAccount {
                    kind: Some("ldap".into()),
                    ..new("acme", "https://acme.okta.com")
                },
                "not one of web",
            ),
        ];
        for (input, expected) in cases {
            let err = input.validate(false).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
        }
    }
}
