//! `/Schemas`: the schemas this service provider takes (RFC 7643 §7), made from the attribute
//! tables the resources are checked with, so what is said is what is done.

use serde_json::{Value, json};

use crate::model::scim::{
    CUSTOM_SCHEMA, ENTERPRISE_ATTRS, ENTERPRISE_SCHEMA, GROUP_ATTRS, GROUP_SCHEMA, USER_ATTRS, USER_SCHEMA,
};

/// Every schema's id.
pub(crate) const ALL: [&str; 4] = [USER_SCHEMA, ENTERPRISE_SCHEMA, CUSTOM_SCHEMA, GROUP_SCHEMA];

/// Attributes that are lists.
const MULTI_VALUED: &[&str] = &[
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509Certificates",
    "members",
];

/// Attribute `name` (with `subs`) as `/Schemas` describes it; `key` is the schema's one required
/// attribute, always returned (`userName`, a group's `displayName`).
fn attribute(name: &str, subs: &[&str], key: &str) -> Value {
    let kind = match name {
        _ if !subs.is_empty() => "complex",
        "active" | "primary" => "boolean",
        "$ref" | "profileUrl" => "reference",
        "created" | "lastModified" => "dateTime",
        _ => "string",
    };
    let mutability = match name {
        "id" | "meta" | "groups" | "created" | "lastModified" | "location" | "version" | "resourceType" => "readOnly",
        "password" => "writeOnly",
        _ => "readWrite",
    };
    let returned = match name {
        "password" => "never",
        _ if name == "id" || name == key => "always",
        _ => "default",
    };
    let mut a = json!({
        "name": name,
        "type": kind,
        "multiValued": MULTI_VALUED.contains(&name),
        "description": "",
        "required": name == key,
        "caseExact": matches!(name, "id" | "externalId" | "$ref" | "value"),
        "mutability": mutability,
        "returned": returned,
        "uniqueness": if name == "id" || (name == key && key == "userName") { "server" } else { "none" },
    });
    if !subs.is_empty() {
        a["subAttributes"] = Value::Array(subs.iter().map(|s| attribute(s, &[], "")).collect());
    }
    a
}

/// Schema `id` (any case), described with `base` (the account's SCIM base URL) in its `meta`.
pub(crate) fn schema(id: &str, base: &str) -> Option<Value> {
    let (id, name, attrs): (&str, &str, Vec<Value>) = if id.eq_ignore_ascii_case(USER_SCHEMA) {
        (
            USER_SCHEMA,
            "User",
            USER_ATTRS
                .iter()
                .filter(|(n, _)| *n != "meta")
                .map(|(n, s)| attribute(n, s, "userName"))
                .collect(),
        )
    } else if id.eq_ignore_ascii_case(ENTERPRISE_SCHEMA) {
        (
            ENTERPRISE_SCHEMA,
            "EnterpriseUser",
            ENTERPRISE_ATTRS.iter().map(|(n, s)| attribute(n, s, "")).collect(),
        )
    } else if id.eq_ignore_ascii_case(CUSTOM_SCHEMA) {
        // Any attribute an app adds: kept as pushed, mapped to the Okta profile under its name.
        (CUSTOM_SCHEMA, "AppUser", Vec::new())
    } else if id.eq_ignore_ascii_case(GROUP_SCHEMA) {
        (
            GROUP_SCHEMA,
            "Group",
            GROUP_ATTRS
                .iter()
                .filter(|(n, _)| *n != "meta")
                .map(|(n, s)| attribute(n, s, "displayName"))
                .collect(),
        )
    } else {
        return None;
    };
    Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": format!("{name} as okta-bridge keeps it"),
        "attributes": attrs,
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
    }))
}
