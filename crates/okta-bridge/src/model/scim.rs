//! SCIM 2.0 resources (RFC 7643) as okta-bridge keeps them: a pushed User or Group is checked
//! and put in canonical form (attribute names as the schema spells them, Entra ID's `"True"`
//! made `true`, no password, no server-assigned attributes), kept as pushed, and mapped onto the
//! same directory rows a pull sync writes (a user's Okta profile: `login`, `email`,
//! `firstName`, …), so the feed says the same things whichever way a directory arrives.

use serde_json::{Map, Value, json};

use super::directory::{DirGroup, DirUser};

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Our extension for the attributes an app adds to its users (any names, any JSON values).
pub const CUSTOM_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:okta-bridge:2.0:User";
/// A list answer.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// An error answer.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The sub-attributes of a multi-valued attribute such as `emails`.
const MULTI: &[&str] = &["value", "display", "type", "primary"];
/// The sub-attributes of `meta`.
const META: &[&str] = &["resourceType", "created", "lastModified", "location", "version"];

/// An attribute: its name, its sub-attributes (none for a simple one).
type Attr = (&'static str, &'static [&'static str]);

/// The core User schema's attributes (RFC 7643 §4.1).
pub const USER_ATTRS: &[Attr] = &[
    ("id", &[]),
    ("externalId", &[]),
    ("userName", &[]),
    (
        "name",
        &[
            "formatted",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix",
        ],
    ),
    ("displayName", &[]),
    ("nickName", &[]),
    ("profileUrl", &[]),
    ("title", &[]),
    ("userType", &[]),
    ("preferredLanguage", &[]),
    ("locale", &[]),
    ("timezone", &[]),
    ("active", &[]),
    ("password", &[]),
    ("emails", MULTI),
    ("phoneNumbers", MULTI),
    ("ims", MULTI),
    ("photos", MULTI),
    (
        "addresses",
        &[
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
            "type",
            "primary",
        ],
    ),
    ("groups", &["value", "$ref", "display", "type"]),
    ("entitlements", MULTI),
    ("roles", MULTI),
    ("x509Certificates", MULTI),
    ("meta", META),
];

/// The enterprise extension's attributes (RFC 7643 §4.3).
pub const ENTERPRISE_ATTRS: &[Attr] = &[
    ("employeeNumber", &[]),
    ("costCenter", &[]),
    ("organization", &[]),
    ("division", &[]),
    ("department", &[]),
    ("manager", &["value", "$ref", "displayName"]),
];

/// The core Group schema's attributes (RFC 7643 §4.2).
pub const GROUP_ATTRS: &[Attr] = &[
    ("id", &[]),
    ("externalId", &[]),
    ("displayName", &[]),
    ("members", &["value", "$ref", "display", "type"]),
    ("meta", META),
];

/// An account's SCIM state: when its token was made and rotated, until when the previous one
/// works, and the last request received (what, its status, when).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimState {
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub previous_until: Option<i64>,
    pub last_request_at: Option<i64>,
    pub last_request: Option<String>,
    pub last_status: Option<i64>,
}

impl ScimState {
    /// As the API and the CLI show it (times RFC 3339), with `base_url`, the account's SCIM
    /// base URL; never the token.
    pub fn view(&self, account: &str, base_url: &str) -> Value {
        use super::rfc3339;
        json!({
            "account": account,
            "baseUrl": base_url,
            "createdAt": rfc3339(self.created_at),
            "rotatedAt": self.rotated_at.and_then(rfc3339),
            "previousTokenUntil": self.previous_until.filter(|t| *t > super::now()).and_then(rfc3339),
            "lastRequest": self.last_request_at.map(|at| json!({
                "at": rfc3339(at),
                "request": self.last_request,
                "status": self.last_status,
            })),
        })
    }
}

/// Which kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimKind {
    User,
    Group,
}

