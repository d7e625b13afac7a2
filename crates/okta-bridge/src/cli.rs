//! The `okta-bridge` commands.

use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use futures::{Stream, StreamExt};
use okta_bridge::accounts::Apps;
use okta_bridge::connect::{OAuthApp, random_secret};
use okta_bridge::domain::{AccountName, Scopes};
use okta_bridge::server::{AppState, serve};
use okta_bridge::settings::{DEFAULT_SCOPES, Settings, StoreSettings, open_store_with, secret};
use okta_bridge::tokens::Refresher;
use okta_client::{OrgUrl, User};
use okta_sandbox::{RefreshTokenRotation, Sandbox, SandboxConfig};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use url::Url;

/// Refresh an access token when it has less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[derive(Debug, Parser)]
#[command(
    name = "okta-bridge",
    version,
    about = "Connect applications to Okta orgs and work with their data"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server: connect orgs through OAuth, list connections and users.
    Serve(ServeArgs),
    /// Run a local Okta org (OAuth authorization server + Management API).
    Sandbox(SandboxArgs),
    /// Work with an org's users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The orgs okta-bridge works with and their apps (secrets from a file or stdin, never
    /// from the command line).
    #[command(subcommand)]
    Accounts(crate::accounts_cli::AccountsCommand),
    /// Stored connections.
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// The master keys that encrypt stored secrets.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Re-encrypt every stored secret under OKTA_BRIDGE_MASTER_KEY, online. Put the previous key
    /// in OKTA_BRIDGE_OLD_MASTER_KEYS (for this command and for the servers, which must run
    /// with the new key first); afterwards the old key can go.
    Rotate(StoreSettings),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
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
}

#[derive(Debug, clap::Args)]
struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8055")]
    listen: SocketAddr,
    /// Base of absolute links (default: http:// + --listen).
    #[arg(long)]
    public_url: Option<Url>,
    /// How many users the org holds.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// How many groups the org holds besides Everyone.
    #[arg(long, default_value_t = 8)]
    groups: usize,
    /// How many bookmark apps the org holds besides the registered OAuth web app.
    #[arg(long, default_value_t = 3)]
    apps: usize,
    /// Percentage of generated users that are DEPROVISIONED (listed only by filter or search).
    #[arg(long, default_value_t = 0)]
    deprovisioned_percent: u8,
    /// Load the org (users, groups, apps) from this JSON file instead of generating one
    /// (`GET /__sandbox/export` writes such a file).
    #[arg(long, value_name = "FILE")]
    load: Option<std::path::PathBuf>,
    /// Keep the org in this file across restarts: loaded at start if it exists, saved on exit.
    #[arg(long, value_name = "FILE")]
    state: Option<std::path::PathBuf>,
    /// A service app (repeatable): `client_id=0oa…,jwks=FILE,scopes=okta.users.read[,dpop=true]`
    /// for the client_credentials grant with private_key_jwt.
    #[arg(long = "service-app")]
    service_apps: Vec<okta_sandbox::ServiceApp>,
    /// A custom authorization server besides `default` (repeatable):
    /// `id=aus…[,audience=api://…][,scopes=orders.read orders.write]`.
    #[arg(long = "auth-server")]
    auth_servers: Vec<okta_sandbox::AuthorizationServer>,
    /// The web app requires DPoP-bound tokens (a DPoP proof on every token request).
    #[arg(long)]
    require_dpop: bool,
    /// Requests a minute on the list-and-create-users bucket (Okta's default 600).
    #[arg(long, default_value_t = 600)]
    users_rate_limit: u32,
    /// Seconds per rate-limit window (Okta's: 60); shorter ones make pacing tests quick.
    #[arg(long, default_value_t = 60)]
    rate_limit_window: u64,
    /// Requests a minute on each OAuth bucket (Okta's Workforce default 2,000).
    #[arg(long, default_value_t = 2_000)]
    oauth_rate_limit: u32,
    /// A fault to inject (repeatable), e.g. `/api/v1/users:latency=50,errors=0.1,429=0.05,cuts=0.02`.
    #[arg(long = "fault")]
    faults: Vec<okta_sandbox::faults::FaultRule>,
    /// Seed of the generated org: the same seed gives the same users.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Login of the super admin (one of the users).
    #[arg(long, default_value = "admin@example.com")]
    admin_login: String,
    /// Every user's password (default: random, printed).
    #[arg(long, value_parser = secret)]
    user_password: Option<SecretString>,
    /// The admin's SSWS API token (default: random, printed).
    #[arg(long, value_parser = secret)]
    api_token: Option<SecretString>,
    /// Client id of the registered OAuth web app (default: random, printed).
    #[arg(long)]
    client_id: Option<String>,
    /// Its client secret (default: random, printed).
    #[arg(long, value_parser = secret)]
    client_secret: Option<SecretString>,
    /// A registered redirect URI (repeatable; default: okta-bridge's on 127.0.0.1:3000 and localhost:3000).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_ttl: u64,
    /// Refresh token rotation: static or rotate.
    #[arg(long, default_value = "static")]
    refresh_token_rotation: RefreshTokenRotation,
    /// With rotation, seconds a rotated-out refresh token keeps working (0-60).
    #[arg(long, default_value_t = 30)]
    refresh_token_leeway: u64,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// List every user of an org (all pages).
    List(UsersListArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
}

