//! The OAuth 2.0 authorization-code flow with PKCE against an org's authorization server, and
//! the refresh grant, through the `oauth2` crate on our own reqwest client.
//!
//! A pending authorization is a random `state` (stored as a hash), a PKCE verifier (stored
//! sealed) and a browser binding (a cookie whose hash is stored). The callback *takes* the
//! pending row, so a state works once, whatever happens next.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use okta_client::OrgUrl;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use crate::domain::{AccountName, Scopes};
use crate::error::{Error, Result};
use crate::store::{NewConnection, PendingAuthorization, Store, TokenSet};

/// How long a started authorization may take to come back.
pub const STATE_TTL: Duration = Duration::from_secs(600);

type OktaOAuthClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The registered OAuth web application of one org.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    client: OktaOAuthClient,
    client_secret: SecretString,
    revocation: Url,
    http: reqwest::Client,
    org: OrgUrl,
    scopes: Scopes,
    redirect_uri: String,
}

/// The endpoints of an authorization server.
struct Endpoints {
    authorization: Url,
    token: Url,
    revocation: Url,
}

/// The part of a discovery document (RFC 8414 / OpenID Connect Discovery) we use.
#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
}

/// Where to send the browser, and the cookie that binds the flow to it.
#[derive(Debug)]
pub struct Started {
    /// The org's authorize URL with state, PKCE challenge and scopes.
    pub authorize_url: Url,
    /// The value of the browser-binding cookie.
    pub browser_binding: SecretString,
}

/// What came back on the callback URL.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state we sent.
    pub state: Option<String>,
    /// An OAuth error code from the authorization server.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

/// What a pending authorization is bound to: the browser's binding cookie and the admin
/// session that started it, hashed together.
pub fn binding_hash(binding: &str, session: &str) -> String {
    hash(&format!("{binding}\n{session}"))
}

/// SHA-256, hex: states, bindings and session ids are stored only as hashes.
pub fn hash(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 32 random bytes, base64url.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

/// What went wrong with a request, without its URL, with its causes.
fn transport_message(e: reqwest::Error) -> String {
    okta_client::with_causes(&e.without_url())
}

/// The `oauth2` crate's HTTP calls, made with our reqwest client (no redirects followed).
async fn send(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let res = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(transport_message(e)))?;
    let mut builder = http::Response::builder().status(res.status());
    for (name, value) in res.headers() {
        builder = builder.header(name, value);
    }
    let body = res.bytes().await.map_err(|e| HttpError(transport_message(e)))?;
    builder.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
}

fn describe(e: RequestTokenError<HttpError, BasicErrorResponse>) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => match r.error_description() {
            Some(d) => format!("{}: {d}", r.error()),
            None => r.error().to_string(),
        },
        RequestTokenError::Request(e) => format!("could not reach the authorization server: {e}"),
        RequestTokenError::Parse(e, _) => format!("the authorization server's answer is not a token response: {e}"),
        RequestTokenError::Other(s) => s,
    }
}

/// A callback that passed every check but the code exchange.
#[derive(Debug)]
pub struct Callback {
    /// The pending authorization it completes (taken from the store: it cannot be used again).
    pub pending: PendingAuthorization,
    code: String,
}

