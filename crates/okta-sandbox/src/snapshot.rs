//! An org as a JSON document: exported from a running sandbox, loaded into a new one
//! (`--load FILE`), and kept across restarts (`--state FILE`). Grants, keys and the System Log
//! are not part of it: a loaded org starts with no sessions or tokens.
//!
//! # Security
//! Passwords set through the API are written in plaintext: they are the sandbox's fake users'
//! passwords, but treat the file as a secret all the same (it is written with mode 0600).

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::org::{Directory, OrgApp, OrgGroup, OrgUser, Profile};

/// Format version of the document.
const VERSION: u32 = 1;

/// The whole directory of an org.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgSnapshot {
    version: u32,
    user_type_id: String,
    users: Vec<UserRecord>,
    groups: Vec<GroupRecord>,
    apps: Vec<AppRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRecord {
    id: String,
    status: String,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    activated: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    status_changed: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    last_login: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    last_updated: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    password_changed: Option<OffsetDateTime>,
    profile: Map<String, Value>,
    #[serde(default)]
    super_admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRecord {
    id: String,
    #[serde(rename = "type")]
    group_type: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_updated: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_membership_updated: OffsetDateTime,
    members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppRecord {
    id: String,
    label: String,
    sign_on_mode: String,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    url: Option<String>,
    groups: Vec<String>,
    /// Users assigned directly (not through a group).
    #[serde(default)]
    users: Vec<AppUserRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppUserRecord {
    id: String,
    #[serde(with = "time::serde::rfc3339")]
    assigned: OffsetDateTime,
}

fn user_status(s: &str) -> Result<&'static str, String> {
    const ALL: &[&str] = &[
        "ACTIVE",
        "DEPROVISIONED",
        "LOCKED_OUT",
        "PASSWORD_EXPIRED",
        "PROVISIONED",
        "RECOVERY",
        "STAGED",
        "SUSPENDED",
    ];
    ALL.iter()
        .find(|a| **a == s)
        .copied()
        .ok_or_else(|| format!("unknown user status {s:?}"))
}

impl OrgSnapshot {
    /// Reads a document.
    ///
    /// # Errors
    /// A message naming the file and what is wrong with it.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let snap: Self =
            serde_json::from_str(&text).map_err(|e| format!("{} is not an okta-sandbox org: {e}", path.display()))?;
        if snap.version != VERSION {
            return Err(format!(
                "{} is version {} of the org format; this sandbox reads version {VERSION}",
                path.display(),
                snap.version
            ));
        }
        Ok(snap)
    }

    /// Writes the document (mode 0600), replacing the file atomically.
    ///
    /// # Errors
    /// I/O errors, with the path.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        let tmp = path.with_extension("tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let write = || -> std::io::Result<()> {
            let mut f = opts.open(&tmp)?;
            serde_json::to_writer_pretty(&mut f, self)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// How many users the org holds.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// The member counts of its groups besides `Everyone`, largest first.
    pub fn group_sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self
            .groups
            .iter()
            .filter(|g| g.group_type != "BUILT_IN")
            .map(|g| g.members.len())
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes
    }
}

impl Directory {
    /// The directory as a document.
    pub fn snapshot(&self) -> OrgSnapshot {
        let users = self
            .after(None)
            .map(|u| UserRecord {
                id: u.id.clone(),
                status: u.status.to_owned(),
                created: u.created,
                activated: u.activated,
                status_changed: u.status_changed,
                last_login: u.last_login,
                last_updated: u.last_updated,
                password_changed: u.password_changed,
                profile: serde_json::to_value(&u.profile)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default(),
                super_admin: u.is_super_admin,
                password: u.password.as_ref().map(|p| p.expose_secret().to_owned()),
            })
            .collect();
        let groups = self
            .groups
            .values()
            .map(|g| GroupRecord {
                id: g.id.clone(),
                group_type: g.group_type.to_owned(),
                name: g.name.clone(),
                description: g.description.clone(),
                created: g.created,
                last_updated: g.last_updated,
                last_membership_updated: g.last_membership_updated,
                members: self.members_after(&g.id, None).map(|u| u.id.clone()).collect(),
            })
            .collect();
        let apps = self
            .apps
            .values()
            .map(|a| AppRecord {
                id: a.id.clone(),
                label: a.label.clone(),
                sign_on_mode: a.sign_on_mode.to_owned(),
                created: a.created,
                redirect_uris: a.redirect_uris.clone(),
                url: a.url.clone(),
                groups: a.groups.clone(),
                users: a
                    .users
                    .iter()
                    .map(|(id, at)| AppUserRecord {
                        id: id.clone(),
                        assigned: *at,
                    })
                    .collect(),
            })
            .collect();
        OrgSnapshot {
            version: VERSION,
            user_type_id: self.user_type_id.clone(),
            users,
            groups,
            apps,
        }
    }

