//! The OAuth 2.0 authorization-code flow with PKCE against an org's authorization server
//! (the org's own or any other found by discovery), the refresh grant and revocation, through
//! the `oauth2` crate on our own reqwest client (see [`crate::egress`]).
//!
//! A pending authorization is a random `state` (stored as a hash), a PKCE verifier (stored
//! sealed) and a browser binding (a cookie whose hash, with the admin session's, is stored).
//! The callback *takes* the pending row, so a state works once, whatever happens next.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret as OAuth2Secret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken as OAuth2Refresh,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use okta_client::OrgUrl;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::crypto::{hash, random_secret};
use crate::egress::Egress;
use crate::error::{Error, OAuthFailure, Result};
use crate::model::{
    AccessToken, AccountName, ClientSecret, ConnectionMethod, Expiry, NewConnection, PendingAuthorization,
    PkceVerifier, RefreshToken, Scopes, TokenSet, now,
};
use crate::store::Store;

/// How long a started authorization may take to come back.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// How long a token request may take: below the refresh lease (`tokens::LEASE`), so a refresh
/// never outlives its lease.
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

/// The longest access-token lifetime we believe (a day); Okta's is at most a day.
const MAX_LIFETIME_SECS: i64 = 24 * 3600;

type OktaOAuthClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The registered OAuth web application of one org.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    client: OktaOAuthClient,
    client_secret: ClientSecret,
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
    /// The name of this flow's browser-binding cookie ([`binding_cookie_name`]).
    pub binding_cookie: String,
    /// The value of the browser-binding cookie.
    pub browser_binding: SecretString,
}

/// The name of the browser-binding cookie of the flow whose state is `state`: one cookie per
/// flow, so two flows in two tabs do not overwrite each other's binding, and a stray or forged
/// callback (another state, or none) leaves every real flow's cookie alone.
pub fn binding_cookie_name(state: &str) -> String {
    format!("okta_bridge_oauth_{}", &hash(state)[..16])
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

/// `now` + a token response's `expires_in` (an hour when absent), capped to a day.
fn expiry(expires_in: Option<Duration>) -> Expiry {
    let secs = expires_in.map_or(3600, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Expiry::At(now().saturating_add(secs.min(MAX_LIFETIME_SECS)))
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
    let body = okta_client::body::read_limited(res, okta_client::body::MAX_SMALL_BYTES)
        .await
        .map_err(|e| match e {
            okta_client::body::ReadError::Transport(e) => HttpError(transport_message(e)),
            too_large => HttpError(too_large.to_string()),
        })?;
    builder.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
}

/// A failed token request as an [`Error::OAuth`] of the right kind: the app refused
/// (`invalid_client`, `unauthorized_client`) is [`OAuthFailure::ClientRejected`], any other
/// answer of the server [`OAuthFailure::Refused`], no answer [`OAuthFailure::Transient`].
fn token_error(doing: &str, e: RequestTokenError<HttpError, BasicErrorResponse>) -> Error {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let code = r.error().to_string();
            let kind = match code.as_str() {
                "invalid_client" | "unauthorized_client" => OAuthFailure::ClientRejected,
                _ => OAuthFailure::Refused,
            };
            let detail = match r.error_description() {
                Some(d) => format!("{doing} failed: {code}: {d}"),
                None => format!("{doing} failed: {code}"),
            };
            Error::OAuth {
                kind,
                code: Some(code),
                detail,
            }
        }
        RequestTokenError::Request(e) => Error::oauth(
            OAuthFailure::Transient,
            format!("{doing} failed: could not reach the authorization server: {e}"),
        ),
        RequestTokenError::Parse(e, _) => Error::oauth(
            OAuthFailure::Transient,
            format!("{doing} failed: the authorization server's answer is not a token response: {e}"),
        ),
        RequestTokenError::Other(s) => Error::oauth(OAuthFailure::Transient, format!("{doing} failed: {s}")),
    }
}

