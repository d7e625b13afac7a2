//! Which of an org's users an account's directory holds (its sync scope): the whole org (the
//! default), the members of chosen groups, or the users assigned to a chosen app. Set by
//! `PUT /api/accounts/{name}/scope` or `okta-bridge scope set`; the sync reads, stores and says
//! only what is in it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most groups a scope names.
pub const MAX_SCOPE_GROUPS: usize = 100;

/// A scope narrower than the whole org (the whole org is no scope: `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncScope {
    /// The members of these groups (ids in order, each once) and these groups with their
    /// memberships.
    Groups(Vec<String>),
    /// The users assigned to this app (directly or through a group), the app, and the groups
    /// assigned to it with their memberships among those users.
    App(String),
}

impl SyncScope {
    /// In words, for logs and the audit.
    pub fn describe(scope: Option<&Self>) -> String {
        match scope {
            None => "the whole org".to_owned(),
            Some(Self::Groups(g)) => format!("the members of group(s) {}", g.join(", ")),
            Some(Self::App(a)) => format!("the users assigned to app {a}"),
        }
    }
}

/// The body of `PUT /api/accounts/{name}/scope`: exactly one of `{"all": true}`,
/// `{"groups": ["00g…", …]}`, `{"app": "0oa…"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    #[serde(default)]
    pub all: Option<bool>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub app: Option<String>,
}

/// An Okta object id as a scope names it: letters and digits (Okta's ids are 20 of them).
fn check_id(field: &'static str, what: &str, id: &str) -> Result<String> {
    let id = id.trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            field,
            format!(
                "{what}: an Okta id of letters and digits, as the org lists it (such as \"00g1a2b3c4d5e6f7g8h9\"), not {id:?}"
            ),
        ));
    }
    Ok(id.to_owned())
}

/// The scope `body` says (`None`: the whole org), or what is wrong with it.
///
/// # Errors
/// [`Error::Invalid`] saying how to write it.
pub fn check_scope(body: ScopeBody) -> Result<Option<SyncScope>> {
    const HOW: &str = "give exactly one of {\"all\": true}, {\"groups\": [\"00g…\", …]} or {\"app\": \"0oa…\"}";
    match body {
        ScopeBody {
            all: Some(true),
            groups: None,
            app: None,
        } => Ok(None),
        ScopeBody {
            all: None,
            groups: Some(groups),
            app: None,
        } => {
            if groups.is_empty() {
                return Err(Error::invalid(
                    "groups",
                    "groups is empty: name at least one group, or give {\"all\": true} for the whole org",
                ));
            }
            if groups.len() > MAX_SCOPE_GROUPS {
                return Err(Error::invalid(
                    "groups",
                    format!("at most {MAX_SCOPE_GROUPS} groups, not {}", groups.len()),
                ));
            }
            let mut out: Vec<String> = Vec::with_capacity(groups.len());
            for (i, g) in groups.iter().enumerate() {
                let id = check_id("groups", &format!("groups[{i}]"), g)?;
                if out.contains(&id) {
                    return Err(Error::invalid(
                        "groups",
                        format!("groups[{i}] {id:?} is named twice: name each group once"),
                    ));
                }
                out.push(id);
            }
            Ok(Some(SyncScope::Groups(out)))
        }
        ScopeBody {
            all: None,
            groups: None,
            app: Some(app),
        } => Ok(Some(SyncScope::App(check_id("app", "app", &app)?))),
        ScopeBody { all: Some(false), .. } => Err(Error::invalid("all", format!("\"all\": false says nothing: {HOW}"))),
        _ => Err(Error::invalid("scope", HOW)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> ScopeBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn scopes_are_checked() {
        use serde_json::json;
        assert_eq!(check_scope(body(json!({ "all": true }))).unwrap(), None);
        assert_eq!(
            check_scope(body(json!({ "groups": [" 00gB ", "00gA"] }))).unwrap(),
            Some(SyncScope::Groups(vec!["00gB".into(), "00gA".into()]))
        );
        assert_eq!(
            check_scope(body(json!({ "app": "0oa1" }))).unwrap(),
            Some(SyncScope::App("0oa1".into()))
        );
        for (bad, says) in [
            (json!({}), "exactly one"),
            (json!({ "all": true, "app": "0oa1" }), "exactly one"),
            (json!({ "all": false }), "says nothing"),
            (json!({ "groups": [] }), "at least one group"),
            (json!({ "groups": ["00gA", "00gA"] }), "named twice"),
            (json!({ "groups": ["../users"] }), "groups[0]"),
            (json!({ "app": "" }), "an Okta id"),
        ] {
            let e = check_scope(body(bad.clone())).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let many: Vec<String> = (0..=MAX_SCOPE_GROUPS).map(|i| format!("g{i}")).collect();
        let e = check_scope(body(json!({ "groups": many }))).unwrap_err().to_string();
        assert!(e.contains("at most 100"), "{e}");
        assert!(serde_json::from_value::<ScopeBody>(json!({ "users": [] })).is_err());
        // As stored.
        assert_eq!(
            serde_json::to_value(SyncScope::Groups(vec!["00gA".into()])).unwrap(),
            json!({ "groups": ["00gA"] })
        );
        assert_eq!(
            serde_json::to_value(SyncScope::App("0oa1".into())).unwrap(),
            json!({ "app": "0oa1" })
        );
    }
}
