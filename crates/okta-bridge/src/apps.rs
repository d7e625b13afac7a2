//! The registry of apps: the OAuth web app that connects, refreshes and revokes each account's
//! connection (the account's own, or the server-wide app for connections without an account),
//! and each service account's okta-client service app. Built apps are kept until the account
//! changes.

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::ExposeSecret;

use crate::egress::Egress;
use crate::error::{Error, Result};
use crate::model::{Account, AccountName, AppCredentials, Scopes, ServiceAuth};
use crate::oauth::OAuthApp;
use crate::store::Store;

/// Finds the app of an account. See the module documentation.
#[derive(Debug)]
pub struct Apps {
    store: Store,
    fallback: Option<OAuthApp>,
    redirect_uri: String,
    egress: Egress,
    built: Mutex<HashMap<String, (i64, OAuthApp)>>,
}

impl Apps {
    /// Apps of the accounts in `store`, redirecting to `redirect_uri`, reaching orgs as
    /// `egress` says; `fallback` (the server-wide app) serves connections without an account.
    pub fn new(store: Store, fallback: Option<OAuthApp>, redirect_uri: impl Into<String>, egress: Egress) -> Self {
        Self {
            store,
            fallback,
            redirect_uri: redirect_uri.into(),
            egress,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// How orgs are reached.
    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// The server-wide app, if any.
    pub fn fallback(&self) -> Option<&OAuthApp> {
        self.fallback.as_ref()
    }

    /// The redirect URI apps are registered with.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The web app that connects and refreshes `account`: the account's own, or the
    /// server-wide one when there is no such account (`None` when there is neither).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the account connects another way (service app, API token);
    /// [`Error::Config`] when its issuer's discovery fails; [`Error::Database`].
    pub async fn web_app(&self, account: &AccountName) -> Result<Option<OAuthApp>> {
        let Some(a) = self.store.account(account).await? else {
            return Ok(self.fallback.clone());
        };
        if let Some((version, app)) = self.built.lock().expect("apps lock").get(account.as_str())
            && *version == a.updated_at
        {
            return Ok(Some(app.clone()));
        }
        let AppCredentials::Web {
            client_id,
            client_secret,
        } = a.app
        else {
            return Err(Error::invalid(
                "account",
                format!(
                    "account {account} connects {}, not through the Okta sign-in flow",
                    match a.app {
                        AppCredentials::Service { .. } => "as a service app",
                        _ => "with an API token",
                    }
                ),
            ));
        };
        let scopes: Scopes = a.scopes;
        let app = match &a.issuer {
            Some(issuer) => {
                OAuthApp::discover(
                    a.org_url,
                    issuer,
                    client_id,
                    client_secret,
                    &self.redirect_uri,
                    scopes,
                    self.egress.clone(),
                )
                .await?
            }
            None => OAuthApp::new(
                a.org_url,
                client_id,
                client_secret,
                &self.redirect_uri,
                scopes,
                self.egress.clone(),
            )?,
        };
        self.built
            .lock()
            .expect("apps lock")
            .insert(account.to_string(), (a.updated_at, app.clone()));
        Ok(Some(app))
    }

    /// The okta-client service app of a `service` account.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the account has no service app or its key does not parse.
    pub fn service_app(account: &Account) -> Result<okta_client::ServiceApp> {
        let AppCredentials::Service { client_id, auth } = &account.app else {
            return Err(Error::invalid(
                "account",
                format!("account {} has no service app", account.name),
            ));
        };
        let scopes: Vec<&str> = account.scopes.iter().collect();
        let app = match auth {
            ServiceAuth::PrivateKey { private_key, key_id } => {
                let mut key = okta_client::PrivateKey::parse(private_key.expose_secret()).map_err(|e| {
                    Error::invalid(
                        "privateKey",
                        format!("the private key of account {}: {e}", account.name),
                    )
                })?;
                if let Some(kid) = key_id {
                    key = key.with_key_id(kid.clone());
                }
                okta_client::ServiceApp::new(client_id.clone(), &scopes, key)
            }
            ServiceAuth::ClientSecret(secret) => {
                okta_client::ServiceApp::with_client_secret(client_id.clone(), &scopes, secret.expose_secret())
            }
        };
        Ok(if account.dpop { app.with_dpop() } else { app })
    }
}