/// Takes the pending authorization named by the callback's state (so that even a failed
/// callback cannot be replayed) and checks the callback: no error from the authorization
/// server, a known and unexpired state, started in this browser by this admin session, a code.
///
/// # Errors
/// [`Error::OAuth`] with a message for the person in the browser.
pub async fn take_callback(
    store: &Store,
    params: &CallbackParams,
    browser_binding: Option<&str>,
    session: &str,
) -> Result<Callback> {
    // The state is consumed first, so even a failed callback cannot be replayed.
    let pending = match &params.state {
        Some(state) => store.take_pending(&hash(state)).await?,
        None => None,
    };
    if let Some(error) = &params.error {
        let description = params.error_description.as_deref().unwrap_or("no description");
        return Err(Error::OAuth(format!(
            "Okta did not authorize the connection ({error}): {description}"
        )));
    }
    if params.state.is_none() {
        return Err(Error::OAuth(
            "the callback has no state parameter; start again from the Connect button".into(),
        ));
    }
    let pending = pending.ok_or_else(|| {
        Error::OAuth("this sign-in link is unknown or was already used; start again from the Connect button".into())
    })?;
    if pending.expires_at <= now() {
        return Err(Error::OAuth(
            "this sign-in took too long and expired; start again from the Connect button".into(),
        ));
    }
    match browser_binding {
        Some(b) if binding_hash(b, session) == pending.browser_hash => {}
        _ => {
            return Err(Error::OAuth(
                "this sign-in was started in another browser or admin session (or its cookie is gone); start again from the Connect button in this browser".into(),
            ));
        }
    }
    let code = params
        .code
        .clone()
        .ok_or_else(|| Error::OAuth("the callback has no authorization code; start again".into()))?;
    Ok(Callback { pending, code })
}

/// A DNS resolver for connections to an authorization server.
pub type Resolver = std::sync::Arc<dyn reqwest::dns::Resolve>;

/// Our HTTP client for authorization servers: never follows redirects, gives up after
/// `timeout`, resolves names with `resolver` when given.
fn http_client(timeout: Duration, resolver: Option<&Resolver>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("okta-bridge/", env!("CARGO_PKG_VERSION")));
    if let Some(r) = resolver {
        builder = builder.dns_resolver(r.clone());
    }
    builder.build().map_err(|e| Error::Config(format!("HTTP client: {e}")))
}

impl OAuthApp {
    /// The app `client_id`/`client_secret` registered in `org`, redirecting to `redirect_uri`,
    /// resolving the org's name with `resolver` (`None`: the system's; see
    /// [`crate::domain::org_resolver`]).
    ///
    /// # Errors
    /// [`Error::Config`] when a URL cannot be built.
    pub fn new(
        org: OrgUrl,
        client_id: String,
        client_secret: SecretString,
        redirect_uri: &str,
        scopes: Scopes,
        resolver: Option<Resolver>,
    ) -> Result<Self> {
        let endpoints = Endpoints {
            authorization: org.join("/oauth2/v1/authorize"),
            token: org.join("/oauth2/v1/token"),
            revocation: org.join("/oauth2/v1/revoke"),
        };
        Self::with_endpoints(org, endpoints, client_id, client_secret, redirect_uri, scopes, resolver)
    }

