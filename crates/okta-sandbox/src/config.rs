//! Everything a sandbox org is made from.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::state::faults::FaultRule;
use crate::util::random_token;

/// How the refresh token changes when it is used, per Okta's app setting
/// (`settings.oauthClient.refresh_token.rotation_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefreshTokenRotation {
    /// The same refresh token is returned on every refresh (Okta's default for web apps).
    #[default]
    Static,
    /// Every refresh returns a new refresh token and invalidates the old one.
    Rotate,
}

impl std::str::FromStr for RefreshTokenRotation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "static" => Ok(Self::Static),
            "rotate" => Ok(Self::Rotate),
            other => Err(format!(
                "unknown refresh token rotation {other:?}: use `static` or `rotate`"
            )),
        }
    }
}

/// A registered service app: the `client_credentials` grant with `private_key_jwt` client
/// authentication, as Okta's service apps use for the Management API — or, for an API service
/// integration installed from the Okta Integration Network, with a client secret
/// (`client_secret_basic`).
#[derive(Debug, Clone)]
pub struct ServiceApp {
    /// Its client id (`0oa…`).
    pub client_id: String,
    /// Its public keys, as a JWKS (`{"keys": [...]}`): client assertions must be signed by one
    /// (empty for an app that authenticates with a client secret).
    pub jwks: jsonwebtoken::jwk::JwkSet,
    /// Its client secret, for `client_secret_basic` (an API service integration); `None` for an
    /// app that authenticates with `private_key_jwt`.
    pub client_secret: Option<secrecy::SecretString>,
    /// The `okta.*` scopes granted to it.
    pub scopes: Vec<String>,
    /// Whether its tokens must be DPoP-bound ("Require Demonstrating Proof of Possession").
    pub require_dpop: bool,
}

/// `client_id=0oa…,jwks=FILE,scopes=okta.users.read okta.groups.read[,dpop=true]`, as the
/// `--service-app` flag takes it; `jwks` names a file holding the app's public JWKS. An app that
/// authenticates with a client secret has `secret=…` instead of `jwks`.
impl std::str::FromStr for ServiceApp {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        let (mut client_id, mut jwks, mut scopes, mut require_dpop) = (None, None, Vec::new(), false);
        let mut secret: Option<String> = None;
        for part in spec.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: write key=value (client_id, jwks or secret, scopes, dpop)"))?;
            match k.trim() {
                "client_id" => client_id = Some(v.trim().to_owned()),
                "secret" => secret = Some(v.trim().to_owned()).filter(|s| !s.is_empty()),
                "jwks" => {
                    let text =
                        std::fs::read_to_string(v.trim()).map_err(|e| format!("cannot read the JWKS file {v}: {e}"))?;
                    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&text)
                        .map_err(|e| format!("{v} is not a JWKS ({{\"keys\": [...]}}): {e}"))?;
                    jwks = Some(set);
                }
                "scopes" => scopes = v.split_whitespace().map(str::to_owned).collect(),
                "dpop" => require_dpop = v.trim().parse().map_err(|_| format!("dpop={v}: true or false"))?,
                other => {
                    return Err(format!(
                        "unknown service app setting {other:?}: use client_id, jwks or secret, scopes or dpop"
                    ));
                }
            }
        }
        let client_id = client_id
            .filter(|c| !c.is_empty())
            .ok_or("a service app needs client_id=…")?;
        let jwks = match (jwks.filter(|j| !j.keys.is_empty()), &secret) {
            (Some(_), Some(_)) => {
                return Err(
                    "a service app has jwks=FILE (private_key_jwt) or secret=… (client_secret_basic), not both".into(),
                );
            }
            (Some(j), None) => j,
            (None, Some(_)) => jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
            (None, None) => {
                return Err(
                    "a service app needs jwks=FILE with at least one key, or secret=… for client_secret_basic".into(),
                );
            }
        };
        if scopes.is_empty() {
            return Err("a service app needs scopes=… (e.g. scopes=okta.users.read)".into());
        }
        Ok(Self {
            client_id,
            jwks,
            client_secret: secret.map(secrecy::SecretString::from),
            scopes,
            require_dpop,
        })
    }
}

