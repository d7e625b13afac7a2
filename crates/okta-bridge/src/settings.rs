//! Settings: command-line flags over environment variables over defaults, into one typed
//! [`Settings`] (and [`StoreSettings`], the part commands that only need the database take).
//! Okta's SDK names are used where they exist (`OKTA_CLIENT_*`).

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::crypto::MasterKey;
use crate::egress::Egress;
use crate::error::{Error, Result};
use crate::model::DEFAULT_WEB_SCOPES;
use crate::store::Store;

/// Parses a secret flag or variable straight into a [`SecretString`], so settings never hold
/// it in a type whose `Debug` would show it.
///
/// # Errors
/// Never; the signature is clap's.
pub fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s.to_owned()))
}

/// Everything `okta-bridge serve` is configured with.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// The Okta org to connect, e.g. `https://dev-207260.okta.com` (none: use a built-in sandbox).
    #[arg(long, env = "OKTA_CLIENT_ORGURL")]
    pub org_url: Option<String>,
    /// Client id of the org's OAuth web application.
    #[arg(long, env = "OKTA_CLIENT_CLIENTID")]
    pub client_id: Option<String>,
    /// Its client secret (prefer the environment variable: flags show up in `ps`).
    #[arg(long, env = "OKTA_CLIENT_CLIENTSECRET", hide_env_values = true, value_parser = secret)]
    pub client_secret: Option<SecretString>,
    /// The authorization server to connect through, by its issuer (e.g.
    /// `https://dev-207260.okta.com/oauth2/default`); its endpoints come from its discovery
    /// document. Default: the org authorization server (the only one whose tokens carry
    /// `okta.*` scopes for the Management API).
    #[arg(long, env = "OKTA_OAUTH2_ISSUER")]
    pub issuer: Option<Url>,
    /// Scopes to ask for, space-separated.
    #[arg(long, env = "OKTA_CLIENT_SCOPES", default_value = DEFAULT_WEB_SCOPES)]
    pub scopes: String,
    /// Address the server listens on.
    #[arg(long, env = "OKTA_BRIDGE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The address browsers (and Okta's redirects) reach the server at; default from --listen.
    #[arg(long, env = "OKTA_BRIDGE_PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// Token that guards everything but the OAuth routes and /healthz (default: random, printed).
    #[arg(long, env = "OKTA_BRIDGE_ADMIN_TOKEN", hide_env_values = true, value_parser = secret)]
    pub admin_token: Option<SecretString>,
    /// The background refresher renews access tokens this many seconds before they expire
    /// (0 turns it off; a request that finds an expired token refreshes it anyway).
    #[arg(long, env = "OKTA_BRIDGE_REFRESH_AHEAD", default_value_t = 300)]
    pub refresh_ahead: u64,
    /// Refresh an access token when a request finds it with less than this many seconds left.
    #[arg(long, env = "OKTA_BRIDGE_REFRESH_MARGIN", default_value_t = 60)]
    pub refresh_margin: u64,
    /// Seconds a client has to send a request's headers (and an idle connection stays open).
    #[arg(long, env = "OKTA_BRIDGE_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Connections served at once; more wait until one closes.
    #[arg(long, env = "OKTA_BRIDGE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's whole body, from when its headers arrived; a
    /// body still incomplete then is refused (408) and its connection closed.
    #[arg(long, env = "OKTA_BRIDGE_BODY_READ_TIMEOUT", default_value_t = 10)]
    pub body_read_timeout: u64,
    /// Long polls of the change feed (`events?wait=`) waiting at once; one more is answered 429
    /// at once, so waiting readers never take the connections every other request needs.
    #[arg(long, env = "OKTA_BRIDGE_MAX_LONG_POLLS", default_value_t = 256)]
    pub max_long_polls: usize,
    /// SCIM requests this instance serves at once; one more is answered 429 with
    /// `Retry-After` (Okta waits and retries), so a burst of pushes never takes the connections
    /// every other request needs.
    #[arg(long, env = "OKTA_BRIDGE_SCIM_MAX_IN_FLIGHT", default_value_t = 64)]
    pub scim_max_in_flight: usize,
    /// Scheduled syncs of different connections this instance runs at once.
    #[arg(long, env = "OKTA_BRIDGE_SYNC_CONCURRENCY", default_value_t = 4)]
    pub sync_concurrency: usize,
    /// Webhook streams (one endpoint, one connection) this instance delivers at once.
    #[arg(long, env = "OKTA_BRIDGE_DELIVERY_CONCURRENCY", default_value_t = 128)]
    pub delivery_concurrency: usize,
    /// Streams of one webhook endpoint delivered at once (each stream in order).
    #[arg(long, env = "OKTA_BRIDGE_DELIVERY_PER_ENDPOINT", default_value_t = 32)]
    pub delivery_per_endpoint: usize,
    /// At shutdown (SIGTERM, Ctrl-C), seconds background work still running gets to finish;
    /// what runs longer is stopped and its lease given up, so another instance takes it over
    /// at once.
    #[arg(long, env = "OKTA_BRIDGE_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// The longest a live call to an org waits for its spent rate-limit window, in seconds;
    /// a call that would wait longer answers 429 with `Retry-After` at once.
    #[arg(long, env = "OKTA_BRIDGE_RATE_LIMIT_WAIT", default_value_t = 10)]
    pub rate_limit_wait: u64,
    /// Every connection's directory is synced this often, in seconds (0: only on demand).
    /// Across instances on one database, one syncs a given connection at a time.
    #[arg(long, env = "OKTA_BRIDGE_SYNC_INTERVAL", default_value_t = 300)]
    pub sync_interval: u64,
    /// A sync reads the whole directory (the reconciliation that catches what incremental
    /// reads cannot see) when the last full read is this many seconds old.
    #[arg(long, env = "OKTA_BRIDGE_SYNC_FULL_EVERY", default_value_t = 86_400)]
    pub sync_full_every: u64,
    /// The share of each of an org's rate-limit buckets a sync uses, in percent (1–100); the
    /// rest of every window stays for the application's own calls.
    #[arg(long, env = "OKTA_BRIDGE_SYNC_BUDGET", default_value_t = 50, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub sync_budget: u8,
    /// The change feed keeps events this many days; a reader whose cursor is older is told so
    /// (410) and re-reads the directory.
    #[arg(long, env = "OKTA_BRIDGE_FEED_RETENTION_DAYS", default_value_t = 30)]
    pub feed_retention_days: u64,
    /// Signing in to the console with OpenID Connect.
    #[command(flatten)]
    pub console: ConsoleSettings,
    /// The database, its keys and the development switch.
    #[command(flatten)]
    pub store: StoreSettings,
}

