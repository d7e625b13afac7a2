//! [`Client`]: a cheap, cloneable handle on one org.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LINK};
use reqwest::redirect::Policy;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::{Credentials, TokenSource};
use crate::error::{ApiError, Error, Result, excerpt};
use crate::link;
use crate::org_url::OrgUrl;
use crate::pacing::{self, Pacer};
use crate::page::{Page, RateLimit};
use crate::users::UsersHandler;

/// The `User-Agent` every request carries.
pub const USER_AGENT: &str = concat!("okta-client/", env!("CARGO_PKG_VERSION"), " (rust)");

/// A client of one org's Management API. Clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    org: OrgUrl,
    credentials: Credentials,
    pacer: Pacer,
    retry: RetryPolicy,
    max_rate_limit_wait: Option<Duration>,
    /// The share of each rate-limit bucket this client uses (1: all of it).
    share: f64,
    /// Requests sent (each attempt) per bucket by this client and its clones.
    sent: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

/// How failed requests are retried.
///
/// Retried, with exponential backoff and jitter: a connection that could not be made (for any
/// request: nothing was sent), and for idempotent requests (`GET`, `PUT`, `DELETE`) also 500,
/// 502, 503, 504, timeouts and connections cut mid-response. A `POST` that creates or changes
/// something is never retried once it may have reached Okta. A 429 is retried for every
/// method (Okta did not process the request) after waiting for the window's reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 4); 0 turns retrying off.
    pub max_retries: u32,
    /// First backoff delay (default 200 ms); it doubles up to `max_delay`.
    pub min_delay: Duration,
    /// Longest backoff delay (default 10 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    org: OrgUrl,
    credentials: Option<Credentials>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    service_app: Option<crate::ServiceApp>,
    resolver: Option<Resolver>,
    max_rate_limit_wait: Option<Duration>,
    extra_roots: Vec<reqwest::Certificate>,
    transport: Option<Transport>,
}

/// A connection pool and TLS setup that many clients can share (cheap to clone): an
/// application with a client per org builds one with [`ClientBuilder::build_transport`] and
/// gives it to every builder with [`ClientBuilder::transport`], instead of a pool, root store
/// and TLS configuration per org.
#[derive(Debug, Clone)]
pub struct Transport(reqwest::Client);

/// A DNS resolver for the client's connections (`Debug` names it only).
#[derive(Clone)]
struct Resolver(Arc<dyn reqwest::dns::Resolve>);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl ClientBuilder {
    /// Resolves host names with `resolver` instead of the system's resolver, e.g. to refuse
    /// addresses an org can never have (an application guarding against DNS rebinding checks
    /// every connection this way, not just the name it was given). Token requests of a service
    /// app go through it too, and proxies from the environment are then not used (a proxy would
    /// resolve the name itself, past the resolver).
    pub fn dns_resolver(mut self, resolver: Arc<dyn reqwest::dns::Resolve>) -> Self {
        self.resolver = Some(Resolver(resolver));
        self
    }

