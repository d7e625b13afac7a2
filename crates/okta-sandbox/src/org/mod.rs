//! The directory of a sandbox org: users generated deterministically from a seed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::util::okta_time;

mod generate;
pub(crate) use generate::{CITIES, DEPARTMENTS, FIRST_NAMES, LAST_NAMES, TITLES, ascii_slug};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// One user of the org, as stored.
#[derive(Debug, Clone)]
pub(crate) struct OrgUser {
    pub id: String,
    pub status: &'static str,
    pub created: OffsetDateTime,
    pub activated: Option<OffsetDateTime>,
    pub status_changed: Option<OffsetDateTime>,
    pub last_login: Option<OffsetDateTime>,
    pub last_updated: OffsetDateTime,
    pub password_changed: Option<OffsetDateTime>,
    pub profile: Profile,
    pub is_super_admin: bool,
    /// A password of the user's own (set through the API); `None`: the org-wide one.
    pub password: Option<secrecy::SecretString>,
    /// This user as listed in a collection (only the `self` link), rendered once per change:
    /// listing is then a concatenation, which keeps large exports cheap.
    pub list_json: Box<str>,
}

/// A user's profile (Okta's `UserProfile`): the four attributes every user has, typed; the
/// rest (`displayName`, `department`, custom attributes, …) as given.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub login: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl Profile {
    /// A string attribute of `extra`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(Value::as_str)
    }
}

impl OrgUser {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// An attribute by its path in search expressions (`status`, `lastUpdated`, `type.id`,
    /// `profile.department`, …), as it appears in the user's JSON.
    pub fn attr(&self, path: &str, type_id: &str) -> Option<Value> {
        let time = |t: Option<OffsetDateTime>| Some(t.map_or(Value::Null, |t| Value::String(okta_time(t))));
        match path {
            "id" => Some(Value::String(self.id.clone())),
            "status" => Some(Value::String(self.status.to_owned())),
            "created" => time(Some(self.created)),
            "activated" => time(self.activated),
            "statusChanged" => time(self.status_changed),
            "lastLogin" => time(self.last_login),
            "lastUpdated" => time(Some(self.last_updated)),
            "passwordChanged" => time(self.password_changed),
            "type.id" => Some(Value::String(type_id.to_owned())),
            _ => {
                let name = path.strip_prefix("profile.")?;
                let p = &self.profile;
                let s = |v: &String| Some(Value::String(v.clone()));
                match name {
                    "firstName" => s(&p.first_name),
                    "lastName" => s(&p.last_name),
                    "email" => s(&p.email),
                    "login" => s(&p.login),
                    other => p.extra.get(other).cloned(),
                }
            }
        }
    }

    /// The user in Okta's JSON shape. A collection carries only the `self` link, a single
    /// user the lifecycle links its status allows (as Okta does).
    pub fn to_json(&self, base: &str, type_id: &str, full_links: bool) -> Value {
        let href = format!("{base}/api/v1/users/{}", self.id);
        let mut links = json!({ "self": { "href": href } });
        if full_links {
            let post = |op: &str| json!({ "href": format!("{href}/lifecycle/{op}"), "method": "POST" });
            let l = links.as_object_mut().expect("links is an object");
            match self.status {
                "ACTIVE" => {
                    l.insert("suspend".into(), post("suspend"));
                    l.insert("resetPassword".into(), post("reset_password"));
                    l.insert("expirePassword".into(), post("expire_password"));
                    l.insert("deactivate".into(), post("deactivate"));
                }
                "SUSPENDED" => {
                    l.insert("unsuspend".into(), post("unsuspend"));
                    l.insert("deactivate".into(), post("deactivate"));
                }
                _ => {
                    l.insert("activate".into(), post("activate"));
                    l.insert("deactivate".into(), post("deactivate"));
                }
            }
            l.insert(
                "type".into(),
                json!({ "href": format!("{base}/api/v1/meta/types/user/{type_id}") }),
            );
            l.insert(
                "schema".into(),
                json!({ "href": format!("{base}/api/v1/meta/schemas/user/{type_id}") }),
            );
        }
        let has_password = self.password_changed.is_some();
        let mut credentials = json!({ "provider": { "type": "OKTA", "name": "OKTA" } });
        if has_password {
            credentials["password"] = json!({});
        }
        json!({
            "id": self.id,
            "status": self.status,
            "created": okta_time(self.created),
            "activated": self.activated.map(okta_time),
            "statusChanged": self.status_changed.map(okta_time),
            "lastLogin": self.last_login.map(okta_time),
            "lastUpdated": okta_time(self.last_updated),
            "passwordChanged": self.password_changed.map(okta_time),
            "type": { "id": type_id },
            "profile": self.profile,
            "credentials": credentials,
            "_links": links,
        })
    }
}