/// A custom authorization server (`/oauth2/{id}/v1/*`), as Okta's API Access Management offers:
/// its own issuer (`{org}/oauth2/{id}`), audience and discovery documents. Its tokens carry the
/// OpenID scopes plus the custom scopes listed here, never `okta.*` ones (those belong to the
/// org authorization server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationServer {
    /// Its id in URLs: `default` for Okta's default server, `aus…` for others.
    pub id: String,
    /// The `aud` of its access tokens (`api://default` for `default`).
    pub audience: String,
    /// Custom scopes on top of `openid profile email address phone offline_access`.
    pub scopes: Vec<String>,
}

/// The highest churn rate (changes a minute) an org accepts.
pub const MAX_CHURN_RATE: f64 = 600_000.0;

/// The scopes every custom authorization server supports.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "address", "phone", "offline_access"];

impl AuthorizationServer {
    /// Okta's default custom authorization server: id `default`, audience `api://default`.
    pub fn default_server() -> Self {
        Self {
            id: "default".to_owned(),
            audience: "api://default".to_owned(),
            scopes: Vec::new(),
        }
    }

    /// Every scope it grants: the OpenID ones, then its custom ones.
    pub fn supported_scopes(&self) -> impl Iterator<Item = &str> {
        OIDC_SCOPES
            .iter()
            .copied()
            .chain(self.scopes.iter().map(String::as_str))
    }
}

/// `id=aus…[,audience=api://…][,scopes=orders.read orders.write]`, as the `--auth-server` flag
/// takes it. The audience defaults to `api://{id}`.
impl std::str::FromStr for AuthorizationServer {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        let (mut id, mut audience, mut scopes) = (None, None, Vec::new());
        for part in spec.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: write key=value (id, audience, scopes)"))?;
            match k.trim() {
                "id" => id = Some(v.trim().to_owned()),
                "audience" => audience = Some(v.trim().to_owned()),
                "scopes" => scopes = v.split_whitespace().map(str::to_owned).collect(),
                other => {
                    return Err(format!(
                        "unknown authorization server setting {other:?}: use id, audience or scopes"
                    ));
                }
            }
        }
        let id = id.ok_or("an authorization server needs id=… (e.g. id=aus1a2b3c4d5e6f7g8h9)")?;
        if id.is_empty() || id == "v1" || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "authorization server id {id:?} must be letters and digits only (and not `v1`)"
            ));
        }
        if let Some(bad) = scopes.iter().find(|s| s.starts_with("okta.")) {
            return Err(format!(
                "scope {bad:?}: okta.* scopes belong to the org authorization server, not a custom one"
            ));
        }
        Ok(Self {
            audience: audience
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| format!("api://{id}")),
            id,
            scopes,
        })
    }
}

