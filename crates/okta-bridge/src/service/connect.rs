//! Connecting accounts: through Okta's sign-in (authorization code + PKCE), with an API token
//! an admin pasted, or as the account's service app.

use secrecy::ExposeSecret;

use super::Service;
use crate::apps::Apps;
use crate::error::{Error, Refusal, Result};
use crate::model::{
    AccessToken, Account, AccountName, ApiToken, AppCredentials, ConnectionMethod, Expiry, NewConnection, TokenSet,
};
use crate::oauth::{CallbackParams, OAuthApp, Started, take_callback};

/// What connecting an account found.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connected {
    /// The account.
    pub account: AccountName,
    /// `api_token` or `service_app`.
    pub method: &'static str,
    /// `SSWS`, `Bearer` or `DPoP`.
    pub token_type: &'static str,
    /// The login of the API token's user (API tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `e` as a refusal of `what` when Okta refused, else as it is.
pub(super) fn rejected(what: &'static str, e: okta_client::Error) -> Error {
    match Refusal::from_okta(e) {
        Ok(cause) => Error::Rejected { what, cause },
        Err(e) => Error::Okta(e),
    }
}

/// One read the service app's scopes allow, to prove a token works (the token request alone
/// would not show that the app was granted the scope).
async fn probe(client: &okta_client::Client, account: &Account) -> okta_client::Result<()> {
    let has = |s: &str| {
        account
            .scopes
            .iter()
            .any(|x| x == s || x == s.replace(".read", ".manage"))
    };
    if has("okta.users.read") {
        client.users().list().limit(1).send().await.map(drop)
    } else if has("okta.groups.read") {
        client.groups().list().limit(1).send().await.map(drop)
    } else if has("okta.apps.read") {
        client.apps().list().limit(1).send().await.map(drop)
    } else {
        client.logs().query().limit(1).send().await.map(drop)
    }
}

impl Service {
    /// Connects the account `name` without a browser: with `api_token` when given, else as
    /// its service app.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`Error::Invalid`] when the account connects another way;
    /// those of [`connect_api_token`](Self::connect_api_token) and
    /// [`connect_service_app`](Self::connect_service_app).
    pub async fn connect(&self, name: &AccountName, api_token: Option<ApiToken>) -> Result<Connected> {
        let account = self
            .store
            .account(name)
            .await?
            .ok_or_else(|| Error::UnknownAccount(name.to_string()))?;
        match (api_token, &account.app) {
            (Some(token), _) => self.connect_api_token(&account, &token).await,
            (None, AppCredentials::Service { .. }) => self.connect_service_app(&account).await,
            (None, AppCredentials::Web { .. }) => Err(Error::invalid(
                "apiToken",
                format!(
                    "account {name} connects through Okta's sign-in: open /authenticate_okta?account={name} in a browser (or send an apiToken)"
                ),
            )),
            (None, _) => Err(Error::invalid(
                "apiToken",
                format!("account {name} connects with an API token: send {{\"apiToken\": \"…\"}}"),
            )),
        }
    }

    /// Connects `account` with an API token an admin pasted: the token is checked with
    /// `GET /api/v1/users/me` (Okta says whose it is) and stored, sealed, only when Okta accepts
    /// it. It replaces any earlier connection of the account.
    ///
    /// # Errors
    /// [`Error::Rejected`] when Okta refuses the token (nothing stored); [`Error::Okta`] when
    /// Okta cannot be reached; [`Error::Database`].
    pub async fn connect_api_token(&self, account: &Account, token: &ApiToken) -> Result<Connected> {
        let login = self.check_api_token(account, token, false).await?;
        self.store_api_token(account, token, login).await
    }

    /// Checks an API token with Okta without storing anything: whose it is
    /// (`GET /api/v1/users/me`), and with `list_users` that it may list users (an admin's).
    /// Answers the login of its user.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty token; [`Error::Rejected`] when Okta refuses it;
    /// [`Error::Okta`] when Okta cannot be reached.
    pub async fn check_api_token(&self, account: &Account, token: &ApiToken, list_users: bool) -> Result<String> {
        const WHAT: &str = "API token";
        let token = token.expose_secret().trim();
        if token.is_empty() {
            return Err(Error::invalid(
                "apiToken",
                "the API token is empty: paste the token Okta showed when it was created",
            ));
        }
        let client = self
            .apps
            .egress()
            .client_builder(account.org_url.clone())
            .api_token(token)
            .max_retries(1)
            .build()
            .map_err(|e| rejected(WHAT, e))?;
        let me = client.users().get("me").await.map_err(|e| rejected(WHAT, e))?;
        if list_users {
            client
                .users()
                .list()
                .limit(1)
                .send()
                .await
                .map_err(|e| rejected(WHAT, e))?;
        }
        Ok(me.profile.login)
    }

