//! Setup links: an application asks for a link for one account and sends it to its customer's
//! Okta admin, who opens it (no okta-bridge admin token), chooses how to connect, follows the
//! steps in Okta's admin console, and enters what Okta showed. The credentials are checked with
//! Okta before anything is stored, and a refusal is explained in plain words.
//!
//! A link works once: the first browser that opens it (with the page's button, so a mail
//! scanner that fetches it does not) gets a session cookie, and the link is that browser's until
//! it expires or is revoked. Only hashes of the token and the session are stored; every use is
//! in the audit log.
//!
//! The SCIM way connects no API access: the link turns SCIM push on for its account and shows
//! the base URL and the token (once) to paste into Okta; its summary then shows, live, Okta's
//! first request (the admin's "Test API Credentials") and the first pushes.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{Connected, Service};
use crate::crypto::{hash, random_secret};
use crate::error::{Conflict, EgressRefusal, Error, OAuthFailure, Refusal, Result, SetupRefusal};
use crate::model::{
    Account, AccountName, ApiToken, ClientSecret, ConnectionMethod, EventType, NewAccount, PrivateKeyPem, ScimToken,
    Scopes, SetupLink, SetupMethod, SetupSession, SetupToken, now,
};
use crate::oauth::{OAuthApp, Started};
use crate::store::SetupLinkBy;

/// What a setup link's account is asked to read unless the link says otherwise: the directory
/// sync's users, groups, apps and System Log.
pub const SETUP_SCOPES: &str = "okta.users.read okta.groups.read okta.apps.read okta.logs.read";
/// How long a link works unless its creator says otherwise.
pub const DEFAULT_LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// The shortest and longest lifetimes a link may be given.
pub const LINK_TTL_RANGE: (Duration, Duration) = (Duration::from_secs(300), Duration::from_secs(30 * 24 * 3600));
/// Credential checks one link may make per [`CHECK_WINDOW_SECS`] (each reaches Okta).
pub const CHECKS_PER_WINDOW: i64 = 10;
/// The window of [`CHECKS_PER_WINDOW`].
pub const CHECK_WINDOW_SECS: i64 = 600;

/// What the admin entered on the link's page.
/// The steps a setup link adds after connecting, before the first sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetupSteps {
    /// The admin chooses who is synced (the whole org, or some of its groups).
    pub choose_scope: bool,
    /// The admin maps the org's groups to the application's roles (on the same step).
    pub map_roles: bool,
    /// A manage link: for an account already connected (through Okta's API), straight to
    /// that step.
    pub manage: bool,
}

#[derive(Debug)]
pub struct SetupInput {
    /// How they connect.
    pub method: SetupMethod,
    /// The org URL.
    pub org_url: String,
    /// The app's client id (all but API tokens).
    pub client_id: String,
    /// The client secret (API service integration, OAuth web app).
    pub client_secret: Option<ClientSecret>,
    /// The API token.
    pub api_token: Option<ApiToken>,
}

/// What submitting the page led to.
#[derive(Debug)]
pub enum SetupOutcome {
    /// Connected: the health summary comes next.
    Connected(Connected),
    /// An OAuth web app: the admin signs in at the org next.
    SignIn(Started),
    /// SCIM push turned on: the token to paste into Okta, shown this once.
    Provisioning(ScimToken),
}

/// How many of a SCIM account's first pushes its link's summary lists.
pub const FIRST_PUSHES_SHOWN: i64 = 10;

/// A SCIM account's pushes so far, for its link's summary.
#[derive(Debug, Clone, Default)]
pub struct ScimHealth {
    /// Okta's last request (when, what, its status), once one arrived.
    pub last_request: Option<(i64, String, i64)>,
    /// Users pushed.
    pub users: i64,
    /// Groups pushed.
    pub groups: i64,
    /// The first pushes' events: their type and what they name (a login, a group's name).
    pub first: Vec<(EventType, String)>,
}

/// The key pair made for the own-service-app path: its public half, to paste into Okta.
#[derive(Debug, Clone)]
pub struct SetupKey {
    /// The key's id (`kid`).
    pub key_id: String,
    /// The public JWK, as JSON to paste.
    pub public_jwk: String,
}

