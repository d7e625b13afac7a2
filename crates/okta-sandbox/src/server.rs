//! Serving a sandbox org: [`router`], [`serve`] and the [`Sandbox`] handle tests use.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::SandboxConfig;
use crate::error::ApiError;
use crate::middleware::okta_headers;
pub use crate::state::SandboxState;
use crate::{
    api, apps, authorization_servers, churn, event_hooks, faults, groups, oauth, provisioning, syslog, users_write,
};

/// Every route of the sandbox org.
pub fn router(state: Arc<SandboxState>) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(oauth::discovery))
        .route("/.well-known/openid-configuration", get(oauth::oidc_discovery))
        .route("/oauth2/v1/authorize", get(oauth::authorize))
        .route("/login/signin", post(oauth::sign_in))
        .route("/oauth2/v1/token", post(oauth::token))
        .route("/oauth2/v1/revoke", post(oauth::revoke))
        .route("/oauth2/v1/introspect", post(oauth::introspect))
        .route("/oauth2/v1/keys", get(oauth::keys))
        .route(
            "/oauth2/{server}/.well-known/oauth-authorization-server",
            get(oauth::discovery),
        )
        .route(
            "/oauth2/{server}/.well-known/openid-configuration",
            get(oauth::oidc_discovery),
        )
        .route("/oauth2/{server}/v1/authorize", get(oauth::authorize))
        .route("/oauth2/{server}/v1/token", post(oauth::token))
        .route("/oauth2/{server}/v1/revoke", post(oauth::revoke))
        .route("/oauth2/{server}/v1/introspect", post(oauth::introspect))
        .route("/oauth2/{server}/v1/keys", get(oauth::keys))
        .route("/api/v1/users", get(api::list_users).post(users_write::create))
        .route(
            "/api/v1/users/{id}",
            get(api::get_user)
                .post(users_write::partial_update)
                .put(users_write::replace)
                .delete(users_write::delete),
        )
        .route("/api/v1/users/{id}/lifecycle/{operation}", post(users_write::lifecycle))
        .route("/api/v1/users/{id}/groups", get(groups::user_groups))
        .route("/api/v1/groups", get(groups::list_groups).post(groups::create_group))
        .route(
            "/api/v1/groups/{groupId}",
            get(groups::get_group)
                .put(groups::replace_group)
                .delete(groups::delete_group),
        )
        .route("/api/v1/groups/{groupId}/users", get(groups::list_members))
        .route(
            "/api/v1/groups/{groupId}/users/{userId}",
            put(groups::add_member).delete(groups::remove_member),
        )
        .route("/api/v1/logs", get(syslog::list))
        .route("/api/v1/eventHooks", get(event_hooks::list).post(event_hooks::create))
        .route(
            "/api/v1/eventHooks/{eventHookId}",
            get(event_hooks::get)
                .put(event_hooks::replace)
                .delete(event_hooks::delete),
        )
        .route(
            "/api/v1/eventHooks/{eventHookId}/lifecycle/{operation}",
            post(event_hooks::lifecycle),
        )
        .route(
            "/api/v1/api-tokens/current",
            axum::routing::delete(api::revoke_current_api_token),
        )
        .route("/api/v1/authorizationServers", get(authorization_servers::list))
        .route(
            "/api/v1/authorizationServers/{authServerId}",
            get(authorization_servers::get),
        )
        .route("/api/v1/apps", get(apps::list).post(provisioning::create_app))
        .route("/api/v1/apps/{appId}", get(apps::get))
        .route("/api/v1/apps/{appId}/users", get(apps::users).post(apps::assign_user))
        .route(
            "/api/v1/apps/{appId}/users/{userId}",
            get(apps::get_user).delete(apps::unassign_user),
        )
        .route("/api/v1/apps/{appId}/groups", get(apps::groups))
        .route(
            "/api/v1/apps/{appId}/groups/{groupId}",
            axum::routing::put(provisioning::assign_group),
        )
        .route(
            "/api/v1/apps/{appId}/connections/default",
            get(provisioning::get_connection).post(provisioning::set_connection),
        )
        .route(
            "/api/v1/apps/{appId}/features/{featureName}",
            axum::routing::put(provisioning::set_feature),
        )
        .route(
            "/api/v1/apps/{appId}/group-push/mappings",
            get(provisioning::list_mappings).post(provisioning::create_mapping),
        )
        .route(
            "/api/v1/apps/{appId}/group-push/mappings/{mappingId}",
            axum::routing::delete(provisioning::delete_mapping),
        )
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), faults::inject))
        .route(
            "/__sandbox/faults",
            get(faults::get_faults)
                .put(faults::put_faults)
                .delete(faults::clear_faults),
        )
        .route("/__sandbox/counters", get(faults::counters))
        .route("/__sandbox/provisioning", get(provisioning::sent))
        .route(
            "/__sandbox/rate-limits",
            get(faults::get_rate_limits).put(faults::put_rate_limits),
        )
        .route("/__sandbox/event-hooks/deliveries", get(event_hooks::deliveries))
        .route("/__sandbox/event-hooks/faults", put(event_hooks::put_delivery_faults))
        .route("/__sandbox/export", get(faults::export))
        .route("/__sandbox/churn", get(churn::get).put(churn::put).delete(churn::stop))
        .route("/__sandbox/churn/step", post(churn::step))
        .fallback(|| async { ApiError::resource_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(state.clone(), okta_headers))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` completes.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    state: Arc<SandboxState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.start_configured_churn();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A sandbox org running in the background; shut down when dropped.
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<SandboxState>,
    tls: Option<crate::tls::SandboxTls>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Sandbox {
    /// Starts an org on `127.0.0.1:0` (a free port).
    ///
    /// # Errors
    /// When the port cannot be bound or the configuration is invalid.
    pub async fn spawn(config: SandboxConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Self::spawn_on(listener, config).await
    }

    /// Starts an org on a listener the caller bound.
    ///
    /// # Errors
    /// When the configuration is invalid.
    pub async fn spawn_on(listener: TcpListener, config: SandboxConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let scheme = if config.tls { "https" } else { "http" };
        let public = match &config.public_url {
            Some(u) => u.clone(),
            None => Url::parse(&format!("{scheme}://{addr}")).map_err(std::io::Error::other)?,
        };
        let tls = if config.tls {
            let mut hosts = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
            if let Some(h) = public.host_str() {
                let h = h.trim_start_matches('[').trim_end_matches(']').to_owned();
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
            if addr.ip().to_string() != "127.0.0.1" {
                hosts.push(addr.ip().to_string());
            }
            Some(crate::tls::SandboxTls::generate(&hosts).map_err(std::io::Error::other)?)
        } else {
            None
        };
        let state = SandboxState::new(config, &public).map_err(std::io::Error::other)?;
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        let task = match &tls {
            Some(tls) => {
                let (tls, router) = (tls.clone(), router(state.clone()));
                state.start_configured_churn();
                tokio::spawn(async move { tls.serve(listener, router, shutdown).await })
            }
            None => tokio::spawn(serve(listener, state.clone(), shutdown)),
        };
        Ok(Self {
            addr,
            state,
            tls,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The org URL, e.g. `http://127.0.0.1:8055`.
    pub fn url(&self) -> &str {
        self.state.base_url()
    }

    /// The CA certificate (PEM) that issued the sandbox's server certificate, when it serves
    /// https ([`SandboxConfig::tls`]).
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(crate::tls::SandboxTls::ca_pem)
    }

    /// The address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The org's configuration (secrets included, for tests).
    pub fn config(&self) -> &SandboxConfig {
        self.state.config()
    }

    /// The org's state, for assertions.
    pub fn state(&self) -> &Arc<SandboxState> {
        &self.state
    }

    /// Stops serving and waits for the server task to end.
    ///
    /// # Errors
    /// An I/O error the server ended with.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