/// Signing in to the console with OpenID Connect (any provider by discovery; an Okta org's own
/// authorization server is the obvious one), besides the admin token. Off unless an issuer is
/// given; then the client and at least one allowed email or group are required.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleSettings {
    /// The OpenID provider, by its issuer (e.g. `https://acme.okta.com`); its endpoints come
    /// from its discovery document.
    #[arg(
        id = "console_oidc_issuer",
        long = "console-oidc-issuer",
        value_name = "URL",
        env = "OKTA_BRIDGE_CONSOLE_OIDC_ISSUER"
    )]
    pub issuer: Option<Url>,
    /// The client id of the console's OIDC app (a web app whose sign-in redirect URI is
    /// `{public URL}/login/oidc/callback`).
    #[arg(
        id = "console_oidc_client_id",
        long = "console-oidc-client-id",
        value_name = "ID",
        env = "OKTA_BRIDGE_CONSOLE_OIDC_CLIENT_ID"
    )]
    pub client_id: Option<String>,
    /// Its client secret.
    #[arg(id = "console_oidc_client_secret", long = "console-oidc-client-secret", value_name = "SECRET", env = "OKTA_BRIDGE_CONSOLE_OIDC_CLIENT_SECRET", hide_env_values = true, value_parser = secret)]
    pub client_secret: Option<SecretString>,
    /// Who may sign in: these emails (comma-separated; the ID token's `email`, when its
    /// `email_verified` is true).
    #[arg(
        long = "console-allowed-emails",
        env = "OKTA_BRIDGE_CONSOLE_ALLOWED_EMAILS",
        value_delimiter = ','
    )]
    pub allowed_emails: Vec<String>,
    /// ... or members of these groups (comma-separated; the ID token's `groups` claim).
    #[arg(
        long = "console-allowed-groups",
        env = "OKTA_BRIDGE_CONSOLE_ALLOWED_GROUPS",
        value_delimiter = ','
    )]
    pub allowed_groups: Vec<String>,
}