/// Where a link's account stands, for the page's last step.
#[derive(Debug, Clone, Default)]
pub struct SetupHealth {
    /// Whether the account is connected.
    pub connected: bool,
    /// The org.
    pub org: String,
    /// How it is connected (`service_app`, `authorization_code`, `api_token`).
    pub method: String,
    /// The scopes granted (empty for an API token, which has its creator's permissions).
    pub scopes: Vec<String>,
    /// Whether a sync is running now.
    pub sync_running: bool,
    /// When the first sync finished, if it has.
    pub synced_at: Option<i64>,
    /// Users and groups the last sync found.
    pub users: Option<u64>,
    /// Groups the last sync found.
    pub groups: Option<u64>,
    /// Why the last sync failed, if it did.
    pub sync_error: Option<String>,
    /// For an account whose directory SCIM pushes: what arrived so far.
    pub scim: Option<ScimHealth>,
}

fn required(value: &str, what: &'static str, where_: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::invalid(what, format!("enter the {what}: {where_}")));
    }
    Ok(v.to_owned())
}

/// `e`, for the admin on the link's page: what went wrong and what to do in Okta, in plain
/// words. `scopes` are the ones the link asks for.
pub fn explain(method: SetupMethod, e: &Error, scopes: &Scopes) -> String {
    let grant =
        format!("In Okta's admin console, open the app, go to its Okta API Scopes tab, and grant each of: {scopes}.");
    let oauth_code = match e.ours() {
        Error::Rejected {
            cause: Refusal::OAuth { error, .. },
            ..
        } => Some(error.as_str()),
        Error::OAuth { code: Some(c), .. } => Some(c.as_str()),
        _ => None,
    };
    let api_status = match e.ours() {
        Error::Rejected {
            cause: Refusal::Api(api),
            ..
        } => Some(api.status.as_u16()),
        Error::Okta(okta_client::Error::Api(api)) => Some(api.status.as_u16()),
        _ => None,
    };
    let detail = match e.ours() {
        Error::OAuth { detail, .. } => detail.to_ascii_lowercase(),
        _ => String::new(),
    };
    match (oauth_code, api_status) {
        (Some("invalid_client"), _) => match method {
            SetupMethod::Integration => "Okta did not accept the client ID and client secret. Copy both again from the integration in Okta (Applications → API Service Integrations → the integration). Okta shows the secret only once: if you no longer have it, generate a new secret there.".to_owned(),
            SetupMethod::ServiceKey => "Okta did not accept the app's signed request. Check that the client ID is your service app's, that its Client authentication is \"Public key / Private key\", and that the public key shown above is saved under its Public keys.".to_owned(),
            _ => "Okta did not accept the client ID and client secret. Copy them again from the app's General tab (Client Credentials) in Okta's admin console.".to_owned(),
        },
        (Some("invalid_scope"), _) => format!("The app has not been granted every scope okta-bridge needs. {grant}"),
        (Some("unauthorized_client"), _) => "The app may not use this kind of sign-in. For a service app, its grant type must be Client Credentials; for a web app, Authorization Code and Refresh Token.".to_owned(),
        (Some("access_denied"), _) if detail.contains("assigned") => "Your Okta user is not assigned to the app. In Okta's admin console, open the app's Assignments tab, choose Assign → Assign to Groups, and assign Everyone (or yourself); then connect again.".to_owned(),
        (Some("access_denied"), _) => "The sign-in at Okta was cancelled or refused. Connect again, and sign in as an Okta administrator.".to_owned(),
        (_, Some(401)) => match method {
            SetupMethod::ApiToken => "Okta did not accept the API token. It may be mistyped, expired (API tokens expire after 30 days without use) or revoked (they are revoked when their creator's account is deactivated). Create a new one under Security → API → Tokens.".to_owned(),
            _ => "Okta did not accept the app's access token. Check that the org URL is the org the app belongs to.".to_owned(),
        },
        (_, Some(403)) => match method {
            SetupMethod::ApiToken => "The API token works, but its creator may not read users: a token has the permissions of the administrator who created it. Create it while signed in as a Super Administrator or Read-Only Administrator.".to_owned(),
            SetupMethod::WebApp => format!("You signed in as an Okta user who is not an administrator allowed to read users: okta-bridge reads the directory with the permissions of the person who signs in. Sign in as a Super Administrator or Read-Only Administrator. If you are one, the app lacks a scope: {grant}"),
            _ => format!("The app may not read users. {grant} A service app also needs an admin role: its Admin roles tab → Edit assignments → Read-Only Administrator."),
        },
        _ => match e.ours() {
            Error::Egress(EgressRefusal::Unresolved { url, .. }) => {
                format!("There is no Okta org at {url}. Check the org URL: it is the address of your Okta org, such as https://yourcompany.okta.com.")
            }
            Error::Egress(_) => "The org URL must be your Okta org's https address, such as https://yourcompany.okta.com.".to_owned(),
            Error::Okta(_)
            | Error::OAuth {
                kind: OAuthFailure::Transient,
                ..
            } => "Okta could not be reached at that org URL. Check the URL (such as https://yourcompany.okta.com) and try again.".to_owned(),
            Error::Rejected {
                cause: Refusal::Unusable(m),
                ..
            } => format!("The credentials cannot be used: {m}."),
            Error::Invalid { reason, .. } => format!("{}.", capitalized(reason)),
            Error::SetupLink(r) => format!("{}.", capitalized(&r.to_string())),
            Error::Conflict(Conflict::OtherOrg { org, .. }) => format!(
                "This account is already connected to another Okta org ({org}). Ask the people who sent you this link to disconnect it first."
            ),
            Error::Conflict(Conflict::OtherSource { .. }) => "This account already reads your directory through Okta's API, and a directory has one source at a time. Ask the people who sent you this link to disconnect it first, or connect one of the other ways.".to_owned(),
            Error::Conflict(Conflict::ScimOn { .. }) => "SCIM provisioning is already on for this account. If you no longer have its token, ask the people who sent you this link for a new one.".to_owned(),
            Error::Conflict(c) => format!("{}.", capitalized(&c.to_string())),
            other => {
                tracing::warn!(error = %other, "a setup link's check failed");
                "Something went wrong on our side. Try again; if it keeps failing, tell the people who sent you this link.".to_owned()
            }
        },
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A short code for the audit log: what kind of failure, never a value.
fn failure_code(e: &Error) -> String {
    match e.ours() {
        Error::Rejected {
            cause: Refusal::OAuth { error, .. },
            ..
        }
        | Error::OAuth { code: Some(error), .. } => error.clone(),
        Error::Rejected {
            cause: Refusal::Api(api),
            ..
        } => format!("{} {}", api.status.as_u16(), api.error_code.as_deref().unwrap_or("-")),
        Error::Egress(_) => "org_url_refused".into(),
        Error::Invalid { field, .. } => format!("invalid {field}"),
        Error::SetupLink(_) => "link_refused".into(),
        Error::Conflict(_) => "conflict".into(),
        _ => "error".into(),
    }
}

impl Service {
    /// Makes a setup link for `account` (which need not exist yet), working for `expires_in`
    /// (default 24 hours), asking its app for `scopes` (default [`SETUP_SCOPES`]). Answers the
    /// link and its token, which is shown once.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a lifetime out of range or bad scopes; [`Error::Database`].
    pub async fn create_setup_link(
        &self,
        account: &AccountName,
        expires_in: Option<Duration>,
        scopes: Option<&str>,
        steps: SetupSteps,
    ) -> Result<(SetupLink, SetupToken)> {
        let ttl = expires_in.unwrap_or(DEFAULT_LINK_TTL);
        if ttl < LINK_TTL_RANGE.0 || ttl > LINK_TTL_RANGE.1 {
            return Err(Error::invalid(
                "expiresIn",
                "a setup link lasts from 5 minutes (300) to 30 days (2592000 seconds)",
            ));
        }
        let scopes = Scopes::parse(scopes.unwrap_or(SETUP_SCOPES))?;
        if steps.manage {
            let connected = self.store.connection(account).await?;
            if connected.is_none_or(|c| c.method == ConnectionMethod::Scim) {
                return Err(Error::invalid(
                    "manage",
                    format!(
                        "a manage link changes who is synced for an account connected through Okta's API, and {account} is not: send a setup link to connect it first (POST /api/accounts/{account}/setup-link)"
                    ),
                ));
            }
        }
        let created_at = now();
        let link = SetupLink {
            id: format!("sl_{}", &random_secret()[..22]),
            account: account.clone(),
            scopes,
            created_at,
            expires_at: created_at + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            opened_at: None,
            revoked_at: None,
            connected_at: None,
            method: None,
            key_id: None,
            choose_scope: steps.choose_scope || steps.map_roles || steps.manage,
            map_roles: steps.map_roles,
            manage: steps.manage,
        };
        let token = SetupToken::new(format!("stl_{}", random_secret()));
        self.store
            .create_setup_link(&link, &hash(token.expose_secret()))
            .await?;
        Ok((link, token))
    }

    /// The setup links of `account`, newest first.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn setup_links(&self, account: &AccountName) -> Result<Vec<SetupLink>> {
        self.store.setup_links(account).await
    }

    /// Revokes link `id`: it stops working at once, also in the browser that opened it.
    ///
    /// # Errors
    /// [`Error::SetupLink`] ([`SetupRefusal::Unknown`]); [`Error::Database`].
    pub async fn revoke_setup_link(&self, id: &str) -> Result<SetupLink> {
        let link = self
            .store
            .revoke_setup_link(id)
            .await?
            .ok_or(Error::SetupLink(SetupRefusal::Unknown))?;
        self.store
            .audit_setup(&link.account, "", "setup_link_revoked", &link.id)
            .await?;
        Ok(link)
    }

    /// The link whose token is `token`, if it can still be opened.
    ///
    /// # Errors
    /// [`Error::SetupLink`] saying why not (unknown, expired, used, revoked — each use of a known
    /// link is audited); [`Error::Database`].
    pub async fn setup_link_by_token(&self, token: &str) -> Result<SetupLink> {
        let link = self
            .store
            .setup_link(SetupLinkBy::Token(&hash(token)))
            .await?
            .ok_or_else(|| {
                tracing::warn!("a setup link with an unknown token was presented");
                Error::SetupLink(SetupRefusal::Unknown)
            })?;
        let refusal = if link.revoked_at.is_some() {
            Some(SetupRefusal::Revoked)
        } else if link.opened_at.is_some() {
            Some(SetupRefusal::Used)
        } else if link.expires_at <= now() {
            Some(SetupRefusal::Expired)
        } else {
            None
        };
        if let Some(r) = refusal {
            self.store
                .audit_setup(&link.account, "", "setup_link_refused", &format!("{}: {r:?}", link.id))
                .await?;
            return Err(Error::SetupLink(r));
        }
        Ok(link)
    }

    /// Opens the link whose token is `token` for this browser: answers the session its cookie
    /// holds from now on. Exactly one browser can open a link.
    ///
    /// # Errors
    /// As [`setup_link_by_token`](Self::setup_link_by_token).
    pub async fn open_setup_link(&self, token: &str) -> Result<(SetupLink, SetupSession)> {
        let link = self.setup_link_by_token(token).await?;
        let session = SetupSession::new(random_secret());
        if !self
            .store
            .open_setup_link(&link.id, &hash(session.expose_secret()))
            .await?
        {
            // Another browser opened it a moment ago.
            return Err(Error::SetupLink(SetupRefusal::Used));
        }
        self.store
            .audit_setup(&link.account, "", "setup_link_opened", &link.id)
            .await?;
        Ok((link, session))
    }

    /// The link the browser with setup session `session` opened, while it can be used to
    /// connect: not revoked (nor ended with its account), not expired, not connected yet.
    ///
    /// # Errors
    /// [`Error::SetupLink`]: unknown session; a revoked, expired or already connected link
    /// (audited); [`Error::Database`].
    pub async fn setup_link_by_session(&self, session: &str) -> Result<SetupLink> {
        let link = self.session_link(session).await?;
        self.refuse_unless_usable(&link).await?;
        Ok(link)
    }

    /// The link the browser with setup session `session` opened, while its summary may be
    /// shown: after it connected (until its account is disconnected or removed), or while it
    /// can still be used.
    ///
    /// # Errors
    /// [`Error::SetupLink`]: unknown session, revoked or ended link, expired before it
    /// connected; [`Error::Database`].
    pub async fn setup_link_to_view(&self, session: &str) -> Result<SetupLink> {
        let link = self.session_link(session).await?;
        if link.viewable(now()) {
            Ok(link)
        } else {
            Err(Error::SetupLink(refusal_of(&link)))
        }
    }

    async fn session_link(&self, session: &str) -> Result<SetupLink> {
        self.store
            .setup_link(SetupLinkBy::Session(&hash(session)))
            .await?
            .ok_or(Error::SetupLink(SetupRefusal::Unknown))
    }

    /// Refuses, with an audit record, to connect through `link` unless it is usable.
    async fn refuse_unless_usable(&self, link: &SetupLink) -> Result<()> {
        if link.usable(now()) {
            return Ok(());
        }
        let r = refusal_of(link);
        self.store
            .audit_setup(
                &link.account,
                "",
                "setup_link_refused",
                &format!("{}: {r:?} (from the browser that opened it)", link.id),
            )
            .await?;
        tracing::warn!(link = %link.id, account = %link.account, refusal = ?r, "a setup link that ended was used again");
        Err(Error::SetupLink(r))
    }

    /// The key pair of `link`'s own-service-app path (made once, the private key sealed):
    /// its public JWK to paste into Okta.
    ///
    /// # Errors
    /// [`Error::Okta`] if no key can be made; [`Error::Database`].
    pub async fn setup_key(&self, link: &SetupLink) -> Result<SetupKey> {
        let (pem, key_id) = self
            .store
            .setup_key(&link.id, || {
                let k = okta_client::PrivateKey::generate()?;
                Ok((PrivateKeyPem::from(k.private_pem), k.key_id))
            })
            .await?;
        let private = okta_client::PrivateKey::parse(pem.expose_secret())?;
        let public_jwk = public_jwk_of(&private, &key_id)?;
        Ok(SetupKey { key_id, public_jwk })
    }

    /// Checks what the admin entered through `link` and connects its account: for an API
    /// service integration, an API token or an own service app, the credentials are tried with
    /// Okta first, and stored only when Okta accepts them; for an OAuth web app the client id
    /// and secret are checked and the admin signs in at the org next (on behalf of `session`,
    /// the browser's setup session). Each attempt counts against the link's rate limit and is
    /// audited (what failed, never a value).
    ///
    /// # Errors
    /// [`Error::SetupLink`] when the link cannot be used or too many attempts were made; what
    /// checking the credentials found ([`explain`] says it in words).
    pub async fn setup_connect(&self, link: &SetupLink, input: SetupInput, session: &str) -> Result<SetupOutcome> {
        // As stored now, not as the caller read it: it may have connected or ended since.
        let link = &self
            .store
            .setup_link(SetupLinkBy::Id(&link.id))
            .await?
            .ok_or(Error::SetupLink(SetupRefusal::Unknown))?;
        self.refuse_unless_usable(link).await?;
        if link.manage {
            return Err(Error::invalid(
                "method",
                "this is a manage link: it changes who is synced for an account already connected, and connects nothing",
            ));
        }
        if !self
            .store
            .count_setup_check(&link.id, CHECKS_PER_WINDOW, CHECK_WINDOW_SECS)
            .await?
        {
            self.store
                .audit_setup(&link.account, "", "setup_link_rate_limited", &link.id)
                .await?;
            return Err(Error::SetupLink(SetupRefusal::TooManyAttempts));
        }
        let method = input.method;
        let org = input.org_url.trim().to_owned();
        let result = self.try_setup(link, input, session).await;
        match &result {
            // Recorded (and the link ended) before anything was stored: see `claim`.
            Ok(SetupOutcome::Connected(_) | SetupOutcome::Provisioning(_)) => {}
            Ok(SetupOutcome::SignIn(_)) => {
                self.store
                    .audit_setup(
                        &link.account,
                        &org,
                        "setup_link_sign_in",
                        &format!("{} by {}", link.id, method.as_str()),
                    )
                    .await?;
            }
            Err(e) => {
                self.store
                    .audit_setup(
                        &link.account,
                        &org,
                        "setup_link_check_failed",
                        &format!("{} by {}: {}", link.id, method.as_str(), failure_code(e)),
                    )
                    .await?;
            }
        }
        result
    }

    async fn try_setup(&self, link: &SetupLink, input: SetupInput, session: &str) -> Result<SetupOutcome> {
        let org_url = required(
            &input.org_url,
            "org URL",
            "the address of your Okta org, such as https://yourcompany.okta.com",
        )?;
        let scopes = link.scopes.to_string();
        let client_id = || required(&input.client_id, "client ID", "copy it from the app in Okta");
        let secret = |s: Option<ClientSecret>| {
            s.ok_or_else(|| Error::invalid("client secret", "enter the client secret: copy it from the app in Okta"))
        };
        let new = match input.method {
            SetupMethod::Integration => NewAccount {
                kind: Some("service".into()),
                client_id: Some(client_id()?),
                client_secret: Some(secret(input.client_secret)?),
                scopes: Some(scopes),
                ..NewAccount::default()
            },
            SetupMethod::ServiceKey => {
                let (pem, key_id) = self
                    .store
                    .setup_key(&link.id, || {
                        Err(Error::invalid(
                            "key",
                            "open the page again: the key pair for this link was not made yet",
                        ))
                    })
                    .await?;
                NewAccount {
                    kind: Some("service".into()),
                    client_id: Some(client_id()?),
                    private_key: Some(pem),
                    key_id: Some(key_id),
                    scopes: Some(scopes),
                    ..NewAccount::default()
                }
            }
            SetupMethod::ApiToken | SetupMethod::Scim => NewAccount {
                kind: Some("token".into()),
                ..NewAccount::default()
            },
            SetupMethod::WebApp => NewAccount {
                kind: Some("web".into()),
                client_id: Some(client_id()?),
                client_secret: Some(secret(input.client_secret)?),
                scopes: Some(format!("{scopes} offline_access")),
                ..NewAccount::default()
            },
        };
        let new = NewAccount {
            name: link.account.to_string(),
            org_url,
            ..new
        };
        let account = Self::check_account(new, self.apps.egress().clone()).await?;
        let exists = self.store.account(&account.name).await?.is_some();
        match input.method {
            SetupMethod::Integration | SetupMethod::ServiceKey => {
                let checked = self.check_service_app(&account).await?;
                self.claim(link, &checked, ConnectionMethod::ServiceApp).await?;
                self.save_account(&checked, exists).await?;
                Ok(SetupOutcome::Connected(self.store_service_connection(&checked).await?))
            }
            SetupMethod::ApiToken => {
                let token = input.api_token.ok_or_else(|| {
                    Error::invalid("API token", "enter the API token Okta showed when you created it")
                })?;
                let login = self.check_api_token(&account, &token, true).await?;
                self.claim(link, &account, ConnectionMethod::ApiToken).await?;
                self.save_account(&account, exists).await?;
                self.connect_api_token(&account, &token).await.map(|mut c| {
                    c.user = Some(login);
                    SetupOutcome::Connected(c)
                })
            }
            SetupMethod::Scim => self.setup_scim(link, &account).await,
            SetupMethod::WebApp => {
                let app = self.web_app_of(&account)?;
                app.check_secret().await?;
                self.save_account(&account, exists).await?;
                let started = self
                    .start_authorization(&app, Some(account.name.clone()), &setup_binding(session))
                    .await?;
                Ok(SetupOutcome::SignIn(started))
            }
        }
    }

    /// The SCIM way: turns SCIM push on for `link`'s account (stored as `account` when it is
    /// new; a stored one keeps its app) and answers its token. An account connected another
    /// way, or with SCIM on already, is refused before the link is used up; a stored account of
    /// another org too.
    async fn setup_scim(&self, link: &SetupLink, account: &Account) -> Result<SetupOutcome> {
        let stored = self.store.account(&link.account).await?;
        if let Some(a) = &stored
            && a.org_url != account.org_url
        {
            return Err(Conflict::OtherOrg {
                account: link.account.to_string(),
                org: a.org_url.to_string(),
            }
            .into());
        }
        if let Some(c) = self.store.connection(&link.account).await? {
            return Err(if c.method == ConnectionMethod::Scim {
                Conflict::ScimOn {
                    account: link.account.to_string(),
                }
            } else {
                Conflict::OtherSource {
                    account: link.account.to_string(),
                    source_now: format!("the API sync (connected by {})", c.method.as_str()),
                    what: "disconnect it first".into(),
                }
            }
            .into());
        }
        self.claim(link, account, ConnectionMethod::Scim).await?;
        if stored.is_none() {
            self.save_account(account, false).await?;
        }
        Ok(SetupOutcome::Provisioning(self.enable_scim(&link.account).await?))
    }

    /// Ends `link` as connected to `account`'s org by `method`, before anything is stored: of
    /// two attempts at once (or on two instances), one stores its account and connection, the
    /// other is refused and stores nothing.
    async fn claim(&self, link: &SetupLink, account: &Account, method: ConnectionMethod) -> Result<()> {
        if self
            .store
            .setup_link_connected(link, account.org_url.as_str(), method.as_str())
            .await?
        {
            Ok(())
        } else {
            let stored = self.store.setup_link(SetupLinkBy::Id(&link.id)).await?;
            self.refuse_unless_usable(stored.as_ref().unwrap_or(link)).await?;
            Err(Error::SetupLink(SetupRefusal::Connected))
        }
    }

    fn web_app_of(&self, account: &Account) -> Result<OAuthApp> {
        let crate::model::AppCredentials::Web {
            client_id,
            client_secret,
        } = &account.app
        else {
            return Err(Error::invalid("kind", "not an OAuth web app"));
        };
        OAuthApp::new(
            account.org_url.clone(),
            client_id.clone(),
            client_secret.clone(),
            self.apps.redirect_uri(),
            account.scopes.clone(),
            self.apps.egress().clone(),
        )
    }

    /// Checks that the connection `link`'s admin just made by signing in can read the
    /// directory (the person who signed in may not be an administrator). When Okta refuses,
    /// the connection is removed again (its tokens revoked) and the refusal answered.
    ///
    /// # Errors
    /// [`Error::Rejected`] when Okta refuses the read; [`Error::Okta`], [`Error::Database`].
    pub async fn setup_verify(&self, link: &SetupLink) -> Result<()> {
        let client = self.client(&link.account).await?;
        let Err(e) = client.users().list().limit(1).send().await else {
            return Ok(());
        };
        let e = super::connect::rejected("connection", e);
        if matches!(e, Error::Rejected { .. }) {
            // The link stays, for a sign-in by an administrator.
            self.disconnect_as(&link.account, false, false).await?;
        }
        Err(e)
    }

    /// Records that `link`'s account was connected through Okta's sign-in (the web app path).
    ///
    /// # Errors
    /// [`Error::SetupLink`] when the link ended meanwhile; [`Error::Database`].
    pub async fn setup_signed_in(&self, link: &SetupLink) -> Result<()> {
        let org = self
            .store
            .connection(&link.account)
            .await?
            .map(|c| c.org_url.to_string())
            .unwrap_or_default();
        if self
            .store
            .setup_link_connected(link, &org, ConnectionMethod::AuthorizationCode.as_str())
            .await?
        {
            Ok(())
        } else {
            Err(Error::SetupLink(SetupRefusal::Connected))
        }
    }

    /// Records that the sign-in of `link`'s web app path failed (what kind of failure only).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn setup_sign_in_failed(&self, link: &SetupLink, e: &Error) -> Result<()> {
        self.store
            .audit_setup(
                &link.account,
                "",
                "setup_link_check_failed",
                &format!("{} by web: {}", link.id, failure_code(e)),
            )
            .await
    }

    /// Where `link`'s account stands: connected, how, with which scopes, and its first sync.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn setup_health(&self, link: &SetupLink) -> Result<SetupHealth> {
        let Some(c) = self.store.connection(&link.account).await? else {
            return Ok(SetupHealth::default());
        };
        let state = self.store.sync_state(&link.account).await?;
        let count = |k: &str| state.last_summary.as_ref().and_then(|s| s["directory"][k].as_u64());
        let scim = if c.method == ConnectionMethod::Scim {
            Some(self.scim_health(&link.account).await?)
        } else {
            None
        };
        Ok(SetupHealth {
            scim,
            connected: true,
            org: c.org_url.to_string(),
            method: c.method.as_str().to_owned(),
            scopes: c.scopes.iter().map(str::to_owned).collect(),
            sync_running: state.running,
            synced_at: state.last_run_at.filter(|_| state.last_error.is_none()),
            users: count("users"),
            groups: count("groups"),
            sync_error: state.last_error,
        })
    }

    /// What `account`'s SCIM push received so far: Okta's last request, the counts, and the
    /// first pushes (their events in the feed).
    async fn scim_health(&self, account: &AccountName) -> Result<ScimHealth> {
        let state = self.store.scim_state(account).await?;
        let counts = self.store.directory_counts(account).await?;
        let first = self
            .store
            .events_after(account, 0, FIRST_PUSHES_SHOWN)
            .await?
            .into_iter()
            .map(|e| {
                let name = ["login", "name", "email"]
                    .iter()
                    .find_map(|k| e.data[*k].as_str().or_else(|| e.data["profile"][*k].as_str()))
                    .unwrap_or(&e.object_id)
                    .to_owned();
                (e.event_type, name)
            })
            .collect();
        Ok(ScimHealth {
            last_request: state.and_then(|s| Some((s.last_request_at?, s.last_request?, s.last_status?))),
            users: counts["users"].as_i64().unwrap_or(0),
            groups: counts["groups"].as_i64().unwrap_or(0),
            first,
        })
    }
}

