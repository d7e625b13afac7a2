//! API keys: credentials for applications calling okta-bridge's API, each with a scope that
//! limits what it may do. Stored as a hash; the key itself is shown once, when made.

use crate::error::Error;

/// What a key may do. Each scope includes the ones before it: `admin` ⊇ `connections:write`
/// ⊇ `directory:read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Scope {
    /// Read connections, synced directories, change feeds and (through the proxy) Okta's API
    /// with `GET` and `HEAD`.
    #[serde(rename = "directory:read")]
    DirectoryRead,
    /// Also add, connect, sync and disconnect accounts, make setup links, register event hooks
    /// and write to Okta through the proxy.
    #[serde(rename = "connections:write")]
    ConnectionsWrite,
    /// Everything, including webhooks, API keys and the audit log.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope, narrowest first.
    pub const ALL: [Self; 3] = [Self::DirectoryRead, Self::ConnectionsWrite, Self::Admin];

    /// `directory:read`, `connections:write` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DirectoryRead => "directory:read",
            Self::ConnectionsWrite => "connections:write",
            Self::Admin => "admin",
        }
    }

    /// The scope named `s`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the scopes there are.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
            Error::invalid(
                "scope",
                format!("unknown scope {s:?}: use directory:read, connections:write or admin"),
            )
        })
    }

    /// Whether a key of this scope may do what `needed` allows.
    pub fn covers(self, needed: Self) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The prefix of every key: a leaked one is recognisable (secret scanners, logs).
pub const API_KEY_PREFIX: &str = "okb_";

/// An API key as stored (without the key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// `ak_…`: names the key in lists and audit records.
    pub id: String,
    /// What the key is for, unique among keys not revoked.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was made (unix seconds).
    pub created_at: i64,
    /// When it was last used (to the minute), if ever.
    pub last_used_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// Checks a key's name: 1-64 characters of letters, digits, `-`, `_`, `.` and spaces.
///
/// # Errors
/// [`Error::Invalid`] saying what is allowed.
pub fn check_key_name(name: &str) -> Result<(), Error> {
    let ok = !name.trim().is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            format!("API key name {name:?} is not valid: use 1-64 letters, digits, spaces, '-', '_' or '.'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wider_scopes_cover_narrower_ones() {
        assert!(Scope::Admin.covers(Scope::ConnectionsWrite));
        assert!(Scope::ConnectionsWrite.covers(Scope::DirectoryRead));
        assert!(!Scope::DirectoryRead.covers(Scope::ConnectionsWrite));
        assert!(!Scope::ConnectionsWrite.covers(Scope::Admin));
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(
            Scope::parse("write")
                .unwrap_err()
                .to_string()
                .contains("directory:read")
        );
    }

    #[test]
    fn key_names_are_checked() {
        assert!(check_key_name("ci deploy-1").is_ok());
        assert!(check_key_name("").is_err());
        assert!(check_key_name("a/b").is_err());
        assert!(check_key_name(&"x".repeat(65)).is_err());
    }
}