impl ScimKind {
    /// `User` or `Group`, as `meta.resourceType` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimKind::User => "User",
            ScimKind::Group => "Group",
        }
    }

    /// The endpoint's name: `Users` or `Groups`.
    pub fn endpoint(self) -> &'static str {
        match self {
            ScimKind::User => "Users",
            ScimKind::Group => "Groups",
        }
    }

    fn core(self) -> (&'static str, &'static [Attr]) {
        match self {
            ScimKind::User => (USER_SCHEMA, USER_ATTRS),
            ScimKind::Group => (GROUP_SCHEMA, GROUP_ATTRS),
        }
    }

    /// The extension schemas this kind takes, with their attributes (none: any).
    fn extensions(self) -> &'static [(&'static str, Option<&'static [Attr]>)] {
        match self {
            ScimKind::User => &[(ENTERPRISE_SCHEMA, Some(ENTERPRISE_ATTRS)), (CUSTOM_SCHEMA, None)],
            ScimKind::Group => &[],
        }
    }
}

/// Why a pushed resource is refused: SCIM's `scimType` and a detail saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Invalid {
    /// `invalidSyntax`, `invalidValue`, …
    pub scim_type: &'static str,
    /// What is wrong.
    pub detail: String,
}

impl Invalid {
    /// An `invalidValue` refusal.
    pub fn value(detail: impl Into<String>) -> Self {
        Self {
            scim_type: "invalidValue",
            detail: detail.into(),
        }
    }

    /// An `invalidSyntax` refusal.
    pub fn syntax(detail: impl Into<String>) -> Self {
        Self {
            scim_type: "invalidSyntax",
            detail: detail.into(),
        }
    }
}

fn find(attrs: &'static [Attr], name: &str) -> Option<&'static Attr> {
    attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// The schema URI `uri` as this kind spells it: its core schema or one of its extensions.
pub fn schema_uri(kind: ScimKind, uri: &str) -> Option<&'static str> {
    let (core, _) = kind.core();
    if core.eq_ignore_ascii_case(uri) {
        return Some(core);
    }
    kind.extensions()
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(uri))
        .map(|(u, _)| *u)
}

/// Attribute `name` (with `sub`) of schema `uri` (the core one when `None`) as the schema
/// spells them; unknown names as written. `None` for a schema this kind does not take.
pub fn canonical_attr(kind: ScimKind, uri: Option<&str>, name: &str, sub: Option<&str>) -> Option<AttrName> {
    let (core, core_attrs) = kind.core();
    let (uri, attrs) = match uri {
        None => (None, Some(core_attrs)),
        Some(u) if core.eq_ignore_ascii_case(u) => (None, Some(core_attrs)),
        Some(u) => {
            let (uri, attrs) = kind.extensions().iter().find(|(x, _)| x.eq_ignore_ascii_case(u))?;
            (Some(*uri), *attrs)
        }
    };
    let known = attrs.and_then(|a| find(a, name));
    let name = known.map_or_else(|| name.to_owned(), |(n, _)| (*n).to_owned());
    let sub = sub.map(|s| {
        known
            .and_then(|(_, subs)| subs.iter().find(|x| x.eq_ignore_ascii_case(s)))
            .map_or_else(|| s.to_owned(), |x| (*x).to_owned())
    });
    Some(AttrName { uri, name, sub })
}

/// The sub-attributes of attribute `name` of schema `uri` (the core one when `None`) of
/// `kind`, as the schema spells them (none for an unknown or simple one).
pub fn sub_attributes(kind: ScimKind, uri: Option<&str>, name: &str) -> &'static [&'static str] {
    let (core, core_attrs) = kind.core();
    let attrs = match uri {
        None => Some(core_attrs),
        Some(u) if core.eq_ignore_ascii_case(u) => Some(core_attrs),
        Some(u) => kind
            .extensions()
            .iter()
            .find(|(x, _)| x.eq_ignore_ascii_case(u))
            .and_then(|(_, a)| *a),
    };
    subs_of(attrs, name)
}

/// An attribute as a resource keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrName {
    /// The extension's schema (`None`: the core schema's attribute, at the resource's top).
    pub uri: Option<&'static str>,
    pub name: String,
    pub sub: Option<String>,
}