/// Why `link` can no longer be used to connect.
fn refusal_of(link: &SetupLink) -> SetupRefusal {
    if link.revoked_at.is_some() {
        SetupRefusal::Revoked
    } else if link.connected_at.is_some() {
        SetupRefusal::Connected
    } else {
        SetupRefusal::Expired
    }
}

/// The session a setup browser's sign-in is bound to (never equal to an admin session's).
pub fn setup_binding(session: &str) -> String {
    format!("setup:{session}")
}

/// The public JWK of `key`, named `kid`, as pretty JSON.
fn public_jwk_of(key: &okta_client::PrivateKey, kid: &str) -> Result<String> {
    let mut v = key.public_jwk().map_err(Error::Okta)?;
    v["kid"] = serde_json::Value::String(kid.to_owned());
    v["use"] = serde_json::Value::String("sig".into());
    Ok(serde_json::to_string_pretty(&v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes() -> Scopes {
        Scopes::parse(SETUP_SCOPES).unwrap()
    }

    fn oauth(code: &str, detail: &str) -> Error {
        Error::OAuth {
            kind: OAuthFailure::Refused,
            code: Some(code.into()),
            detail: detail.into(),
        }
    }

    #[test]
    fn each_refusal_is_said_in_plain_words() {
        let wrong_secret = Error::Rejected {
            what: "service app's credentials",
            cause: Refusal::OAuth {
                error: "invalid_client".into(),
                description: None,
            },
        };
        let said = explain(SetupMethod::Integration, &wrong_secret, &scopes());
        assert!(
            said.contains("did not accept the client ID and client secret"),
            "{said}"
        );
        assert!(said.contains("generate a new secret"), "{said}");
        let missing = Error::Rejected {
            what: "service app's credentials",
            cause: Refusal::OAuth {
                error: "invalid_scope".into(),
                description: None,
            },
        };
        let said = explain(SetupMethod::ServiceKey, &missing, &scopes());
        assert!(
            said.contains("Okta API Scopes") && said.contains("okta.logs.read"),
            "{said}"
        );
        let unassigned = oauth(
            "access_denied",
            "Okta did not authorize the connection (access_denied): User is not assigned to the client application.",
        );
        let said = explain(SetupMethod::WebApp, &unassigned, &scopes());
        assert!(said.contains("not assigned") && said.contains("Everyone"), "{said}");
        let not_admin = Error::Okta(okta_client::Error::Api(Box::new(okta_client::ApiError::from_response(
            http::StatusCode::from_u16(403).unwrap(),
            br#"{"errorCode":"E0000006","errorSummary":"refused"}"#,
        ))));
        let said = explain(SetupMethod::WebApp, &not_admin, &scopes());
        assert!(said.contains("not an administrator"), "{said}");
        let said = explain(SetupMethod::ApiToken, &not_admin, &scopes());
        assert!(
            said.contains("permissions of the administrator who created it"),
            "{said}"
        );
        let bad_token = Error::Okta(okta_client::Error::Api(Box::new(okta_client::ApiError::from_response(
            http::StatusCode::from_u16(401).unwrap(),
            br#"{"errorCode":"E0000011","errorSummary":"refused"}"#,
        ))));
        let said = explain(SetupMethod::ApiToken, &bad_token, &scopes());
        assert!(said.contains("30 days") && said.contains("revoked"), "{said}");
        let nowhere = Error::Egress(EgressRefusal::Unresolved {
            url: "https://nope.okta.com".into(),
            why: "no such host".into(),
        });
        assert!(
            explain(SetupMethod::ApiToken, &nowhere, &scopes())
                .contains("There is no Okta org at https://nope.okta.com")
        );
        // Nothing internal is shown.
        let db = Error::Database(sqlx::Error::PoolTimedOut);
        assert!(!explain(SetupMethod::ApiToken, &db, &scopes()).contains("pool"));
    }
}
