//! The composition root: [`App::build`] turns [`Settings`] into everything `serve` runs (the
//! store, the apps, the service, the server's state, the background refresher and the recovery
//! of abandoned refreshes). The binary
//! and the integration tests both build the server this way.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::apps::Apps;
use crate::crypto::random_secret;
use crate::egress::Egress;
use crate::error::{EgressRefusal, Error, Result};
use crate::model::{ClientSecret, OrgUrl, Scopes};
use crate::oauth::OAuthApp;
use crate::server::{AppState, Limits, serve_with};
use crate::service::{DeliveryPolicy, Service, SyncPolicy};
use crate::settings::Settings;
use crate::store::Store;
use crate::tokens::RECOVERY_TICK;

/// Where the server-wide org of `OKTA_CLIENT_ORGURL` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrgSource {
    /// Configured by the operator: checked like any org (https on a public address, unless
    /// the development switch is on).
    Configured,
    /// A sandbox this process started on loopback (`serve --sandbox`, tests): its app reaches
    /// it without the public-address guard, whatever the switch says for accounts' orgs.
    BuiltInSandbox,
}

/// How often the background refresher looks for tokens to renew.
const BACKGROUND_TICK: Duration = Duration::from_secs(30);

/// A server, built and ready to serve.
#[derive(Debug)]
pub struct App {
    state: Arc<AppState>,
    service: Arc<Service>,
    admin_token: SecretString,
    admin_token_generated: bool,
    /// The background refresher (when enabled) and the recovery of abandoned refreshes.
    background: Vec<tokio::task::JoinHandle<()>>,
    limits: Limits,
    shutdown_grace: Duration,
}

/// The server-wide OAuth app of `settings`, if an org is configured.
async fn server_wide_app(
    settings: &Settings,
    source: OrgSource,
    scopes: Scopes,
    egress: &Egress,
) -> Result<Option<OAuthApp>> {
    const ORG: &str = "OKTA_CLIENT_ORGURL";
    let Some(org) = settings.org_url.as_deref() else {
        return Ok(None);
    };
    let org = OrgUrl::parse(org).map_err(|e| Error::config(ORG, e.to_string()))?;
    let egress = match source {
        OrgSource::BuiltInSandbox => egress.clone().allowing_private_for_development(),
        OrgSource::Configured => {
            let egress = egress.clone();
            egress.check_url(&org).map_err(|e| Error::config(ORG, e.to_string()))?;
            match egress.check_resolves(&org).await {
                Ok(()) => {}
                Err(EgressRefusal::Unresolved { why, .. }) => {
                    tracing::warn!(%why, "{ORG} does not resolve; starting anyway (check the org URL)");
                }
                Err(e) => return Err(Error::config(ORG, e.to_string())),
            }
            egress
        }
    };
    let (id, secret) = settings.oauth_client()?.ok_or_else(|| {
        Error::config(
            "OKTA_CLIENT_CLIENTID",
            "OKTA_CLIENT_CLIENTID and OKTA_CLIENT_CLIENTSECRET are required",
        )
    })?;
    let secret = ClientSecret::from(secret);
    let redirect = settings.redirect_uri();
    Ok(Some(match &settings.issuer {
        Some(issuer) => OAuthApp::discover(org, issuer, id, secret, &redirect, scopes, egress).await?,
        None => OAuthApp::new(org, id, secret, &redirect, scopes, egress)?,
    }))
}