/// The description of one sandbox org. Every field has a default; secrets default to random
/// values, so print them (see `okta-bridge sandbox`) if a person needs them.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Base of every absolute URL the org hands out (issuer, `Link` headers, `_links`).
    /// `None`: `http://` (`https://` with [`tls`](Self::tls)) plus the address the listener is
    /// bound to.
    pub public_url: Option<Url>,
    /// Serve https, with a certificate for `127.0.0.1`, `localhost` and the public URL's host
    /// issued by a CA generated at start ([`Sandbox::ca_pem`](crate::Sandbox::ca_pem)).
    pub tls: bool,
    /// Exactly how many users the org holds.
    pub users: usize,
    /// How many groups the org holds besides the built-in `Everyone` (named after departments
    /// first; members by department).
    pub groups: usize,
    /// Memberships in all, besides `Everyone` (default: two per user). The department groups
    /// hold their department's users; the rest are spread over the other groups with skewed
    /// sizes, as in real orgs: a few large groups, many small ones.
    pub memberships: Option<usize>,
    /// Percentage (0–100) of generated users that are DEPROVISIONED (default 0, so that
    /// `GET /api/v1/users`, which omits them, lists all `users`).
    pub deprovisioned_percent: u8,
    /// How many bookmark apps the org holds besides the registered OAuth web app.
    pub apps: usize,
    /// Seed of the deterministic user generator: the same seed gives the same org.
    pub seed: u64,
    /// Login of the user that holds the super-admin role (one of the `users`).
    pub admin_login: String,
    /// Every user's sign-in password.
    pub user_password: SecretString,
    /// The admin's SSWS API token.
    pub api_token: SecretString,
    /// The registered OAuth web application.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: SecretString,
    /// Its registered redirect URIs, compared exactly (a loopback IP literal over http, e.g.
    /// `http://127.0.0.1/oauth/okta_callback`, with any port, as RFC 8252 has it for native apps).
    pub redirect_uris: Vec<String>,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of authorization codes.
    pub code_ttl: Duration,
    /// Refresh token rotation of the web application.
    pub refresh_token_rotation: RefreshTokenRotation,
    /// With rotation, how long a rotated-out refresh token keeps working (Okta: 0–60 s,
    /// default 30 s), for clients whose response to a refresh got lost.
    pub refresh_token_leeway: Duration,
    /// Share (0–1) of System Log events stored [`late_event_delay`](Self::late_event_delay)
    /// after their `published` time, as Okta sometimes stores them: a client that pages by
    /// `published` instead of following `next` links misses them, as it would with Okta.
    pub late_events: f64,
    /// How much later than `published` a late event is stored.
    pub late_event_delay: Duration,
    /// Changes a minute the org makes by itself once it serves (0: none); see
    /// `PUT /__sandbox/churn`.
    pub churn: f64,
    /// Requests a minute allowed on `/api/v1/users*`.
    pub users_rate_limit: u32,
    /// Every bucket's limit is multiplied by this (1: Okta's limits; large: limits lifted, for
    /// benchmarks of what a client does without waiting).
    pub rate_limit_scale: u32,
    /// Length of a rate-limit window: Okta's are a minute. Shorter windows (whole seconds)
    /// let tests of clients' pacing run quickly; limits then count per window.
    pub rate_limit_window: Duration,
    /// Requests a minute allowed on each OAuth bucket: the org authorization server's
    /// `/oauth2/v1/*`, and the custom servers' `authorize`, `token` and other endpoints (three
    /// buckets shared by all custom servers). Okta's Workforce Identity default: 2,000.
    pub oauth_rate_limit: u32,
    /// Requests a minute on `/api/v1/logs` (Okta's Workforce Identity default: 120).
    pub logs_rate_limit: u32,
    /// An org to load instead of generating one (users, groups, apps; see
    /// [`OrgSnapshot`](crate::snapshot::OrgSnapshot)). `users`, `groups` and `apps` are then
    /// ignored.
    pub org: Option<crate::snapshot::OrgSnapshot>,
    /// Registered service apps (client credentials with `private_key_jwt`).
    pub service_apps: Vec<ServiceApp>,
    /// Users (by login) assigned to the web app; `None`: everyone ("Allow everyone in your
    /// organization to access"). A user not assigned who signs in is sent back to the app with
    /// `error=access_denied`, as Okta does.
    pub web_app_assignees: Option<Vec<String>>,
    /// Whether the web app's tokens must be DPoP-bound ("Require Demonstrating Proof of
    /// Possession (DPoP) header in token requests"). Without it, proofs are ignored and tokens
    /// are Bearer tokens, as Okta does.
    pub web_app_require_dpop: bool,
    /// Custom authorization servers (default: Okta's `default` one), listed by
    /// `GET /api/v1/authorizationServers`. None: the org lacks API Access Management, and that
    /// API answers 401 E0000015 as Okta does for a feature an org is not licensed for.
    pub authorization_servers: Vec<AuthorizationServer>,
    /// Faults to inject from the start (see [`FaultRule`]); changeable at run time.
    pub faults: Vec<FaultRule>,
    /// The key that signs the org's tokens. `None`: one generated for this org. Many orgs in
    /// one process may share one (each has its own issuer, so a token of one is refused by
    /// the others): a 2048-bit RSA key takes a tenth of a second or more to generate.
    pub signing_key: Option<SandboxKey>,
}

