//! SCIM 2.0 push: an account's SCIM token (made, rotated with an overlap, turned off), and the
//! pushes of the customer's Okta (or another identity provider) into the account's directory —
//! the same rows and the same feed a pull sync writes, each push with its events in one
//! transaction.
//!
//! Okta's requests as Okta documents them: a `userName eq` check before each create, `PUT` of
//! the whole user, `PATCH` with a path-less `replace` (`{"active": false}` deactivates), Group
//! Push's `PATCH` of members. A member id that is no user here is skipped and said, never a
//! failure of the whole push (Okta does not retry a 400).

use std::collections::BTreeSet;
use std::time::Duration;

use scim_expr::Filter;
use scim_expr::patch::{self, PatchError};
use serde_json::{Map, Value, json};

use super::Service;
use crate::crypto::{hash, random_secret};
use crate::error::{Error, Result};
use crate::model::scim::ScimState;
use crate::model::scim::{self as resource, Invalid, ScimKind};
use crate::model::{AccountName, Directory, DirectoryChanges, EventType, NewEvent, ScimToken, now, rfc3339};
use crate::store::{ScimGroup, ScimLoaded, ScimTarget, ScimUser, ScimWrite};
use crate::sync::{Link, diff, link_changes};

/// The longest a rotated-out SCIM token keeps working.
pub const MAX_SCIM_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most resources one list answers (`count` above it is lowered to it).
pub const MAX_SCIM_PAGE: i64 = 1000;

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Scim {
            status: 400,
            scim_type: Some(e.scim_type),
            detail: e.detail,
        }
    }
}

impl From<PatchError> for Error {
    fn from(e: PatchError) -> Self {
        Error::Scim {
            status: 400,
            scim_type: Some(e.scim_type()),
            detail: e.to_string(),
        }
    }
}

fn not_found(kind: ScimKind, id: &str) -> Error {
    Error::Scim {
        status: 404,
        scim_type: None,
        detail: format!(
            "no {} {id:?} here: list them with GET /{}",
            kind.as_str(),
            kind.endpoint()
        ),
    }
}

/// A SCIM filter parsed, or an `invalidFilter` refusal saying where it went wrong.
///
/// # Errors
/// [`Error::Scim`] `invalidFilter`.
pub fn parse_filter(text: &str) -> Result<Filter> {
    text.parse::<Filter>().map_err(|e| Error::Scim {
        status: 400,
        scim_type: Some("invalidFilter"),
        detail: format!("the filter {text:?} does not parse {e}"),
    })
}

/// A fresh id for a pushed user or group (128 random bits, hex).
fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn object_data(object: &impl serde::Serialize, changed: Option<&[String]>) -> Value {
    let mut v = serde_json::to_value(object).unwrap_or(Value::Null);
    if let (Some(changed), Value::Object(m)) = (changed, &mut v) {
        m.insert("changed".into(), json!(changed));
    }
    v
}

/// A page of resources: the total the filter selects, where the page starts (1-based) and the
/// resources.
#[derive(Debug, Clone)]
pub struct ScimPage {
    pub total: i64,
    pub start_index: i64,
    pub users: Vec<ScimUser>,
    pub groups: Vec<(ScimGroup, Vec<(String, String)>)>,
}

/// What a Group push did besides its answer: the member ids that are no user here, skipped.
#[derive(Debug, Clone, Default)]
pub struct Skipped(pub Vec<String>);

