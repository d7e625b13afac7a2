//! `client.apps()`: app instances, their users and group assignments.

use std::fmt::Display;

use crate::client::Client;
use crate::error::Result;
use crate::list::List;
use crate::models::{AppGroupAssignment, AppUser, Application};

/// Operations on apps.
#[derive(Debug, Clone)]
pub struct AppsHandler {
    client: Client,
}

impl List<Application> {
    /// `q`: apps whose name or label starts with `prefix`.
    pub fn q(self, prefix: impl Into<String>) -> Self {
        self.param("q", prefix)
    }
    /// `filter`: an expression on `status`, `name`, `id`, … (see [`crate::expr`]).
    pub fn filter(self, expr: impl Display) -> Self {
        self.param("filter", expr.to_string())
    }
}

impl AppsHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists apps (`GET /api/v1/apps`).
    pub fn list(&self) -> List<Application> {
        List::new(self.client.clone(), self.client.api_url(&["apps"]))
    }

    /// One app (`GET /api/v1/apps/{appId}`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 404 when there is no such app.
    pub async fn get(&self, id: &str) -> Result<Application> {
        self.client.get_json(self.client.api_url(&["apps", id])).await
    }

    /// The users assigned to an app (`GET /api/v1/apps/{appId}/users`).
    pub fn users(&self, id: &str) -> List<AppUser> {
        List::new(self.client.clone(), self.client.api_url(&["apps", id, "users"]))
    }

    /// One user's assignment to an app (`GET /api/v1/apps/{appId}/users/{userId}`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 404 when the user is not assigned to the app (or either does not
    /// exist).
    pub async fn user(&self, app_id: &str, user_id: &str) -> Result<AppUser> {
        self.client
            .get_json(self.client.api_url(&["apps", app_id, "users", user_id]))
            .await
    }

    /// The groups assigned to an app (`GET /api/v1/apps/{appId}/groups`).
    pub fn groups(&self, id: &str) -> List<AppGroupAssignment> {
        List::new(self.client.clone(), self.client.api_url(&["apps", id, "groups"]))
    }
}