impl App {
    /// Builds the server `settings` describe, on `store` when given (else the configured
    /// database, opened), with the server-wide org from `source`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting that is wrong; the store's errors.
    pub async fn build(settings: &Settings, source: OrgSource, store: Option<Store>) -> Result<Self> {
        let admin_token = settings.checked_admin_token()?.cloned();
        let scopes = Scopes::parse(&settings.scopes).map_err(|e| Error::config("OKTA_CLIENT_SCOPES", e.to_string()))?;
        // The policy and CA file, read once for the server-wide app and the accounts' apps.
        let egress = settings.store.egress()?;
        let oauth = server_wide_app(settings, source, scopes, &egress).await?;
        let store = match store {
            Some(s) => s,
            None => settings.store.open().await?,
        };
        let console = crate::console::ConsoleOidc::from_settings(&settings.console, &egress)?.map(Arc::new);
        let apps = Arc::new(Apps::new(store.clone(), oauth, settings.redirect_uri(), egress));
        let service = Arc::new(
            Service::new(store, apps, Duration::from_secs(settings.refresh_margin))
                .with_rate_limit_wait(Duration::from_secs(settings.rate_limit_wait))
                .with_sync_policy(SyncPolicy {
                    full_every: Duration::from_secs(settings.sync_full_every),
                    retention: Duration::from_secs(settings.feed_retention_days.saturating_mul(86_400)),
                    budget: f64::from(settings.sync_budget) / 100.0,
                    interval: (settings.sync_interval > 0).then(|| Duration::from_secs(settings.sync_interval)),
                    concurrency: settings.sync_concurrency.max(1),
                    ..SyncPolicy::default()
                })
                .with_delivery_policy(DeliveryPolicy {
                    concurrency: settings.delivery_concurrency.max(1),
                    per_endpoint: settings.delivery_per_endpoint.max(1),
                    ..DeliveryPolicy::default()
                }),
        );
        let admin_token_generated = admin_token.is_none();
        let admin_token = admin_token.unwrap_or_else(|| SecretString::from(random_secret()));
        let state = AppState::with_console(
            service.clone(),
            settings.public_url(),
            admin_token.clone(),
            console,
            settings.max_long_polls,
            settings.scim_max_in_flight,
        );
        // Refreshes another instance abandoned mid-way are completed first thing (Okta takes
        // the old refresh token again only within its leeway), then watched for every second.
        let mut background = vec![service.refresher().clone().spawn_recovery(RECOVERY_TICK)];
        if settings.refresh_ahead > 0 {
            background.push(
                service
                    .refresher()
                    .clone()
                    .spawn_background(BACKGROUND_TICK, Duration::from_secs(settings.refresh_ahead)),
            );
        }
        background.push(service.clone().spawn_webhook_worker());
        background.push(service.clone().spawn_hook_worker());
        if settings.sync_interval > 0 {
            background.push(
                service
                    .clone()
                    .spawn_sync_scheduler(Duration::from_secs(settings.sync_interval)),
            );
        }
        for e in service.store().unreadable_accounts().await? {
            tracing::error!(error = %e, "an account cannot be read; every other account is served");
        }
        for e in service.store().unreadable_connections().await? {
            tracing::error!(error = %e, "a connection cannot be read; every other connection is served");
        }
        Ok(Self {
            state,
            service,
            admin_token,
            admin_token_generated,
            background,
            limits: Limits {
                header_read_timeout: Duration::from_secs(settings.header_read_timeout.max(1)),
                max_connections: settings.max_connections.max(1),
                body_read_timeout: Duration::from_secs(settings.body_read_timeout.max(1)),
            },
            shutdown_grace: Duration::from_secs(settings.shutdown_grace),
        })
    }

    /// The workflows.
    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// What the handlers share.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The admin token, and whether it was generated (so it must be shown once).
    pub fn admin_token(&self) -> (&str, bool) {
        (self.admin_token.expose_secret(), self.admin_token_generated)
    }

    /// Serves on `listener` until `shutdown` completes, within the settings' header-read
    /// timeout and connection cap; then stops claiming background work, gives what runs
    /// `OKTA_BRIDGE_SHUTDOWN_GRACE` to finish, stops the rest and gives up its leases (another
    /// instance takes it over at once), and closes the database.
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = serve_with(listener, self.state.clone(), self.limits, shutdown).await;
        for task in self.background.drain(..) {
            task.abort();
        }
        self.service.shutdown(self.shutdown_grace).await;
        self.service.store().close().await;
        result
    }
}

impl Drop for App {
    fn drop(&mut self) {
        for task in self.background.drain(..) {
            task.abort();
        }
    }
}