impl Service {
    /// Turns SCIM on for `account`: answers the token (shown this once; stored as its hash).
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`crate::error::Conflict::ScimOn`] when it is on;
    /// [`crate::error::Conflict::OtherSource`] when the account is connected another way;
    /// [`Error::Database`].
    pub async fn enable_scim(&self, account: &AccountName) -> Result<ScimToken> {
        let a = self
            .store
            .account(account)
            .await?
            .ok_or_else(|| Error::UnknownAccount(account.to_string()))?;
        let token = ScimToken::new(format!("scim_{}", random_secret()));
        self.store
            .enable_scim(
                account,
                a.org_url.as_str(),
                &hash(secrecy::ExposeSecret::expose_secret(&token)),
            )
            .await?;
        self.forget_client(account.as_str());
        tracing::info!(account = %account, "SCIM push turned on");
        Ok(token)
    }

    /// Gives `account` a new SCIM token (answered, shown this once); the old one works too for
    /// `overlap` (at most [`MAX_SCIM_OVERLAP`]), so the admin can paste the new one in Okta
    /// without a push refused in between.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a longer overlap; [`Error::NotFound`] when SCIM is off;
    /// [`Error::Database`].
    pub async fn rotate_scim(&self, account: &AccountName, overlap: Duration) -> Result<ScimToken> {
        if overlap > MAX_SCIM_OVERLAP {
            return Err(Error::invalid(
                "overlapSeconds",
                format!("at most {} seconds (7 days)", MAX_SCIM_OVERLAP.as_secs()),
            ));
        }
        let token = ScimToken::new(format!("scim_{}", random_secret()));
        let until = now() + i64::try_from(overlap.as_secs()).unwrap_or(0);
        let rotated = self
            .store
            .rotate_scim(account, &hash(secrecy::ExposeSecret::expose_secret(&token)), until)
            .await?;
        if !rotated {
            return Err(scim_off(account));
        }
        tracing::info!(account = %account, overlap_s = overlap.as_secs(), "SCIM token rotated");
        Ok(token)
    }

    /// `account`'s SCIM state.
    ///
    /// # Errors
    /// [`Error::NotFound`] when SCIM is off; [`Error::Database`].
    pub async fn scim_state(&self, account: &AccountName) -> Result<ScimState> {
        self.store.scim_state(account).await?.ok_or_else(|| scim_off(account))
    }

    /// Whether `token` is `account`'s SCIM token (or the previous one within its overlap).
    /// Nothing is recorded for a token that is not.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn scim_authorized(&self, account: &AccountName, token: &str) -> Result<bool> {
        self.store.scim_token_matches(account, &hash(token)).await
    }

    /// Records the last request of `account`'s SCIM endpoint and its status.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn record_scim_request(&self, account: &AccountName, request: &str, status: u16) -> Result<()> {
        self.store.record_scim_request(account, request, status).await
    }

    /// A page of `account`'s users or groups that `filter` selects, from `start_index`
    /// (1-based), at most `count` ([`MAX_SCIM_PAGE`]).
    ///
    /// # Errors
    /// [`Error::Scim`] `invalidFilter` for a filter that does not apply; [`Error::Database`].
    pub async fn scim_list(
        &self,
        account: &AccountName,
        kind: ScimKind,
        filter: Option<&Filter>,
        start_index: i64,
        count: i64,
    ) -> Result<ScimPage> {
        let start_index = start_index.max(1);
        let count = count.clamp(0, MAX_SCIM_PAGE);
        let as_filter_error = |e: Error| match e {
            Error::Invalid { reason, .. } => Error::Scim {
                status: 400,
                scim_type: Some("invalidFilter"),
                detail: reason,
            },
            e => e,
        };
        let mut page = ScimPage {
            total: 0,
            start_index,
            users: Vec::new(),
            groups: Vec::new(),
        };
        match kind {
            ScimKind::User => {
                let (total, users) = self
                    .store
                    .scim_users(account, filter, start_index - 1, count)
                    .await
                    .map_err(as_filter_error)?;
                page.total = total;
                page.users = users;
            }
            ScimKind::Group => {
                let (total, groups) = self
                    .store
                    .scim_groups(account, filter, start_index - 1, count)
                    .await
                    .map_err(as_filter_error)?;
                page.total = total;
                for g in groups {
                    let members = self.store.scim_members(account, &g.group.id).await?;
                    page.groups.push((g, members));
                }
            }
        }
        Ok(page)
    }

    /// One user.
    ///
    /// # Errors
    /// [`Error::Scim`] 404; [`Error::Database`].
    pub async fn scim_user(&self, account: &AccountName, id: &str) -> Result<ScimUser> {
        self.store
            .scim_user(account, id)
            .await?
            .ok_or_else(|| not_found(ScimKind::User, id))
    }

    /// One group with its members (id, userName).
    ///
    /// # Errors
    /// [`Error::Scim`] 404; [`Error::Database`].
    pub async fn scim_group(&self, account: &AccountName, id: &str) -> Result<(ScimGroup, Vec<(String, String)>)> {
        let g = self
            .store
            .scim_group(account, id)
            .await?
            .ok_or_else(|| not_found(ScimKind::Group, id))?;
        let members = self.store.scim_members(account, id).await?;
        Ok((g, members))
    }

    fn pushed(&self, events: usize) {
        if events > 0 {
            self.feed_written.send_modify(|n| *n += 1);
        }
    }

    /// Makes a user from `body` (201): its `userName` must be no other user's.
    ///
    /// # Errors
    /// [`Error::Scim`]: 400 for an invalid resource, 409 `uniqueness`; [`Error::Database`].
    pub async fn scim_create_user(&self, account: &AccountName, body: Value) -> Result<ScimUser> {
        let pushed = resource::canonical(ScimKind::User, body)?;
        let id = new_id();
        let (user, events) = self
            .store
            .scim_push(account, ScimTarget::User(None), |_| Ok(user_write(&id, pushed, None)))
            .await?;
        self.pushed(events);
        tracing::info!(account = %account, user = %user.user.id, "SCIM: user created");
        Ok(user)
    }

    /// Replaces user `id` with `body` (`PUT`): the user as pushed now; the same values again
    /// change nothing.
    ///
    /// # Errors
    /// [`Error::Scim`]: 400, 404, 409; [`Error::Database`].
    pub async fn scim_replace_user(&self, account: &AccountName, id: &str, body: Value) -> Result<ScimUser> {
        let pushed = resource::canonical(ScimKind::User, body)?;
        let (user, events) = self
            .store
            .scim_push(account, ScimTarget::User(Some(id)), |loaded| {
                let old = loaded.user.ok_or_else(|| not_found(ScimKind::User, id))?;
                Ok(user_write(id, pushed, Some(old)))
            })
            .await?;
        self.pushed(events);
        Ok(user)
    }

    /// Applies the PATCH operations of `body` to user `id`.
    ///
    /// # Errors
    /// [`Error::Scim`]: 400 (`invalidSyntax`, `invalidPath`, `invalidValue`, `noTarget`), 404,
    /// 409; [`Error::Database`].
    pub async fn scim_patch_user(&self, account: &AccountName, id: &str, body: &Value) -> Result<ScimUser> {
        let ops = patch::operations(body)?;
        let (user, events) = self
            .store
            .scim_push(account, ScimTarget::User(Some(id)), |loaded| {
                let old = loaded.user.ok_or_else(|| not_found(ScimKind::User, id))?;
                let mut doc = old
                    .scim
                    .as_ref()
                    .map_or_else(|| resource::from_pulled(&old.user), resource::pushed_part);
                doc.remove("id");
                doc.remove("meta");
                for op in &ops {
                    apply(&mut doc, op, ScimKind::User)?;
                }
                let pushed = resource::canonical(ScimKind::User, Value::Object(doc))?;
                Ok(user_write(id, pushed, Some(old)))
            })
            .await?;
        self.pushed(events);
        Ok(user)
    }

    /// Deletes user `id` (Okta deactivates instead; other clients delete).
    ///
    /// # Errors
    /// [`Error::Scim`] 404; [`Error::Database`].
    pub async fn scim_delete_user(&self, account: &AccountName, id: &str) -> Result<()> {
        let events = self
            .store
            .scim_push(account, ScimTarget::User(Some(id)), |loaded| {
                let old = loaded.user.ok_or_else(|| not_found(ScimKind::User, id))?;
                let mut stored = Directory::default();
                stored.users.insert(old.user.id.clone(), old.user);
                Ok(deletion(&stored))
            })
            .await?;
        self.pushed(events);
        tracing::info!(account = %account, user = %id, "SCIM: user deleted");
        Ok(())
    }

    /// Makes a group from `body` (201), with those of its `members` that are users here (the
    /// others skipped and answered).
    ///
    /// # Errors
    /// [`Error::Scim`] 400; [`Error::Database`].
    pub async fn scim_create_group(&self, account: &AccountName, body: Value) -> Result<(ScimGroup, Skipped)> {
        let pushed = resource::canonical(ScimKind::Group, body)?;
        let candidates: Vec<String> = member_ids(pushed.get("members"))?.into_iter().collect();
        let id = new_id();
        let (out, events) = self
            .store
            .scim_push(
                account,
                ScimTarget::Group {
                    id: None,
                    members: false,
                    candidates: &candidates,
                },
                |loaded| group_write(&id, pushed, None, &loaded),
            )
            .await?;
        self.pushed(events);
        Ok(out)
    }

    /// Replaces group `id` with `body` (`PUT`): its name and, when given, its members.
    ///
    /// # Errors
    /// [`Error::Scim`] 400, 404; [`Error::Database`].
    pub async fn scim_replace_group(
        &self,
        account: &AccountName,
        id: &str,
        body: Value,
    ) -> Result<(ScimGroup, Skipped)> {
        let pushed = resource::canonical(ScimKind::Group, body)?;
        let candidates: Vec<String> = member_ids(pushed.get("members"))?.into_iter().collect();
        let (out, events) = self
            .store
            .scim_push(
                account,
                ScimTarget::Group {
                    id: Some(id),
                    members: true,
                    candidates: &candidates,
                },
                |loaded| {
                    let old = loaded.group.clone().ok_or_else(|| not_found(ScimKind::Group, id))?;
                    group_write(id, pushed, Some(old), &loaded)
                },
            )
            .await?;
        self.pushed(events);
        Ok(out)
    }

    /// Applies the PATCH operations of `body` to group `id`: its name, and its members as Group
    /// Push changes them (`add` of `members`, `remove` with `members[value eq "…"]`, `replace`
    /// of `members`).
    ///
    /// # Errors
    /// [`Error::Scim`] 400, 404; [`Error::Database`].
    pub async fn scim_patch_group(
        &self,
        account: &AccountName,
        id: &str,
        body: &Value,
    ) -> Result<(ScimGroup, Skipped)> {
        let ops = patch::operations(body)?;
        // The members the operations name, to know which are users here.
        let mut named = BTreeSet::new();
        for op in &ops {
            if let Some(v) = &op.value {
                collect_values(v, &mut named);
            }
        }
        let candidates: Vec<String> = named.into_iter().collect();
        let (out, events) = self
            .store
            .scim_push(
                account,
                ScimTarget::Group {
                    id: Some(id),
                    members: true,
                    candidates: &candidates,
                },
                |loaded| {
                    let old = loaded.group.clone().ok_or_else(|| not_found(ScimKind::Group, id))?;
                    let mut doc = old.scim.as_ref().map_or_else(
                        || {
                            let mut m = Map::new();
                            m.insert("displayName".into(), json!(old.group.name));
                            m
                        },
                        resource::pushed_part,
                    );
                    // Its members: the directory's, and those kept as pushed that are no user here.
                    let mut members: Vec<Value> = loaded.members.iter().map(|u| json!({ "value": u })).collect();
                    if let Some(Value::Array(unresolved)) = doc.remove("members") {
                        members.extend(unresolved);
                    }
                    doc.insert("members".into(), Value::Array(members));
                    for op in &ops {
                        apply(&mut doc, op, ScimKind::Group)?;
                    }
                    let mut pushed = resource::canonical(ScimKind::Group, Value::Object(doc))?;
                    // Members removed by the operations are none, not "as they were".
                    pushed.entry("members").or_insert_with(|| json!([]));
                    group_write(id, pushed, Some(old), &loaded)
                },
            )
            .await?;
        self.pushed(events);
        Ok(out)
    }

    /// Deletes group `id` and its memberships.
    ///
    /// # Errors
    /// [`Error::Scim`] 404; [`Error::Database`].
    pub async fn scim_delete_group(&self, account: &AccountName, id: &str) -> Result<()> {
        let events = self
            .store
            .scim_push(
                account,
                ScimTarget::Group {
                    id: Some(id),
                    members: false,
                    candidates: &[],
                },
                |loaded| {
                    let old = loaded.group.ok_or_else(|| not_found(ScimKind::Group, id))?;
                    let mut stored = Directory::default();
                    stored.groups.insert(old.group.id.clone(), old.group);
                    Ok(deletion(&stored))
                },
            )
            .await?;
        self.pushed(events);
        tracing::info!(account = %account, group = %id, "SCIM: group deleted");
        Ok(())
    }
}