#[derive(Debug, clap::Args)]
struct UsersListArgs {
    /// The org, e.g. https://dev-207260.okta.com.
    #[arg(long, env = "OKTA_CLIENT_ORGURL")]
    org_url: Option<String>,
    /// An SSWS API token of the org (prefer the environment variable).
    #[arg(long, env = "OKTA_CLIENT_TOKEN", hide_env_values = true, value_parser = secret)]
    api_token: Option<SecretString>,
    /// Read through a stored connection instead (refreshed as needed).
    #[arg(long)]
    connection: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Users per page requested from Okta (1-200).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=200))]
    page_size: u32,
    /// Client id, to refresh a stored connection's token.
    #[arg(long, env = "OKTA_CLIENT_CLIENTID")]
    client_id: Option<String>,
    /// Client secret, to refresh a stored connection's token.
    #[arg(long, env = "OKTA_CLIENT_CLIENTSECRET", hide_env_values = true, value_parser = secret)]
    client_secret: Option<SecretString>,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, Subcommand)]
enum ConnectionsCommand {
    /// List stored connections (never their tokens).
    List(StoreSettings),
    /// Refresh a connection's access token now, whatever its expiry (exactly once across
    /// instances, as every refresh).
    Refresh(RefreshArgs),
    /// Revoke a connection's tokens at Okta and forget them (an audit record stays).
    Disconnect(DisconnectArgs),
}

#[derive(Debug, clap::Args)]
struct DisconnectArgs {
    #[command(flatten)]
    connection: RefreshArgs,
    /// Revoke an API-token connection's token at Okta too (by default it is only forgotten:
    /// it is an admin's, and may serve other tools).
    #[arg(long)]
    revoke_api_token: bool,
}

#[derive(Debug, clap::Args)]
struct RefreshArgs {
    /// The connection.
    account: String,
    /// The org's OAuth web app, for a connection without an account of its own.
    #[arg(long, env = "OKTA_CLIENT_CLIENTID")]
    client_id: Option<String>,
    /// Its client secret.
    #[arg(long, env = "OKTA_CLIENT_CLIENTSECRET", hide_env_values = true, value_parser = secret)]
    client_secret: Option<SecretString>,
    #[command(flatten)]
    store: StoreSettings,
}

