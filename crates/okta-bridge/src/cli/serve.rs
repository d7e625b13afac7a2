//! `okta-bridge serve`: the server, for configured orgs and accounts, or with a built-in
//! sandbox org.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use okta_bridge::app::{App, OrgSource};
use okta_bridge::settings::Settings;
use okta_bridge::store::Store;
use okta_sandbox::{Sandbox, SandboxConfig};
use tokio::net::TcpListener;

use super::shutdown_signal;

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    settings: Settings,
    /// Start a built-in sandbox org and connect to it (the default when no org is configured).
    #[arg(long)]
    sandbox: bool,
    /// Address of the built-in sandbox.
    #[arg(long, default_value = "127.0.0.1:0")]
    sandbox_listen: SocketAddr,
    /// Users in the built-in sandbox.
    #[arg(long, default_value_t = 100)]
    sandbox_users: usize,
    /// Multiplies every rate limit of the built-in sandbox (1: Okta's; more for load and
    /// fuzzing runs that would otherwise wait for windows).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    sandbox_rate_limit_scale: u32,
    /// Serve the built-in sandbox over plain http (default: https with a CA generated at start
    /// and trusted by this server; plain http needs the private-address development switch,
    /// which this then turns on).
    #[arg(long)]
    sandbox_plain_http: bool,
    /// Where to write the built-in sandbox's CA certificate (PEM), for other clients to trust.
    #[arg(long, value_name = "FILE")]
    sandbox_ca_out: Option<std::path::PathBuf>,
}

/// The configured database, opened, when it exists already (a configured URL, or the default
/// SQLite file in the working directory).
async fn open_existing(settings: &Settings) -> Result<Option<Store>> {
    if settings.store.database_url.is_none() && !std::path::Path::new("okta-bridge.db").exists() {
        return Ok(None);
    }
    Ok(Some(settings.store.open().await?))
}

pub(crate) async fn run(a: ServeArgs) -> Result<()> {
    let mut settings = a.settings;
    // Before anything starts: an empty or short admin token fails closed.
    settings.checked_admin_token()?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (OKTA_BRIDGE_LISTEN)", settings.listen))?;
    settings.listen = listener.local_addr()?;
    // Without an org, an existing database's accounts are served; a sandbox starts only when
    // there are none. The store opened to find out is the one served.
    let existing = match (&settings.org_url, a.sandbox) {
        (None, false) => open_existing(&settings).await?,
        _ => None,
    };
    let has_accounts = match &existing {
        Some(store) => !store.accounts().await?.is_empty(),
        None => false,
    };
    let use_sandbox = a.sandbox || (settings.org_url.is_none() && !has_accounts);
    let named_database = settings.store.database_url.is_some();
    let mut sandbox = None;
    let source = if use_sandbox {
        if !a.sandbox {
            eprintln!(
                "No OKTA_CLIENT_ORGURL configured and no accounts: starting a built-in sandbox org (use --sandbox to say so explicitly)."
            );
        }
        let config = SandboxConfig {
            users: a.sandbox_users,
            rate_limit_scale: a.sandbox_rate_limit_scale,
            redirect_uris: vec![settings.redirect_uri()],
            tls: !a.sandbox_plain_http,
            ..SandboxConfig::default()
        };
        let sb_listener = TcpListener::bind(a.sandbox_listen)
            .await
            .with_context(|| format!("cannot listen on {} (--sandbox-listen)", a.sandbox_listen))?;
        let sb = Sandbox::spawn_on(sb_listener, config)
            .await
            .context("cannot start the sandbox")?;
        settings.org_url = Some(sb.url().to_owned());
        settings.client_id = Some(sb.config().client_id.clone());
        settings.client_secret = Some(sb.config().client_secret.clone());
        settings.issuer = None;
        match sb.ca_pem() {
            // https: this server trusts the sandbox's CA and reaches exactly its origin on
            // loopback; every other private address stays refused.
            Some(ca) => {
                if let Some(path) = &a.sandbox_ca_out {
                    std::fs::write(path, ca).with_context(|| {
                        format!(
                            "cannot write the CA certificate to {} (--sandbox-ca-out)",
                            path.display()
                        )
                    })?;
                }
                settings.store.own_ca_pem = Some(ca.to_owned());
                settings.store.own_sandbox = Some(okta_client::OrgUrl::parse(sb.url())?);
            }
            // Plain http on loopback: only the development switch allows it.
            None => settings.store.dev_allow_private_orgs = true,
        }
        if settings.store.database_url.is_none() {
            settings.store.database_url = Some("sqlite://okta-bridge-sandbox.db".to_owned());
        }
        sandbox = Some(sb);
        OrgSource::BuiltInSandbox
    } else {
        OrgSource::Configured
    };
    let store = existing.filter(|_| !use_sandbox || named_database);
    let app = App::build(&settings, source, store).await?;
    let public_url = settings.public_url();
    println!(
        "okta-bridge listening on {public_url} (database {})",
        app.service().store().kind()
    );
    let (admin_token, generated) = app.admin_token();
    if generated {
        println!("  admin token:      {admin_token} (random; set OKTA_BRIDGE_ADMIN_TOKEN to choose one)");
    } else {
        println!("  admin token:      the one you set (OKTA_BRIDGE_ADMIN_TOKEN or --admin-token; not shown)");
    }
    println!(
        "  redirect URI:     {} (register it in the Okta app)",
        settings.redirect_uri()
    );
    if let Some(sb) = &sandbox {
        let c = sb.config();
        println!("\nBuilt-in sandbox org at {} with {} users.", sb.url(), c.users);
        if sb.ca_pem().is_some() {
            println!(
                "  (https with a CA generated at start and trusted by this server; --sandbox-ca-out FILE writes it for other clients)"
            );
        }
        let which = if generated {
            "the admin token above"
        } else {
            "your admin token (OKTA_BRIDGE_ADMIN_TOKEN)"
        };
        println!("  1. open {public_url} and sign in with {which}");
        println!(
            "  2. press \"Connect Okta\" and sign in to the sandbox as {} / {}",
            c.admin_login,
            c.user_password_value()
        );
    }
    app.serve(listener, shutdown_signal()).await?;
    if let Some(sb) = sandbox {
        sb.shutdown().await?;
    }
    Ok(())
}