/// Applies `op` to `doc`; a path that names a whole extension
/// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`) is that extension's object
/// (`add` merges into it, `replace` replaces it, `remove` removes it).
fn apply(doc: &mut Map<String, Value>, op: &patch::PatchOp, kind: ScimKind) -> Result<()> {
    if let Some(p) = &op.path
        && p.filter.is_none()
        && p.sub.is_none()
        && p.attr.sub.is_none()
        && let Some(uri) = &p.attr.uri
        && let Some(ext) = resource::schema_uri(kind, &format!("{uri}:{}", p.attr.name))
    {
        let key = doc.keys().find(|k| k.eq_ignore_ascii_case(ext)).cloned();
        match op.op {
            patch::Op::Remove => {
                if let Some(k) = key {
                    doc.remove(&k);
                }
            }
            patch::Op::Add | patch::Op::Replace => {
                let Some(Value::Object(value)) = &op.value else {
                    return Err(
                        Invalid::value(format!("the value of {ext} must be an object of its attributes")).into(),
                    );
                };
                let mut value = value.clone();
                value.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
                let target = match (op.op, key) {
                    (patch::Op::Add, Some(k)) => doc.remove(&k),
                    _ => None,
                };
                let mut merged = match target {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                merged.extend(value);
                doc.insert(ext.to_owned(), Value::Object(merged));
            }
        }
        return Ok(());
    }
    patch::apply(doc, op)?;
    Ok(())
}

/// The write that deletes what `stored` holds (with its memberships), and its number of events.
fn deletion(stored: &Directory) -> (ScimWrite, usize) {
    let changes = diff(stored, &Directory::default());
    let n = changes.events.len();
    (
        ScimWrite {
            changes,
            ..ScimWrite::default()
        },
        n,
    )
}

fn scim_off(account: &AccountName) -> Error {
    Error::NotFound {
        what: "SCIM token of account",
        id: account.to_string(),
    }
}

/// Every `value` string in `v` (members as pushed, at any depth of a PATCH value).
fn collect_values(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_values(i, out)),
        Value::Object(m) => {
            if let Some(Value::String(s)) = m.get("value") {
                out.insert(s.clone());
            }
            m.values().for_each(|i| collect_values(i, out));
        }
        _ => {}
    }
}

