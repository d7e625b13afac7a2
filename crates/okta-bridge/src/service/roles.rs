//! The application's roles, as its developer declares them (`PUT /api/roles`, `okta-bridge
//! roles set`): checked, then stored whole with who declared them.

use super::Service;
use crate::error::Result;
use crate::model::{Role, check_roles};
use crate::store::StoredRoles;

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
