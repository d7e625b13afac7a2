//! The state of one sandbox org, which every handler shares: the directory, the signing key,
//! grants, rate-limit windows, the System Log, faults, churn, DPoP nonces and SCIM provisioning.
//! The data types of each live here (`churn`, `faults`, `grants`, `hooks`, `limits`, `log`,
//! `provisioning`), the handlers that act on them in their own
//! modules, which import this one and never the other way round.

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use serde_json::Value;
use url::Url;

use crate::config::SandboxConfig;
use crate::keys::SigningKey;
use crate::org::Directory;

pub(crate) mod churn;
pub(crate) mod faults;
pub(crate) mod grants;
pub(crate) mod hooks;
pub(crate) mod limits;
pub(crate) mod log;
pub(crate) mod provisioning;

use faults::Faults;
use grants::Grants;
use limits::RateLimits;
use log::SystemLog;

/// The whole state of one sandbox org.
#[derive(Debug)]
pub struct SandboxState {
    /// This state itself, for work that outlives a request (event-hook deliveries).
    pub(crate) me: std::sync::Weak<SandboxState>,
    pub(crate) config: SandboxConfig,
    /// The public URL without a trailing slash: the issuer and the base of every link.
    pub(crate) base: String,
    pub(crate) directory: RwLock<Directory>,
    pub(crate) keys: std::sync::Arc<SigningKey>,
    pub(crate) grants: Mutex<Grants>,
    pub(crate) limits: Mutex<RateLimits>,
    /// Every bucket's limit is multiplied by this: the configured scale, or what
    /// `PUT /__sandbox/rate-limits` set since.
    pub(crate) rate_limit_scale: std::sync::atomic::AtomicU32,
    pub(crate) log: Mutex<SystemLog>,
    pub(crate) hooks: Mutex<hooks::EventHooks>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) churn: Mutex<churn::Churn>,
    pub(crate) dpop: Mutex<crate::dpop::DpopState>,
    /// Whether the admin's API token was revoked (`DELETE /api/v1/api-tokens/current`).
    pub(crate) api_token_revoked: std::sync::atomic::AtomicBool,
    /// Registered service apps: the configured ones, and those an admin adds while it runs.
    pub(crate) service_apps: RwLock<Vec<crate::config::ServiceApp>>,
    /// The web app's assignments (logins; `None`: everyone), as configured or changed since.
    pub(crate) web_app_assignees: RwLock<Option<Vec<String>>>,
    /// SCIM provisioning of the org's apps (see `provisioning`).
    pub(crate) provisioning: Mutex<provisioning::Provisioning>,
    /// Changes recorded (every System Log event counts), and the count the provisioning worker
    /// has pushed through: equal when nothing is left to push.
    pub(crate) changes: std::sync::atomic::AtomicU64,
    pub(crate) provisioned_through: tokio::sync::watch::Sender<u64>,
    pub(crate) provision_wake: tokio::sync::Notify,
}

impl SandboxState {
    /// Builds the org described by `config`, reachable at `public_url`.
    ///
    /// # Errors
    /// When the configuration is invalid (see [`SandboxConfig::validate`]).
    pub fn new(config: SandboxConfig, public_url: &Url) -> Result<Arc<Self>, String> {
        config.validate()?;
        let base = public_url.as_str().trim_end_matches('/').to_owned();
        let directory = match &config.org {
            Some(snap) => Directory::from_snapshot(snap.clone(), &base, config.seed)?,
            None => Directory::generate(&config, &base),
        };
        if directory.find(&config.admin_login).is_none() {
            return Err(format!(
                "the admin login {} is not a user of the org",
                config.admin_login
            ));
        }
        let directory = RwLock::new(directory);
        Ok(Arc::new_cyclic(|me| Self {
            me: me.clone(),
            base,
            directory,
            keys: config
                .signing_key
                .as_ref()
                .map_or_else(|| std::sync::Arc::new(SigningKey::generate()), |k| k.0.clone()),
            grants: Mutex::new(Grants::default()),
            limits: Mutex::new(RateLimits::default()),
            rate_limit_scale: std::sync::atomic::AtomicU32::new(config.rate_limit_scale.max(1)),
            log: Mutex::new(SystemLog::default()),
            hooks: Mutex::new(hooks::EventHooks::default()),
            dpop: Mutex::new(crate::dpop::DpopState::default()),
            api_token_revoked: std::sync::atomic::AtomicBool::new(false),
            faults: Mutex::new(Faults::new(config.faults.clone(), config.seed)),
            churn: Mutex::new(churn::Churn::new(config.seed)),
            service_apps: RwLock::new(config.service_apps.clone()),
            web_app_assignees: RwLock::new(config.web_app_assignees.clone()),
            provisioning: Mutex::new(provisioning::Provisioning::default()),
            changes: std::sync::atomic::AtomicU64::new(0),
            provisioned_through: tokio::sync::watch::Sender::new(0),
            provision_wake: tokio::sync::Notify::new(),
            config,
        }))
    }