    async fn store_api_token(&self, account: &Account, token: &ApiToken, login: String) -> Result<Connected> {
        let token = token.expose_secret().trim();
        self.store
            .upsert_connection(&NewConnection {
                account: account.name.clone(),
                org_url: account.org_url.clone(),
                scopes: crate::model::Scopes::none(),
                token_type: "SSWS".into(),
                tokens: TokenSet {
                    access_token: AccessToken::new(token),
                    refresh_token: None,
                    expires_at: Expiry::Never,
                },
                method: ConnectionMethod::ApiToken,
            })
            .await?;
        self.forget_client(account.name.as_str());
        tracing::info!(account = %account.name, org = %account.org_url, "connected with an API token");
        Ok(Connected {
            account: account.name.clone(),
            method: ConnectionMethod::ApiToken.as_str(),
            token_type: "SSWS",
            user: Some(login),
        })
    }

    async fn try_service_app(&self, a: &Account) -> Result<()> {
        let client = self
            .apps
            .egress()
            .client_builder(a.org_url.clone())
            .service_app(Apps::service_app(a)?)
            .max_retries(1)
            .build()?;
        probe(&client, a).await.map_err(Error::Okta)
    }

    /// Connects a `service` account: a token is requested with the client credentials grant
    /// and `private_key_jwt`, and used once. When the org requires DPoP (Okta answers
    /// `invalid_dpop_proof`), it is asked again with DPoP and the account remembers it. Tokens
    /// are then minted by each instance when needed; the connection row holds none.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an account without a service app; [`Error::Rejected`] when Okta
    /// refuses the app, key or scopes (nothing stored); [`Error::Okta`], [`Error::Database`].
    pub async fn connect_service_app(&self, account: &Account) -> Result<Connected> {
        let account = self.check_service_app(account).await?;
        self.store_service_connection(&account).await
    }

    /// Checks a service account's app with Okta without storing anything: a token is
    /// requested (with DPoP when the org requires it) and used for one read. Answers the
    /// account with what was learned (whether the org requires DPoP).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an account without a service app; [`Error::Rejected`] when Okta
    /// refuses the app, key or scopes; [`Error::Okta`].
    pub async fn check_service_app(&self, account: &Account) -> Result<Account> {
        let mut account = account.clone();
        let mut result = self.try_service_app(&account).await;
        if !account.dpop
            && matches!(&result, Err(Error::Okta(okta_client::Error::OAuth { error, .. })) if error == "invalid_dpop_proof")
        {
            account.dpop = true;
            result = self.try_service_app(&account).await;
        }
        match result {
            Ok(()) => Ok(account),
            Err(Error::Okta(e)) => Err(rejected("service app's credentials", e)),
            Err(e) => Err(e),
        }
    }

    /// Stores the connection of a service account [`check_service_app`](Self::check_service_app)
    /// accepted.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn store_service_connection(&self, account: &Account) -> Result<Connected> {
        self.store.set_account_dpop(&account.name, account.dpop).await?;
        let token_type = if account.dpop { "DPoP" } else { "Bearer" };
        self.store
            .upsert_connection(&NewConnection {
                account: account.name.clone(),
                org_url: account.org_url.clone(),
                scopes: account.scopes.clone(),
                token_type: token_type.into(),
                tokens: TokenSet {
                    access_token: AccessToken::new(""),
                    refresh_token: None,
                    expires_at: Expiry::Never,
                },
                method: ConnectionMethod::ServiceApp,
            })
            .await?;
        self.forget_client(account.name.as_str());
        tracing::info!(account = %account.name, org = %account.org_url, dpop = account.dpop, "connected as a service app");
        Ok(Connected {
            account: account.name.clone(),
            method: ConnectionMethod::ServiceApp.as_str(),
            token_type,
            user: None,
        })
    }

    /// The web app that connects `account` (its own), or the server-wide app when no account
    /// is named; `None` when there is none.
    ///
    /// # Errors
    /// As [`Apps::web_app`].
    pub async fn web_app_for(&self, account: Option<&AccountName>) -> Result<Option<OAuthApp>> {
        match account {
            Some(a) => self.apps.web_app(a).await,
            None => Ok(self.apps.fallback().cloned()),
        }
    }

    /// Starts the authorization-code flow for `app` (from [`web_app_for`](Self::web_app_for))
    /// on behalf of the admin session `session`.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn start_authorization(
        &self,
        app: &OAuthApp,
        account: Option<AccountName>,
        session: &str,
    ) -> Result<Started> {
        app.start(&self.store, account, session).await
    }

    /// Finishes the authorization-code flow from its callback: takes the pending authorization
    /// (once), checks it is this browser's and this session's, exchanges the code with the app
    /// it was started with, and stores the connection.
    ///
    /// # Errors
    /// [`Error::OAuth`] with a message for the person in the browser; [`Error::Invalid`] /
    /// [`Error::Config`] when the account's app cannot be used; [`Error::Database`].
    pub async fn finish_authorization(
        &self,
        params: &CallbackParams,
        browser_binding: Option<&str>,
        sessions: &[&str],
    ) -> Result<AccountName> {
        let callback = take_callback(&self.store, params, browser_binding, sessions).await?;
        let app = self
            .web_app_for(callback.pending.account.as_ref())
            .await?
            .ok_or_else(|| Error::invalid("account", "the account of this sign-in has no OAuth web app any more"))?;
        let account = app.finish(&self.store, callback).await?;
        self.forget_client(account.as_str());
        Ok(account)
    }
}