/// A token-signing key orgs can share ([`SandboxConfig::signing_key`]).
#[derive(Debug, Clone)]
pub struct SandboxKey(pub(crate) std::sync::Arc<crate::keys::SigningKey>);

impl SandboxKey {
    /// A fresh 2048-bit RSA key.
    #[must_use]
    pub fn generate() -> Self {
        Self(std::sync::Arc::new(crate::keys::SigningKey::generate()))
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            tls: false,
            users: 100,
            groups: 8,
            memberships: None,
            apps: 3,
            deprovisioned_percent: 0,
            seed: 42,
            admin_login: "admin@example.com".to_owned(),
            user_password: random_token(16).into(),
            api_token: format!("00{}", random_token(40)).into(),
            client_id: format!("0oa{}", random_token(17)),
            client_secret: random_token(40).into(),
            redirect_uris: vec![
                "http://127.0.0.1:3000/oauth/okta_callback".to_owned(),
                "http://localhost:3000/oauth/okta_callback".to_owned(),
                // `okta-bridge accounts connect --browser`: any port (RFC 8252).
                "http://127.0.0.1/oauth/okta_callback".to_owned(),
            ],
            access_token_ttl: Duration::from_secs(3600),
            code_ttl: Duration::from_secs(300),
            refresh_token_rotation: RefreshTokenRotation::Static,
            refresh_token_leeway: Duration::from_secs(30),
            late_events: 0.0,
            late_event_delay: Duration::from_secs(3),
            churn: 0.0,
            users_rate_limit: 600,
            rate_limit_scale: 1,
            rate_limit_window: Duration::from_secs(60),
            oauth_rate_limit: 2_000,
            logs_rate_limit: 120,
            org: None,
            service_apps: Vec::new(),
            web_app_assignees: None,
            web_app_require_dpop: false,
            authorization_servers: vec![AuthorizationServer::default_server()],
            faults: Vec::new(),
            signing_key: None,
        }
    }
}

impl SandboxConfig {
    /// The admin's API token, for printing at start-up and for tests.
    pub fn api_token_value(&self) -> &str {
        self.api_token.expose_secret()
    }
    /// The client secret, for printing at start-up and for tests.
    pub fn client_secret_value(&self) -> &str {
        self.client_secret.expose_secret()
    }
    /// The users' password, for printing at start-up and for tests.
    pub fn user_password_value(&self) -> &str {
        self.user_password.expose_secret()
    }