/// A callback that passed every check but the code exchange.
#[derive(Debug)]
pub struct Callback {
    /// The pending authorization it completes (taken from the store: it cannot be used again).
    pub pending: PendingAuthorization,
    code: String,
}

impl Callback {
    /// The authorization code.
    pub fn code(&self) -> &str {
        &self.code
    }
}

fn refused(detail: &str) -> Error {
    Error::oauth(OAuthFailure::Refused, detail)
}

/// Takes the pending authorization named by the callback's state (so that even a failed
/// callback cannot be replayed) and checks the callback: no error from the authorization
/// server, a known and unexpired state, started in this browser by one of `sessions` (the
/// browser's admin session, its setup link's), a code.
///
/// # Errors
/// [`Error::OAuth`] ([`OAuthFailure::Refused`]) with a message for the person in the browser.
pub async fn take_callback(
    store: &Store,
    params: &CallbackParams,
    browser_binding: Option<&str>,
    sessions: &[&str],
) -> Result<Callback> {
    // The state is consumed first, so even a failed callback cannot be replayed.
    let pending = match &params.state {
        Some(state) => store.take_pending(&hash(state)).await?,
        None => None,
    };
    if let Some(error) = &params.error {
        let description = params.error_description.as_deref().unwrap_or("no description");
        return Err(Error::OAuth {
            kind: OAuthFailure::Refused,
            code: Some(error.clone()),
            detail: format!("Okta did not authorize the connection ({error}): {description}"),
        });
    }
    if params.state.is_none() {
        return Err(refused(
            "the callback has no state parameter; start again from the Connect button",
        ));
    }
    let pending = pending.ok_or_else(|| {
        refused("this sign-in link is unknown or was already used; start again from the Connect button")
    })?;
    if pending.expires_at <= now() {
        return Err(refused(
            "this sign-in took too long and expired; start again from the Connect button",
        ));
    }
    match browser_binding {
        Some(b) if sessions.iter().any(|s| binding_hash(b, s) == pending.browser_hash) => {}
        _ => {
            return Err(refused(
                "this sign-in was started in another browser or admin session (or its cookie is gone); start again from the Connect button in this browser",
            ));
        }
    }
    let code = params
        .code
        .clone()
        .ok_or_else(|| refused("the callback has no authorization code; start again"))?;
    Ok(Callback { pending, code })
}

impl OAuthApp {
    /// The app `client_id`/`client_secret` registered in `org` (at the org authorization
    /// server), redirecting to `redirect_uri`, reaching the org as `egress` says.
    ///
    /// # Errors
    /// [`Error::Config`] when a URL cannot be built.
    pub fn new(
        org: OrgUrl,
        client_id: String,
        client_secret: ClientSecret,
        redirect_uri: &str,
        scopes: Scopes,
        egress: Egress,
    ) -> Result<Self> {
        let endpoints = Endpoints {
            authorization: org.join("/oauth2/v1/authorize"),
            token: org.join("/oauth2/v1/token"),
            revocation: org.join("/oauth2/v1/revoke"),
        };
        Self::with_endpoints(org, endpoints, client_id, client_secret, redirect_uri, scopes, egress)
    }