/// All users of the org, by id (the order Okta lists them in), with a login index.
#[derive(Debug)]
pub(crate) struct Directory {
    users: BTreeMap<String, OrgUser>,
    by_login: HashMap<String, String>,
    pub user_type_id: String,
    base: String,
    pub groups: BTreeMap<String, OrgGroup>,
    members: HashMap<String, BTreeSet<String>>,
    memberships: HashMap<String, BTreeSet<String>>,
    pub apps: BTreeMap<String, OrgApp>,
    rng: ChaCha8Rng,
}

/// One app of the org: the registered OAuth web app (`OPENID_CONNECT`) or a bookmark app.
#[derive(Debug, Clone)]
pub(crate) struct OrgApp {
    pub id: String,
    pub label: String,
    pub created: OffsetDateTime,
    /// `OPENID_CONNECT` or `BOOKMARK`.
    pub sign_on_mode: &'static str,
    pub redirect_uris: Vec<String>,
    pub url: Option<String>,
    /// Groups assigned to the app (their members are the app's users).
    pub groups: Vec<String>,
    /// Users assigned to the app directly, with when they were assigned.
    pub users: BTreeMap<String, OffsetDateTime>,
}

/// One group of the org.
#[derive(Debug, Clone)]
pub(crate) struct OrgGroup {
    pub id: String,
    pub created: OffsetDateTime,
    pub last_updated: OffsetDateTime,
    pub last_membership_updated: OffsetDateTime,
    /// `OKTA_GROUP`, `BUILT_IN` or `APP_GROUP`.
    pub group_type: &'static str,
    pub name: String,
    pub description: Option<String>,
}

impl OrgGroup {
    /// Whether its profile and members may be changed through the API.
    pub fn is_managed_in_okta(&self) -> bool {
        self.group_type == "OKTA_GROUP"
    }

    /// An attribute by its path in search expressions.
    pub fn attr(&self, path: &str) -> Option<Value> {
        let time = |t: OffsetDateTime| Some(Value::String(okta_time(t)));
        match path {
            "id" => Some(Value::String(self.id.clone())),
            "type" => Some(Value::String(self.group_type.to_owned())),
            "created" => time(self.created),
            "lastUpdated" => time(self.last_updated),
            "lastMembershipUpdated" => time(self.last_membership_updated),
            "profile.name" => Some(Value::String(self.name.clone())),
            "profile.description" => Some(self.description.clone().map_or(Value::Null, Value::String)),
            _ => None,
        }
    }
}

pub(crate) fn okta_id(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    let mut id = String::with_capacity(20);
    id.push_str(prefix);
    for _ in 0..17 {
        id.push(BASE62[rng.random_range(0..BASE62.len())] as char);
    }
    id
}