/// Options of commands that only need the database.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreSettings {
    /// sqlite://file.db (default sqlite://okta-bridge.db) or postgres://user@host/db.
    #[arg(long, env = "OKTA_BRIDGE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// 32-byte base64 key that encrypts stored tokens (default: a key file next to the database).
    #[arg(long, env = "OKTA_BRIDGE_MASTER_KEY", hide_env_values = true, value_parser = secret)]
    pub master_key: Option<SecretString>,
    /// Earlier master keys (base64, comma-separated): they open what they sealed, never seal.
    /// For rotating keys: see `okta-bridge keys rotate`.
    #[arg(long, env = "OKTA_BRIDGE_OLD_MASTER_KEYS", hide_env_values = true, value_parser = secret)]
    pub old_master_keys: Option<SecretString>,
    /// Development only: allow orgs on loopback or private addresses, over plain http (local
    /// orgs such as okta-sandbox). `serve --sandbox` implies it.
    #[arg(long, env = "OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS")]
    pub dev_allow_private_orgs: bool,
    /// CA certificates (PEM) to trust for orgs and authorization servers besides the system's:
    /// a TLS-inspecting proxy's, or a local sandbox's (`okta-bridge sandbox --tls-ca-out`).
    #[arg(long, env = "OKTA_BRIDGE_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// CA certificates (PEM) this process itself trusts besides those of the CA file: the CA of
    /// the sandbox `serve --sandbox` started.
    #[arg(skip)]
    pub own_ca_pem: Option<String>,
    /// The https org of the sandbox `serve --sandbox` started on loopback: reachable without
    /// the development switch (that origin only).
    #[arg(skip)]
    pub own_sandbox: Option<okta_client::OrgUrl>,
}

/// The least length of an admin token.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// The default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://okta-bridge.db";

/// Where the master key file lives for `database_url`: next to a SQLite file
/// (`okta-bridge.db` → `okta-bridge.master.key`), in the working directory otherwise.
pub fn key_file_for(database_url: &str) -> Option<PathBuf> {
    if let Some(rest) = database_url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        return Some(PathBuf::from(path).with_extension("master.key"));
    }
    Some(PathBuf::from("okta-bridge.master.key"))
}

impl StoreSettings {
    /// The database at `url` with the master key `master_key` (base64), nothing else set.
    pub fn new(url: impl Into<String>, master_key: Option<SecretString>) -> Self {
        Self {
            database_url: Some(url.into()),
            master_key,
            old_master_keys: None,
            dev_allow_private_orgs: false,
            ca_file: None,
            own_ca_pem: None,
            own_sandbox: None,
        }
    }

    /// The database URL: as given, or the default SQLite file.
    pub fn url(&self) -> &str {
        self.database_url.as_deref().unwrap_or(DEFAULT_DATABASE_URL)
    }

