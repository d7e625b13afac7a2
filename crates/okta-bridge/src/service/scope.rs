//! Each account's sync scope (`PUT /api/accounts/{name}/scope`, `okta-bridge scope set`):
//! checked, stored with who set it, and read whole by the next sync run.

use serde::Deserialize;

use super::Service;
use crate::error::{Error, Result};
use crate::model::{AccountName, RoleMappings, ScopeBody, SetupLink, SyncScope, check_scope};
use crate::store::StoredScope;

/// The most groups the setup link's scope step lists (the first page of the org's groups).
pub const SETUP_GROUPS_LISTED: u32 = 200;

/// A group of the org as the scope step lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgGroup {
    pub id: String,
    pub name: String,
    /// Okta's count (`expand=stats`), when it says it.
    pub members: Option<u64>,
}

#[derive(Deserialize)]
struct GroupWithStats {
    id: String,
    profile: GroupProfile,
    #[serde(rename = "_embedded", default)]
    embedded: Option<Embedded>,
}

#[derive(Deserialize)]
struct GroupProfile {
    name: String,
}

#[derive(Deserialize)]
struct Embedded {
    stats: Stats,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    users_count: Option<u64>,
}

impl Service {
    /// Sets `account`'s scope from `body`, replacing the one before; `actor` is who did it
    /// (audited). The next sync run reads the org under it and says exactly the difference:
    /// `user.created` for each user entering it, `user.deleted` (`"reason": "out_of_scope"`)
    /// for each leaving it, their rows gone.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`Error::Invalid`] saying how to write it (or that SCIM
    /// push is scoped in Okta); [`Error::Database`].
    pub async fn set_scope(&self, account: &AccountName, body: ScopeBody, actor: &str) -> Result<StoredScope> {
        self.known_account(account).await?;
        let scope = check_scope(body)?;
        if scope.is_some() && self.store.scim_state(account).await?.is_some() {
            return Err(Error::invalid(
                "scope",
                "this account's directory is pushed by Okta over SCIM, which sends only the users assigned to its SCIM app: choose who is sent there (the app's Assignments and Push Groups); a scope here applies to reading an org through its API",
            ));
        }
        if let Some(scope) = &scope
            && self.store.connection(account).await?.is_some()
        {
            self.scope_in_org(account, scope).await?;
        }
        self.store.put_scope(account, scope.as_ref(), actor).await?;
        tracing::info!(account = %account, scope = %SyncScope::describe(scope.as_ref()), actor, "sync scope set; the next run reads it whole");
        self.store.scope(account).await
    }

    /// Whether the groups or the app `scope` names are in `account`'s org (asked through its
    /// connection): a scope naming what is not there would hold nobody, silently.
    async fn scope_in_org(&self, account: &AccountName, scope: &SyncScope) -> Result<()> {
        let missing: Option<String> = self
            .call(account, |client| {
                let scope = scope.clone();
                async move {
                    let gone = |e: &okta_client::Error| e.status() == Some(reqwest::StatusCode::NOT_FOUND);
                    match scope {
                        SyncScope::Groups(groups) => {
                            for g in groups {
                                match client.groups().get(&g).await {
                                    Ok(_) => {}
                                    Err(e) if gone(&e) => return Ok(Some(format!("group {g:?}"))),
                                    Err(e) => return Err(e),
                                }
                            }
                            Ok(None)
                        }
                        SyncScope::App(app) => match client.apps().get(&app).await {
                            Ok(_) => Ok(None),
                            Err(e) if gone(&e) => Ok(Some(format!("app {app:?}"))),
                            Err(e) => Err(e),
                        },
                    }
                }
            })
            .await?;
        match missing {
            None => Ok(()),
            Some(what) => Err(Error::invalid(
                "scope",
                format!(
                    "{what} is not in {account}'s org (Okta answered 404): use an id the org lists (okta-bridge groups list --connection {account}, or okta-bridge apps list --connection {account})"
                ),
            )),
        }
    }

    /// `account`'s scope.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`Error::Database`].
    pub async fn scope(&self, account: &AccountName) -> Result<StoredScope> {
        self.known_account(account).await?;
        self.store.scope(account).await
    }
}

impl Service {
    /// The org's groups (the first [`SETUP_GROUPS_LISTED`], by name) with their member counts,
    /// read through the connection `link` made: what its scope step offers.
    ///
    /// # Errors
    /// What reading the org gives; [`Error::Database`].
    pub async fn setup_groups(&self, link: &SetupLink) -> Result<Vec<OrgGroup>> {
        let page = self
            .call(&link.account, |client| async move {
                client
                    .groups()
                    .list()
                    .limit(SETUP_GROUPS_LISTED)
                    .param("expand", "stats")
                    .decode_as::<GroupWithStats>()
                    .send()
                    .await
            })
            .await?;
        let mut groups: Vec<OrgGroup> = page
            .items
            .into_iter()
            .map(|g| OrgGroup {
                members: g.embedded.and_then(|e| e.stats.users_count),
                id: g.id,
                name: g.profile.name,
            })
            .collect();
        groups.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));
        Ok(groups)
    }

    /// Sets the scope `link`'s admin chose on its scope step, and the role mappings when the
    /// link maps roles (each audited as the link's), before the first sync.
    ///
    /// # Errors
    /// As [`Service::set_scope`] and [`Service::set_role_mappings`].
    pub async fn setup_choose_scope(
        &self,
        link: &SetupLink,
        body: ScopeBody,
        mappings: Option<RoleMappings>,
    ) -> Result<()> {
        let kind = if link.manage { "manage" } else { "setup" };
        let actor = format!("{kind} link {}", link.id);
        self.set_scope(&link.account, body, &actor).await?;
        if let Some(m) = mappings {
            self.set_role_mappings(&link.account, m, &actor).await?;
        }
        Ok(())
    }
}