    /// Checks the configuration before a sandbox is built from it.
    ///
    /// # Errors
    /// A message naming the setting that is wrong and what to do.
    pub fn validate(&self) -> Result<(), String> {
        if self.deprovisioned_percent > 100 {
            return Err("--deprovisioned-percent must be between 0 and 100".into());
        }
        if self.users == 0 && self.org.is_none() {
            return Err("--users must be at least 1: the admin is one of the users".into());
        }
        if self.client_id.trim().is_empty() {
            return Err("--client-id must not be empty".into());
        }
        for uri in &self.redirect_uris {
            Url::parse(uri).map_err(|e| format!("--redirect-uri {uri:?} is not a URL: {e}"))?;
        }
        if self.rate_limit_window.as_secs() == 0 {
            return Err("--rate-limit-window must be at least 1 second".into());
        }
        if self.access_token_ttl.is_zero() {
            return Err("--access-token-ttl must be at least 1 second".into());
        }
        if !(0.0..=1.0).contains(&self.late_events) {
            return Err(format!(
                "--late-events must be a share between 0 and 1, not {}",
                self.late_events
            ));
        }
        if !self.churn.is_finite() || !(0.0..=MAX_CHURN_RATE).contains(&self.churn) {
            return Err(format!(
                "--churn must be a number of changes a minute between 0 and {}, not {}",
                MAX_CHURN_RATE, self.churn
            ));
        }
        if self.refresh_token_leeway > Duration::from_secs(60) {
            return Err("--refresh-token-leeway must be between 0 and 60 seconds, as Okta allows".into());
        }
        let mut ids = std::collections::HashSet::new();
        if let Some(dup) = self.authorization_servers.iter().find(|a| !ids.insert(&a.id)) {
            return Err(format!("--auth-server id={} is given twice", dup.id));
        }
        if !self.admin_login.contains('@') {
            return Err(format!(
                "--admin-login {:?} must be an email-like login, e.g. admin@example.com",
                self.admin_login
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_apps_parse_from_flags() {
        let dir = std::env::temp_dir().join(format!("okta-sandbox-jwks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jwks.json");
        std::fs::write(
            &path,
            r#"{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"sXch","e":"AQAB"}]}"#,
        )
        .unwrap();
        let spec = format!(
            "client_id=0oaSvc1,jwks={},scopes=okta.users.read okta.logs.read,dpop=true",
            path.display()
        );
        let app: ServiceApp = spec.parse().unwrap();
        assert_eq!(
            (app.client_id.as_str(), app.scopes.len(), app.require_dpop),
            ("0oaSvc1", 2, true)
        );
        assert_eq!(app.jwks.keys.len(), 1);
        for (bad, says) in [
            ("client_id=x,scopes=a".to_owned(), "jwks"),
            (
                format!("client_id=x,jwks={},secret=s,scopes=a", path.display()),
                "not both",
            ),
            (format!("jwks={},scopes=a", path.display()), "client_id"),
            (format!("client_id=x,jwks={}", path.display()), "scopes"),
            ("client_id=x,jwks=/no/such/file,scopes=a".to_owned(), "cannot read"),
            ("client_id=x,colour=blue".to_owned(), "unknown"),
        ] {
            let err = bad.parse::<ServiceApp>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let secret: ServiceApp = "client_id=0oaSec,secret=s3cr3t,scopes=okta.users.read".parse().unwrap();
        assert!(secret.jwks.keys.is_empty());
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(secret.client_secret.as_ref().unwrap()),
            "s3cr3t"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn authorization_servers_parse_from_flags() {
        let a: AuthorizationServer = "id=aus7xyz,scopes=orders.read orders.write".parse().unwrap();
        assert_eq!(a.audience, "api://aus7xyz");
        assert_eq!(a.supported_scopes().count(), OIDC_SCOPES.len() + 2);
        let b: AuthorizationServer = "id=ausB,audience=https://api.example.com".parse().unwrap();
        assert_eq!(
            (b.id.as_str(), b.audience.as_str()),
            ("ausB", "https://api.example.com")
        );
        for (bad, says) in [
            ("audience=x", "needs id"),
            ("id=v1", "not `v1`"),
            ("id=a/b", "letters and digits"),
            ("id=aus1,scopes=okta.users.read", "org authorization server"),
            ("id=aus1,colour=blue", "unknown"),
            ("id", "key=value"),
        ] {
            let err = bad.parse::<AuthorizationServer>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let mut c = SandboxConfig::default();
        c.authorization_servers.push(AuthorizationServer::default_server());
        assert!(c.validate().unwrap_err().contains("twice"));
    }
}
