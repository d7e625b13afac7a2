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
}