    /// How orgs may be reached: the development switch, and the CA file.
    ///
    /// # Errors
    /// [`Error::Config`] naming `OKTA_BRIDGE_CA_FILE` when it cannot be read or holds no
    /// certificate.
    pub fn egress(&self) -> Result<Egress> {
        const CA_FILE: &str = "OKTA_BRIDGE_CA_FILE";
        let mut egress = Egress::from_switch(self.dev_allow_private_orgs);
        if let Some(org) = &self.own_sandbox {
            egress = egress.allowing_own_sandbox(org);
        }
        let mut pem = match &self.ca_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Error::config(CA_FILE, format!("cannot read {}: {e}", path.display())))?,
            None if self.own_ca_pem.is_none() => return Ok(egress),
            None => String::new(),
        };
        if let Some(own) = &self.own_ca_pem {
            pem.push('\n');
            pem.push_str(own);
        }
        egress.trusting(&pem, CA_FILE)
    }

    /// Opens the store with the configured key (or the key file, created once) and the old
    /// keys that still open what they sealed (`OKTA_BRIDGE_OLD_MASTER_KEYS`).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad key or URL; [`Error::UnknownKey`] when the database holds
    /// secrets under a key that is in neither; database errors.
    pub async fn open(&self) -> Result<Store> {
        let url = self.url();
        let mut key = match &self.master_key {
            Some(k) => MasterKey::from_base64(k.expose_secret(), "OKTA_BRIDGE_MASTER_KEY")?,
            None => match key_file_for(url) {
                Some(path) => MasterKey::load_or_create(&path)?,
                None => MasterKey::generate().0,
            },
        };
        if let Some(old) = self
            .old_master_keys
            .as_ref()
            .map(|o| MasterKey::old_keys(o.expose_secret(), "OKTA_BRIDGE_OLD_MASTER_KEYS"))
            .transpose()?
            .flatten()
        {
            key = key.with_old(old);
        }
        Store::open(url, key).await
    }
}

impl Settings {
    /// The public URL: as given, or `http://` + the listen address.
    pub fn public_url(&self) -> Url {
        self.public_url
            .clone()
            .unwrap_or_else(|| Url::parse(&format!("http://{}", self.listen)).expect("a socket address makes a URL"))
    }

    /// The callback URL to register in Okta.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/oauth/okta_callback",
            self.public_url().as_str().trim_end_matches('/')
        )
    }

    /// The admin token, checked: `None` (one is generated), or at least
    /// [`MIN_ADMIN_TOKEN_LEN`] characters. An empty one (an unset compose variable,
    /// `--admin-token ''`) would let anyone sign in with an empty form.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty or short token, saying how to make one.
    pub fn checked_admin_token(&self) -> Result<Option<&SecretString>> {
        match &self.admin_token {
            Some(t) if t.expose_secret().trim().chars().count() < MIN_ADMIN_TOKEN_LEN => Err(Error::config(
                "OKTA_BRIDGE_ADMIN_TOKEN",
                format!(
                    "the admin token is {}: it must be at least {MIN_ADMIN_TOKEN_LEN} characters; make one with `openssl rand -base64 32`, or leave it unset to have one generated",
                    if t.expose_secret().trim().is_empty() {
                        "empty"
                    } else {
                        "too short"
                    }
                ),
            )),
            other => Ok(other.as_ref()),
        }
    }

    /// Checks the OAuth settings hang together.
    ///
    /// # Errors
    /// [`Error::Config`] naming the missing setting.
    pub fn oauth_client(&self) -> Result<Option<(String, SecretString)>> {
        match (&self.org_url, &self.client_id, &self.client_secret) {
            (None, _, _) => Ok(None),
            (Some(_), Some(id), Some(secret)) => Ok(Some((id.clone(), secret.clone()))),
            (Some(_), None, _) => Err(Error::config(
                "OKTA_CLIENT_CLIENTID",
                "OKTA_CLIENT_ORGURL is set but OKTA_CLIENT_CLIENTID is not: set the client id of the org's OAuth web app",
            )),
            (Some(_), _, None) => Err(Error::config(
                "OKTA_CLIENT_CLIENTSECRET",
                "OKTA_CLIENT_ORGURL is set but OKTA_CLIENT_CLIENTSECRET is not: set the client secret of the org's OAuth web app",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_sits_next_to_the_database() {
        assert_eq!(
            key_file_for("sqlite://okta-bridge.db"),
            Some(PathBuf::from("okta-bridge.master.key"))
        );
        assert_eq!(
            key_file_for("sqlite:///var/lib/ob/data.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/ob/data.master.key"))
        );
        assert_eq!(key_file_for("sqlite::memory:"), None);
        assert_eq!(
            key_file_for("postgres://root@127.0.0.1/test"),
            Some(PathBuf::from("okta-bridge.master.key"))
        );
    }
}
