//! The HTTP server: OAuth routes, HTML pages and the JSON API, thin over the
//! [`Service`]: handlers parse, call one workflow, and return `Result<…>`; errors become
//! answers in `error.rs`, views are in [`views`].
//!
//! [`router`] builds the routes from an [`AppState`]; [`serve`] runs them on a listener until a
//! shutdown signal, so tests bind `127.0.0.1:0` and shut down cleanly.

mod accounts;
mod api;
mod auth;
mod body;
mod browse;
mod directory;
mod error;
mod extract;
mod hooks;
mod keys;
mod oauth;
mod openapi;
mod ops;
mod pages;
mod proxy;
mod roles;
mod scim;
mod scim_api;
mod scim_schemas;
mod scope;
mod sessions;
mod setup;
pub mod views;
mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;
use tokio::net::TcpListener;
use url::Url;

use crate::service::Service;
use crate::store::Store;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    service: Arc<Service>,
    public_url: Url,
    admin_token: SecretString,
    metrics: ops::Metrics,
    /// Sign-in to the console with OpenID Connect, when configured.
    console: Option<Arc<crate::console::ConsoleOidc>>,
    /// Long polls of the change feed waiting now, against a cap of their own.
    long_polls: Arc<tokio::sync::Semaphore>,
    /// That cap.
    max_long_polls: usize,
    /// SCIM requests served now, against a cap of their own (more are answered 429).
    scim_permits: Arc<tokio::sync::Semaphore>,
}

/// SCIM requests served at once, unless configured otherwise.
pub const DEFAULT_SCIM_MAX_IN_FLIGHT: usize = 64;

/// Long polls of the change feed waiting at once, unless configured otherwise.
pub const DEFAULT_MAX_LONG_POLLS: usize = 256;

impl AppState {
    /// The state of a server running `service`, reachable at `public_url`, guarded by
    /// `admin_token`.
    pub fn new(service: Arc<Service>, public_url: Url, admin_token: SecretString) -> Arc<Self> {
        Self::with_console(
            service,
            public_url,
            admin_token,
            None,
            DEFAULT_MAX_LONG_POLLS,
            DEFAULT_SCIM_MAX_IN_FLIGHT,
        )
    }

    /// [`AppState::new`], with the console's OpenID Connect sign-in besides the admin token,
    /// at most `max_long_polls` long polls of the change feed waiting at once, and at most
    /// `max_scim` SCIM requests served at once (more are answered 429 with `Retry-After`).
    pub fn with_console(
        service: Arc<Service>,
        public_url: Url,
        admin_token: SecretString,
        console: Option<Arc<crate::console::ConsoleOidc>>,
        max_long_polls: usize,
        max_scim: usize,
    ) -> Arc<Self> {
        let max_long_polls = max_long_polls.max(1);
        Arc::new(Self {
            service,
            public_url,
            admin_token,
            metrics: ops::Metrics::default(),
            console,
            long_polls: Arc::new(tokio::sync::Semaphore::new(max_long_polls)),
            max_long_polls,
            scim_permits: Arc::new(tokio::sync::Semaphore::new(max_scim.max(1))),
        })
    }

    fn store(&self) -> &Store {
        self.service.store()
    }