    /// The app of `org` at the authorization server whose issuer is `issuer` (an Okta custom
    /// authorization server such as `{org}/oauth2/default`, or any standards-compliant one),
    /// its endpoints read from `{issuer}/.well-known/oauth-authorization-server` (RFC 8414),
    /// falling back to `openid-configuration`. The document must name `issuer` as its issuer and
    /// endpoints on the issuer's origin: the client secret goes nowhere else. Names are resolved
    /// with `resolver` (`None`: the system's).
    ///
    /// # Errors
    /// [`Error::Config`] saying what the discovery document lacks or why it cannot be read.
    pub async fn discover(
        org: OrgUrl,
        issuer: &Url,
        client_id: String,
        client_secret: SecretString,
        redirect_uri: &str,
        scopes: Scopes,
        resolver: Option<Resolver>,
    ) -> Result<Self> {
        let http = http_client(Duration::from_secs(30), resolver.as_ref())?;
        let base = issuer.as_str().trim_end_matches('/');
        let mut doc = None;
        for name in ["oauth-authorization-server", "openid-configuration"] {
            let url = format!("{base}/.well-known/{name}");
            let res = http
                .get(&url)
                .send()
                .await
                .map_err(|e| Error::Config(format!("cannot read {url}: {}", transport_message(e))))?;
            if res.status().is_success() {
                doc = Some(
                    res.json::<Discovery>()
                        .await
                        .map_err(|e| Error::Config(format!("{url} is not a discovery document: {e}")))?,
                );
                break;
            }
        }
        let doc = doc.ok_or_else(|| {
            Error::Config(format!(
                "no discovery document at {base}/.well-known/oauth-authorization-server or openid-configuration: is {issuer} an issuer?"
            ))
        })?;
        if doc.issuer.trim_end_matches('/') != base {
            return Err(Error::Config(format!(
                "the discovery document of {issuer} names another issuer ({})",
                doc.issuer
            )));
        }
        let endpoint = |name: &str, value: Option<String>| -> Result<Url> {
            let value =
                value.ok_or_else(|| Error::Config(format!("the discovery document of {issuer} has no {name}")))?;
            let url = Url::parse(&value).map_err(|e| Error::Config(format!("{name} {value:?}: {e}")))?;
            if url.origin() != issuer.origin() {
                return Err(Error::Config(format!(
                    "the {name} {url} is not on the issuer's origin: refusing to send the client secret there"
                )));
            }
            Ok(url)
        };
        let endpoints = Endpoints {
            authorization: endpoint("authorization_endpoint", doc.authorization_endpoint)?,
            token: endpoint("token_endpoint", doc.token_endpoint)?,
            revocation: endpoint(
                "revocation_endpoint",
                doc.revocation_endpoint.or_else(|| Some(format!("{base}/v1/revoke"))),
            )?,
        };
        Self::with_endpoints(org, endpoints, client_id, client_secret, redirect_uri, scopes, resolver)
    }

