//! `okta-bridge sandbox`: a local Okta org on its own.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use okta_bridge::settings::secret;
use okta_sandbox::{RefreshTokenRotation, Sandbox, SandboxConfig};
use secrecy::SecretString;
use tokio::net::TcpListener;
use url::Url;

use super::sandbox_fleet::FleetArgs;
use super::shutdown_signal;

#[derive(Debug, clap::Args)]
pub(crate) struct SandboxArgs {
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
    /// Memberships in all, besides Everyone (default: two per user); departments hold theirs,
    /// the rest are spread over the other groups, a few large and many small.
    #[arg(long)]
    memberships: Option<usize>,
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
    /// A service app (repeatable): `client_id=0oa…,jwks=FILE,scopes=okta.users.read[,dpop=true]`;
    /// an API service integration has `secret=…` (client_secret_basic) instead of `jwks`
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
    /// Multiplies every rate limit (1: Okta's; e.g. 1000 to lift them for a benchmark).
    #[arg(long, default_value_t = 1)]
    rate_limit_scale: u32,
    /// Seconds per rate-limit window (Okta's: 60); shorter ones make pacing tests quick.
    #[arg(long, default_value_t = 60)]
    rate_limit_window: u64,
    /// Requests a minute on each OAuth bucket (Okta's Workforce default 2,000).
    #[arg(long, default_value_t = 2_000)]
    oauth_rate_limit: u32,
    /// Requests a minute on /api/v1/logs (Okta's Workforce default 120).
    #[arg(long, default_value_t = 120)]
    logs_rate_limit: u32,
    /// Share (0-1) of System Log events stored a few seconds after their `published` time, as
    /// Okta sometimes does: clients that page by `published` instead of `next` links miss them.
    #[arg(long, default_value_t = 0.0)]
    late_events: f64,
    /// Changes a minute the org makes by itself (users join, change, leave; groups, members and
    /// app assignments move), through the same paths as the API and in the System Log.
    /// `PUT /__sandbox/churn` changes it while running.
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    churn: f64,
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
    /// Serve https, with a certificate for 127.0.0.1, localhost and the --public-url host issued
    /// by a CA generated at start.
    #[arg(long)]
    tls: bool,
    /// Where to write the CA certificate (PEM) clients must trust (with --tls; default
    /// okta-sandbox-ca.pem in the working directory).
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_ca_out: Option<std::path::PathBuf>,
    /// How many independent orgs to serve, each on its own port (--listen's port, the next,
    /// and so on; each its own with port 0), with its own data (seeds --seed, --seed + 1, …),
    /// tokens, rate-limit windows, churn, faults and counters.
    #[arg(long, default_value_t = 1, value_name = "N")]
    orgs: usize,
    /// With --orgs: where to write every org's URL and credentials, and the control URL and
    /// token that address all of them (JSON; written once every org serves). Given alone, it
    /// makes a fleet of one: one org with the fleet's listing and control.
    #[arg(long, value_name = "FILE")]
    orgs_out: Option<std::path::PathBuf>,
}

pub(crate) async fn run(a: SandboxArgs) -> Result<()> {
    let mut config = SandboxConfig {
        public_url: a.public_url,
        users: a.users,
        groups: a.groups,
        memberships: a.memberships,
        apps: a.apps,
        deprovisioned_percent: a.deprovisioned_percent,
        service_apps: a.service_apps,
        web_app_require_dpop: a.require_dpop,
        users_rate_limit: a.users_rate_limit,
        rate_limit_scale: a.rate_limit_scale,
        rate_limit_window: Duration::from_secs(a.rate_limit_window),
        oauth_rate_limit: a.oauth_rate_limit,
        logs_rate_limit: a.logs_rate_limit,
        late_events: a.late_events,
        churn: a.churn,
        faults: a.faults,
        seed: a.seed,
        admin_login: a.admin_login,
        access_token_ttl: Duration::from_secs(a.access_token_ttl),
        refresh_token_rotation: a.refresh_token_rotation,
        refresh_token_leeway: Duration::from_secs(a.refresh_token_leeway),
        tls: a.tls,
        ..SandboxConfig::default()
    };
    if let Some(p) = a.user_password {
        config.user_password = p;
    }
    let (config_has_token, config_has_client) = (a.api_token.is_some(), a.client_id.is_some());
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
    if a.orgs != 1 || a.orgs_out.is_some() {
        let fleet = FleetArgs {
            orgs: a.orgs,
            listen: a.listen,
            out: a.orgs_out,
            same_token: config_has_token,
            same_client: config_has_client,
        };
        refuse_with_orgs(&[
            ("--public-url", config.public_url.is_some()),
            ("--load", a.load.is_some()),
            ("--state", a.state.is_some()),
            ("--tls", a.tls),
        ])?;
        return super::sandbox_fleet::run(fleet, config).await;
    }
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
    if let Some(ca) = sandbox.ca_pem() {
        let path = a
            .tls_ca_out
            .unwrap_or_else(|| std::path::PathBuf::from("okta-sandbox-ca.pem"));
        std::fs::write(&path, ca)
            .with_context(|| format!("cannot write the CA certificate to {} (--tls-ca-out)", path.display()))?;
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let p = path.display();
        println!("  CA certificate:   {p} (generated at start; trust it to reach the org over https:)");
        println!("    SSL_CERT_FILE={p}        (OpenSSL-based clients: Python, Ruby, curl)");
        println!("    REQUESTS_CA_BUNDLE={p}   (Python requests)");
        println!("    NODE_EXTRA_CA_CERTS={p}  (Node.js)");
        println!("    OKTA_BRIDGE_CA_FILE={p}  (okta-bridge)");
    }
    println!("\nPress Ctrl-C to stop.");
    shutdown_signal().await;
    if let Some(path) = &a.state {
        sandbox.state().snapshot().write(path).map_err(anyhow::Error::msg)?;
        println!("Saved the org to {}.", path.display());
    }
    sandbox.shutdown().await?;
    Ok(())
}

/// Refuses the flags (`name`, given) that describe one org when many are asked for.
fn refuse_with_orgs(flags: &[(&str, bool)]) -> Result<()> {
    match flags.iter().find(|(_, given)| *given) {
        Some((name, _)) => anyhow::bail!("{name} describes one org: leave it out with --orgs, or serve one org"),
        None => Ok(()),
    }
}

pub(crate) fn print_sandbox(sandbox: &Sandbox) {
    let c = sandbox.config();
    println!("okta-sandbox org running at {}", sandbox.url());
    println!(
        "  users:            {} in {} groups and Everyone (seed {})",
        c.users, c.groups, c.seed
    );
    for f in &c.faults {
        println!("  fault:            {f:?}");
    }
    if c.churn > 0.0 {
        println!(
            "  churn:            {} changes a minute (PUT/DELETE {}/__sandbox/churn)",
            c.churn,
            sandbox.url()
        );
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
        let how = if app.client_secret.is_some() {
            "client secret"
        } else {
            "private_key_jwt"
        };
        println!(
            "  service app:      {} ({how}; {}{dpop})",
            app.client_id,
            app.scopes.join(" ")
        );
    }
    println!(
        "  try: OKTA_CLIENT_ORGURL={} OKTA_CLIENT_TOKEN={} okta-bridge users list",
        sandbox.url(),
        c.api_token_value()
    );
}