    /// The public URL without a trailing slash.
    fn base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// Cookies are `Secure` when browsers reach us over https.
    fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// The JSON API's routes, each registered from its handler's `#[utoipa::path]`, and the
/// OpenAPI document they make.
fn json_api() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    /// The proxy's route takes any path (`{*path}`), which the document shows as Okta's.
    #[derive(OpenApi)]
    #[openapi(paths(proxy::forward))]
    struct ProxyDoc;

    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(accounts::list, accounts::add))
        .routes(routes!(accounts::get, accounts::remove))
        .routes(routes!(accounts::connect))
        .routes(routes!(scim_api::enable, scim_api::status, scim_api::disable))
        .routes(routes!(scim_api::rotate))
        .routes(routes!(roles::get, roles::put))
        .routes(routes!(roles::get_mappings, roles::put_mappings))
        .routes(routes!(scope::get, scope::put))
        .routes(routes!(setup::create))
        .routes(routes!(setup::list))
        .routes(routes!(setup::audit))
        .routes(routes!(setup::revoke))
        .routes(routes!(api::connections))
        .routes(routes!(api::disconnect))
        .routes(routes!(api::users))
        .routes(routes!(directory::sync_state, directory::sync_now))
        .routes(routes!(directory::events))
        .routes(routes!(directory::users))
        .routes(routes!(directory::user))
        .routes(routes!(directory::groups))
        .routes(routes!(directory::apps))
        .routes(routes!(directory::members))
        .routes(routes!(hooks::status, hooks::register))
        .routes(routes!(hooks::verify, hooks::call))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::end))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay))
        .split_for_parts();
    doc.merge(ProxyDoc::openapi());
    let router = router.route(
        "/api/connections/{account}/okta/{*path}",
        axum::routing::any(proxy::forward),
    );
    (router, doc)
}

/// The OpenAPI document of the JSON API.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    json_api().1
}

/// Every route.
pub fn router(state: Arc<AppState>) -> Router {
    let (api, doc) = json_api();
    let doc = Arc::new(doc);
    Router::new()
        .merge(api)
        .merge(scim::routes(state.clone()))
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/authenticate_okta",
            get(oauth::authenticate_page).post(oauth::authenticate),
        )
        .route("/oauth/okta_callback", get(oauth::callback))
        .route("/", get(pages::index))
        .route("/connections/{account}/users", get(pages::users))
        .route("/connections/{account}", get(browse::connection))
        .route("/connections/{account}/directory", get(browse::users))
        .route("/connections/{account}/directory/users/{id}", get(browse::user))
        .route("/connections/{account}/directory/groups", get(browse::groups))
        .route("/connections/{account}/directory/groups/{id}", get(browse::group))
        .route("/connections/{account}/events", get(browse::feed))
        .route("/webhooks", get(pages::webhooks))
        .route("/work", get(pages::work))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/login/oidc", post(pages::login_oidc))
        .route("/login/oidc/callback", get(pages::login_oidc_callback))
        .route("/logout", post(pages::logout))
        .route("/setup", get(setup::guide))
        .route("/setup/connect", post(setup::connect))
        .route("/setup/done", get(setup::done))
        .route("/setup/scope", get(setup::scope).post(setup::choose_scope))
        .route("/setup/{token}", get(setup::landing).post(setup::open))
        .route("/accounts", post(accounts::add_form))
        .route("/accounts/{name}/connect", post(accounts::connect_form))
        .route("/connections/{account}/disconnect", post(pages::disconnect))
        .route("/connections/{account}/sync", post(pages::sync_now))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::same_origin))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), ops::observe))
        .layer(axum::middleware::from_fn(security_headers))
        // Only axum's own extractors heed it: the pages' forms. JSON bodies and event hook
        // calls are read by `body::read` with limits of their own, after the caller is known.
        .layer(axum::extract::DefaultBodyLimit::max(body::FORM_LIMIT))
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

/// Limits that keep slow or many clients from holding the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's headers must arrive within this; an idle keep-alive connection is closed
    /// after it too (a slowloris client holds nothing for long).
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A request's whole body must arrive within this of its head (else 408, and the
    /// connection closes): a client that announces a body and withholds it holds nothing long.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

/// How long in-flight requests get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves the app on `listener` until `shutdown` completes, with the default [`Limits`].
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Limits::default(), shutdown).await
}

/// Serves the app on `listener` until `shutdown` completes, within `limits`: at most
/// `max_connections` at once (each holds a permit until it closes), headers within
/// `header_read_timeout`. At shutdown, requests in flight get ten seconds to finish.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<AppState>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let app = router(state).layer(axum::middleware::from_fn_with_state(
        limits.body_read_timeout,
        body::deadline,
    ));
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read_timeout));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pass, then try again.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(app.clone()))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight at shutdown were cut off");
    }
    Ok(())
}