/// The member ids of a group's `members` (each `{"value": id, …}`; `type` may be missing).
fn member_ids(members: Option<&Value>) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    match members {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for i in items {
                match i.get("value") {
                    Some(Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    _ => {
                        return Err(Invalid::value(format!(
                            "each member must be an object with a string value (the user's id), not {i}"
                        ))
                        .into());
                    }
                }
            }
        }
        Some(other) => {
            return Err(Invalid::value(format!("members must be a list of {{\"value\": id}}, not {other}")).into());
        }
    }
    Ok(out)
}

/// The write of user `id` as `pushed` now (`old`: as it was), and the user as kept.
fn user_write(id: &str, pushed: Map<String, Value>, old: Option<ScimUser>) -> (ScimWrite, (ScimUser, usize)) {
    // The same values again: nothing changes, not even lastModified.
    if let Some(o) = &old
        && o.scim.as_ref().map(resource::pushed_part).as_ref() == Some(&pushed)
    {
        let login = o.user.login.clone();
        return (
            ScimWrite {
                unique_login: Some((login, id.to_owned())),
                ..ScimWrite::default()
            },
            (o.clone(), 0),
        );
    }
    let at = rfc3339(now()).unwrap_or_default();
    let row = resource::user_row(id, &pushed, &at, old.as_ref().map(|o| &o.user));
    let created = row.created.clone().unwrap_or_else(|| at.clone());
    let kept = resource::kept(ScimKind::User, id, pushed, &created, &at);
    let mut stored = Directory::default();
    if let Some(o) = &old {
        stored.users.insert(id.to_owned(), o.user.clone());
    }
    let mut read = Directory::default();
    read.users.insert(id.to_owned(), row.clone());
    let changes = diff(&stored, &read);
    let n = changes.events.len();
    (
        ScimWrite {
            changes,
            users: vec![(id.to_owned(), kept.clone())],
            groups: Vec::new(),
            unique_login: Some((row.login.clone(), id.to_owned())),
        },
        (
            ScimUser {
                user: row,
                scim: Some(kept),
            },
            n,
        ),
    )
}

