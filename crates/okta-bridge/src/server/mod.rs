//! The HTTP server: OAuth routes, HTML pages and the JSON API.
//!
//! [`router`] builds the routes from an [`AppState`]; [`serve`] runs them on a listener until a
//! shutdown signal, so tests bind `127.0.0.1:0` and shut down cleanly.

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

use crate::connect::OAuthApp;
use crate::domain::AccountName;
use crate::error::Result;
use crate::store::Store;
use crate::tokens::{ConnectionTokenSource, Refresher};

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    store: Store,
    oauth: Option<OAuthApp>,
    refresher: Arc<Refresher>,
    public_url: Url,
    admin_token: SecretString,
    clients: Mutex<HashMap<String, okta_client::Client>>,
    metrics: ops::Metrics,
}

impl AppState {
    /// The state of a server on `store`, connecting through `oauth`, reachable at `public_url`.
    pub fn new(
        store: Store,
        oauth: Option<OAuthApp>,
        refresher: Arc<Refresher>,
        public_url: Url,
        admin_token: SecretString,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            oauth,
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

    /// The okta-client of a stored connection (cached; its tokens come from the store).
    async fn client_for(&self, account: &AccountName) -> Result<okta_client::Client> {
        if let Some(c) = self.clients.lock().expect("clients lock").get(account.as_str()) {
            return Ok(c.clone());
        }
        let conn = self
            .store
            .connection(account)
            .await?
            .ok_or_else(|| crate::error::Error::UnknownConnection(account.to_string()))?;
        let source = ConnectionTokenSource::new(self.refresher.clone(), account.clone());
        let client = okta_client::Client::builder_for(conn.org_url)
            .token_source(Arc::new(source))
            .build()?;
        self.clients
            .lock()
            .expect("clients lock")
            .insert(account.to_string(), client.clone());
        Ok(client)
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
        .route("/api/connections/{account}/users", get(api::users))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), ops::observe))
        .with_state(state)
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
