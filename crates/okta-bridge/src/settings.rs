//! Settings: command-line flags over environment variables over defaults, into one typed
//! [`Settings`]. Okta's SDK names are used where they exist (`OKTA_CLIENT_*`).

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::crypto::MasterKey;
use crate::error::{Error, Result};
use crate::store::Store;

/// Parses a secret flag or variable straight into a [`SecretString`], so settings never hold
/// it in a type whose `Debug` would show it.
///
/// # Errors
/// Never; the signature is clap's.
pub fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s.to_owned()))
}

/// The default scopes: read users, and a refresh token.
pub const DEFAULT_SCOPES: &str = "okta.users.read offline_access";

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
    #[arg(long, env = "OKTA_CLIENT_SCOPES", default_value = DEFAULT_SCOPES)]
    pub scopes: String,
    /// Address the server listens on.
    #[arg(long, env = "OKTA_BRIDGE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The address browsers (and Okta's redirects) reach the server at; default from --listen.
    #[arg(long, env = "OKTA_BRIDGE_PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// sqlite://file.db (default sqlite://okta-bridge.db) or postgres://user@host/db.
    #[arg(long, env = "OKTA_BRIDGE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Token that guards everything but the OAuth routes and /healthz (default: random, printed).
    #[arg(long, env = "OKTA_BRIDGE_ADMIN_TOKEN", hide_env_values = true, value_parser = secret)]
    pub admin_token: Option<SecretString>,
    /// 32-byte base64 key that encrypts stored tokens (default: a key file next to the database).
    #[arg(long, env = "OKTA_BRIDGE_MASTER_KEY", hide_env_values = true, value_parser = secret)]
    pub master_key: Option<SecretString>,
    /// Earlier master keys (base64, comma-separated): they open what they sealed, never seal.
    /// For rotating keys: see `okta-bridge keys rotate`.
    #[arg(long, env = "OKTA_BRIDGE_OLD_MASTER_KEYS", hide_env_values = true, value_parser = secret)]
    pub old_master_keys: Option<SecretString>,
    /// The background refresher renews access tokens this many seconds before they expire
    /// (0 turns it off; a request that finds an expired token refreshes it anyway).
    #[arg(long, env = "OKTA_BRIDGE_REFRESH_AHEAD", default_value_t = 300)]
    pub refresh_ahead: u64,
    /// Development only: allow org URLs on loopback or private addresses, and plain http
    /// (local orgs such as okta-sandbox). `--sandbox` implies it for its own org.
    #[arg(long, env = "OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS")]
    pub dev_allow_private_orgs: bool,
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
    /// orgs such as okta-sandbox).
    #[arg(long, env = "OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS")]
    pub dev_allow_private_orgs: bool,
}

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

/// Opens the store with the configured key (or the key file, created once).
///
/// # Errors
/// [`Error::Config`] for a bad key or URL; database errors.
pub async fn open_store(database_url: Option<&str>, master_key: Option<&str>) -> Result<Store> {
    open_store_with(database_url, master_key, None).await
}

/// [`open_store`] with earlier keys that still open what they sealed
/// (`OKTA_BRIDGE_OLD_MASTER_KEYS`).
///
/// # Errors
/// As [`open_store`]; [`Error::UnknownKey`] when the database holds secrets under a key that
/// is in neither.
pub async fn open_store_with(
    database_url: Option<&str>,
    master_key: Option<&str>,
    old_keys: Option<&str>,
) -> Result<Store> {
    let url = database_url.unwrap_or(DEFAULT_DATABASE_URL);
    let mut key = match master_key {
        Some(k) => MasterKey::from_base64(k, "OKTA_BRIDGE_MASTER_KEY")?,
        None => match key_file_for(url) {
            Some(path) => MasterKey::load_or_create(&path)?,
            None => MasterKey::generate().0,
        },
    };
    if let Some(old) = old_keys
        .map(|o| MasterKey::old_keys(o, "OKTA_BRIDGE_OLD_MASTER_KEYS"))
        .transpose()?
        .flatten()
    {
        key = key.with_old(old);
    }
    Store::open(url, key).await
}

impl StoreSettings {
    /// Opens the store.
    ///
    /// # Errors
    /// See [`open_store`].
    pub async fn open(&self) -> Result<Store> {
        open_store_with(
            self.database_url.as_deref(),
            self.master_key.as_ref().map(ExposeSecret::expose_secret),
            self.old_master_keys.as_ref().map(ExposeSecret::expose_secret),
        )
        .await
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

    /// The admin token, or `None` to generate one.
    pub fn admin_token(&self) -> Option<SecretString> {
        self.admin_token.clone()
    }

    /// Checks the OAuth settings hang together.
    ///
    /// # Errors
    /// [`Error::Config`] naming the missing setting.
    pub fn oauth_client(&self) -> Result<Option<(String, SecretString)>> {
        match (&self.org_url, &self.client_id, &self.client_secret) {
            (None, _, _) => Ok(None),
            (Some(_), Some(id), Some(secret)) => Ok(Some((id.clone(), secret.clone()))),
            (Some(_), None, _) => Err(Error::Config(
                "OKTA_CLIENT_ORGURL is set but OKTA_CLIENT_CLIENTID is not: set the client id of the org's OAuth web app".into(),
            )),
            (Some(_), _, None) => Err(Error::Config(
                "OKTA_CLIENT_ORGURL is set but OKTA_CLIENT_CLIENTSECRET is not: set the client secret of the org's OAuth web app".into(),
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
