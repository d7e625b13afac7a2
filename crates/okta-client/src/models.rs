//! Typed models following Okta's spec (`User`, `UserProfile`, …). Every model keeps the fields
//! it does not know in `extra`, so custom profile attributes and newer Okta fields survive a
//! round trip.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A user (`#/components/schemas/User`). Decoded by hand rather than with `#[serde(flatten)]`,
/// which buffers every field before decoding it: listing users is the hot path.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub user_type: Option<UserType>,
    /// Profile attributes.
    pub profile: UserProfile,
    /// Credentials (password presence, provider, recovery question).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<UserCredentials>,
    /// HAL links, kept as Okta sent them.
    #[serde(rename = "_links", default, skip_serializing_if = "Option::is_none")]
    pub links: Option<RawJson>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user's profile (`#/components/schemas/UserProfile`): the base attributes typed, custom
/// ones in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
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

/// A piece of JSON kept exactly as received, decoded only when asked for (HAL links, which
/// few callers read, cost nothing this way on the hot path of listing users).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<serde_json::value::RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
    /// Decoded.
    ///
    /// # Errors
    /// When it does not decode as `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.0.get())
    }
}

/// Equal when they hold the same JSON, however it is spaced.
impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get() || self.parse::<Value>().ok() == other.parse::<Value>().ok()
    }
}

/// A user's type (`#/components/schemas/UserType` as embedded in a user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserType {
    /// Its id, e.g. `oty1162QAr8hJjTaq0g4`.
    pub id: String,
}

/// A user's credentials as Okta shows them (`#/components/schemas/UserCredentials`): never a
/// password's value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserCredentials {
    /// `{}` when the user has a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Value>,
    /// Who authenticates the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<AuthProvider>,
    /// `{"question": "…"}` when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_question: Option<Value>,
}

/// The authentication provider of a user (`#/components/schemas/AuthenticationProvider`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthProvider {
    /// `OKTA`, `ACTIVE_DIRECTORY`, `LDAP`, `FEDERATION`, `SOCIAL` or `IMPORT`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A map key: one of the names `known` lists (by index), or another name (kept).
enum Key {
    Known(usize),
    Other(String),
}

struct KeySeed(&'static [&'static str]);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match self.0.iter().position(|k| *k == v) {
            Some(i) => Key::Known(i),
            None => Key::Other(v.to_owned()),
        })
    }
}

/// An RFC 3339 time or null.
struct OptTime(Option<OffsetDateTime>);

impl<'de> Deserialize<'de> for OptTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        time::serde::rfc3339::option::deserialize(d).map(OptTime)
    }
}

const USER_FIELDS: &[&str] = &[
    "id",
    "status",
    "created",
    "activated",
    "statusChanged",
    "lastLogin",
    "lastUpdated",
    "passwordChanged",
    "type",
    "profile",
    "credentials",
    "_links",
];