/// The sub-attributes of attribute `name` of the attributes `attrs`.
fn subs_of(attrs: Option<&'static [Attr]>, name: &str) -> &'static [&'static str] {
    attrs.and_then(|a| find(a, name)).map_or(&[], |(_, s)| *s)
}

/// `"True"`/`"False"` (Entra ID) as booleans.
fn boolean(v: Value) -> Value {
    match &v {
        Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        _ => v,
    }
}

/// `value`'s sub-attribute names as `subs` spells them, and `primary` as a boolean.
fn canonical_complex(value: Value, subs: &[&str]) -> Value {
    let fix = |m: Map<String, Value>| -> Map<String, Value> {
        m.into_iter()
            .map(|(k, v)| {
                let k = subs
                    .iter()
                    .find(|s| s.eq_ignore_ascii_case(&k))
                    .map_or(k, |s| (*s).to_owned());
                let v = if k == "primary" { boolean(v) } else { v };
                (k, v)
            })
            .collect()
    };
    match value {
        Value::Object(m) => Value::Object(fix(m)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| match i {
                    Value::Object(m) => Value::Object(fix(m)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

/// The attributes of `object` named as `attrs` spells them (unknown ones as written).
fn canonical_members(object: Map<String, Value>, attrs: Option<&'static [Attr]>) -> Map<String, Value> {
    object
        .into_iter()
        .map(|(k, v)| {
            let k = attrs.and_then(|a| find(a, &k)).map_or(k, |(n, _)| (*n).to_owned());
            let subs = subs_of(attrs, &k);
            let v = if subs.is_empty() { v } else { canonical_complex(v, subs) };
            (k, v)
        })
        .collect()
}

/// A pushed resource of `kind` checked and in canonical form: an object whose `schemas` (when
/// given) are this kind's; attribute names as the schemas spell them, extensions under their
/// URIs; `active` and `primary` as booleans; without `password` (never kept), `id`, `meta` and a
/// user's `groups` (the server's to say). Attributes this service provider does not know are
/// kept as pushed.
///
/// # Errors
/// [`Invalid`] saying what is wrong: not an object, an unknown schema, an extension not
/// declared in `schemas`, a missing `userName`/`displayName`, an `active` that is not a
/// boolean.
pub fn canonical(kind: ScimKind, body: Value) -> Result<Map<String, Value>, Invalid> {
    let Value::Object(object) = body else {
        return Err(Invalid::syntax(format!(
            "the body must be a JSON object: a SCIM {}",
            kind.as_str()
        )));
    };
    let (core, core_attrs) = kind.core();
    let mut declared: Vec<&'static str> = Vec::new();
    if let Some(schemas) = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v)
    {
        let Some(list) = schemas.as_array() else {
            return Err(Invalid::syntax("schemas must be a list of schema URIs"));
        };
        for s in list {
            let s = s.as_str().unwrap_or_default();
            match schema_uri(kind, s) {
                Some(u) => declared.push(u),
                None => {
                    let takes: Vec<&str> = std::iter::once(core)
                        .chain(kind.extensions().iter().map(|(u, _)| *u))
                        .collect();
                    return Err(Invalid::value(format!(
                        "unknown schema {s:?}: a {} here takes {}",
                        kind.as_str(),
                        takes.join(", ")
                    )));
                }
            }
        }
        if !declared.contains(&core) {
            return Err(Invalid::value(format!("schemas must include {core}")));
        }
    }
    let mut out = Map::new();
    for (k, v) in object {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(uri) = schema_uri(kind, &k).filter(|u| *u != core) {
            let Value::Object(ext) = v else {
                return Err(Invalid::syntax(format!("{uri} must be an object of attributes")));
            };
            if !declared.is_empty() && !declared.contains(&uri) {
                return Err(Invalid::value(format!("{uri} is used but not listed in schemas")));
            }
            let attrs = kind.extensions().iter().find(|(u, _)| *u == uri).and_then(|(_, a)| *a);
            out.insert(uri.to_owned(), Value::Object(canonical_members(ext, attrs)));
            continue;
        }
        if k.len() > 4 && k[..4].eq_ignore_ascii_case("urn:") {
            return Err(Invalid::value(format!(
                "unknown schema {k:?}: attributes of other schemas are not kept here"
            )));
        }
        let name = find(core_attrs, &k).map_or(k, |(n, _)| (*n).to_owned());
        if matches!(name.as_str(), "id" | "meta" | "password") || (kind == ScimKind::User && name == "groups") {
            continue;
        }
        let subs = subs_of(Some(core_attrs), &name);
        let v = if subs.is_empty() { v } else { canonical_complex(v, subs) };
        let v = if name == "active" { boolean(v) } else { v };
        out.insert(name, v);
    }
    if out.get("active").is_some_and(|v| !v.is_boolean() && !v.is_null()) {
        return Err(Invalid::value("active must be true or false"));
    }
    let required = match kind {
        ScimKind::User => "userName",
        ScimKind::Group => "displayName",
    };
    match out.get(required) {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(Invalid::value(format!(
                "{required} is required: every {} has one",
                kind.as_str()
            )));
        }
        Some(_) => return Err(Invalid::value(format!("{required} must be a string"))),
    }
    if out.get("externalId").is_some_and(|v| !v.is_string() && !v.is_null()) {
        return Err(Invalid::value("externalId must be a string"));
    }
    Ok(out)
}

/// The value of `object.name.sub` (or `object.name` without `sub`), when a string.
fn text_at(object: &Map<String, Value>, name: &str, sub: Option<&str>) -> Option<String> {
    let v = object.get(name)?;
    let v = match sub {
        Some(s) => v.get(s)?,
        None => v,
    };
    v.as_str().map(str::to_owned)
}

/// The `sub` of the element of multi-valued `name` that is primary, else of type `of_type`,
/// else the first.
fn pick(object: &Map<String, Value>, name: &str, of_type: Option<&str>, sub: &str) -> Option<String> {
    let items = object.get(name)?.as_array()?;
    let primary = items
        .iter()
        .find(|i| i.get("primary").and_then(Value::as_bool) == Some(true));
    let typed = of_type.and_then(|t| {
        items.iter().find(|i| {
            i.get("type")
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(t))
        })
    });
    let chosen = match of_type {
        Some(_) => typed,
        None => primary.or_else(|| items.first()),
    }?;
    chosen.get(sub)?.as_str().map(str::to_owned)
}

/// A pushed user's Okta profile: the SCIM attributes Okta maps to its own (`login`, `email`,
/// `firstName`, `lastName`, the enterprise attributes, the phone numbers and the work address),
/// and the custom extension's attributes under their own names.
pub fn okta_profile(resource: &Map<String, Value>) -> Map<String, Value> {
    let mut p = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            p.insert(k.to_owned(), Value::String(v));
        }
    };
    put("login", text_at(resource, "userName", None));
    put("email", pick(resource, "emails", None, "value"));
    put("firstName", text_at(resource, "name", Some("givenName")));
    put("lastName", text_at(resource, "name", Some("familyName")));
    put("middleName", text_at(resource, "name", Some("middleName")));
    put("honorificPrefix", text_at(resource, "name", Some("honorificPrefix")));
    put("honorificSuffix", text_at(resource, "name", Some("honorificSuffix")));
    for (scim, okta) in [
        ("displayName", "displayName"),
        ("nickName", "nickName"),
        ("profileUrl", "profileUrl"),
        ("title", "title"),
        ("userType", "userType"),
        ("preferredLanguage", "preferredLanguage"),
        ("locale", "locale"),
        ("timezone", "timezone"),
    ] {
        put(okta, text_at(resource, scim, None));
    }
    put("mobilePhone", pick(resource, "phoneNumbers", Some("mobile"), "value"));
    put("primaryPhone", pick(resource, "phoneNumbers", Some("work"), "value"));
    put(
        "streetAddress",
        pick(resource, "addresses", Some("work"), "streetAddress"),
    );
    put("city", pick(resource, "addresses", Some("work"), "locality"));
    put("state", pick(resource, "addresses", Some("work"), "region"));
    put("zipCode", pick(resource, "addresses", Some("work"), "postalCode"));
    put("countryCode", pick(resource, "addresses", Some("work"), "country"));
    if let Some(Value::Object(ent)) = resource.get(ENTERPRISE_SCHEMA) {
        for k in ["employeeNumber", "costCenter", "organization", "division", "department"] {
            put(k, text_at(ent, k, None));
        }
        put("managerId", text_at(ent, "manager", Some("value")));
        put("manager", text_at(ent, "manager", Some("displayName")));
    }
    if let Some(Value::Object(custom)) = resource.get(CUSTOM_SCHEMA) {
        for (k, v) in custom {
            if !v.is_null() && !p.contains_key(k) {
                p.insert(k.clone(), v.clone());
            }
        }
    }
    p
}

/// Whether a pushed resource is active (`active` absent means active).
pub fn is_active(resource: &Map<String, Value>) -> bool {
    resource.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// The directory row of pushed user `id` (canonical `resource`), changed at `at` (RFC 3339);
/// `old` is the row before (`None`: made now). A deactivated user is `DEPROVISIONED`, as Okta
/// keeps one.
pub fn user_row(id: &str, resource: &Map<String, Value>, at: &str, old: Option<&DirUser>) -> DirUser {
    let status = if is_active(resource) { "ACTIVE" } else { "DEPROVISIONED" };
    let moved = old.is_none_or(|o| o.status != status);
    let profile = okta_profile(resource);
    let field = |k: &str| profile.get(k).and_then(Value::as_str).map(str::to_owned);
    DirUser {
        id: id.to_owned(),
        status: status.to_owned(),
        login: text_at(resource, "userName", None).unwrap_or_default(),
        email: field("email"),
        first_name: field("firstName"),
        last_name: field("lastName"),
        created: old.and_then(|o| o.created.clone()).or_else(|| Some(at.to_owned())),
        activated: match (old, status) {
            (Some(o), _) if o.activated.is_some() => o.activated.clone(),
            (_, "ACTIVE") => Some(at.to_owned()),
            _ => None,
        },
        status_changed: if moved {
            Some(at.to_owned())
        } else {
            old.and_then(|o| o.status_changed.clone())
        },
        last_login: old.and_then(|o| o.last_login.clone()),
        last_updated: Some(at.to_owned()),
        external_id: text_at(resource, "externalId", None),
        profile,
    }
}

/// The directory row of pushed group `id` (canonical `resource`), changed at `at`; `old` the
/// row before; `members_changed` whether its members changed now.
pub fn group_row(
    id: &str,
    resource: &Map<String, Value>,
    at: &str,
    old: Option<&DirGroup>,
    members_changed: bool,
) -> DirGroup {
    let name = text_at(resource, "displayName", None).unwrap_or_default();
    let renamed = old.is_none_or(|o| o.name != name);
    DirGroup {
        id: id.to_owned(),
        group_type: "OKTA_GROUP".to_owned(),
        name,
        description: old.and_then(|o| o.description.clone()),
        created: old.and_then(|o| o.created.clone()).or_else(|| Some(at.to_owned())),
        last_updated: if renamed {
            Some(at.to_owned())
        } else {
            old.and_then(|o| o.last_updated.clone())
        },
        last_membership_updated: if members_changed || old.is_none() {
            Some(at.to_owned())
        } else {
            old.and_then(|o| o.last_membership_updated.clone())
        },
    }
}

/// What a resource is kept as: the canonical attributes with `id` and `meta`'s `resourceType`,
/// `created` and `lastModified` (what filters read). A group's `members` here are only those
/// that are no user of the directory (its memberships are the directory's).
pub fn kept(
    kind: ScimKind,
    id: &str,
    mut resource: Map<String, Value>,
    created: &str,
    modified: &str,
) -> Map<String, Value> {
    resource.insert("id".into(), json!(id));
    resource.insert(
        "meta".into(),
        json!({ "resourceType": kind.as_str(), "created": created, "lastModified": modified }),
    );
    resource
}

/// The attributes of a kept resource a client pushed (without `id` and `meta`): what a
/// `PUT` of the same values is compared with.
pub fn pushed_part(kept: &Map<String, Value>) -> Map<String, Value> {
    let mut m = kept.clone();
    m.remove("id");
    m.remove("meta");
    m
}

/// A kept resource as answered: `schemas` (its core schema and the extensions it has),
/// `active` said for a user, `meta` with `location` (under `base`, the account's SCIM base URL)
/// and `version` (a weak ETag of its content).
pub fn answer(kind: ScimKind, kept: &Map<String, Value>, base: &str) -> Map<String, Value> {
    use sha2::{Digest, Sha256};
    let (core, _) = kind.core();
    let mut schemas = vec![Value::String(core.to_owned())];
    for (uri, _) in kind.extensions() {
        if kept.contains_key(*uri) {
            schemas.push(Value::String((*uri).to_owned()));
        }
    }
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas));
    for (k, v) in kept {
        out.insert(k.clone(), v.clone());
    }
    let id = kept.get("id").and_then(Value::as_str).unwrap_or_default();
    let digest = Sha256::digest(Value::Object(kept.clone()).to_string().as_bytes());
    let version: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if let Some(Value::Object(meta)) = out.get_mut("meta") {
        meta.insert("location".into(), json!(format!("{base}/{}/{id}", kind.endpoint())));
        meta.insert("version".into(), json!(format!("W/\"{version}\"")));
    }
    out
}

