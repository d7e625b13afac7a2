//! Adding, replacing, reading and removing accounts.

use std::collections::HashMap;

use super::Service;
use crate::egress::Egress;
use crate::error::{Conflict, Error, Result};
use crate::model::{Account, AccountName, AppKind, Connection, ConnectionMethod, NewAccount, now};

impl Service {
    /// Checks and stores an account an admin described: its fields, where its org's name (and
    /// its issuer's) resolves, then the rules of [`save`](Self::save_account). Returns it as
    /// stored.
    ///
    /// # Errors
    /// [`Error::Invalid`], [`Error::Egress`], and those of [`save`](Self::save_account).
    pub async fn add_account(&self, input: NewAccount, replace: bool) -> Result<Account> {
        let account = Self::check_account(input, self.apps.egress().clone()).await?;
        self.save_account(&account, replace).await?;
        Ok(self.store.account(&account.name).await?.unwrap_or(account))
    }

    /// Checks an account an admin described, before anything is opened or stored: its fields
    /// and where its org's name (and its issuer's) resolves, as `egress` allows.
    ///
    /// # Errors
    /// [`Error::Invalid`], [`Error::Egress`].
    pub async fn check_account(input: NewAccount, egress: Egress) -> Result<Account> {
        let account = input.validate(&egress, now())?;
        for url in account.origins() {
            egress.check_resolves(&url).await?;
        }
        Ok(account)
    }

    /// Stores `account`: a new one, or with `replace` new credentials for an existing one. A
    /// connected account keeps its org, its kind, its app's client id and its issuer (its tokens
    /// came from that app there): changing any needs a disconnect first. New credentials clear
    /// an `app_rejected` mark.
    ///
    /// # Errors
    /// [`Error::AccountExists`] (without `replace`), [`Error::Conflict`], [`Error::Database`].
    pub async fn save_account(&self, account: &Account, replace: bool) -> Result<()> {
        if replace && let Some(c) = self.store.connection(&account.name).await? {
            if c.org_url != account.org_url {
                return Err(Conflict::OtherOrg {
                    account: account.name.to_string(),
                    org: c.org_url.to_string(),
                }
                .into());
            }
            let kind_of_connection = match c.method {
                ConnectionMethod::ServiceApp => Some(AppKind::Service),
                ConnectionMethod::AuthorizationCode => Some(AppKind::Web),
                _ => None,
            };
            if let Some(kind) = kind_of_connection
                && kind != account.app.kind()
            {
                return Err(Conflict::OtherKind {
                    account: account.name.to_string(),
                    kind: kind.as_str(),
                }
                .into());
            }
            // Its tokens came from that app at that authorization server, which alone may
            // refresh or revoke them: new credentials may not silently point elsewhere.
            if kind_of_connection.is_some()
                && let Some(old) = self.store.account(&account.name).await?
            {
                if old.app.client_id() != account.app.client_id() {
                    return Err(Conflict::OtherApp {
                        account: account.name.to_string(),
                        what: "client id",
                        old: old.app.client_id().unwrap_or_default().to_owned(),
                    }
                    .into());
                }
                if old.issuer != account.issuer {
                    return Err(Conflict::OtherApp {
                        account: account.name.to_string(),
                        what: "issuer",
                        old: old
                            .issuer
                            .as_ref()
                            .map_or_else(|| format!("{} (the org's own)", old.org_url), |i| i.to_string()),
                    }
                    .into());
                }
            }
        }
        let mut account = account.clone();
        if replace
            && let Some(old) = self.store.account(&account.name).await?
            && old.app.kind() == account.app.kind()
            && old.app.client_id() == account.app.client_id()
        {
            // The same app: what connecting learned about it (DPoP) still holds.
            account.dpop = old.dpop;
        }
        if !self.store.put_account(&account, replace).await? {
            return Err(Error::AccountExists(account.name.to_string()));
        }
        self.forget_client(account.name.as_str());
        Ok(())
    }

    /// One account with its connection, if it has one.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`], [`Error::Database`], [`Error::Unreadable`].
    pub async fn account(&self, name: &AccountName) -> Result<(Account, Option<Connection>)> {
        let a = self
            .store
            .account(name)
            .await?
            .ok_or_else(|| Error::UnknownAccount(name.to_string()))?;
        let c = self.store.connection(name).await?;
        Ok((a, c))
    }

    /// Every account with its connection, if it has one.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn accounts(&self) -> Result<Vec<(Account, Option<Connection>)>> {
        let accounts = self.store.accounts().await?;
        let mut conns: HashMap<String, Connection> = self
            .store
            .connections()
            .await?
            .into_iter()
            .map(|c| (c.account.to_string(), c))
            .collect();
        Ok(accounts
            .into_iter()
            .map(|a| {
                let c = conns.remove(a.name.as_str());
                (a, c)
            })
            .collect())
    }

    /// Removes an account that is not connected.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`Conflict::StillConnected`]; [`Error::Database`].
    pub async fn remove_account(&self, name: &AccountName) -> Result<()> {
        if self.store.remove_account(name).await? {
            Ok(())
        } else {
            Err(Error::UnknownAccount(name.to_string()))
        }
    }
}