impl<'de> Deserialize<'de> for User {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = User;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an Okta user object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<User, A::Error> {
                let (mut id, mut status, mut profile) = (None, None, None);
                let mut times: [Option<OffsetDateTime>; 6] = [None; 6];
                let (mut user_type, mut credentials, mut links) = (None, None, None);
                let mut extra = Map::new();
                while let Some(key) = map.next_key_seed(KeySeed(USER_FIELDS))? {
                    match key {
                        Key::Known(0) => id = Some(map.next_value::<String>()?),
                        Key::Known(1) => status = Some(map.next_value::<UserStatus>()?),
                        Key::Known(i @ 2..=7) => times[i - 2] = map.next_value::<OptTime>()?.0,
                        Key::Known(8) => user_type = map.next_value::<Option<UserType>>()?,
                        Key::Known(9) => profile = Some(map.next_value::<UserProfile>()?),
                        Key::Known(10) => credentials = map.next_value::<Option<UserCredentials>>()?,
                        Key::Known(_) => links = map.next_value::<Option<RawJson>>()?,
                        Key::Other(k) => {
                            extra.insert(k, map.next_value::<Value>()?);
                        }
                    }
                }
                let [
                    created,
                    activated,
                    status_changed,
                    last_login,
                    last_updated,
                    password_changed,
                ] = times;
                Ok(User {
                    id: id.ok_or_else(|| serde::de::Error::missing_field("id"))?,
                    status: status.ok_or_else(|| serde::de::Error::missing_field("status"))?,
                    created,
                    activated,
                    status_changed,
                    last_login,
                    last_updated,
                    password_changed,
                    user_type,
                    profile: profile.ok_or_else(|| serde::de::Error::missing_field("profile"))?,
                    credentials,
                    links,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

const PROFILE_FIELDS: &[&str] = &[
    "login",
    "firstName",
    "lastName",
    "email",
    "displayName",
    "mobilePhone",
    "secondEmail",
];

impl<'de> Deserialize<'de> for UserProfile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = UserProfile;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an Okta user profile")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UserProfile, A::Error> {
                let mut login = None;
                let mut known: [Option<String>; 6] = Default::default();
                let mut extra = Map::new();
                while let Some(key) = map.next_key_seed(KeySeed(PROFILE_FIELDS))? {
                    match key {
                        Key::Known(0) => login = Some(map.next_value::<String>()?),
                        Key::Known(i) => known[i - 1] = map.next_value::<Option<String>>()?,
                        Key::Other(k) => {
                            extra.insert(k, map.next_value::<Value>()?);
                        }
                    }
                }
                let [first_name, last_name, email, display_name, mobile_phone, second_email] = known;
                Ok(UserProfile {
                    login: login.ok_or_else(|| serde::de::Error::missing_field("login"))?,
                    first_name,
                    last_name,
                    email,
                    display_name,
                    mobile_phone,
                    second_email,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl UserProfile {
    /// The four attributes Okta requires of a new user.
    pub fn new(
        login: impl Into<String>,
        first_name: impl Into<String>,
        last_name: impl Into<String>,
        email: impl Into<String>,
    ) -> Self {
        Self {
            login: login.into(),
            first_name: Some(first_name.into()),
            last_name: Some(last_name.into()),
            email: Some(email.into()),
            ..Self::default()
        }
    }
}

/// The body of `POST /api/v1/users` (`#/components/schemas/CreateUserRequest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewUser {
    /// Its profile.
    pub profile: UserProfile,
    /// Credentials, e.g. `{"password": {"value": "…"}}`; `None` to let the user set them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Value>,
}

impl NewUser {
    /// A user without credentials (activated, the user sets a password from the email).
    pub fn new(profile: UserProfile) -> Self {
        Self {
            profile,
            credentials: None,
        }
    }
    /// With a password. The value is sent once and kept nowhere by this crate.
    #[must_use]
    pub fn with_password(mut self, password: &secrecy::SecretString) -> Self {
        use secrecy::ExposeSecret;
        self.credentials = Some(serde_json::json!({ "password": { "value": password.expose_secret() } }));
        self
    }
}

/// A group (`#/components/schemas/Group`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Group {
    /// Its id, e.g. `00g1emaKYZTWRYYRRTSK`.
    pub id: String,
    /// `OKTA_GROUP`, `APP_GROUP` or `BUILT_IN`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<String>,
    /// When it was created.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<OffsetDateTime>,
    /// Last change of its profile.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<OffsetDateTime>,
    /// Last change of its members.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_membership_updated: Option<OffsetDateTime>,
    /// Its profile.
    pub profile: GroupProfile,
    /// Fields this version does not model (`objectClass`, `_links`, `_embedded`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A group's profile (`#/components/schemas/OktaUserGroupProfile`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GroupProfile {
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Other attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GroupProfile {
    /// A profile with a name and an optional description.
    pub fn new(name: impl Into<String>, description: Option<String>) -> Self {
        Self {
            name: name.into(),
            description,
            extra: Map::new(),
        }
    }
}

/// An app instance (`#/components/schemas/Application`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Application {
    /// Its id, e.g. `0oa1gjh63g214q0Hq0g4`.
    pub id: String,
    /// The app's catalog name (`oidc_client`, `bookmark`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its label, as users see it.
    pub label: String,
    /// `ACTIVE` or `INACTIVE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// How users sign in (`OPENID_CONNECT`, `BOOKMARK`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_on_mode: Option<String>,
    /// When it was created.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<OffsetDateTime>,
    /// Last change.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<OffsetDateTime>,
    /// Fields this version does not model (`settings`, `credentials`, `_links`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user assigned to an app (`#/components/schemas/AppUser`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppUser {
    /// The user's id.
    pub id: String,
    /// `USER` (assigned directly) or `GROUP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The assignment's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The app-specific profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Value>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A group assigned to an app (`#/components/schemas/ApplicationGroupAssignment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppGroupAssignment {
    /// The group's id.
    pub id: String,
    /// Its priority among the app's assignments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An event of the System Log (`#/components/schemas/LogEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LogEvent {
    /// Its unique id.
    pub uuid: String,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub published: OffsetDateTime,
    /// Its type, e.g. `user.lifecycle.create`.
    pub event_type: String,
    /// `DEBUG`, `INFO`, `WARN` or `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// A sentence for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_message: Option<String>,
    /// Who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<LogEntity>,
    /// What it was done to.
    #[serde(default)]
    pub target: Vec<LogEntity>,
    /// Fields this version does not model (`outcome`, `client`, `debugContext`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The actor or a target of a [`LogEvent`] (`#/components/schemas/LogActor`, `LogTarget`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LogEntity {
    /// Its id.
    pub id: String,
    /// Its type (`User`, `UserGroup`, `AppInstance`, …).
    #[serde(rename = "type")]
    pub entity_type: String,
    /// Another id, e.g. a login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_id: Option<String>,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
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