    /// Authenticate with an API token (`Authorization: SSWS …`).
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::ApiToken(SecretString::from(token.into())));
        self
    }

    /// Authenticate with OAuth 2.0 access tokens handed out by `source`
    /// (`Authorization: Bearer …`).
    pub fn token_source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.credentials = Some(Credentials::Bearer(source));
        self
    }

    /// Authenticate as a service app: OAuth 2.0 client credentials with `private_key_jwt`
    /// (and DPoP when [`ServiceApp::with_dpop`](crate::ServiceApp::with_dpop)), tokens from the
    /// org authorization server, cached and renewed ahead of expiry.
    pub fn service_app(mut self, app: crate::ServiceApp) -> Self {
        self.service_app = Some(app);
        self
    }

    /// Limit on a whole request, body included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How failed requests are retried (see [`RetryPolicy`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The longest a request waits for a spent rate-limit window to reset (default: as long
    /// as the window says, at most a minute for Okta's). A request that would wait longer fails
    /// at once with [`Error::RateLimited`], saying when to try again:
    /// what a server answering its own callers wants instead of holding them.
    pub fn max_rate_limit_wait(mut self, wait: Duration) -> Self {
        self.max_rate_limit_wait = Some(wait);
        self
    }

    /// Also trusts the CA certificates of `pem` (one or more PEM certificates), besides the
    /// system's: an org behind a TLS-inspecting proxy, or a local sandbox with its own CA.
    ///
    /// # Errors
    /// [`Error::Config`] when `pem` holds no certificate.
    pub fn trust_pem(self, pem: &[u8]) -> Result<Self> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::Config(format!("the CA certificates are not PEM: {}", crate::with_causes(&e))))?;
        if certs.is_empty() {
            return Err(Error::Config(
                "no certificate in the CA file: give one or more PEM certificates (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        Ok(self.trust_certificates(certs))
    }

    /// Also trusts `certs` (CA certificates already read), besides the system's.
    pub fn trust_certificates(mut self, certs: impl IntoIterator<Item = reqwest::Certificate>) -> Self {
        self.extra_roots.extend(certs);
        self
    }

    /// Retries after the first attempt (default 4; 0: never retry).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// Limit on establishing a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sends through `transport` (from [`build_transport`](Self::build_transport)) instead of
    /// a transport of its own: this builder's timeouts, resolver and trusted certificates are
    /// then those `transport` was built with.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The transport this builder's settings make (timeouts, resolver, trusted certificates;
    /// redirects never followed), to share with other builders through
    /// [`transport`](Self::transport).
    ///
    /// # Errors
    /// [`Error::Config`] when the HTTP client cannot be built.
    pub fn build_transport(&self) -> Result<Transport> {
        let mut http = reqwest::Client::builder()
            // A redirect would carry our Authorization header somewhere we did not choose.
            .redirect(Policy::none())
            .user_agent(USER_AGENT)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout);
        if !self.extra_roots.is_empty() {
            http = http.tls_certs_merge(self.extra_roots.clone());
        }
        if let Some(Resolver(r)) = &self.resolver {
            // A resolver that vets addresses would be bypassed by a proxy (the proxy resolves
            // the name): with one, proxies from the environment (`HTTPS_PROXY`, …) are not used.
            http = http.dns_resolver(r.clone()).no_proxy();
        }
        http.build()
            .map(Transport)
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] when no credentials were given or the HTTP client cannot be built.
    pub fn build(mut self) -> Result<Client> {
        let http = match self.transport.take() {
            Some(Transport(http)) => http,
            None => self.build_transport()?.0,
        };
        let credentials = match (self.credentials, self.service_app) {
            (Some(_), Some(_)) => {
                return Err(Error::Config(
                    "give either an API token or token source, or a service app, not both".to_owned(),
                ));
            }
            (Some(c), None) => c,
            (None, Some(app)) => Credentials::ServiceApp(Arc::new(crate::service_app::ServiceAppAuth::new(
                app,
                http.clone(),
                self.org.join("/oauth2/v1/token"),
            )?)),
            (None, None) => {
                return Err(Error::Config(
                    "no credentials: give an API token (OKTA_CLIENT_TOKEN), a token source, or a service app's private key (OKTA_CLIENT_PRIVATEKEY)"
                        .to_owned(),
                ));
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                org: self.org,
                credentials,
                pacer: Pacer::default(),
                retry: self.retry,
                max_rate_limit_wait: self.max_rate_limit_wait,
                share: 1.0,
                sent: std::sync::Mutex::default(),
            }),
        })
    }
}

/// A 2xx response as received.
#[derive(Debug)]
pub(crate) struct Raw {
    pub headers: HeaderMap,
    pub bytes: Bytes,
}

impl Raw {
    /// Decodes the JSON body.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.bytes).map_err(|e| Error::Decode {
            message: e.to_string(),
            excerpt: excerpt(&self.bytes),
        })
    }
}

/// A request body to send as it is, with its media type.
#[derive(Debug, Clone)]
pub struct RawBody {
    /// `Content-Type`.
    pub content_type: reqwest::header::HeaderValue,
    /// The bytes.
    pub bytes: Bytes,
}