    fn with_endpoints(
        org: OrgUrl,
        endpoints: Endpoints,
        client_id: String,
        client_secret: SecretString,
        redirect_uri: &str,
        scopes: Scopes,
        resolver: Option<Resolver>,
    ) -> Result<Self> {
        let bad = |what: &str, e: String| Error::Config(format!("{what}: {e}"));
        let client = BasicClient::new(ClientId::new(client_id))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
            .set_auth_uri(AuthUrl::from_url(endpoints.authorization))
            .set_token_uri(TokenUrl::from_url(endpoints.token))
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| bad("OKTA_BRIDGE_PUBLIC_URL", e.to_string()))?,
            );
        // Below the refresh lease (tokens::LEASE): a refresh never outlives its lease.
        let http = http_client(Duration::from_secs(8), resolver.as_ref())?;
        Ok(Self {
            client,
            client_secret,
            revocation: endpoints.revocation,
            http,
            org,
            scopes,
            redirect_uri: redirect_uri.to_owned(),
        })
    }

    /// Revokes a connection's tokens at the authorization server (RFC 7009, client
    /// authentication as for the token endpoint): the refresh token first (which ends the
    /// grant), then the access token. Sent with our own client because the `oauth2` crate
    /// refuses a revocation endpoint that is not https, which a local sandbox is.
    ///
    /// # Errors
    /// [`Error::OAuth`] when the authorization server cannot be reached or refuses.
    pub async fn revoke(
        &self,
        access_token: &SecretString,
        refresh_token: Option<&SecretString>,
    ) -> Result<Vec<&'static str>> {
        let url = self.revocation.clone();
        let mut tokens = Vec::new();
        if let Some(rt) = refresh_token {
            tokens.push(("refresh_token", rt));
        }
        tokens.push(("access_token", access_token));
        let mut revoked = Vec::new();
        for (kind, token) in tokens {
            let res = self
                .http
                .post(url.clone())
                .basic_auth(
                    self.client.client_id().as_str(),
                    Some(self.client_secret.expose_secret()),
                )
                .form(&[("token", token.expose_secret()), ("token_type_hint", kind)])
                .send()
                .await
                .map_err(|e| Error::OAuth(format!("revoking the {kind} failed: {}", transport_message(e))))?;
            if !res.status().is_success() {
                return Err(Error::OAuth(format!(
                    "revoking the {kind} failed: the authorization server answered {}",
                    res.status()
                )));
            }
            revoked.push(kind);
        }
        Ok(revoked)
    }

    /// Where the authorization server sends the browser back.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The org this app belongs to.
    pub fn org(&self) -> &OrgUrl {
        &self.org
    }

    /// Begins an authorization for the admin session `session` (its cookie value): records it
    /// and returns where to send the browser. The state is bound to both the browser (a cookie
    /// of its own) and that admin session.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn start(&self, store: &Store, account: Option<AccountName>, session: &str) -> Result<Started> {
        let state = random_secret();
        let binding = random_secret();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .client
            .authorize_url(|| CsrfToken::new(state.clone()))
            .set_pkce_challenge(challenge);
        for scope in self.scopes.iter() {
            request = request.add_scope(Scope::new(scope.to_owned()));
        }
        let (authorize_url, _) = request.url();
        store
            .put_pending(&PendingAuthorization {
                state_hash: hash(&state),
                browser_hash: binding_hash(&binding, session),
                pkce_verifier: verifier.secret().clone().into(),
                account,
                expires_at: now() + STATE_TTL.as_secs() as i64,
            })
            .await?;
        Ok(Started {
            authorize_url,
            browser_binding: binding.into(),
        })
    }

    /// Completes an authorization taken from the store with [`take_callback`]: checks it,
    /// exchanges the code, stores the connection. Nothing is stored unless every step succeeds.
    ///
    /// # Errors
    /// [`Error::OAuth`] with a message for the person in the browser.
    pub async fn finish(&self, store: &Store, callback: Callback) -> Result<AccountName> {
        let Callback { pending, code } = callback;
        let http = self.http.clone();
        let http_client = move |req: HttpRequest| send(http.clone(), req);
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.expose_secret().to_owned()))
            .request_async(&http_client)
            .await
            .map_err(|e| Error::OAuth(format!("exchanging the authorization code failed: {}", describe(e))))?;
        let scopes = token
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| self.scopes.to_string());
        let account = match pending.account {
            Some(a) => a,
            None => AccountName::parse(&self.org.subdomain())?,
        };
        let tokens = TokenSet {
            access_token: token.access_token().secret().clone().into(),
            refresh_token: token.refresh_token().map(|r| r.secret().clone().into()),
            expires_at: now() + token.expires_in().map_or(3600, |d| d.as_secs() as i64),
        };
        store
            .upsert_connection(&NewConnection {
                account: account.clone(),
                org_url: self.org.clone(),
                scopes,
                token_type: "Bearer".into(),
                tokens,
                method: crate::store::ConnectionMethod::AuthorizationCode,
            })
            .await?;
        tracing::info!(account = %account, org = %self.org, "connection stored");
        Ok(account)
    }

    /// Uses `refresh_token`; a response without a refresh token keeps the old one (Okta's
    /// static refresh tokens).
    ///
    /// # Errors
    /// [`Error::Reconnect`] when the authorization server rejects the refresh token,
    /// [`Error::OAuth`] when it cannot be reached.
    pub async fn refresh(&self, account: &AccountName, refresh_token: &SecretString) -> Result<TokenSet> {
        let http = self.http.clone();
        let http_client = move |req: HttpRequest| send(http.clone(), req);
        let rt = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let token = self
            .client
            .exchange_refresh_token(&rt)
            .request_async(&http_client)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) if r.error().to_string() == "invalid_grant" => Error::Reconnect {
                    account: account.to_string(),
                    reason: format!(
                        "Okta rejected the refresh token ({})",
                        r.error_description().map_or("invalid_grant", |d| d.as_str())
                    ),
                },
                other => Error::OAuth(format!("refreshing the access token failed: {}", describe(other))),
            })?;
        Ok(TokenSet {
            access_token: token.access_token().secret().clone().into(),
            refresh_token: Some(
                token
                    .refresh_token()
                    .map_or_else(|| refresh_token.clone(), |r| r.secret().clone().into()),
            ),
            expires_at: now() + token.expires_in().map_or(3600, |d| d.as_secs() as i64),
        })
    }
}