    /// The configuration the org was built from.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Registers a service app while the org runs, as an admin does in Okta's admin console
    /// (Applications → Create App Integration → API Services, its public key pasted in); one
    /// with the same client id is replaced.
    pub fn register_service_app(&self, app: crate::config::ServiceApp) {
        let mut apps = self.service_apps.write().expect("service apps lock");
        apps.retain(|a| a.client_id != app.client_id);
        apps.push(app);
    }

    /// Assigns the web app to exactly the users with these logins (`None`: to everyone), as an
    /// admin does on its Assignments tab.
    pub fn assign_web_app(&self, logins: Option<Vec<String>>) {
        *self.web_app_assignees.write().expect("assignees lock") = logins;
    }

    /// Whether the user with `login` may sign in to the web app.
    pub(crate) fn web_app_assigned(&self, login: &str) -> bool {
        self.web_app_assignees
            .read()
            .expect("assignees lock")
            .as_ref()
            .is_none_or(|logins| logins.iter().any(|l| l.eq_ignore_ascii_case(login)))
    }

    /// The first registered service app that `pred` accepts.
    pub(crate) fn service_app(
        &self,
        pred: impl Fn(&crate::config::ServiceApp) -> bool,
    ) -> Option<crate::config::ServiceApp> {
        self.service_apps
            .read()
            .expect("service apps lock")
            .iter()
            .find(|a| pred(a))
            .cloned()
    }

    /// The org URL (issuer), without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The directory, for reading. Never held across an `.await`.
    pub(crate) fn dir(&self) -> RwLockReadGuard<'_, Directory> {
        self.directory.read().expect("directory lock")
    }

    /// Ids of the users `GET /api/v1/users` lists, in its order.
    pub fn listed_user_ids(&self) -> Vec<String> {
        self.dir()
            .after(None)
            .filter(|u| u.status != "DEPROVISIONED")
            .map(|u| u.id.clone())
            .collect()
    }

    /// One user in Okta's JSON shape, by id or login.
    pub fn user_json(&self, id_or_login: &str) -> Option<Value> {
        let dir = self.dir();
        dir.find(id_or_login).map(|u| dir.user_json(u))
    }

    /// The org's users, groups and apps as a document (for `--state` and exports).
    pub fn snapshot(&self) -> crate::snapshot::OrgSnapshot {
        self.dir().snapshot()
    }

    /// How many tokens the token endpoint has issued to `client_id`.
    pub fn token_grants(&self, client_id: &str) -> u64 {
        self.grants
            .lock()
            .expect("grants lock")
            .token_grants
            .get(client_id)
            .copied()
            .unwrap_or(0)
    }

    /// How many requests were refused with 429 for going over a rate limit (injected 429s
    /// are not counted here).
    pub fn rate_limited(&self) -> u64 {
        self.limits.lock().expect("limits lock").refused.values().sum()
    }

    /// Revokes every access token issued so far, as an admin clearing sessions would.
    pub fn revoke_all_access_tokens(&self) {
        self.grants.lock().expect("grants lock").revoke_all_access();
    }

    /// Whether the admin's API token still works (it stops when revoked through the API).
    pub fn api_token_live(&self) -> bool {
        !self.api_token_revoked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many refresh tokens are currently valid.
    pub fn live_refresh_tokens(&self) -> usize {
        self.grants.lock().expect("grants lock").live_refresh_tokens()
    }
}
