//! [`Client`]: a cheap, cloneable handle on one org.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, LINK};
use reqwest::redirect::Policy;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use url::Url;

use crate::auth::{Credentials, TokenSource};
use crate::error::{ApiError, Error, Result, excerpt};
use crate::link;
use crate::org_url::OrgUrl;
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
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    org: OrgUrl,
    credentials: Option<Credentials>,
    timeout: Duration,
    connect_timeout: Duration,
}

impl ClientBuilder {
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

    /// Limit on a whole request, body included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Limit on establishing a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] when no credentials were given or the HTTP client cannot be built.
    pub fn build(self) -> Result<Client> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config("no credentials: give an API token (OKTA_CLIENT_TOKEN) or a token source".to_owned())
        })?;
        let http = reqwest::Client::builder()
            // A redirect would carry our Authorization header somewhere we did not choose.
            .redirect(Policy::none())
            .user_agent(USER_AGENT)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                org: self.org,
                credentials,
            }),
        })
    }
}

/// A decoded response with its metadata.
pub(crate) struct Response<T> {
    pub body: T,
    pub headers: HeaderMap,
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
        }
    }

    /// The org this client talks to.
    pub fn org_url(&self) -> &OrgUrl {
        &self.inner.org
    }

    /// Users: `client.users().list()`, `client.users().get(id)`.
    pub fn users(&self) -> UsersHandler {
        UsersHandler::new(self.clone())
    }

    /// `GET url` and decode the JSON body. `url` must be on the org: credentials are never
    /// sent anywhere else.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<Response<T>> {
        if !self.inner.org.same_origin(&url) {
            return Err(Error::Pagination(format!(
                "refusing to send credentials to {}, which is not the org {}",
                url.origin().ascii_serialization(),
                self.inner.org
            )));
        }
        let auth = self.inner.credentials.header_value().await?;
        let res = self
            .inner
            .http
            .get(url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.map_err(Error::from_reqwest)?;
        if !status.is_success() {
            let request_id = headers
                .get("x-okta-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let rate_limit = RateLimit::from_headers(&headers);
            return Err(Error::Api(Box::new(ApiError::from_parts(
                status, request_id, rate_limit, &bytes,
            ))));
        }
        let body = serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            message: e.to_string(),
            excerpt: excerpt(&bytes),
        })?;
        Ok(Response { body, headers })
    }

    /// `GET url` of a collection: one page and its `next` link.
    pub(crate) async fn get_page<T: DeserializeOwned>(&self, url: Url) -> Result<Page<T>> {
        let res = self.get_json::<Vec<T>>(url).await?;
        let links = res.headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok());
        let next = match link::find_rel(links, "next") {
            Some(target) => Some(
                Url::parse(&target)
                    .map_err(|e| Error::Pagination(format!("the next link {target:?} is not a URL: {e}")))?,
            ),
            None => None,
        };
        Ok(Page {
            items: res.body,
            next,
            rate_limit: RateLimit::from_headers(&res.headers),
            request_id: res
                .headers
                .get("x-okta-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })
    }
}