impl Directory {
    /// Users of an app: those assigned directly and the members of its assigned groups, in id
    /// order, after a cursor; at most `want` of them. Each source is read from the cursor on and
    /// only as far as `want`, so a page costs its size, not the app's.
    pub fn app_users_after<'a>(
        &'a self,
        app: &'a OrgApp,
        after: Option<&str>,
        want: usize,
    ) -> impl Iterator<Item = &'a OrgUser> + 'a {
        let lower = match after {
            Some(a) => Bound::Excluded(a.to_owned()),
            None => Bound::Unbounded,
        };
        let range = (lower, Bound::Unbounded);
        let mut ids: BTreeSet<&String> = app.users.range(range.clone()).map(|(id, _)| id).take(want).collect();
        for g in &app.groups {
            ids.extend(
                self.members
                    .get(g)
                    .into_iter()
                    .flat_map(|m| m.range(range.clone()).take(want)),
            );
        }
        ids.into_iter().take(want).filter_map(|id| self.users.get(id))
    }

    /// An app in Okta's JSON shape.
    pub fn app_json(&self, a: &OrgApp) -> Value {
        let href = format!("{}/api/v1/apps/{}", self.base, a.id);
        let created = okta_time(a.created);
        let mut v = serde_json::json!({
            "id": a.id,
            "label": a.label,
            "status": "ACTIVE",
            "created": created,
            "lastUpdated": created,
            "signOnMode": a.sign_on_mode,
            "accessibility": { "selfService": false },
            "visibility": { "autoSubmitToolbar": false, "hide": { "iOS": false, "web": false } },
            "features": [],
            "_links": {
                "self": { "href": href },
                "users": { "href": format!("{href}/users") },
                "groups": { "href": format!("{href}/groups") },
            },
        });
        match a.sign_on_mode {
            "OPENID_CONNECT" => {
                v["name"] = Value::String("oidc_client".into());
                v["credentials"] = serde_json::json!({
                    "userNameTemplate": { "template": "${source.login}", "type": "BUILT_IN" },
                    "oauthClient": { "autoKeyRotation": true, "client_id": a.id, "token_endpoint_auth_method": "client_secret_basic" },
                });
                v["settings"] = serde_json::json!({
                    "oauthClient": {
                        "redirect_uris": a.redirect_uris,
                        "response_types": ["code"],
                        "grant_types": ["authorization_code", "refresh_token"],
                        "application_type": "web",
                        "consent_method": "REQUIRED",
                        "issuer_mode": "DYNAMIC",
                    },
                });
            }
            _ => {
                v["name"] = Value::String("bookmark".into());
                v["credentials"] =
                    serde_json::json!({ "userNameTemplate": { "template": "${source.login}", "type": "BUILT_IN" } });
                v["settings"] = serde_json::json!({ "app": { "requestIntegration": false, "url": a.url } });
            }
        }
        v
    }

    /// A user's assignment to an app (`AppUser`): direct (`USER`) or through a group.
    pub fn app_user_json(&self, a: &OrgApp, u: &OrgUser) -> Value {
        let (created, scope) = match a.users.get(&u.id) {
            Some(at) => (okta_time(*at), "USER"),
            None => (okta_time(a.created.max(u.created)), "GROUP"),
        };
        serde_json::json!({
            "id": u.id,
            "created": created,
            "lastUpdated": created,
            "scope": scope,
            "status": "ACTIVE",
            "statusChanged": created,
            "syncState": "DISABLED",
            "credentials": { "userName": u.profile.login },
            "profile": {},
            "_links": {
                "app": { "href": format!("{}/api/v1/apps/{}", self.base, a.id) },
                "user": { "href": format!("{}/api/v1/users/{}", self.base, u.id) },
            },
        })
    }

    /// A group's assignment to an app (`ApplicationGroupAssignment`).
    pub fn app_group_json(&self, a: &OrgApp, gid: &str, priority: usize) -> Value {
        let updated = self.groups.get(gid).map_or(a.created, |g| g.created.max(a.created));
        serde_json::json!({
            "id": gid,
            "lastUpdated": okta_time(updated),
            "priority": priority,
            "profile": {},
            "_links": {
                "app": { "href": format!("{}/api/v1/apps/{}", self.base, a.id) },
                "group": { "href": format!("{}/api/v1/groups/{gid}", self.base) },
            },
        })
    }

    /// An org with no users, groups or apps.
    pub fn empty(user_type_id: String, base: &str, seed: u64) -> Self {
        Self {
            users: BTreeMap::new(),
            by_login: HashMap::new(),
            user_type_id,
            base: base.to_owned(),
            groups: BTreeMap::new(),
            members: HashMap::new(),
            memberships: HashMap::new(),
            apps: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
        }
    }

    fn link(&mut self, gid: &str, uid: &str) -> bool {
        self.memberships
            .entry(uid.to_owned())
            .or_default()
            .insert(gid.to_owned());
        self.members.entry(gid.to_owned()).or_default().insert(uid.to_owned())
    }

    /// A fresh id with Okta's shape (`00u…`, `00g…`), unique in the org.
    pub fn new_id(&mut self, prefix: &str) -> String {
        loop {
            let id = okta_id(&mut self.rng, prefix);
            if !self.users.contains_key(&id) && !self.groups.contains_key(&id) {
                return id;
            }
        }
    }

    /// Whether a login is taken (case-insensitively).
    pub fn login_taken(&self, login: &str) -> bool {
        self.by_login.contains_key(&login.to_ascii_lowercase())
    }

    /// Removes a user, its memberships (the groups' `lastMembershipUpdated` moves) and its
    /// app assignments.
    pub fn remove_user(&mut self, id: &str, now: OffsetDateTime) -> Option<OrgUser> {
        let user = self.users.remove(id)?;
        self.by_login.remove(&user.profile.login.to_ascii_lowercase());
        for gid in self.memberships.remove(id).unwrap_or_default() {
            if let Some(m) = self.members.get_mut(&gid) {
                m.remove(id);
            }
            if let Some(g) = self.groups.get_mut(&gid) {
                g.last_membership_updated = now;
            }
        }
        for app in self.apps.values_mut() {
            app.users.remove(id);
        }
        Some(user)
    }

    /// Whether a user is assigned to an app, directly or through a group.
    pub fn is_app_user(&self, app: &OrgApp, uid: &str) -> bool {
        app.users.contains_key(uid)
            || app
                .groups
                .iter()
                .any(|g| self.members.get(g).is_some_and(|m| m.contains(uid)))
    }

    /// Ids of the members of a group.
    pub fn member_ids(&self, gid: &str) -> impl Iterator<Item = &String> {
        self.members.get(gid).into_iter().flatten()
    }

    /// The first user at or after `key` in id order, wrapping around, that `pick` accepts
    /// among the next `window` users: with random keys, a cheap sample of the org.
    pub fn user_near(&self, key: &str, window: usize, pick: impl Fn(&OrgUser) -> bool) -> Option<&OrgUser> {
        self.users
            .range(key.to_owned()..)
            .chain(self.users.iter())
            .take(window)
            .map(|(_, u)| u)
            .find(|u| pick(u))
    }

    /// Adds a user to a group; returns whether it was not a member yet.
    pub fn add_member(&mut self, gid: &str, uid: &str, now: OffsetDateTime) -> bool {
        let added = self.link(gid, uid);
        if added && let Some(g) = self.groups.get_mut(gid) {
            g.last_membership_updated = now;
        }
        added
    }

    /// Removes a user from a group; returns whether it was a member.
    pub fn remove_member(&mut self, gid: &str, uid: &str, now: OffsetDateTime) -> bool {
        if let Some(m) = self.memberships.get_mut(uid) {
            m.remove(gid);
        }
        let removed = self.members.get_mut(gid).is_some_and(|m| m.remove(uid));
        if removed && let Some(g) = self.groups.get_mut(gid) {
            g.last_membership_updated = now;
        }
        removed
    }

    /// Removes a group, its memberships and its app assignments.
    pub fn remove_group(&mut self, gid: &str) -> Option<OrgGroup> {
        let g = self.groups.remove(gid)?;
        for app in self.apps.values_mut() {
            app.groups.retain(|x| x != gid);
        }
        for uid in self.members.remove(gid).unwrap_or_default() {
            if let Some(m) = self.memberships.get_mut(&uid) {
                m.remove(gid);
            }
        }
        Some(g)
    }

    /// Ids of a group's members, in id order, after a cursor.
    pub fn members_after<'a>(&'a self, gid: &str, after: Option<&str>) -> impl Iterator<Item = &'a OrgUser> + 'a {
        let lower = match after {
            Some(a) => Bound::Excluded(a.to_owned()),
            None => Bound::Unbounded,
        };
        self.members
            .get(gid)
            .into_iter()
            .flat_map(move |m| m.range((lower.clone(), Bound::Unbounded)))
            .filter_map(|id| self.users.get(id))
    }

    /// How many members a group has.
    pub fn member_count(&self, gid: &str) -> usize {
        self.members.get(gid).map_or(0, BTreeSet::len)
    }

    /// The groups a user belongs to, in id order.
    pub fn groups_of<'a>(&'a self, uid: &str) -> impl Iterator<Item = &'a OrgGroup> + 'a {
        self.memberships
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|gid| self.groups.get(gid))
    }

    /// The built-in `Everyone` group's id.
    pub fn everyone_id(&self) -> Option<String> {
        self.groups
            .values()
            .find(|g| g.group_type == "BUILT_IN")
            .map(|g| g.id.clone())
    }

    /// A group in Okta's JSON shape; `stats` adds `_embedded.stats` (`expand=stats`).
    pub fn group_json(&self, g: &OrgGroup, stats: bool) -> Value {
        let href = format!("{}/api/v1/groups/{}", self.base, g.id);
        let mut v = serde_json::json!({
            "id": g.id,
            "created": okta_time(g.created),
            "lastUpdated": okta_time(g.last_updated),
            "lastMembershipUpdated": okta_time(g.last_membership_updated),
            "objectClass": ["okta:user_group"],
            "type": g.group_type,
            "profile": { "name": g.name },
            "_links": {
                "self": { "href": href },
                "users": { "href": format!("{href}/users") },
                "apps": { "href": format!("{href}/apps") },
            },
        });
        // The spec's profile has no nullable description: absent when there is none.
        if let Some(d) = &g.description {
            v["profile"]["description"] = Value::String(d.clone());
        }
        if stats {
            v["_embedded"] = serde_json::json!({ "stats": { "usersCount": self.member_count(&g.id), "appsCount": 0, "groupPushMappingsCount": 0 } });
        }
        v
    }

    /// Adds or replaces a user, re-rendering its listed form.
    pub fn insert(&mut self, mut user: OrgUser) {
        user.list_json = serde_json::to_string(&user.to_json(&self.base, &self.user_type_id, false))
            .expect("a user serializes")
            .into_boxed_str();
        if let Some(old) = self.users.get(&user.id) {
            self.by_login.remove(&old.profile.login.to_ascii_lowercase());
        }
        self.by_login
            .insert(user.profile.login.to_ascii_lowercase(), user.id.clone());
        self.users.insert(user.id.clone(), user);
    }

    /// A user by id or by login (logins compare case-insensitively, as Okta's do).
    pub fn find(&self, id_or_login: &str) -> Option<&OrgUser> {
        self.users.get(id_or_login).or_else(|| {
            self.by_login
                .get(&id_or_login.to_ascii_lowercase())
                .and_then(|id| self.users.get(id))
        })
    }

    /// Users in listing order, starting after cursor `after` (an id; need not exist any more).
    pub fn after<'a>(&'a self, after: Option<&str>) -> impl Iterator<Item = &'a OrgUser> + 'a {
        let lower = match after {
            Some(a) => Bound::Excluded(a.to_owned()),
            None => Bound::Unbounded,
        };
        self.users.range((lower, Bound::Unbounded)).map(|(_, u)| u)
    }

    /// The JSON of a single user (full links).
    pub fn user_json(&self, u: &OrgUser) -> Value {
        u.to_json(&self.base, &self.user_type_id, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;
    use std::collections::HashSet;

    fn config(users: usize, seed: u64) -> SandboxConfig {
        SandboxConfig {
            users,
            seed,
            ..SandboxConfig::default()
        }
    }

    #[test]
    fn generation_is_deterministic_and_exact() {
        let a = Directory::generate(&config(500, 7), "http://x");
        let b = Directory::generate(&config(500, 7), "http://x");
        let c = Directory::generate(&config(500, 8), "http://x");
        assert_eq!(a.users.len(), 500);
        let ids = |d: &Directory| d.after(None).map(|u| u.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
        let logins: HashSet<_> = a.after(None).map(|u| u.profile.login.clone()).collect();
        assert_eq!(logins.len(), 500, "logins are unique");
        assert!(a.after(None).all(|u| u.id.len() == 20 && u.id.starts_with("00u")));
        let listed: Value = serde_json::from_str(&a.after(None).next().unwrap().list_json).unwrap();
        assert_eq!(
            listed["_links"]["self"]["href"].as_str().unwrap().len(),
            "http://x/api/v1/users/".len() + 20
        );
    }

    #[test]
    fn admin_is_found_by_login_case_insensitively() {
        let d = Directory::generate(&config(10, 1), "http://x");
        let admin = d.find("Admin@Example.com").expect("admin exists");
        assert!(admin.is_super_admin && admin.is_active());
        assert_eq!(d.find(&admin.id).map(|u| &u.id), Some(&admin.id));
        assert!(d.find("nobody@example.com").is_none());
    }

    #[test]
    fn after_skips_past_the_cursor() {
        let d = Directory::generate(&config(50, 3), "http://x");
        let ids: Vec<_> = d.after(None).map(|u| u.id.clone()).collect();
        assert_eq!(d.after(Some("")).count(), 50);
        assert_eq!(d.after(Some(&ids[9])).next().unwrap().id, ids[10]);
        assert_eq!(d.after(Some("zzzz")).count(), 0);
    }
}