impl RawBody {
    /// `value` as JSON.
    ///
    /// # Errors
    /// [`Error::Config`] if it does not serialize (it always does for a `Value`).
    pub fn json(value: &serde_json::Value) -> Result<Self> {
        Ok(Self {
            content_type: reqwest::header::HeaderValue::from_static("application/json"),
            bytes: serde_json::to_vec(value)
                .map_err(|e| Error::Config(format!("cannot serialize the body: {e}")))?
                .into(),
        })
    }
}

/// An answer of Okta as it came: status, headers and body.
#[derive(Debug)]
pub struct RawResponse {
    /// Okta's status.
    pub status: StatusCode,
    /// Okta's headers.
    pub headers: HeaderMap,
    /// The body (at most [`crate::body::MAX_PAGE_BYTES`] for a 2xx, else
    /// [`crate::body::MAX_SMALL_BYTES`]).
    pub body: Bytes,
}

/// A page as received, with its `next` link.
#[derive(Debug)]
pub(crate) struct RawPage {
    pub raw: Raw,
    pub next: Option<Url>,
}

impl RawPage {
    /// Decodes the items.
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<Page<T>> {
        let rate_limit = RateLimit::from_headers(&self.raw.headers);
        let request_id = request_id(&self.raw.headers);
        Ok(Page {
            items: self.raw.json::<Vec<T>>()?,
            next: self.next,
            rate_limit,
            request_id,
        })
    }
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-okta-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Client {
    /// Starts building a client for the org at `org_url`.
    ///
    /// # Errors
    /// [`Error::Config`] when the URL is not a valid org URL (see [`OrgUrl::parse`]).
    pub fn builder(org_url: &str) -> Result<ClientBuilder> {
        Ok(Self::builder_for(OrgUrl::parse(org_url)?))
    }

    /// Starts building a client for an already validated org URL.
    pub fn builder_for(org: OrgUrl) -> ClientBuilder {
        ClientBuilder {
            org,
            credentials: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            service_app: None,
            resolver: None,
            max_rate_limit_wait: None,
            extra_roots: Vec::new(),
            transport: None,
        }
    }

    /// The org this client talks to.
    pub fn org_url(&self) -> &OrgUrl {
        &self.inner.org
    }

    /// Users: list, get, create, update, lifecycle, a user's groups.
    pub fn users(&self) -> UsersHandler {
        UsersHandler::new(self.clone())
    }

    /// Groups: list, get, create, replace, delete, members.
    pub fn groups(&self) -> crate::groups::GroupsHandler {
        crate::groups::GroupsHandler::new(self.clone())
    }

    /// Apps: list, get, app users, app group assignments.
    pub fn apps(&self) -> crate::apps::AppsHandler {
        crate::apps::AppsHandler::new(self.clone())
    }

    /// Event hooks: register, verify, read their state.
    pub fn event_hooks(&self) -> crate::event_hooks::EventHooksHandler {
        crate::event_hooks::EventHooksHandler::new(self.clone())
    }

    /// The System Log: queries and polling.
    pub fn logs(&self) -> crate::logs::LogsHandler {
        crate::logs::LogsHandler::new(self.clone())
    }

    /// Revokes the API token this client authenticates with (`DELETE /api/v1/api-tokens/current`):
    /// from then on Okta refuses it.
    ///
    /// # Errors
    /// [`Error::Api`] with 403 when the client does not use an API token, 401 when the token is
    /// no longer valid.
    pub async fn revoke_current_api_token(&self) -> Result<()> {
        self.send_unit(Method::DELETE, self.api_url(&["api-tokens", "current"]), None)
            .await
    }

    /// This client (its connections, credentials and rate-limit state shared) using at most
    /// `share` (0–1) of each rate-limit bucket's window: a request waits while less than the
    /// rest of the window is left, so that other callers of the org (the application's own
    /// calls, other instances) still get through. A background job's client, such as a
    /// directory sync's; it waits for the next window rather than fail, whatever the
    /// original's `max_rate_limit_wait`.
    #[must_use]
    pub fn with_rate_share(&self, share: f64) -> Client {
        let i = &self.inner;
        Client {
            inner: Arc::new(Inner {
                http: i.http.clone(),
                org: i.org.clone(),
                credentials: i.credentials.clone(),
                pacer: i.pacer.clone(),
                retry: i.retry,
                max_rate_limit_wait: None,
                share: share.clamp(0.0, 1.0),
                sent: std::sync::Mutex::default(),
            }),
        }
    }

    /// The requests this client (and its clones) sent, each attempt counted, by rate-limit
    /// bucket. A [`Client::with_rate_share`] client counts its own.
    pub fn requests_sent(&self) -> Vec<(String, u64)> {
        self.inner
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(b, n)| (b.clone(), *n))
            .collect()
    }