/// A group push's answer: the group as kept, the member ids skipped, and the events written.
type GroupPushed = ((ScimGroup, Skipped), usize);

/// The write of group `id` as `pushed` now (`old`: as it was). Its `members` (when pushed; else
/// those it had) that are users here are its members in the directory; the others are skipped
/// there (said in the answer and the log) and kept in the group's resource as pushed.
fn group_write(
    id: &str,
    mut pushed: Map<String, Value>,
    old: Option<ScimGroup>,
    loaded: &ScimLoaded,
) -> Result<(ScimWrite, GroupPushed)> {
    let before = &loaded.members;
    let old_unresolved = || -> Vec<Value> {
        old.as_ref()
            .and_then(|o| o.scim.as_ref())
            .and_then(|k| k.get("members"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let objects: Vec<Value> = match pushed.remove("members") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None if old.is_some() => before
            .iter()
            .map(|u| json!({ "value": u }))
            .chain(old_unresolved())
            .collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(Invalid::value(format!("members must be a list of {{\"value\": id}}, not {other}")).into());
        }
    };
    member_ids(Some(&Value::Array(objects.clone())))?;
    let is_user = |v: &str| before.contains(v) || loaded.known.contains(v);
    let mut after = BTreeSet::new();
    let mut unresolved: Vec<Value> = Vec::new();
    for o in objects {
        let v = o.get("value").and_then(Value::as_str).unwrap_or_default().to_owned();
        if is_user(&v) {
            after.insert(v);
        } else if !unresolved.iter().any(|u| u.get("value") == o.get("value")) {
            unresolved.push(o);
        }
    }
    let skipped: Vec<String> = unresolved
        .iter()
        .filter_map(|o| o.get("value").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if !unresolved.is_empty() {
        pushed.insert("members".into(), Value::Array(unresolved));
    }
    let links: Vec<Link> = after
        .difference(before)
        .cloned()
        .map(Link::Added)
        .chain(before.difference(&after).cloned().map(Link::Removed))
        .collect();
    let same_doc = old
        .as_ref()
        .and_then(|o| o.scim.as_ref())
        .map(resource::pushed_part)
        .as_ref()
        == Some(&pushed);
    if let Some(o) = &old
        && same_doc
        && links.is_empty()
    {
        return Ok((ScimWrite::default(), ((o.clone(), Skipped(skipped)), 0)));
    }
    let at = rfc3339(now()).unwrap_or_default();
    let row = resource::group_row(id, &pushed, &at, old.as_ref().map(|o| &o.group), !links.is_empty());
    let created = row.created.clone().unwrap_or_else(|| at.clone());
    let kept = resource::kept(ScimKind::Group, id, pushed, &created, &at);
    let mut changes = DirectoryChanges::default();
    match &old {
        None => {
            changes.events.push(NewEvent {
                event_type: EventType::GroupCreated,
                object_id: id.to_owned(),
                occurred_at: row.created.clone(),
                data: object_data(&row, None),
            });
        }
        Some(o) => {
            let changed: Vec<String> = row
                .changed_from(&o.group)
                .into_iter()
                .filter(|c| c != "lastMembershipUpdated")
                .collect();
            if !changed.is_empty() {
                changes.events.push(NewEvent {
                    event_type: EventType::GroupUpdated,
                    object_id: id.to_owned(),
                    occurred_at: row.last_updated.clone(),
                    data: object_data(&row, Some(&changed)),
                });
            }
        }
    }
    changes.upsert_groups.push(row.clone());
    changes.append(link_changes(Some(&row), "", &links));
    if !skipped.is_empty() {
        tracing::warn!(group = %id, skipped = ?skipped, "SCIM: members that are no user here were skipped");
    }
    let n = changes.events.len();
    Ok((
        ScimWrite {
            changes,
            users: Vec::new(),
            groups: vec![(id.to_owned(), kept.clone())],
            unique_login: None,
        },
        (
            (
                ScimGroup {
                    group: row,
                    scim: Some(kept),
                },
                Skipped(skipped),
            ),
            n,
        ),
    ))
}
