//! The HTTP server: OAuth routes, HTML pages and the JSON API.
//!
//! [`router`] builds the routes from an [`AppState`]; [`serve`] runs them on a listener until a
//! shutdown signal, so tests bind `127.0.0.1:0` and shut down cleanly.

mod accounts;
mod api;
mod auth;
mod oauth;
mod ops;
mod pages;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;
use tokio::net::TcpListener;
use url::Url;

use crate::domain::AccountName;
use crate::error::Result;
use crate::store::Store;
use crate::tokens::Refresher;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    store: Store,
    refresher: Arc<Refresher>,
    public_url: Url,
    admin_token: SecretString,
    clients: Mutex<HashMap<String, (crate::accounts::ClientStamp, okta_client::Client)>>,
    metrics: ops::Metrics,
}

impl AppState {
    /// The state of a server on `store`, connecting and refreshing with the apps of
    /// `refresher` (whose policy says whether accounts may name orgs on private addresses),
    /// reachable at `public_url`.
    pub fn new(store: Store, refresher: Arc<Refresher>, public_url: Url, admin_token: SecretString) -> Arc<Self> {
        Arc::new(Self {
            store,
            refresher,
            public_url,
            admin_token,
            clients: Mutex::new(HashMap::new()),
            metrics: ops::Metrics::default(),
        })
    }

    /// The public URL without a trailing slash.
    fn base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// Cookies are `Secure` when browsers reach us over https.
    fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// What an Okta error on `account`'s connection means. An API token that Okta refuses (it
    /// was revoked, or expired after 30 days unused) cannot come back by itself: the
    /// connection is marked `needs_reauth`, as an OAuth connection whose refresh token was
    /// refused is.
    async fn okta_failed(&self, account: &AccountName, e: okta_client::Error) -> crate::error::Error {
        let refused = matches!(&e, okta_client::Error::Api(api) if api.status == 401);
        if refused
            && let Ok(Some(conn)) = self.store.connection(account).await
            && conn.method == crate::store::ConnectionMethod::ApiToken
        {
            let reason = "Okta no longer accepts the API token (revoked, or unused for 30 days): connect it again with a new token".to_owned();
            if let Err(db) = self.store.mark_needs_reauth(account, &reason).await {
                tracing::error!(account = %account, error = %db, "could not mark the connection");
            }
            tracing::warn!(account = %account, %reason, "connection needs to be connected again");
            return crate::error::Error::Reconnect {
                account: account.to_string(),
                reason,
            };
        }
        crate::error::Error::Okta(e)
    }

    /// The okta-client of a stored connection: kept (with its rate-limit pacing) while the
    /// connection is the same one, even if another instance made it.
    async fn client_for(&self, account: &AccountName) -> Result<okta_client::Client> {
        let conn = self
            .store
            .connection(account)
            .await?
            .ok_or_else(|| crate::error::Error::UnknownConnection(account.to_string()))?;
        if let crate::store::ConnectionStatus::NeedsReauth(reason) = &conn.status {
            return Err(crate::error::Error::Reconnect {
                account: account.to_string(),
                reason: reason.clone(),
            });
        }
        let stamp = crate::accounts::client_stamp(&self.store, &conn).await?;
        if let Some((s, c)) = self.clients.lock().expect("clients lock").get(account.as_str())
            && *s == stamp
        {
            return Ok(c.clone());
        }
        let client = crate::accounts::client_for(&self.store, &self.refresher, conn).await?;
        self.clients
            .lock()
            .expect("clients lock")
            .insert(account.to_string(), (stamp, client.clone()));
        Ok(client)
    }
}

impl AppState {
    /// Disconnects `account`: revokes its refresh and access tokens at the org's authorization
    /// server, then removes the stored tokens, keeping an audit record. When Okta cannot be
    /// reached nothing is removed, so the admin can try again. Returns what was revoked.
    async fn disconnect(&self, account: &AccountName, revoke_api_token: bool) -> Result<Vec<&'static str>> {
        let revoked =
            crate::accounts::disconnect(&self.store, self.refresher.apps(), account, revoke_api_token).await?;
        self.clients.lock().expect("clients lock").remove(account.as_str());
        Ok(revoked)
    }
}
/// Every route.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/authenticate_okta", get(oauth::authenticate))
        .route("/oauth/okta_callback", get(oauth::callback))
        .route("/", get(pages::index))
        .route("/connections/{account}/users", get(pages::users))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/api/connections", get(api::connections))
        .route("/api/accounts", get(accounts::list).post(accounts::add))
        .route("/api/accounts/{name}", get(accounts::get).delete(accounts::remove))
        .route("/api/accounts/{name}/connect", post(accounts::connect))
        .route("/accounts", post(accounts::add_form))
        .route("/accounts/{name}/connect", post(accounts::connect_form))
        .route("/api/connections/{account}/users", get(api::users))
        .route("/api/connections/{account}", axum::routing::delete(api::disconnect))
        .route("/connections/{account}/disconnect", post(pages::disconnect))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), ops::observe))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers every response carries: no sniffing, no framing, no referrer (an authorization
/// code in our URLs must not travel on), no caching of pages that show org data, and a content
/// security policy that allows nothing but our own inline styles.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::HeaderValue;
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.entry(axum::http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// Serves the app on `listener` until `shutdown` completes.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