    /// The rate-limit state of every endpoint bucket this client (and its clones) used in a
    /// window that has not ended yet, by bucket (`/api/v1/users`, `GET /api/v1/users/{id}`, …).
    pub fn rate_limits(&self) -> Vec<(String, RateLimit)> {
        self.inner.pacer.snapshot()
    }

    /// Sends a request to `url` (which must be on the org: credentials are never sent
    /// anywhere else), paced under the bucket's rate limit and retried per the
    /// [`RetryPolicy`]; a non-2xx answer becomes [`Error::Api`].
    pub(crate) async fn execute(&self, method: Method, url: Url, body: Option<&serde_json::Value>) -> Result<Raw> {
        let body = match body {
            Some(v) => Some(RawBody::json(v)?),
            None => None,
        };
        let RawResponse { status, headers, body } = self.exchange(method, url, body.as_ref()).await?;
        if !status.is_success() {
            let request_id = request_id(&headers);
            let rate_limit = RateLimit::from_headers(&headers);
            return Err(Error::Api(Box::new(ApiError::from_parts(
                status, request_id, rate_limit, &body,
            ))));
        }
        Ok(Raw { headers, bytes: body })
    }

    /// Sends `method` to `path_and_query` on the org (it must be under `/api/v1/`, after
    /// `.` and `..` segments are resolved) with the client's credentials, pacing and retries,
    /// and returns Okta's answer as it is, whatever its status: for passing Okta's API through
    /// unchanged. Retried as any request is ([`RetryPolicy`]: a `POST` that may have reached
    /// Okta never is).
    ///
    /// # Errors
    /// [`Error::Config`] for a path outside `/api/v1/`; transport errors, timeouts,
    /// [`Error::RateLimited`], [`Error::TooLarge`] and [`Error::TokenSource`] as for any
    /// request. A non-2xx answer is not an error here.
    pub async fn send_raw(&self, method: Method, path_and_query: &str, body: Option<&RawBody>) -> Result<RawResponse> {
        let url = self
            .inner
            .org
            .as_url()
            .join(path_and_query)
            .map_err(|e| Error::Config(format!("{path_and_query:?} is not a path: {e}")))?;
        if !path_and_query.starts_with('/') || !url.path().starts_with("/api/v1/") || !self.inner.org.same_origin(&url)
        {
            return Err(Error::Config(format!(
                "only paths under /api/v1/ of the org are sent, not {:?}",
                url.path()
            )));
        }
        self.exchange(method, url, body).await
    }