    /// The app of `org` at the authorization server whose issuer is `issuer` (an Okta custom
    /// authorization server such as `{org}/oauth2/default`, or any standards-compliant one),
    /// its endpoints read from `{issuer}/.well-known/oauth-authorization-server` (RFC 8414),
    /// falling back to `openid-configuration`. The document must name `issuer` as its issuer and
    /// endpoints on the issuer's origin: the client secret goes nowhere else.
    ///
    /// # Errors
    /// [`Error::Config`] (setting `OKTA_OAUTH2_ISSUER`) saying what the discovery document
    /// lacks or why it cannot be read.
    pub async fn discover(
        org: OrgUrl,
        issuer: &Url,
        client_id: String,
        client_secret: ClientSecret,
        redirect_uri: &str,
        scopes: Scopes,
        egress: Egress,
    ) -> Result<Self> {
        const SETTING: &str = "OKTA_OAUTH2_ISSUER";
        let http = egress.http_client(Duration::from_secs(30))?;
        let base = issuer.as_str().trim_end_matches('/');
        let mut doc = None;
        for name in ["oauth-authorization-server", "openid-configuration"] {
            let url = format!("{base}/.well-known/{name}");
            let res = http
                .get(&url)
                .send()
                .await
                .map_err(|e| Error::config(SETTING, format!("cannot read {url}: {}", transport_message(e))))?;
            if res.status().is_success() {
                let body = okta_client::body::read_limited(res, okta_client::body::MAX_SMALL_BYTES)
                    .await
                    .map_err(|e| Error::config(SETTING, format!("cannot read {url}: {e}")))?;
                doc = Some(
                    serde_json::from_slice::<Discovery>(&body)
                        .map_err(|e| Error::config(SETTING, format!("{url} is not a discovery document: {e}")))?,
                );
                break;
            }
        }
        let doc = doc.ok_or_else(|| {
            Error::config(
                SETTING,
                format!(
                    "no discovery document at {base}/.well-known/oauth-authorization-server or openid-configuration: is {issuer} an issuer?"
                ),
            )
        })?;
        if doc.issuer.trim_end_matches('/') != base {
            return Err(Error::config(
                SETTING,
                format!(
                    "the discovery document of {issuer} names another issuer ({})",
                    doc.issuer
                ),
            ));
        }
        let endpoint = |name: &str, value: Option<String>| -> Result<Url> {
            let value = value
                .ok_or_else(|| Error::config(SETTING, format!("the discovery document of {issuer} has no {name}")))?;
            let url = Url::parse(&value).map_err(|e| Error::config(SETTING, format!("{name} {value:?}: {e}")))?;
            if url.origin() != issuer.origin() {
                return Err(Error::config(
                    SETTING,
                    format!("the {name} {url} is not on the issuer's origin: refusing to send the client secret there"),
                ));
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
        Self::with_endpoints(org, endpoints, client_id, client_secret, redirect_uri, scopes, egress)
    }

    fn with_endpoints(
        org: OrgUrl,
        endpoints: Endpoints,
        client_id: String,
        client_secret: ClientSecret,
        redirect_uri: &str,
        scopes: Scopes,
        egress: Egress,
    ) -> Result<Self> {
        let client = BasicClient::new(ClientId::new(client_id))
            .set_client_secret(OAuth2Secret::new(client_secret.expose_secret().to_owned()))
            .set_auth_uri(AuthUrl::from_url(endpoints.authorization))
            .set_token_uri(TokenUrl::from_url(endpoints.token))
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_owned())
                    .map_err(|e| Error::config("OKTA_BRIDGE_PUBLIC_URL", e.to_string()))?,
            );
        Ok(Self {
            client,
            client_secret,
            revocation: endpoints.revocation,
            http: egress.http_client(TOKEN_REQUEST_TIMEOUT)?,
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
        access_token: &AccessToken,
        refresh_token: Option<&RefreshToken>,
    ) -> Result<Vec<&'static str>> {
        let mut tokens: Vec<(&'static str, &str)> = Vec::new();
        if let Some(rt) = refresh_token {
            tokens.push(("refresh_token", rt.expose_secret()));
        }
        tokens.push(("access_token", access_token.expose_secret()));
        let mut revoked = Vec::new();
        for (kind, token) in tokens {
            let res = self
                .http
                .post(self.revocation.clone())
                .basic_auth(
                    self.client.client_id().as_str(),
                    Some(self.client_secret.expose_secret()),
                )
                .form(&[("token", token), ("token_type_hint", kind)])
                .send()
                .await
                .map_err(|e| {
                    Error::oauth(
                        OAuthFailure::Transient,
                        format!("revoking the {kind} failed: {}", transport_message(e)),
                    )
                })?;
            if !res.status().is_success() {
                let kind_of_failure = match res.status().as_u16() {
                    401 => OAuthFailure::ClientRejected,
                    500.. => OAuthFailure::Transient,
                    _ => OAuthFailure::Refused,
                };
                return Err(Error::oauth(
                    kind_of_failure,
                    format!(
                        "revoking the {kind} failed: the authorization server answered {}",
                        res.status()
                    ),
                ));
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
                pkce_verifier: PkceVerifier::new(verifier.into_secret()),
                account,
                expires_at: now() + STATE_TTL.as_secs() as i64,
            })
            .await?;
        Ok(Started {
            authorize_url,
            binding_cookie: binding_cookie_name(&state),
            browser_binding: binding.into(),
        })
    }

    /// Completes an authorization taken from the store with [`take_callback`]: exchanges the
    /// code and stores the connection. Nothing is stored unless every step succeeds.
    ///
    /// # Errors
    /// [`Error::OAuth`] with a message for the person in the browser; [`Error::Database`].
    pub async fn finish(&self, store: &Store, callback: Callback) -> Result<AccountName> {
        let Callback { pending, code } = callback;
        let http = self.http.clone();
        let http_client = move |req: HttpRequest| send(http.clone(), req);
        let verifier = PkceCodeVerifier::new(pending.pkce_verifier.expose_secret().to_owned());
        let token = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&http_client)
            .await
            .map_err(|e| token_error("exchanging the authorization code", e))?;
        let scopes = match token.scopes() {
            Some(s) => Scopes::parse_any(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "))?,
            None => self.scopes.clone(),
        };
        let account = match pending.account {
            Some(a) => a,
            None => AccountName::parse(&self.org.subdomain())?,
        };
        let tokens = TokenSet {
            access_token: AccessToken::new(token.access_token().secret().clone()),
            refresh_token: token.refresh_token().map(|r| RefreshToken::new(r.secret().clone())),
            expires_at: expiry(token.expires_in()),
        };
        store
            .upsert_connection(&NewConnection {
                account: account.clone(),
                org_url: self.org.clone(),
                scopes,
                token_type: "Bearer".into(),
                tokens,
                method: ConnectionMethod::AuthorizationCode,
            })
            .await?;
        tracing::info!(account = %account, org = %self.org, "connection stored");
        Ok(account)
    }

    /// Checks the app's client id and secret with its token endpoint, without a user: a
    /// client-credentials request that a web app may not make. Okta answers `invalid_client`
    /// when the id or secret is wrong, and `unauthorized_client` (the grant type) when they are
    /// right.
    ///
    /// # Errors
    /// [`Error::OAuth`] ([`OAuthFailure::ClientRejected`]) for a wrong id or secret;
    /// [`OAuthFailure::Transient`] when the server cannot be reached.
    pub async fn check_secret(&self) -> Result<()> {
        let http = self.http.clone();
        let http_client = move |req: HttpRequest| send(http.clone(), req);
        match self
            .client
            .exchange_client_credentials()
            .request_async(&http_client)
            .await
        {
            Ok(_) => Ok(()),
            Err(RequestTokenError::ServerResponse(r)) if r.error().to_string() != "invalid_client" => Ok(()),
            Err(e) => Err(token_error("checking the client id and secret", e)),
        }
    }

    /// Uses `refresh_token`; a response without a refresh token keeps the old one (Okta's
    /// static refresh tokens).
    ///
    /// # Errors
    /// [`Error::Reconnect`] when the authorization server rejects the refresh token
    /// (`invalid_grant`); [`Error::OAuth`] otherwise, of the kind that says whether to retry.
    pub async fn refresh(&self, account: &AccountName, refresh_token: &RefreshToken) -> Result<TokenSet> {
        let http = self.http.clone();
        let http_client = move |req: HttpRequest| send(http.clone(), req);
        let rt = OAuth2Refresh::new(refresh_token.expose_secret().to_owned());
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
                other => token_error("refreshing the access token", other),
            })?;
        Ok(TokenSet {
            access_token: AccessToken::new(token.access_token().secret().clone()),
            refresh_token: Some(
                token
                    .refresh_token()
                    .map_or_else(|| refresh_token.clone(), |r| RefreshToken::new(r.secret().clone())),
            ),
            expires_at: expiry(token.expires_in()),
        })
    }
}
