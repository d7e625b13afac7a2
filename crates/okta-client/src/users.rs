//! `client.users()`: the Users API.

use std::fmt::Display;

use reqwest::Method;
use serde_json::json;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::list::List;
use crate::models::{Group, NewUser, User, UserProfile};

/// Operations on users.
#[derive(Debug, Clone)]
pub struct UsersHandler {
    client: Client,
}

/// A `GET /api/v1/users` request being built (see [`List`]).
pub type ListUsers = List<User>;

impl List<User> {
    /// `q`: users whose first name, last name or email starts with `prefix` (Okta lists 10 by
    /// default then, and never DEPROVISIONED users).
    pub fn q(self, prefix: impl Into<String>) -> Self {
        self.param("q", prefix)
    }
    /// `filter`: an expression on `status`, `lastUpdated`, `id`, `profile.login`,
    /// `profile.email`, `profile.firstName`, `profile.lastName` (see [`crate::expr`]).
    pub fn filter(self, expr: impl Display) -> Self {
        self.param("filter", expr.to_string())
    }
    /// `search`: an expression on any attribute (see [`crate::expr`]).
    pub fn search(self, expr: impl Display) -> Self {
        self.param("search", expr.to_string())
    }
    /// `sortBy` with `sortOrder` (`search` only).
    pub fn sort_by(self, attr: impl Into<String>, ascending: bool) -> Self {
        self.param("sortBy", attr)
            .param("sortOrder", if ascending { "asc" } else { "desc" })
    }
}

/// A lifecycle operation (`POST /api/v1/users/{id}/lifecycle/{operation}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lifecycle {
    /// STAGED/PROVISIONED/DEPROVISIONED → ACTIVE (or PROVISIONED without credentials).
    Activate,
    /// PROVISIONED → sends a new activation.
    Reactivate,
    /// → DEPROVISIONED.
    Deactivate,
    /// ACTIVE → SUSPENDED.
    Suspend,
    /// SUSPENDED → ACTIVE.
    Unsuspend,
    /// LOCKED_OUT → ACTIVE.
    Unlock,
    /// → RECOVERY.
    ResetPassword,
    /// → PASSWORD_EXPIRED.
    ExpirePassword,
}

impl Lifecycle {
    fn path(self) -> &'static str {
        match self {
            Lifecycle::Activate => "activate",
            Lifecycle::Reactivate => "reactivate",
            Lifecycle::Deactivate => "deactivate",
            Lifecycle::Suspend => "suspend",
            Lifecycle::Unsuspend => "unsuspend",
            Lifecycle::Unlock => "unlock",
            Lifecycle::ResetPassword => "reset_password",
            Lifecycle::ExpirePassword => "expire_password",
        }
    }
}

impl UsersHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists users (`GET /api/v1/users`): build the request, then `.send()` for one page or
    /// `.stream()` for every user.
    pub fn list(&self) -> ListUsers {
        List::new(self.client.clone(), self.client.api_url(&["users"]))
    }

    /// One user by id, login, or `me` (`GET /api/v1/users/{idOrLogin}`).
    ///
    /// # Errors
    /// [`Error::Api`] with status 404 and code `E0000007` when there is no such user.
    pub async fn get(&self, id_or_login: &str) -> Result<User> {
        self.client
            .get_json::<User>(self.client.api_url(&["users", id_or_login]))
            .await
    }

    /// Creates a user (`POST /api/v1/users?activate=…`). Not retried once it may have reached
    /// Okta: a retry could create the user twice.
    ///
    /// # Errors
    /// [`Error::Api`] with E0000001 and the failing fields as causes when Okta refuses it.
    pub async fn create(&self, user: &NewUser, activate: bool) -> Result<User> {
        let mut url = self.client.api_url(&["users"]);
        url.query_pairs_mut()
            .append_pair("activate", if activate { "true" } else { "false" });
        let body = serde_json::to_value(user).map_err(|e| Error::Config(format!("cannot encode the user: {e}")))?;
        self.client.send_json(Method::POST, url, Some(&body)).await
    }

    /// Changes the given profile attributes, leaving the others (`POST /api/v1/users/{id}`).
    ///
    /// # Errors
    /// [`Error::Api`] when the user does not exist or a value is refused.
    pub async fn update_profile(&self, id: &str, changes: serde_json::Map<String, serde_json::Value>) -> Result<User> {
        let body = json!({ "profile": changes });
        self.client
            .send_json(Method::POST, self.client.api_url(&["users", id]), Some(&body))
            .await
    }

    /// Replaces the whole profile (`PUT /api/v1/users/{id}`): attributes left out are removed.
    ///
    /// # Errors
    /// [`Error::Api`] when the user does not exist or a value is refused.
    pub async fn replace_profile(&self, id: &str, profile: &UserProfile) -> Result<User> {
        let body = json!({ "profile": profile });
        self.client
            .send_json(Method::PUT, self.client.api_url(&["users", id]), Some(&body))
            .await
    }

    /// Deletes a user (`DELETE /api/v1/users/{id}`): as Okta does, the first call deactivates
    /// a user who is not DEPROVISIONED yet, the second deletes.
    ///
    /// # Errors
    /// [`Error::Api`] when the user does not exist.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .send_unit(Method::DELETE, self.client.api_url(&["users", id]), None)
            .await
    }

    /// Runs a lifecycle operation, without sending Okta's emails (`sendEmail=false`). Returns
    /// what Okta answers: nothing for most operations, an activation or reset link otherwise.
    ///
    /// # Errors
    /// [`Error::Api`] with E0000038 (or E0000001 for suspend/unsuspend) when the user's status
    /// does not allow it, E0000016 when activating an active user.
    pub async fn lifecycle(&self, id: &str, op: Lifecycle) -> Result<Option<serde_json::Value>> {
        let mut url = self.client.api_url(&["users", id, "lifecycle", op.path()]);
        url.query_pairs_mut().append_pair("sendEmail", "false");
        let raw = self.client.execute(Method::POST, url, None).await?;
        if raw.bytes.is_empty() {
            return Ok(None);
        }
        let v: serde_json::Value = raw.json()?;
        Ok(if v.as_object().is_some_and(|o| o.is_empty()) {
            None
        } else {
            Some(v)
        })
    }

    /// The groups a user belongs to (`GET /api/v1/users/{id}/groups`).
    pub fn groups(&self, id: &str) -> List<Group> {
        List::new(self.client.clone(), self.client.api_url(&["users", id, "groups"]))
    }
}