    /// [`Client::execute`] without the last step: Okta's answer whatever its status.
    async fn exchange(&self, method: Method, url: Url, body: Option<&RawBody>) -> Result<RawResponse> {
        if !self.inner.org.same_origin(&url) {
            return Err(Error::Pagination(format!(
                "refusing to send credentials to {}, which is not the org {}",
                url.origin().ascii_serialization(),
                self.inner.org
            )));
        }
        let bucket = pacing::bucket_of(&method, url.path());
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        let policy = self.inner.retry;
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_jitter()
            .with_max_times(policy.max_retries as usize)
            .build();
        let mut retried_auth = false;
        loop {
            let mut permit = match self
                .inner
                .pacer
                .acquire(&bucket, self.inner.max_rate_limit_wait, self.inner.share)
                .await
            {
                Ok(permit) => permit,
                Err(retry_after) => {
                    return Err(Error::RateLimited {
                        bucket: bucket.clone(),
                        retry_after,
                    });
                }
            };
            *self
                .inner
                .sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(bucket.clone())
                .or_default() += 1;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, "application/json");
            for (name, value) in self.inner.credentials.headers(&method, &url).await? {
                req = req.header(name, value);
            }
            if let Some(b) = body {
                req = req.header(CONTENT_TYPE, b.content_type.clone()).body(b.bytes.clone());
            }
            let outcome = async {
                let res = req.send().await?;
                let (status, headers) = (res.status(), res.headers().clone());
                let limit = if status.is_success() {
                    crate::body::MAX_PAGE_BYTES
                } else {
                    crate::body::MAX_SMALL_BYTES
                };
                Ok::<_, crate::body::ReadError>((status, headers, crate::body::read_limited(res, limit).await?))
            }
            .await;
            let (status, headers, bytes) = match outcome {
                Ok(parts) => parts,
                Err(crate::body::ReadError::TooLarge { limit }) => {
                    drop(permit);
                    return Err(Error::TooLarge { limit });
                }
                Err(crate::body::ReadError::Transport(e)) => {
                    drop(permit);
                    // A connection never made carried nothing: safe to retry for any method.
                    if (idempotent || e.is_connect())
                        && let Some(delay) = backoff.next()
                    {
                        tracing::debug!(%method, bucket, ?delay, error = %e.without_url(), "retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(Error::from_reqwest(e));
                }
            };
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.inner.pacer.exhausted(&mut permit, &headers);
                drop(permit);
                if let Some(delay) = backoff.next() {
                    tracing::debug!(%method, bucket, "429: waiting for the rate-limit window to reset");
                    // With the window known, the next acquire waits until its reset.
                    if !self.inner.pacer.knows(&bucket) {
                        tokio::time::sleep(delay).await;
                    }
                    continue;
                }
            } else if status == StatusCode::UNAUTHORIZED
                && let Credentials::ServiceApp(app) = &self.inner.credentials
                && !retried_auth
            {
                // A DPoP nonce the resource server wants, or a token it no longer takes:
                // once, with the nonce taken in or a new token.
                self.inner.pacer.observe(&mut permit, &headers);
                drop(permit);
                retried_auth = true;
                match headers.get("dpop-nonce").and_then(|v| v.to_str().ok()) {
                    Some(nonce) => app.set_nonce(nonce),
                    None => app.invalidate().await,
                }
                continue;
            } else {
                self.inner.pacer.observe(&mut permit, &headers);
                drop(permit);
                if idempotent
                    && matches!(status.as_u16(), 500 | 502 | 503 | 504)
                    && let Some(delay) = backoff.next()
                {
                    tracing::debug!(%method, bucket, %status, ?delay, "retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            return Ok(RawResponse {
                status,
                headers,
                body: bytes,
            });
        }
    }

    /// The URL of `/api/v1/{segments…}` on the org, each segment percent-encoded.
    pub(crate) fn api_url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.org.join("/api/v1");
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// Sends `method url` with an optional JSON body and decodes the JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<T> {
        self.execute(method, url, body).await?.json()
    }

    /// Sends `method url` and ignores the answer's body (204s, and 200s with `{}` or none).
    pub(crate) async fn send_unit(&self, method: Method, url: Url, body: Option<&serde_json::Value>) -> Result<()> {
        self.execute(method, url, body).await.map(drop)
    }

    /// `GET url` and decode the JSON body.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        self.execute(Method::GET, url, None).await?.json()
    }

    /// `GET url` of a collection: one page and its `next` link.
    pub(crate) async fn get_page<T: DeserializeOwned>(&self, url: Url) -> Result<Page<T>> {
        self.fetch_page(url).await?.decode()
    }

    /// `GET url` of a collection, not decoded yet: its `next` link is known before the body is
    /// decoded, so the next page can be on its way meanwhile.
    pub(crate) async fn fetch_page(&self, url: Url) -> Result<RawPage> {
        let raw = self.execute(Method::GET, url, None).await?;
        let links = raw.headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok());
        let next = match link::find_rel(links, "next") {
            Some(target) => Some(
                Url::parse(&target)
                    .map_err(|e| Error::Pagination(format!("the next link {target:?} is not a URL: {e}")))?,
            ),
            None => None,
        };
        Ok(RawPage { raw, next })
    }
}
