//! `okta-bridge connections list|refresh|disconnect`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use okta_bridge::apps::Apps;
use okta_bridge::model::{AccountName, ClientSecret, DEFAULT_WEB_SCOPES, Scopes};
use okta_bridge::oauth::OAuthApp;
use okta_bridge::service::Service;
use okta_bridge::settings::{StoreSettings, secret};
use okta_bridge::store::Store;
use secrecy::SecretString;

use super::ts;

/// Refresh an access token when it has less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Commands never run the connect flow; refresh and revoke ignore the redirect URI.
pub(crate) const CLI_REDIRECT_URI: &str = "http://127.0.0.1/oauth/okta_callback";

#[derive(Debug, Subcommand)]
pub(crate) enum ConnectionsCommand {
    /// List stored connections (never their tokens).
    List(StoreSettings),
    /// Refresh a connection's access token now, whatever its expiry (exactly once across
    /// instances, as every refresh).
    Refresh(RefreshArgs),
    /// Revoke a connection's tokens at Okta and forget them (an audit record stays).
    Disconnect(DisconnectArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct DisconnectArgs {
    #[command(flatten)]
    connection: RefreshArgs,
    /// Revoke an API-token connection's token at Okta too (by default it is only forgotten:
    /// it is an admin's, and may serve other tools).
    #[arg(long)]
    revoke_api_token: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RefreshArgs {
    /// The connection.
    account: String,
    #[command(flatten)]
    app: WebAppFlags,
    #[command(flatten)]
    store: StoreSettings,
}

impl RefreshArgs {
    pub(crate) fn account(&self) -> &str {
        &self.account
    }
    pub(crate) fn app(&self) -> &WebAppFlags {
        &self.app
    }
    pub(crate) fn store(&self) -> &StoreSettings {
        &self.store
    }
}

/// The org's OAuth web app, to refresh and revoke a connection without an account of its own
/// (one made through the server-wide app).
#[derive(Debug, clap::Args)]
pub(crate) struct WebAppFlags {
    /// The org's OAuth web app, for a connection without an account of its own.
    #[arg(long, env = "OKTA_CLIENT_CLIENTID")]
    client_id: Option<String>,
    /// Its client secret.
    #[arg(long, env = "OKTA_CLIENT_CLIENTSECRET", hide_env_values = true, value_parser = secret)]
    client_secret: Option<SecretString>,
}
/// The service of the database `store` names, for commands (which never run the connect
/// flow, so no server-wide app).
pub(crate) async fn open_service(store: &StoreSettings) -> Result<Service> {
    service_on(store.open().await?, store, None)
}

/// The service of the database `store` names, whose web apps send the browser back to
/// `redirect_uri` (the loopback address of `accounts connect --browser`).
pub(crate) async fn open_service_redirecting(store: &StoreSettings, redirect_uri: &str) -> Result<Service> {
    let db = store.open().await?;
    let apps = Apps::new(db.clone(), None, redirect_uri, store.egress()?);
    Ok(Service::new(db, Arc::new(apps), REFRESH_MARGIN))
}

fn service_on(store: Store, settings: &StoreSettings, fallback: Option<OAuthApp>) -> Result<Service> {
    let apps = Apps::new(store.clone(), fallback, CLI_REDIRECT_URI, settings.egress()?);
    Ok(Service::new(store, Arc::new(apps), REFRESH_MARGIN))
}

/// A stored connection opened for a command: its name, and the service whose apps refresh and
/// revoke it: the account's own, or the web app given by flags or `OKTA_CLIENT_*` for a
/// connection without an account.
pub(crate) async fn open_connection(
    account: &str,
    settings: &StoreSettings,
    app: &WebAppFlags,
) -> Result<(AccountName, Service)> {
    let account = AccountName::parse(account)?;
    let store = settings.open().await?;
    let conn = store
        .connection(&account)
        .await?
        .ok_or_else(|| okta_bridge::Error::UnknownConnection(account.to_string()))?;
    let fallback = match (&app.client_id, &app.client_secret) {
        (Some(id), Some(secret)) => Some(OAuthApp::new(
            conn.org_url.clone(),
            id.clone(),
            ClientSecret::from(secret.clone()),
            CLI_REDIRECT_URI,
            if conn.scopes.is_empty() {
                Scopes::parse(DEFAULT_WEB_SCOPES)?
            } else {
                conn.scopes.clone()
            },
            settings.egress()?,
        )?),
        _ => None,
    };
    Ok((account, service_on(store, settings, fallback)?))
}

pub(crate) async fn run(cmd: ConnectionsCommand) -> Result<()> {
    match cmd {
        ConnectionsCommand::List(store) => list(store).await,
        ConnectionsCommand::Refresh(a) => {
            let (account, service) = open_connection(&a.account, &a.store, &a.app).await?;
            service.refresh_now(&account).await?;
            println!("Refreshed the access token of {account}.");
            Ok(())
        }
        ConnectionsCommand::Disconnect(d) => {
            let a = &d.connection;
            let (account, service) = open_connection(&a.account, &a.store, &a.app).await?;
            let revoked = service.disconnect(&account, d.revoke_api_token).await?;
            if revoked.is_empty() {
                println!("Disconnected {account}.");
            } else {
                println!(
                    "Disconnected {account} (revoked its {} at Okta).",
                    revoked.join(" and ")
                );
            }
            Ok(())
        }
    }
}

async fn list(store: StoreSettings) -> Result<()> {
    let store = store.open().await?;
    let conns = store.connections().await?;
    if conns.is_empty() {
        println!("No connections yet: run `okta-bridge serve` and press \"Connect Okta\".");
        return Ok(());
    }
    println!(
        "{:<24}  {:<40}  {:<18}  {:<13}  {:<25}  SCOPES",
        "ACCOUNT", "ORG", "METHOD", "STATUS", "ACCESS TOKEN EXPIRES"
    );
    for c in conns {
        let expires = c.expires_at.at().map_or_else(
            || "never".to_owned(),
            |t| ts(time::OffsetDateTime::from_unix_timestamp(t).ok()),
        );
        println!(
            "{:<24}  {:<40}  {:<18}  {:<13}  {:<25}  {}",
            c.account,
            c.org_url,
            c.method.as_str(),
            c.status.as_str(),
            expires,
            c.scopes
        );
    }
    Ok(())
}
