//! The application's roles: what it calls the people of a customer's directory (`admin`,
//! `member`, `viewer`), declared once by its developer, in the order of their priority. Groups
//! of each account map to them (issue 28); users carry the slugs of theirs.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most roles an application declares.
pub const MAX_ROLES: usize = 100;

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// What mappings and users name it by: lowercase ASCII letters, digits, `-` and `_`,
    /// starting with a letter, at most 64 characters.
    pub slug: String,
    /// What people see.
    pub name: String,
}

/// The body of `PUT /api/roles`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesBody {
    /// The roles, highest priority first.
    pub roles: Vec<Role>,
}

fn valid_slug(slug: &str) -> bool {
    let mut chars = slug.chars();
    slug.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// `roles` checked: valid and distinct slugs, names of 1 to 100 characters (trimmed), at most
/// [`MAX_ROLES`]. Answers them with their names trimmed.
///
/// # Errors
/// [`Error::Invalid`] saying which role is wrong and how.
pub fn check_roles(roles: Vec<Role>) -> Result<Vec<Role>> {
    if roles.len() > MAX_ROLES {
        return Err(Error::invalid(
            "roles",
            format!("at most {MAX_ROLES} roles, not {}", roles.len()),
        ));
    }
    let mut out: Vec<Role> = Vec::with_capacity(roles.len());
    for (i, r) in roles.into_iter().enumerate() {
        if !valid_slug(&r.slug) {
            return Err(Error::invalid(
                "roles",
                format!(
                    "roles[{i}].slug {:?}: a slug is lowercase letters, digits, - and _, starting with a letter, at most 64 characters (such as \"admin\")",
                    r.slug
                ),
            ));
        }
        if out.iter().any(|o| o.slug == r.slug) {
            return Err(Error::invalid(
                "roles",
                format!("roles[{i}].slug {:?} is declared twice: each slug once", r.slug),
            ));
        }
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::invalid(
                "roles",
                format!("roles[{i}].name: 1 to 100 characters, what people see (such as \"Admin\")"),
            ));
        }
        out.push(Role {
            slug: r.slug,
            name: name.to_owned(),
        });
    }
    Ok(out)
}

/// The most group mappings an account has.
pub const MAX_ROLE_MAPPINGS: usize = 1000;

/// One group's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// The group's id in the account's directory (`00g…` for a pulled one).
    pub group: String,
    /// The slugs of the roles its members get.
    pub roles: Vec<String>,
}

/// An account's role mappings: the body of `PUT /api/accounts/{name}/role-mappings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMappings {
    /// Each mapped group once.
    pub mappings: Vec<RoleMapping>,
    /// The role of a user in no mapped group (none: no role).
    #[serde(default)]
    pub default: Option<String>,
}