/// `resource` of `kind` with only the attributes `attributes` names (plus those always
/// returned: `id`, `schemas`, a user's `userName`, a group's `displayName`), or without those
/// `excluded` names; names are `name` or `name.sub`, in any case, an extension's prefixed by
/// its URI.
pub fn project(
    kind: ScimKind,
    mut resource: Map<String, Value>,
    attributes: &[String],
    excluded: &[String],
) -> Map<String, Value> {
    let key = match kind {
        ScimKind::User => "userName",
        ScimKind::Group => "displayName",
    };
    let split = |a: &str| -> (String, Option<String>) {
        let (head, sub) = match a.rsplit_once(':') {
            Some((uri, rest)) => {
                let (n, s) = rest.split_once('.').map_or((rest, None), |(n, s)| (n, Some(s)));
                (format!("{uri}:{n}"), s.map(str::to_owned))
            }
            None => {
                let (n, s) = a.split_once('.').map_or((a, None), |(n, s)| (n, Some(s)));
                (n.to_owned(), s.map(str::to_owned))
            }
        };
        (head, sub)
    };
    let key_of = |m: &Map<String, Value>, name: &str| m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
    if !attributes.is_empty() {
        let mut out = Map::new();
        for keep in ["schemas", "id", key] {
            if let Some(v) = resource.get(keep) {
                out.insert(keep.into(), v.clone());
            }
        }
        for a in attributes {
            let (name, sub) = split(a);
            // An extension's attribute: `urn:…:User:department`.
            let (scope_key, name) = match name.rsplit_once(':') {
                Some((uri, n)) => (key_of(&resource, uri), n.to_owned()),
                None => (None, name),
            };
            let source = match &scope_key {
                Some(k) => resource.get(k).and_then(Value::as_object),
                None => Some(&resource),
            };
            let Some(source) = source else { continue };
            let Some(k) = key_of(source, &name) else { continue };
            let v = match &sub {
                Some(s) => match source.get(&k) {
                    Some(Value::Object(o)) => match key_of(o, s) {
                        Some(sk) => json!({ sk.clone(): o[&sk].clone() }),
                        None => continue,
                    },
                    _ => continue,
                },
                None => source[&k].clone(),
            };
            let target = match &scope_key {
                Some(sk) => out
                    .entry(sk.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut(),
                None => Some(&mut out),
            };
            if let Some(target) = target {
                match (target.get_mut(&k), v) {
                    (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
                    (_, v) => {
                        target.insert(k, v);
                    }
                }
            }
        }
        return out;
    }
    for a in excluded {
        let (name, sub) = split(a);
        if name.eq_ignore_ascii_case("id") || name.eq_ignore_ascii_case("schemas") || name.eq_ignore_ascii_case(key) {
            continue;
        }
        let Some(k) = key_of(&resource, &name) else { continue };
        match sub {
            Some(s) => {
                if let Some(Value::Object(o)) = resource.get_mut(&k)
                    && let Some(sk) = key_of(o, &s)
                {
                    o.remove(&sk);
                }
            }
            None => {
                resource.remove(&k);
            }
        }
    }
    resource
}

/// The resource a pulled user (one okta-bridge read from the org, kept without a SCIM
/// resource) answers as: its Okta profile mapped back.
pub fn from_pulled(u: &DirUser) -> Map<String, Value> {
    let p = &u.profile;
    let s = |k: &str| p.get(k).cloned().unwrap_or(Value::Null);
    let mut r = Map::new();
    r.insert("id".into(), json!(u.id));
    r.insert("userName".into(), json!(u.login));
    r.insert(
        "name".into(),
        json!({ "givenName": u.first_name, "familyName": u.last_name }),
    );
    if let Some(email) = &u.email {
        r.insert(
            "emails".into(),
            json!([{ "value": email, "type": "work", "primary": true }]),
        );
    }
    for k in ["displayName", "title", "nickName", "locale", "timezone", "userType"] {
        if !s(k).is_null() {
            r.insert(k.into(), s(k));
        }
    }
    r.insert("active".into(), json!(u.status != "DEPROVISIONED"));
    r.insert(
        "meta".into(),
        json!({ "resourceType": "User", "created": u.created, "lastModified": u.last_updated }),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_canonical_and_entra_booleans_read() {
        let r = canonical(
            ScimKind::User,
            json!({
                "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"],
                "USERNAME": "ada@example.com",
                "Active": "False",
                "password": "t1meMa$heen",
                "Emails": [{"Value": "ada@example.com", "Primary": "True", "type": "work"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"DEPARTMENT": "R&D"}
            }),
        )
        .unwrap();
        assert_eq!(r["userName"], "ada@example.com");
        assert_eq!(r["active"], false);
        assert!(!r.contains_key("password"));
        assert_eq!(r["emails"][0]["primary"], true);
        assert_eq!(r["emails"][0]["value"], "ada@example.com");
        assert_eq!(r[ENTERPRISE_SCHEMA]["department"], "R&D");
        let p = okta_profile(&r);
        assert_eq!(p["email"], "ada@example.com");
        assert_eq!(p["department"], "R&D");
    }

    #[test]
    fn bad_resources_say_what_to_fix() {
        let e = canonical(ScimKind::User, json!({"schemas": ["urn:x:unknown"], "userName": "a"})).unwrap_err();
        assert_eq!(e.scim_type, "invalidValue");
        assert!(e.detail.contains("unknown schema"), "{e}");
        let e = canonical(ScimKind::User, json!({"schemas": [USER_SCHEMA]})).unwrap_err();
        assert!(e.detail.contains("userName is required"), "{e}");
        let e = canonical(ScimKind::User, json!([1])).unwrap_err();
        assert_eq!(e.scim_type, "invalidSyntax");
        let e = canonical(ScimKind::User, json!({"userName": "a", "active": "maybe"})).unwrap_err();
        assert!(e.detail.contains("active"), "{e}");
        let e = canonical(ScimKind::Group, json!({"members": []})).unwrap_err();
        assert!(e.detail.contains("displayName"), "{e}");
    }

    #[test]
    fn attributes_and_excluded_attributes_shape_an_answer() {
        let r: Map<String, Value> = serde_json::from_value(json!({
            "schemas": [USER_SCHEMA], "id": "u1", "userName": "a",
            "name": {"givenName": "Ada", "familyName": "Lovelace"}, "title": "Countess"
        }))
        .unwrap();
        let only = project(ScimKind::User, r.clone(), &["name.familyName".into()], &[]);
        assert_eq!(
            Value::Object(only),
            json!({"schemas": [USER_SCHEMA], "id": "u1", "userName": "a", "name": {"familyName": "Lovelace"}})
        );
        let without = project(
            ScimKind::User,
            r,
            &[],
            &["title".into(), "NAME.givenName".into(), "id".into()],
        );
        assert_eq!(without["id"], "u1");
        assert!(!without.contains_key("title"));
        assert_eq!(without["name"], json!({"familyName": "Lovelace"}));
    }
}
