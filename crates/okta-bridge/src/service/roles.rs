//! The application's roles, as its developer declares them (`PUT /api/roles`, `okta-bridge
//! roles set`), and each account's mappings of its groups to them
//! (`PUT /api/accounts/{name}/role-mappings`, `okta-bridge roles map`): checked, then stored
//! whole with who set them.

use super::Service;
use crate::error::{Error, Result};
use crate::model::{AccountName, Role, RoleMappings, check_mappings, check_roles};
use crate::store::{StoredMappings, StoredRoles};

impl Service {
    /// Declares the application's roles (`roles`, highest priority first), replacing those
    /// declared before; `actor` is who did it. Answers them as stored.
    ///
    /// # Errors
    /// [`crate::error::Error::Invalid`] saying which role is wrong;
    /// [`crate::error::Error::Database`].
    pub async fn set_roles(&self, roles: Vec<Role>, actor: &str) -> Result<StoredRoles> {
        let roles = check_roles(roles)?;
        self.store.put_roles(&roles, actor).await?;
        tracing::info!(roles = roles.len(), actor, "the application's roles were declared");
        self.store.roles().await
    }

    /// The application's roles, highest priority first.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn roles(&self) -> Result<StoredRoles> {
        self.store.roles().await
    }
}

impl Service {
    /// Sets `account`'s role mappings (which roles each group gives, and the default role),
    /// replacing those before; `actor` is who did it (audited). The roles of the account's
    /// users are evaluated again in the same transaction, with a `user.updated`
    /// (`"changed": ["roles"]`) for each whose roles changed. Answers the mappings as stored.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`Error::Invalid`] saying which mapping is wrong (a role
    /// not declared, a group twice, …); [`Error::Database`].
    pub async fn set_role_mappings(
        &self,
        account: &AccountName,
        mappings: RoleMappings,
        actor: &str,
    ) -> Result<StoredMappings> {
        self.known_account(account).await?;
        let declared = self.store.roles().await?;
        let checked = check_mappings(mappings, &declared.roles)?;
        let said = self.store.put_role_mappings(account, &checked, actor).await?;
        if said > 0 {
            self.feed_written.send_modify(|n| *n += 1);
        }
        tracing::info!(account = %account, groups = checked.mappings.len(), users_changed = said, actor, "role mappings set");
        self.store.role_mappings(account).await
    }

    /// `account`'s role mappings.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`Error::Database`].
    pub async fn role_mappings(&self, account: &AccountName) -> Result<StoredMappings> {
        self.known_account(account).await?;
        self.store.role_mappings(account).await
    }

    pub(super) async fn known_account(&self, account: &AccountName) -> Result<()> {
        match self.store.account(account).await? {
            Some(_) => Ok(()),
            None => Err(Error::UnknownAccount(account.to_string())),
        }
    }
}