/// A stored connection opened for a command: its name, the store, the apps that refresh and
/// revoke it (the accounts' own, and the web app given by flags or `OKTA_CLIENT_*` for a
/// connection without an account), and the connection.
async fn open_connection(
    account: &str,
    store: &StoreSettings,
    client_id: Option<&String>,
    client_secret: Option<&SecretString>,
) -> Result<(
    AccountName,
    okta_bridge::store::Store,
    Arc<Apps>,
    okta_bridge::store::Connection,
)> {
    let account = AccountName::parse(account)?;
    let settings = store;
    let store = settings.open().await?;
    let conn = store
        .connection(&account)
        .await?
        .ok_or_else(|| okta_bridge::Error::UnknownConnection(account.to_string()))?;
    let fallback = match (client_id, client_secret) {
        (Some(id), Some(secret)) => Some(OAuthApp::new(
            conn.org_url.clone(),
            id.clone(),
            secret.clone(),
            CLI_REDIRECT_URI,
            Scopes::parse(if conn.scopes.is_empty() {
                DEFAULT_SCOPES
            } else {
                &conn.scopes
            })?,
            okta_bridge::domain::org_resolver(settings.dev_allow_private_orgs),
        )?),
        _ => None,
    };
    let apps = Apps::new(store.clone(), fallback, CLI_REDIRECT_URI).allow_private_orgs(settings.dev_allow_private_orgs);
    Ok((account, store, Arc::new(apps), conn))
}

