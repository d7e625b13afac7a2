//! Typed models following Okta's spec (`User`, `UserProfile`, …). Every model keeps the fields
//! it does not know in `extra`, so custom profile attributes and newer Okta fields survive a
//! round trip.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A user (`#/components/schemas/User`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct User {
    /// The user's id, e.g. `00ub0oNGTSWTBKOLGLNR`.
    pub id: String,
    /// Lifecycle status.
    pub status: UserStatus,
    /// When the user was created.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<OffsetDateTime>,
    /// When the status became `ACTIVE`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub activated: Option<OffsetDateTime>,
    /// When the status last changed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub status_changed: Option<OffsetDateTime>,
    /// Last sign-in.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_login: Option<OffsetDateTime>,
    /// Last change of the user.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<OffsetDateTime>,
    /// Last password change.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub password_changed: Option<OffsetDateTime>,
    /// The user type (`{"id": "oty…"}`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<Value>,
    /// Profile attributes.
    pub profile: UserProfile,
    /// Credentials (password presence, provider, recovery question).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Value>,
    /// HAL links.
    #[serde(rename = "_links", default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user's profile (`#/components/schemas/UserProfile`): the base attributes typed, custom
/// ones in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserProfile {
    /// Unique login, usually an email address.
    pub login: String,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Primary email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Name to display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Mobile phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    /// Secondary email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_email: Option<String>,
    /// Other attributes, base or custom.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user's lifecycle status (`#/components/schemas/UserStatus`). A status this version does
/// not know is kept as [`UserStatus::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum UserStatus {
    /// `ACTIVE`
    Active,
    /// `DEPROVISIONED`
    Deprovisioned,
    /// `LOCKED_OUT`
    LockedOut,
    /// `PASSWORD_EXPIRED`
    PasswordExpired,
    /// `PROVISIONED`
    Provisioned,
    /// `RECOVERY`
    Recovery,
    /// `STAGED`
    Staged,
    /// `SUSPENDED`
    Suspended,
    /// A status Okta added after this version.
    Other(String),
}

impl UserStatus {
    /// Okta's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Deprovisioned => "DEPROVISIONED",
            UserStatus::LockedOut => "LOCKED_OUT",
            UserStatus::PasswordExpired => "PASSWORD_EXPIRED",
            UserStatus::Provisioned => "PROVISIONED",
            UserStatus::Recovery => "RECOVERY",
            UserStatus::Staged => "STAGED",
            UserStatus::Suspended => "SUSPENDED",
            UserStatus::Other(s) => s,
        }
    }
}

impl From<String> for UserStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "ACTIVE" => UserStatus::Active,
            "DEPROVISIONED" => UserStatus::Deprovisioned,
            "LOCKED_OUT" => UserStatus::LockedOut,
            "PASSWORD_EXPIRED" => UserStatus::PasswordExpired,
            "PROVISIONED" => UserStatus::Provisioned,
            "RECOVERY" => UserStatus::Recovery,
            "STAGED" => UserStatus::Staged,
            "SUSPENDED" => UserStatus::Suspended,
            _ => UserStatus::Other(s),
        }
    }
}

impl From<UserStatus> for String {
    fn from(s: UserStatus) -> Self {
        s.as_str().to_owned()
    }
}

impl std::fmt::Display for UserStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Okta's own example of a user (from the spec's `ListUsersResponse`), plus a custom
    /// attribute and an unknown top-level field.
    const OKTA_USER: &str = r#"{
        "id": "00u118oQYT4TBGuay0g4",
        "status": "ACTIVE",
        "created": "2022-04-04T15:56:05.000Z",
        "activated": null,
        "statusChanged": null,
        "lastLogin": "2022-05-04T19:50:52.000Z",
        "lastUpdated": "2022-04-04T15:56:06.000Z",
        "passwordChanged": "2022-04-04T15:56:06.000Z",
        "realmId": "guo1bfiNtSnZYILxO0g4",
        "type": { "id": "oty1162QAr8hJjTaq0g4" },
        "profile": {
            "firstName": "Alice", "lastName": "Smith", "mobilePhone": null, "secondEmail": null,
            "login": "alice.smith@example.com", "email": "alice.smith@example.com",
            "costCenter": "42", "favouriteColour": "teal"
        },
        "credentials": { "password": {}, "provider": { "type": "OKTA", "name": "OKTA" } },
        "_links": { "self": { "href": "https://dev.okta.com/api/v1/users/00u118oQYT4TBGuay0g4" } }
    }"#;

    #[test]
    fn decodes_okta_user_and_keeps_unknown_fields() {
        let u: User = serde_json::from_str(OKTA_USER).unwrap();
        assert_eq!(u.id, "00u118oQYT4TBGuay0g4");
        assert_eq!(u.status, UserStatus::Active);
        assert_eq!(u.profile.first_name.as_deref(), Some("Alice"));
        assert_eq!(u.profile.extra["favouriteColour"], "teal");
        assert_eq!(u.extra["realmId"], "guo1bfiNtSnZYILxO0g4");
        assert_eq!(u.last_login.unwrap().unix_timestamp(), 1_651_693_852);
        let again: User = serde_json::from_value(serde_json::to_value(&u).unwrap()).unwrap();
        assert_eq!(again, u, "round trip keeps every field");
    }

    #[test]
    fn unknown_status_is_kept() {
        let s: UserStatus = serde_json::from_str("\"ACTIVATING\"").unwrap();
        assert_eq!(s, UserStatus::Other("ACTIVATING".into()));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"ACTIVATING\"");
    }
}
