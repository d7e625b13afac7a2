//! Every change to the directory, whoever makes it: the Management API's handlers and the
//! churn generator both go through a [`Writer`], so a change looks the same (timestamps,
//! checks, System Log events) whichever path made it.
//!
//! A writer holds the directory for writing while it works and records each change's events
//! before it lets go, so the System Log stores events in the order their changes were made.

use std::sync::RwLockWriteGuard;

use secrecy::SecretString;
use serde_json::Value;

use crate::error::ApiError;
use crate::org::{Directory, OrgGroup, OrgUser, Profile};
use crate::state::SandboxState;
use crate::syslog::Target;
use crate::util::now;

/// A user to create.
#[derive(Debug)]
pub(crate) struct NewUser {
    pub profile: Profile,
    pub password: Option<SecretString>,
    pub activate: bool,
    pub group_ids: Vec<String>,
}

/// The user lifecycle operations (`/api/v1/users/{id}/lifecycle/{operation}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Activate,
    Reactivate,
    Deactivate,
    Suspend,
    Unsuspend,
    Unlock,
    ResetPassword,
    ExpirePassword,
}

impl Lifecycle {
    /// The operation named in a lifecycle path.
    pub fn parse(op: &str) -> Option<Self> {
        Some(match op {
            "activate" => Self::Activate,
            "reactivate" => Self::Reactivate,
            "deactivate" => Self::Deactivate,
            "suspend" => Self::Suspend,
            "unsuspend" => Self::Unsuspend,
            "unlock" => Self::Unlock,
            "reset_password" => Self::ResetPassword,
            "expire_password" => Self::ExpirePassword,
            _ => return None,
        })
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Activate => "activate",
            Self::Reactivate => "reactivate",
            Self::Deactivate => "deactivate",
            Self::Suspend => "suspend",
            Self::Unsuspend => "unsuspend",
            Self::Unlock => "unlock",
            Self::ResetPassword => "reset the password of",
            Self::ExpirePassword => "expire the password of",
        }
    }
}

/// One event a writer recorded: its uuid and type.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub uuid: String,
    pub event_type: &'static str,
}

/// The directory, held for writing on behalf of `actor` (a user id).
pub(crate) struct Writer<'a> {
    s: &'a SandboxState,
    pub dir: RwLockWriteGuard<'a, Directory>,
    actor: String,
    /// The events recorded so far, in order.
    pub events: Vec<Recorded>,
}

impl SandboxState {
    /// Takes the directory for writing on behalf of `actor`. Never held across an `.await`.
    pub(crate) fn writer(&self, actor: &str) -> Writer<'_> {
        Writer {
            s: self,
            dir: self.directory.write().expect("directory lock"),
            actor: actor.to_owned(),
            events: Vec::new(),
        }
    }
}

fn user_not_found(id: &str) -> ApiError {
    ApiError::not_found(id, "User")
}

fn group_not_found(id: &str) -> ApiError {
    ApiError::not_found(id, "UserGroup")
}

fn login_taken() -> ApiError {
    ApiError::validation_cause("login: An object with this field already exists in the current organization")
}

fn user_target(u: &OrgUser) -> Target {
    let name = format!("{} {}", u.profile.first_name, u.profile.last_name);
    Target::new("User", &u.id, Some(&u.profile.login), Some(&name))
}

fn group_target(g: &OrgGroup) -> Target {
    Target::new("UserGroup", &g.id, None, Some(&g.name))
}

