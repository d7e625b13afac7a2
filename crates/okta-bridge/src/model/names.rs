//! Validated names: once constructed, always valid.

use std::fmt;

use crate::error::Error;

/// The name an account and its connection are stored under, e.g. `dev-207260`: 1–63
/// characters of lower-case letters, digits, `-`, `_` and `.`, starting with a letter or digit
/// (safe in URLs and paths).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AccountName(String);

impl AccountName {
    /// Checks `name`.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying which characters are allowed.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::invalid(
                "name",
                format!(
                    "account name {name:?} is not valid: use 1-63 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit"
                ),
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A space-separated set of OAuth scopes, each a non-empty run of printable ASCII without
/// spaces, quotes or backslashes (RFC 6749 §3.3). Empty only where nothing is asked for (an
/// API-token account).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses `okta.users.read offline_access`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty list or a character RFC 6749 does not allow.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let scopes = Self::parse_any(s)?;
        if scopes.is_empty() {
            return Err(Error::invalid(
                "scopes",
                "the scope list is empty: give at least one scope, e.g. okta.users.read",
            ));
        }
        Ok(scopes)
    }

    /// Parses a list that may be empty (as stored for an API-token account or connection).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a character RFC 6749 does not allow.
    pub fn parse_any(s: &str) -> Result<Self, Error> {
        let scopes: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        if let Some(bad) = scopes
            .iter()
            .find(|t| t.chars().any(|c| !('!'..='~').contains(&c) || c == '"' || c == '\\'))
        {
            return Err(Error::invalid(
                "scopes",
                format!("scope {bad:?} holds a character OAuth does not allow"),
            ));
        }
        Ok(Self(scopes))
    }

    /// No scopes.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Each scope.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether `scope` is included.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl serde::Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names() {
        for ok in ["dev-207260", "acme", "a", "127-0-0-1-8055", "x.y_z"] {
            assert!(AccountName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Dev", "-x", "a b", "a/b", "é", &"a".repeat(64)] {
            assert!(AccountName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes() {
        let s = Scopes::parse(" okta.users.read  offline_access ").unwrap();
        assert_eq!(s.to_string(), "okta.users.read offline_access");
        assert!(s.contains("offline_access"));
        assert!(Scopes::parse("   ").is_err());
        assert!(Scopes::parse_any("").unwrap().is_empty());
        assert!(Scopes::parse("a\"b").is_err());
    }
}