/// `m` checked against the declared roles `declared`: each group once (an id of 1 to 255
/// characters, no control characters), each with declared, distinct roles; a declared default;
/// at most [`MAX_ROLE_MAPPINGS`]. Answers it with each group's roles in the declared order.
///
/// # Errors
/// [`Error::Invalid`] saying which mapping is wrong and how.
pub fn check_mappings(m: RoleMappings, declared: &[Role]) -> Result<RoleMappings> {
    let position = |slug: &str| declared.iter().position(|r| r.slug == slug);
    let unknown = |what: String, slug: &str| {
        let known: Vec<&str> = declared.iter().map(|r| r.slug.as_str()).collect();
        Error::invalid(
            "mappings",
            if known.is_empty() {
                format!("{what} names role {slug:?}, and no roles are declared: declare them first (PUT /api/roles)")
            } else {
                format!(
                    "{what} names role {slug:?}, which is not declared (the roles are {})",
                    known.join(", ")
                )
            },
        )
    };
    if m.mappings.len() > MAX_ROLE_MAPPINGS {
        return Err(Error::invalid(
            "mappings",
            format!("at most {MAX_ROLE_MAPPINGS} mappings, not {}", m.mappings.len()),
        ));
    }
    let mut out: Vec<RoleMapping> = Vec::with_capacity(m.mappings.len());
    for (i, mapping) in m.mappings.into_iter().enumerate() {
        let group = mapping.group.trim().to_owned();
        if group.is_empty() || group.len() > 255 || group.chars().any(char::is_control) {
            return Err(Error::invalid(
                "mappings",
                format!(
                    "mappings[{i}].group: a group's id, as the directory lists it (such as \"00g1a2b3c4d5e6f7g8h9\")"
                ),
            ));
        }
        if out.iter().any(|o| o.group == group) {
            return Err(Error::invalid(
                "mappings",
                format!("mappings[{i}].group {group:?} is mapped twice: give each group once, with all its roles"),
            ));
        }
        if mapping.roles.is_empty() {
            return Err(Error::invalid(
                "mappings",
                format!("mappings[{i}].roles is empty: give the roles its members get, or leave the group out"),
            ));
        }
        let mut roles = Vec::with_capacity(mapping.roles.len());
        for slug in mapping.roles {
            let Some(p) = position(&slug) else {
                return Err(unknown(format!("mappings[{i}]"), &slug));
            };
            roles.push((p, slug));
        }
        roles.sort();
        roles.dedup();
        out.push(RoleMapping {
            group,
            roles: roles.into_iter().map(|(_, s)| s).collect(),
        });
    }
    if let Some(d) = &m.default
        && position(d).is_none()
    {
        return Err(unknown("default".into(), d));
    }
    Ok(RoleMappings {
        mappings: out,
        default: m.default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(slug: &str, name: &str) -> Role {
        Role {
            slug: slug.into(),
            name: name.into(),
        }
    }

    #[test]
    fn roles_are_checked_and_each_refusal_says_which_and_how() {
        let ok = check_roles(vec![role("admin", " Admin "), role("read-only_2", "Viewer")]).unwrap();
        assert_eq!(ok, vec![role("admin", "Admin"), role("read-only_2", "Viewer")]);
        assert!(
            check_roles(Vec::new()).unwrap().is_empty(),
            "no roles is a declaration too"
        );
        for (bad, says) in [
            (vec![role("Admin", "A")], "roles[0].slug \"Admin\""),
            (vec![role("1st", "A")], "starting with a letter"),
            (vec![role("", "A")], "roles[0].slug \"\""),
            (vec![role(&"a".repeat(65), "A")], "at most 64"),
            (
                vec![role("a", "A"), role("a", "B")],
                "roles[1].slug \"a\" is declared twice",
            ),
            (vec![role("a", "  ")], "roles[0].name"),
        ] {
            let e = check_roles(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{e} should say {says}");
        }
        let many = (0..=MAX_ROLES).map(|i| role(&format!("r{i}"), "R")).collect();
        assert!(check_roles(many).unwrap_err().to_string().contains("at most 100"));
    }

    fn mapping(group: &str, roles: &[&str]) -> RoleMapping {
        RoleMapping {
            group: group.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn mappings_name_declared_roles_each_group_once() {
        let declared = vec![
            role("admin", "Admin"),
            role("member", "Member"),
            role("viewer", "Viewer"),
        ];
        let ok = check_mappings(
            RoleMappings {
                mappings: vec![mapping(" 00gA ", &["viewer", "admin", "viewer"])],
                default: Some("member".into()),
            },
            &declared,
        )
        .unwrap();
        assert_eq!(
            ok.mappings,
            vec![mapping("00gA", &["admin", "viewer"])],
            "in the declared order, once each"
        );
        for (bad, says) in [
            (
                vec![mapping("00gA", &["owner"])],
                "mappings[0] names role \"owner\", which is not declared (the roles are admin, member, viewer)",
            ),
            (vec![mapping("00gA", &[])], "mappings[0].roles is empty"),
            (vec![mapping("", &["admin"])], "mappings[0].group"),
            (
                vec![mapping("00gA", &["admin"]), mapping("00gA", &["viewer"])],
                "mappings[1].group \"00gA\" is mapped twice",
            ),
        ] {
            let e = check_mappings(
                RoleMappings {
                    mappings: bad,
                    default: None,
                },
                &declared,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(says), "{e} should say {says}");
        }
        let e = check_mappings(
            RoleMappings {
                mappings: Vec::new(),
                default: Some("root".into()),
            },
            &declared,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("default names role \"root\""), "{e}");
        let e = check_mappings(
            RoleMappings {
                mappings: vec![mapping("g", &["admin"])],
                default: None,
            },
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no roles are declared: declare them first"), "{e}");
    }
}