/// Commands never run the connect flow; refresh and revoke ignore the redirect URI.
pub(crate) const CLI_REDIRECT_URI: &str = "http://127.0.0.1/oauth/okta_callback";

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve_command(args).await,
        Command::Sandbox(args) => sandbox_command(args).await,
        Command::Users(UsersCommand::List(args)) => users_list(args).await,
        Command::Connections(ConnectionsCommand::List(store)) => connections_list(store).await,
        Command::Connections(ConnectionsCommand::Refresh(a)) => {
            let (account, store, apps, _) =
                open_connection(&a.account, &a.store, a.client_id.as_ref(), a.client_secret.as_ref()).await?;
            let refresher = Refresher::with_apps(store, apps, REFRESH_MARGIN);
            refresher.refresh_now(&account).await?;
            println!("Refreshed the access token of {account}.");
            Ok(())
        }
        Command::Connections(ConnectionsCommand::Disconnect(d)) => {
            let a = &d.connection;
            let (account, store, apps, _) =
                open_connection(&a.account, &a.store, a.client_id.as_ref(), a.client_secret.as_ref()).await?;
            let revoked = okta_bridge::accounts::disconnect(&store, &apps, &account, d.revoke_api_token).await?;
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
        Command::Accounts(cmd) => crate::accounts_cli::run(cmd).await,
        Command::Keys(KeysCommand::Rotate(store)) => {
            let store = store.open().await?;
            let n = store.rotate_keys().await?;
            println!(
                "Re-encrypted {n} stored secret(s) under key id {}.",
                okta_bridge::crypto::key_id_hex(&store.key_id())
            );
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn sandbox_command(a: SandboxArgs) -> Result<()> {
    let mut config = SandboxConfig {
        public_url: a.public_url,
        users: a.users,
        groups: a.groups,
        apps: a.apps,
        deprovisioned_percent: a.deprovisioned_percent,
        service_apps: a.service_apps,
        web_app_require_dpop: a.require_dpop,
        users_rate_limit: a.users_rate_limit,
        rate_limit_window: Duration::from_secs(a.rate_limit_window),
        oauth_rate_limit: a.oauth_rate_limit,
        faults: a.faults,
        seed: a.seed,
        admin_login: a.admin_login,
        access_token_ttl: Duration::from_secs(a.access_token_ttl),
        refresh_token_rotation: a.refresh_token_rotation,
        refresh_token_leeway: Duration::from_secs(a.refresh_token_leeway),
        ..SandboxConfig::default()
    };
    if let Some(p) = a.user_password {
        config.user_password = p;
    }
    if let Some(t) = a.api_token {
        config.api_token = t;
    }
    if let Some(id) = a.client_id {
        config.client_id = id;
    }
    if let Some(s) = a.client_secret {
        config.client_secret = s;
    }
    if !a.redirect_uris.is_empty() {
        config.redirect_uris = a.redirect_uris;
    }
    config.authorization_servers.extend(a.auth_servers);
    let from_state = a.state.as_ref().filter(|p| p.exists());
    if let Some(path) = from_state.or(a.load.as_ref()) {
        let org = okta_sandbox::snapshot::OrgSnapshot::read(path).map_err(anyhow::Error::msg)?;
        println!("Loading the org from {} ({} users).", path.display(), org.users());
        config.org = Some(org);
    }
    let listener = TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", a.listen))?;
    let sandbox = Sandbox::spawn_on(listener, config)
        .await
        .context("cannot start the sandbox")?;
    print_sandbox(&sandbox);
    println!("\nPress Ctrl-C to stop.");
    shutdown_signal().await;
    if let Some(path) = &a.state {
        sandbox.state().snapshot().write(path).map_err(anyhow::Error::msg)?;
        println!("Saved the org to {}.", path.display());
    }
    sandbox.shutdown().await?;
    Ok(())
}

fn print_sandbox(sandbox: &Sandbox) {
    let c = sandbox.config();
    println!("okta-sandbox org running at {}", sandbox.url());
    println!(
        "  users:            {} in {} groups and Everyone (seed {})",
        c.users, c.groups, c.seed
    );
    for f in &c.faults {
        println!("  fault:            {f:?}");
    }
    println!(
        "  control:          {}/__sandbox/faults, {}/__sandbox/counters (SSWS API token)",
        sandbox.url(),
        sandbox.url()
    );
    println!("  sign in as:       {} / {}", c.admin_login, c.user_password_value());
    println!("  API token (SSWS): {}", c.api_token_value());
    println!("  OAuth client id:  {}", c.client_id);
    println!("  client secret:    {}", c.client_secret_value());
    for uri in &c.redirect_uris {
        println!("  redirect URI:     {uri}");
    }
    if c.web_app_require_dpop {
        println!("  web app:          DPoP required");
    }
    for a in &c.authorization_servers {
        println!(
            "  issuer:           {}/oauth2/{} (audience {})",
            sandbox.url(),
            a.id,
            a.audience
        );
    }
    for app in &c.service_apps {
        let dpop = if app.require_dpop { ", DPoP required" } else { "" };
        println!("  service app:      {} ({}{dpop})", app.client_id, app.scopes.join(" "));
    }
    println!(
        "  try: OKTA_CLIENT_ORGURL={} OKTA_CLIENT_TOKEN={} okta-bridge users list",
        sandbox.url(),
        c.api_token_value()
    );
}

async fn serve_command(a: ServeArgs) -> Result<()> {
    let mut settings = a.settings;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (OKTA_BRIDGE_LISTEN)", settings.listen))?;
    settings.listen = listener.local_addr()?;
    let public_url = settings.public_url();
    let scopes = Scopes::parse(&settings.scopes).context("OKTA_CLIENT_SCOPES")?;
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
    let mut sandbox = None;
    let (oauth, database_url) = if use_sandbox {
        if !a.sandbox {
            eprintln!(
                "No OKTA_CLIENT_ORGURL configured and no accounts: starting a built-in sandbox org (use --sandbox to say so explicitly)."
            );
        }
        let config = SandboxConfig {
            users: a.sandbox_users,
            redirect_uris: vec![settings.redirect_uri()],
            ..SandboxConfig::default()
        };
        let sb_listener = TcpListener::bind(a.sandbox_listen)
            .await
            .with_context(|| format!("cannot listen on {} (--sandbox-listen)", a.sandbox_listen))?;
        let sb = Sandbox::spawn_on(sb_listener, config)
            .await
            .context("cannot start the sandbox")?;
        let org = OrgUrl::parse(sb.url())?;
        let oauth = OAuthApp::new(
            org,
            sb.config().client_id.clone(),
            sb.config().client_secret.clone(),
            &settings.redirect_uri(),
            scopes,
            // The built-in sandbox lives on loopback.
            None,
        )?;
        sandbox = Some(sb);
        (
            Some(oauth),
            settings
                .database_url
                .clone()
                .unwrap_or_else(|| "sqlite://okta-bridge-sandbox.db".to_owned()),
        )
    } else {
        let oauth = match settings.org_url.as_deref() {
            None => None,
            Some(org) => {
                let org = OrgUrl::parse(org).context("OKTA_CLIENT_ORGURL")?;
                okta_bridge::domain::check_org_url(&org, settings.dev_allow_private_orgs)
                    .context("OKTA_CLIENT_ORGURL")?;
                if let okta_bridge::domain::Resolution::Unresolved(why) =
                    okta_bridge::domain::check_org_resolves(&org, settings.dev_allow_private_orgs)
                        .await
                        .context("OKTA_CLIENT_ORGURL")?
                {
                    eprintln!("warning: OKTA_CLIENT_ORGURL: {why}; starting anyway (check the org URL)");
                }
                let (id, secret) = settings
                    .oauth_client()?
                    .context("OKTA_CLIENT_CLIENTID and OKTA_CLIENT_CLIENTSECRET are required")?;
                let resolver = okta_bridge::domain::org_resolver(settings.dev_allow_private_orgs);
                let redirect = settings.redirect_uri();
                Some(match &settings.issuer {
                    Some(issuer) => OAuthApp::discover(org, issuer, id, secret, &redirect, scopes, resolver)
                        .await
                        .context("OKTA_OAUTH2_ISSUER")?,
                    None => OAuthApp::new(org, id, secret, &redirect, scopes, resolver)?,
                })
            }
        };
        (
            oauth,
            settings
                .database_url
                .clone()
                .unwrap_or_else(|| okta_bridge::settings::DEFAULT_DATABASE_URL.to_owned()),
        )
    };
    let store = match existing.filter(|_| !use_sandbox || settings.database_url.is_some()) {
        Some(store) => store,
        None => {
            open_store_with(
                Some(&database_url),
                settings.master_key.as_ref().map(ExposeSecret::expose_secret),
                settings.old_master_keys.as_ref().map(ExposeSecret::expose_secret),
            )
            .await?
        }
    };
    let generated_token = settings.admin_token().is_none();
    let admin_token = settings
        .admin_token()
        .unwrap_or_else(|| SecretString::from(random_secret()));
    let apps = Arc::new(
        Apps::new(store.clone(), oauth, settings.redirect_uri())
            .allow_private_orgs(settings.dev_allow_private_orgs || use_sandbox),
    );
    let refresher = Arc::new(Refresher::with_apps(store.clone(), apps, REFRESH_MARGIN));
    let background = (settings.refresh_ahead > 0).then(|| {
        refresher
            .clone()
            .spawn_background(Duration::from_secs(30), Duration::from_secs(settings.refresh_ahead))
    });
    let state = AppState::new(store.clone(), refresher, public_url.clone(), admin_token.clone());

    println!("okta-bridge listening on {public_url} (database {})", store.kind());
    if generated_token {
        println!(
            "  admin token:      {} (random; set OKTA_BRIDGE_ADMIN_TOKEN to choose one)",
            admin_token.expose_secret()
        );
    }
    println!(
        "  redirect URI:     {} (register it in the Okta app)",
        settings.redirect_uri()
    );
    if let Some(sb) = &sandbox {
        let c = sb.config();
        println!("\nBuilt-in sandbox org at {} with {} users.", sb.url(), c.users);
        println!("  1. open {public_url} and sign in with the admin token above");
        println!(
            "  2. press \"Connect Okta\" and sign in to the sandbox as {} / {}",
            c.admin_login,
            c.user_password_value()
        );
    }
    serve(listener, state, shutdown_signal()).await?;
    if let Some(task) = background {
        task.abort();
    }
    store.close().await;
    if let Some(sb) = sandbox {
        sb.shutdown().await?;
    }
    Ok(())
}

/// The configured database, opened, when it exists already (a configured URL, or the default
/// SQLite file in the working directory).
async fn open_existing(settings: &Settings) -> Result<Option<okta_bridge::store::Store>> {
    let url = match &settings.database_url {
        Some(u) => u.clone(),
        None if std::path::Path::new("okta-bridge.db").exists() => {
            okta_bridge::settings::DEFAULT_DATABASE_URL.to_owned()
        }
        None => return Ok(None),
    };
    let store = open_store_with(
        Some(&url),
        settings.master_key.as_ref().map(ExposeSecret::expose_secret),
        settings.old_master_keys.as_ref().map(ExposeSecret::expose_secret),
    )
    .await?;
    Ok(Some(store))
}

async fn users_list(a: UsersListArgs) -> Result<()> {
    let client = match (&a.connection, &a.org_url, &a.api_token) {
        (Some(account), _, _) => {
            let (_, store, apps, conn) =
                open_connection(account, &a.store, a.client_id.as_ref(), a.client_secret.as_ref()).await?;
            let refresher = Arc::new(Refresher::with_apps(store.clone(), apps, REFRESH_MARGIN));
            okta_bridge::accounts::client_for(&store, &refresher, conn).await?
        }
        (None, Some(org), Some(token)) => okta_client::Client::builder(org)?
            .api_token(token.expose_secret())
            .build()?,
        (None, None, _) => bail!(
            "say which org: --connection ACCOUNT, or --org-url and --api-token (OKTA_CLIENT_ORGURL / OKTA_CLIENT_TOKEN)"
        ),
        (None, Some(_), None) => {
            bail!("--org-url needs --api-token (or OKTA_CLIENT_TOKEN), or use --connection ACCOUNT")
        }
    };
    let users = client.users().list().limit(a.page_size).stream();
    match write_users(users, a.format, std::io::stdout().lock()).await {
        // `okta-bridge users list | head` is not an error.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .or_else(|| match cause.downcast_ref::<csv::Error>()?.kind() {
                csv::ErrorKind::Io(io) => Some(io),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

const CSV_COLUMNS: [&str; 9] = [
    "id",
    "status",
    "login",
    "firstName",
    "lastName",
    "email",
    "created",
    "lastLogin",
    "lastUpdated",
];

fn ts(t: Option<time::OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Writes users as they arrive: memory stays flat whatever the org's size.
async fn write_users(
    mut users: impl Stream<Item = okta_client::Result<User>> + Unpin,
    format: Format,
    out: impl Write,
) -> Result<()> {
    if let Format::Csv = format {
        let mut w = csv::Writer::from_writer(BufWriter::new(out));
        w.write_record(CSV_COLUMNS)?;
        while let Some(user) = users.next().await {
            let user = user.context("listing users failed")?;
            let p = &user.profile;
            w.write_record([
                user.id.as_str(),
                user.status.as_str(),
                p.login.as_str(),
                p.first_name.as_deref().unwrap_or(""),
                p.last_name.as_deref().unwrap_or(""),
                p.email.as_deref().unwrap_or(""),
                &ts(user.created),
                &ts(user.last_login),
                &ts(user.last_updated),
            ])?;
        }
        w.flush()?;
        return Ok(());
    }
    let mut out = BufWriter::new(out);
    let mut count = 0usize;
    match format {
        Format::Json => out.write_all(b"[")?,
        Format::Table => writeln!(out, "{:<20}  {:<16}  {:<40}  NAME", "ID", "STATUS", "LOGIN")?,
        Format::Ndjson | Format::Csv => {}
    }
    while let Some(user) = users.next().await {
        let user = user.context("listing users failed")?;
        match format {
            Format::Json => {
                out.write_all(if count > 0 { b",\n" } else { b"\n" })?;
                serde_json::to_writer(&mut out, &user)?;
            }
            Format::Ndjson => {
                serde_json::to_writer(&mut out, &user)?;
                out.write_all(b"\n")?;
            }
            Format::Table | Format::Csv => {
                let p = &user.profile;
                let name = [p.first_name.as_deref(), p.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                writeln!(
                    out,
                    "{:<20}  {:<16}  {:<40}  {}",
                    user.id,
                    user.status.as_str(),
                    p.login,
                    name
                )?;
            }
        }
        count += 1;
    }
    if let Format::Json = format {
        out.write_all(if count > 0 { b"\n]\n" } else { b"]\n" })?;
    }
    out.flush()?;
    Ok(())
}

async fn connections_list(store: StoreSettings) -> Result<()> {
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
        let expires = if c.expires_at == okta_bridge::store::NEVER {
            "never".to_owned()
        } else {
            ts(time::OffsetDateTime::from_unix_timestamp(c.expires_at).ok())
        };
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