impl Writer<'_> {
    fn record(&mut self, event_type: &'static str, targets: &[Target]) {
        let uuid = self.s.record_in(&self.dir, &self.actor, event_type, targets, true);
        self.events.push(Recorded { uuid, event_type });
    }

    fn user(&self, id: &str) -> Result<OrgUser, ApiError> {
        self.dir.find(id).cloned().ok_or_else(|| user_not_found(id))
    }

    /// A user in Okta's JSON shape (full links), after the changes made so far.
    pub fn user_json(&self, id: &str) -> Value {
        self.dir.find(id).map(|u| self.dir.user_json(u)).unwrap_or_default()
    }

    /// A group in Okta's JSON shape, after the changes made so far.
    pub fn group_json(&self, gid: &str) -> Value {
        self.dir
            .groups
            .get(gid)
            .map(|g| self.dir.group_json(g, false))
            .unwrap_or_default()
    }

    /// Creates a user: STAGED without activation, otherwise ACTIVE with a password and
    /// PROVISIONED without one; a member of `Everyone` and of `group_ids`.
    pub fn create_user(&mut self, new: NewUser) -> Result<String, ApiError> {
        if self.dir.login_taken(&new.profile.login) {
            return Err(login_taken());
        }
        if let Some(bad) = new
            .group_ids
            .iter()
            .find(|g| !self.dir.groups.get(*g).is_some_and(OrgGroup::is_managed_in_okta))
        {
            return Err(ApiError::validation_cause(format!(
                "groupIds: {bad} is not a group users can be added to"
            )));
        }
        let now = now();
        let status = match (new.activate, new.password.is_some()) {
            (false, _) => "STAGED",
            (true, true) => "ACTIVE",
            (true, false) => "PROVISIONED",
        };
        let user = OrgUser {
            id: self.dir.new_id("00u"),
            status,
            created: now,
            activated: new.activate.then_some(now),
            status_changed: new.activate.then_some(now),
            last_login: None,
            last_updated: now,
            password_changed: new.password.as_ref().map(|_| now),
            profile: new.profile,
            is_super_admin: false,
            password: new.password,
            list_json: Box::from(""),
        };
        let id = user.id.clone();
        let target = user_target(&user);
        self.dir.insert(user);
        self.record("user.lifecycle.create", std::slice::from_ref(&target));
        if new.activate {
            self.record("user.lifecycle.activate", &[target]);
        }
        if let Some(everyone) = self.dir.everyone_id() {
            self.dir.add_member(&everyone, &id, now);
        }
        for g in &new.group_ids {
            self.set_member(g, &id, true)?;
        }
        Ok(id)
    }

    /// Replaces a user's profile (when given) and password (when given); `lastUpdated`
    /// moves. Answers the user's id.
    pub fn update_user(
        &mut self,
        id: &str,
        profile: Option<Profile>,
        password: Option<SecretString>,
    ) -> Result<String, ApiError> {
        let mut user = self.user(id)?;
        let profile_changed = profile.is_some();
        if let Some(profile) = profile {
            if !profile.login.eq_ignore_ascii_case(&user.profile.login) && self.dir.login_taken(&profile.login) {
                return Err(login_taken());
            }
            user.profile = profile;
        }
        let now = now();
        let password_changed = password.is_some();
        if password_changed {
            user.password = password;
            user.password_changed = Some(now);
        }
        user.last_updated = now;
        let target = user_target(&user);
        let uid = user.id.clone();
        self.dir.insert(user);
        if profile_changed || !password_changed {
            self.record("user.account.update_profile", std::slice::from_ref(&target));
        }
        if password_changed {
            self.record("user.account.update_password", &[target]);
        }
        Ok(uid)
    }

    fn protect_admin(&self, u: &OrgUser) -> Result<(), ApiError> {
        if u.profile.login.eq_ignore_ascii_case(&self.s.config.admin_login) {
            return Err(ApiError::forbidden_because(
                "the sandbox's super admin (the API token's owner) cannot be deactivated, suspended or deleted",
            ));
        }
        Ok(())
    }

    /// Applies a lifecycle operation with Okta's status rules. Answers the user's id.
    pub fn lifecycle(&mut self, id: &str, op: Lifecycle) -> Result<String, ApiError> {
        let mut user = self.user(id)?;
        let has_password = user.password_changed.is_some();
        let invalid = || {
            let why = format!("Cannot {} a user whose status is {}", op.verb(), user.status);
            if matches!(op, Lifecycle::Suspend | Lifecycle::Unsuspend) {
                ApiError::validation_summary(why)
            } else {
                ApiError::not_allowed_in_status(why)
            }
        };
        let (status, event): (&'static str, &'static str) = match op {
            Lifecycle::Activate | Lifecycle::Reactivate => {
                if user.status == "ACTIVE" {
                    return Err(ApiError::already_active());
                }
                let allowed = match op {
                    Lifecycle::Activate => matches!(user.status, "STAGED" | "PROVISIONED" | "DEPROVISIONED"),
                    _ => user.status == "PROVISIONED",
                };
                if !allowed {
                    return Err(invalid());
                }
                // Activating a deactivated user, or re-sending a pending activation, is what
                // Okta logs as a reactivation.
                let event = if op == Lifecycle::Reactivate || user.status == "DEPROVISIONED" {
                    "user.lifecycle.reactivate"
                } else {
                    "user.lifecycle.activate"
                };
                (if has_password { "ACTIVE" } else { "PROVISIONED" }, event)
            }
            Lifecycle::Deactivate => {
                self.protect_admin(&user)?;
                if user.status == "DEPROVISIONED" {
                    return Err(invalid());
                }
                ("DEPROVISIONED", "user.lifecycle.deactivate")
            }
            Lifecycle::Suspend => {
                self.protect_admin(&user)?;
                if user.status != "ACTIVE" {
                    return Err(invalid());
                }
                ("SUSPENDED", "user.lifecycle.suspend")
            }
            Lifecycle::Unsuspend => {
                if user.status != "SUSPENDED" {
                    return Err(invalid());
                }
                ("ACTIVE", "user.lifecycle.unsuspend")
            }
            Lifecycle::Unlock => {
                if user.status != "LOCKED_OUT" {
                    return Err(invalid());
                }
                ("ACTIVE", "user.account.unlock")
            }
            Lifecycle::ResetPassword => {
                if !matches!(user.status, "ACTIVE" | "PASSWORD_EXPIRED" | "LOCKED_OUT" | "RECOVERY") {
                    return Err(invalid());
                }
                ("RECOVERY", "user.account.reset_password")
            }
            Lifecycle::ExpirePassword => {
                if !matches!(user.status, "ACTIVE" | "PASSWORD_EXPIRED") {
                    return Err(invalid());
                }
                ("PASSWORD_EXPIRED", "user.password.expire")
            }
        };
        let now = now();
        if user.status != status {
            user.status = status;
            user.status_changed = Some(now);
            if status == "ACTIVE" && user.activated.is_none() {
                user.activated = Some(now);
            }
        }
        user.last_updated = now;
        let target = user_target(&user);
        let uid = user.id.clone();
        self.dir.insert(user);
        self.record(event, &[target]);
        Ok(uid)
    }

    /// `DELETE /api/v1/users/{id}`: deactivates a user that is not DEPROVISIONED yet, deletes
    /// one that is (with its memberships and app assignments).
    pub fn delete_user(&mut self, id: &str) -> Result<(), ApiError> {
        let user = self.user(id)?;
        self.protect_admin(&user)?;
        if user.status != "DEPROVISIONED" {
            self.lifecycle(&user.id, Lifecycle::Deactivate)?;
            return Ok(());
        }
        let target = user_target(&user);
        self.dir.remove_user(&user.id, now());
        self.record("user.lifecycle.delete.initiated", std::slice::from_ref(&target));
        self.record("user.lifecycle.delete.completed", &[target]);
        Ok(())
    }

    /// Creates an `OKTA_GROUP` (names are unique among them, case-insensitively).
    pub fn create_group(&mut self, name: String, description: Option<String>) -> Result<String, ApiError> {
        if self
            .dir
            .groups
            .values()
            .any(|g| g.name.eq_ignore_ascii_case(&name) && g.group_type == "OKTA_GROUP")
        {
            return Err(ApiError::validation(
                "name: An object with this field already exists in the current organization",
            ));
        }
        let now = now();
        let group = OrgGroup {
            id: self.dir.new_id("00g"),
            created: now,
            last_updated: now,
            last_membership_updated: now,
            group_type: "OKTA_GROUP",
            name,
            description,
        };
        let id = group.id.clone();
        let target = group_target(&group);
        self.dir.groups.insert(id.clone(), group);
        self.record("group.lifecycle.create", &[target]);
        Ok(id)
    }

    fn managed(&mut self, gid: &str) -> Result<&mut OrgGroup, ApiError> {
        let g = self.dir.groups.get_mut(gid).ok_or_else(|| group_not_found(gid))?;
        if !g.is_managed_in_okta() {
            return Err(ApiError::forbidden_because(format!(
                "{} groups are managed outside the Groups API: {}",
                g.group_type, g.name
            )));
        }
        Ok(g)
    }

    /// Replaces an `OKTA_GROUP`'s profile; its `lastUpdated` moves.
    pub fn replace_group(&mut self, gid: &str, name: String, description: Option<String>) -> Result<(), ApiError> {
        let g = self.managed(gid)?;
        g.name = name;
        g.description = description;
        g.last_updated = now();
        let target = group_target(g);
        self.record("group.profile.update", &[target]);
        Ok(())
    }

    /// Deletes an `OKTA_GROUP`, its memberships and its app assignments.
    pub fn delete_group(&mut self, gid: &str) -> Result<(), ApiError> {
        let target = group_target(self.managed(gid)?);
        self.dir.remove_group(gid);
        self.record("group.lifecycle.delete", &[target]);
        Ok(())
    }

    /// Adds a user to (or removes one from) an `OKTA_GROUP`; `lastMembershipUpdated` moves
    /// and an event is recorded only when membership changed. Answers whether it did.
    pub fn set_member(&mut self, gid: &str, uid: &str, add: bool) -> Result<bool, ApiError> {
        let group = group_target(self.managed(gid)?);
        let user = self.user(uid)?;
        let changed = if add {
            self.dir.add_member(gid, &user.id, now())
        } else {
            self.dir.remove_member(gid, &user.id, now())
        };
        if changed {
            let event = if add {
                "group.user_membership.add"
            } else {
                "group.user_membership.remove"
            };
            self.record(event, &[user_target(&user), group]);
        }
        Ok(changed)
    }

    /// Assigns a user to an app directly (or removes that assignment). Answers whether the
    /// assignment changed.
    pub fn set_app_user(&mut self, app_id: &str, uid: &str, assign: bool) -> Result<bool, ApiError> {
        let user = self.user(uid)?;
        let app = self
            .dir
            .apps
            .get_mut(app_id)
            .ok_or_else(|| ApiError::not_found(app_id, "AppInstance"))?;
        let changed = if assign {
            app.users.insert(user.id.clone(), now()).is_none()
        } else {
            app.users.remove(&user.id).is_some()
        };
        let app_target = Target::new("AppInstance", &app.id, Some(&app.label), Some(&app.label));
        if changed {
            let event = if assign {
                "application.user_membership.add"
            } else {
                "application.user_membership.remove"
            };
            let name = format!("{} {}", user.profile.first_name, user.profile.last_name);
            let app_user = Target::new("AppUser", &user.id, Some(&user.profile.login), Some(&name));
            self.record(event, &[app_user, app_target]);
        }
        Ok(changed)
    }
}