    /// A directory from a document; links are absolute on `base`.
    ///
    /// # Errors
    /// A message saying which record is wrong.
    pub fn from_snapshot(snap: OrgSnapshot, base: &str, seed: u64) -> Result<Self, String> {
        let mut dir = Directory::empty(snap.user_type_id, base, seed);
        for u in snap.users {
            let field = |name: &str| -> Result<String, String> {
                u.profile
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("user {} has no profile.{name}", u.id))
            };
            let profile = Profile {
                first_name: field("firstName")?,
                last_name: field("lastName")?,
                email: field("email")?,
                login: field("login")?,
                extra: u
                    .profile
                    .iter()
                    .filter(|(k, _)| !["firstName", "lastName", "email", "login"].contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            if dir.login_taken(&profile.login) {
                return Err(format!("login {} appears twice", profile.login));
            }
            dir.insert(OrgUser {
                status: user_status(&u.status)?,
                id: u.id,
                created: u.created,
                activated: u.activated,
                status_changed: u.status_changed,
                last_login: u.last_login,
                last_updated: u.last_updated,
                password_changed: u.password_changed,
                profile,
                is_super_admin: u.super_admin,
                password: u.password.map(SecretString::from),
                list_json: Box::from(""),
            });
        }
        for g in snap.groups {
            let group_type = match g.group_type.as_str() {
                "OKTA_GROUP" => "OKTA_GROUP",
                "BUILT_IN" => "BUILT_IN",
                "APP_GROUP" => "APP_GROUP",
                other => return Err(format!("group {} has unknown type {other:?}", g.id)),
            };
            let gid = g.id.clone();
            dir.groups.insert(
                gid.clone(),
                OrgGroup {
                    id: g.id,
                    created: g.created,
                    last_updated: g.last_updated,
                    last_membership_updated: g.last_membership_updated,
                    group_type,
                    name: g.name,
                    description: g.description,
                },
            );
            for uid in g.members {
                if dir.find(&uid).is_none() {
                    return Err(format!("group {gid} lists unknown member {uid}"));
                }
                dir.add_member(&gid, &uid, g.last_membership_updated);
            }
        }
        for a in snap.apps {
            let sign_on_mode = match a.sign_on_mode.as_str() {
                "OPENID_CONNECT" => "OPENID_CONNECT",
                "BOOKMARK" => "BOOKMARK",
                other => return Err(format!("app {} has unsupported signOnMode {other:?}", a.id)),
            };
            if let Some(bad) = a.groups.iter().find(|g| !dir.groups.contains_key(*g)) {
                return Err(format!("app {} is assigned to unknown group {bad}", a.id));
            }
            if let Some(bad) = a.users.iter().find(|u| dir.find(&u.id).is_none()) {
                return Err(format!("app {} is assigned to unknown user {}", a.id, bad.id));
            }
            dir.apps.insert(
                a.id.clone(),
                OrgApp {
                    id: a.id,
                    label: a.label,
                    created: a.created,
                    sign_on_mode,
                    redirect_uris: a.redirect_uris,
                    url: a.url,
                    groups: a.groups,
                    users: a.users.into_iter().map(|u| (u.id, u.assigned)).collect(),
                },
            );
        }
        Ok(dir)
    }
}
