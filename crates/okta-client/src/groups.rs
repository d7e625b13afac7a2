//! `client.groups()`: the Groups API and group members.

use std::fmt::Display;

use reqwest::Method;
use serde_json::json;

use crate::client::Client;
use crate::error::Result;
use crate::list::List;
use crate::models::{Group, GroupProfile, User};

/// Operations on groups.
#[derive(Debug, Clone)]
pub struct GroupsHandler {
    client: Client,
}

impl List<Group> {
    /// `q`: groups whose name starts with `prefix`.
    pub fn q(self, prefix: impl Into<String>) -> Self {
        self.param("q", prefix)
    }
    /// `filter`: an expression on `type`, `id`, `lastUpdated`, `lastMembershipUpdated`.
    pub fn filter(self, expr: impl Display) -> Self {
        self.param("filter", expr.to_string())
    }
    /// `search`: an expression on any attribute (see [`crate::expr`]).
    pub fn search(self, expr: impl Display) -> Self {
        self.param("search", expr.to_string())
    }
    /// `expand=stats`: each group's `_embedded.stats` (member counts).
    pub fn with_stats(self) -> Self {
        self.param("expand", "stats")
    }
}

impl GroupsHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists groups (`GET /api/v1/groups`).
    pub fn list(&self) -> List<Group> {
        List::new(self.client.clone(), self.client.api_url(&["groups"]))
    }

    /// One group (`GET /api/v1/groups/{groupId}`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] 404 E0000007 when there is no such group.
    pub async fn get(&self, id: &str) -> Result<Group> {
        self.client.get_json(self.client.api_url(&["groups", id])).await
    }

    /// Creates an `OKTA_GROUP` (`POST /api/v1/groups`); not retried once it may have reached Okta.
    ///
    /// # Errors
    /// [`crate::Error::Api`] 400 when the name is taken or missing.
    pub async fn create(&self, profile: &GroupProfile) -> Result<Group> {
        let body = json!({ "profile": profile });
        self.client
            .send_json(Method::POST, self.client.api_url(&["groups"]), Some(&body))
            .await
    }

    /// Replaces a group's profile (`PUT /api/v1/groups/{groupId}`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] when the group does not exist or is not an `OKTA_GROUP`.
    pub async fn replace(&self, id: &str, profile: &GroupProfile) -> Result<Group> {
        let body = json!({ "profile": profile });
        self.client
            .send_json(Method::PUT, self.client.api_url(&["groups", id]), Some(&body))
            .await
    }

    /// Deletes a group (`DELETE /api/v1/groups/{groupId}`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] when the group does not exist or cannot be deleted (`Everyone`).
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .send_unit(Method::DELETE, self.client.api_url(&["groups", id]), None)
            .await
    }

    /// A group's members (`GET /api/v1/groups/{groupId}/users`, up to 1,000 a page).
    pub fn members(&self, id: &str) -> List<User> {
        List::new(self.client.clone(), self.client.api_url(&["groups", id, "users"]))
    }

    /// Adds a user to a group (`PUT /api/v1/groups/{groupId}/users/{userId}`); idempotent.
    ///
    /// # Errors
    /// [`crate::Error::Api`] when either does not exist.
    pub async fn add_member(&self, group_id: &str, user_id: &str) -> Result<()> {
        let url = self.client.api_url(&["groups", group_id, "users", user_id]);
        self.client.send_unit(Method::PUT, url, None).await
    }

    /// Removes a user from a group (`DELETE /api/v1/groups/{groupId}/users/{userId}`).
    ///
    /// # Errors
    /// [`crate::Error::Api`] when either does not exist.
    pub async fn remove_member(&self, group_id: &str, user_id: &str) -> Result<()> {
        let url = self.client.api_url(&["groups", group_id, "users", user_id]);
        self.client.send_unit(Method::DELETE, url, None).await
    }
}
