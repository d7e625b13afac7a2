//! PATCH semantics (RFC 7644 §3.5.2) on a resource's JSON: `add`, `replace` and `remove`, with
//! and without a path, value filters on multi-valued attributes (`members[value eq "…"]`) and
//! their sub-attributes (`emails[type eq "work"].value`), attributes of extension schemas.
//!
//! Liberal where identity providers are known to differ, so that a push is never lost: op
//! names in any case (Entra ID's `"Replace"`), attribute names in any case, a path-less value
//! whose keys are paths (`{"name.givenName": "Ada"}`), `remove` of `members` with the members
//! to remove as its value, a filter that selects nothing under `replace` or `add` making the
//! value it describes (`emails[type eq "work"].value` on a user with no work email), and
//! `remove` of what is not there doing nothing.

use serde_json::{Map, Value};

use crate::eval::{is_core, member};
use crate::{AttrPath, CompValue, CompareOp, Filter, ParseError, PatchPath};

/// The schema of a PATCH request's body.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `remove`.
    Remove,
}

/// One operation of a PATCH request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Why a PATCH request cannot be applied; [`PatchError::scim_type`] is its SCIM `scimType`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a PATCH request (`invalidSyntax`).
    #[error("{0}")]
    Syntax(String),
    /// A path does not parse (`invalidPath`).
    #[error("path {path:?} {error}")]
    Path { path: String, error: ParseError },
    /// The value does not fit the path (`invalidValue`).
    #[error("{0}")]
    Value(String),
    /// A `remove` with no path, or a `replace` whose filter selects nothing it could make
    /// (`noTarget`).
    #[error("{0}")]
    NoTarget(String),
}

impl PatchError {
    /// The SCIM `scimType` of this error.
    pub fn scim_type(&self) -> &'static str {
        match self {
            PatchError::Syntax(_) => "invalidSyntax",
            PatchError::Path { .. } => "invalidPath",
            PatchError::Value(_) => "invalidValue",
            PatchError::NoTarget(_) => "noTarget",
        }
    }
}

/// The operations of a PATCH request's body: `{"schemas": [PatchOp], "Operations": [{"op",
/// "path", "value"}]}` (`schemas` may be left out; `Operations` in any case).
///
/// # Errors
/// [`PatchError::Syntax`] for a body that is not one, [`PatchError::Path`] for a path that does
/// not parse.
pub fn operations(body: &Value) -> Result<Vec<PatchOp>, PatchError> {
    if let Some(schemas) = member(body, "schemas") {
        let listed = schemas.as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA)))
        });
        if !listed {
            return Err(PatchError::Syntax(format!("schemas must list {PATCH_OP_SCHEMA}")));
        }
    }
    let Some(ops) = member(body, "Operations").and_then(Value::as_array) else {
        return Err(PatchError::Syntax(
            "a PATCH request has \"Operations\": an array of {\"op\", \"path\", \"value\"}".to_owned(),
        ));
    };
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            let name = member(o, "op").and_then(Value::as_str).unwrap_or_default();
            let op = match name.to_ascii_lowercase().as_str() {
                "add" => Op::Add,
                "replace" => Op::Replace,
                "remove" => Op::Remove,
                _ => {
                    return Err(PatchError::Syntax(format!(
                        "Operations[{i}].op is {name:?}: one of add, replace, remove"
                    )));
                }
            };
            let path = match member(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(p.parse().map_err(|error| PatchError::Path { path: p.clone(), error })?),
                Some(other) => {
                    return Err(PatchError::Syntax(format!("Operations[{i}].path is {other}: a string")));
                }
            };
            let value = member(o, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(PatchError::Syntax(format!("Operations[{i}] ({name}) has no value")));
            }
            Ok(PatchOp { op, path, value })
        })
        .collect()
}

/// The key of `map` named `name` in any case.
fn key_of(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// The object the attribute of `path` lives in: the resource, or its extension's object (made
/// when `make`).
fn scope<'a>(resource: &'a mut Map<String, Value>, path: &AttrPath, make: bool) -> Option<&'a mut Map<String, Value>> {
    match &path.uri {
        Some(uri) if !is_core(uri) => {
            let key = key_of(resource, uri).unwrap_or_else(|| uri.clone());
            if make {
                let ext = resource.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
                if !ext.is_object() {
                    *ext = Value::Object(Map::new());
                }
            }
            resource.get_mut(&key)?.as_object_mut()
        }
        _ => Some(resource),
    }
}

/// The `value` member of an element of a multi-valued attribute (how `members` are told
/// apart), or the element itself.
fn identity(v: &Value) -> &Value {
    member(v, "value").unwrap_or(v)
}

/// `into` with `value`'s members set on it (complex attributes: the rest stays).
fn merge(into: &mut Value, value: &Value) {
    match (into.as_object_mut(), value.as_object()) {
        (Some(o), Some(v)) => {
            for (k, x) in v {
                let key = key_of(o, k).unwrap_or_else(|| k.clone());
                o.insert(key, x.clone());
            }
        }
        _ => *into = value.clone(),
    }
}

/// Applies `op` to `resource` (a resource's JSON object).
///
/// # Errors
/// [`PatchError::Value`] when the value does not fit, [`PatchError::NoTarget`] for a `remove`
/// with no path or a filter that selects nothing it can make; the resource is as it was then
/// (a request's earlier operations stay applied: apply a request to a copy).
pub fn apply(resource: &mut Map<String, Value>, op: &PatchOp) -> Result<(), PatchError> {
    let Some(path) = &op.path else {
        return apply_pathless(resource, op);
    };
    let value = op.value.as_ref();
    let make = op.op != Op::Remove;
    let Some(scope) = scope(resource, &path.attr, make) else {
        return Ok(());
    };
    let key = key_of(scope, &path.attr.name);
    match &path.filter {
        None => apply_to_attr(scope, key, path, op.op, value),
        Some(filter) => apply_filtered(scope, key, path, filter, op.op, value),
    }
}

fn apply_pathless(resource: &mut Map<String, Value>, op: &PatchOp) -> Result<(), PatchError> {
    if op.op == Op::Remove {
        return Err(PatchError::NoTarget("remove needs a path: what to remove".to_owned()));
    }
    let Some(Value::Object(values)) = &op.value else {
        return Err(PatchError::Value(
            "with no path, the value is an object of the attributes to set".to_owned(),
        ));
    };
    for (k, v) in values {
        // A schema's object (`urn:…:User`: schema names are capitalised, attribute names
        // not): each of its attributes; any other key is a path.
        let is_extension = v.is_object()
            && k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
            && k.rsplit(':')
                .next()
                .and_then(|l| l.chars().next())
                .is_some_and(char::is_uppercase);
        if is_extension {
            for (sk, sv) in v.as_object().into_iter().flatten() {
                let path = PatchPath {
                    attr: AttrPath {
                        uri: Some(k.clone()),
                        name: sk.clone(),
                        sub: None,
                    },
                    filter: None,
                    sub: None,
                };
                apply(
                    resource,
                    &PatchOp {
                        op: op.op,
                        path: Some(path),
                        value: Some(sv.clone()),
                    },
                )?;
            }
            continue;
        }
        let path: PatchPath = k.parse().map_err(|error| PatchError::Path { path: k.clone(), error })?;
        apply(
            resource,
            &PatchOp {
                op: op.op,
                path: Some(path),
                value: Some(v.clone()),
            },
        )?;
    }
    Ok(())
}

fn apply_to_attr(
    scope: &mut Map<String, Value>,
    key: Option<String>,
    path: &PatchPath,
    op: Op,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let attr = &path.attr;
    if let Some(sub) = &attr.sub {
        let parent_key = key.unwrap_or_else(|| attr.name.clone());
        if op == Op::Remove {
            if let Some(Value::Object(parent)) = scope.get_mut(&parent_key)
                && let Some(k) = key_of(parent, sub)
            {
                parent.remove(&k);
            }
            return Ok(());
        }
        let parent = scope.entry(parent_key).or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(parent) = parent else {
            return Err(PatchError::Value(format!("{} is not a complex attribute", attr.name)));
        };
        let k = key_of(parent, sub).unwrap_or_else(|| sub.clone());
        parent.insert(k, value.cloned().unwrap_or(Value::Null));
        return Ok(());
    }
    let key = key.unwrap_or_else(|| attr.name.clone());
    match op {
        Op::Remove => {
            // Entra ID removes members by listing them as the value.
            if let (Some(Value::Array(items)), Some(gone)) = (scope.get_mut(&key), value) {
                let gone: Vec<&Value> = match gone {
                    Value::Array(g) => g.iter().map(identity).collect(),
                    g => vec![identity(g)],
                };
                items.retain(|i| !gone.contains(&identity(i)));
            } else {
                scope.remove(&key);
            }
        }
        Op::Add => {
            let value = value.cloned().unwrap_or(Value::Null);
            match scope.get_mut(&key) {
                Some(Value::Array(items)) => {
                    let new = match value {
                        Value::Array(v) => v,
                        v => vec![v],
                    };
                    for v in new {
                        if !items.iter().any(|i| identity(i) == identity(&v)) {
                            items.push(v);
                        }
                    }
                }
                Some(existing @ Value::Object(_)) => merge(existing, &value),
                _ => {
                    scope.insert(key, value);
                }
            }
        }
        Op::Replace => {
            let value = value.cloned().unwrap_or(Value::Null);
            match scope.get_mut(&key) {
                Some(existing @ Value::Object(_)) if value.is_object() => merge(existing, &value),
                _ => {
                    scope.insert(key, value);
                }
            }
        }
    }
    Ok(())
}

/// The attributes a filter of `x eq v` conditions (joined by `and`) says a value has: what a
/// `replace` or `add` makes when the filter selects nothing.
fn described(filter: &Filter, into: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::Compare(p, CompareOp::Eq, v) if p.sub.is_none() && p.uri.is_none() => {
            let v = match v {
                CompValue::Null => Value::Null,
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::String(s) => Value::String(s.clone()),
            };
            into.insert(p.name.clone(), v);
            true
        }
        Filter::And(a, b) => described(a, into) && described(b, into),
        _ => false,
    }
}

fn apply_filtered(
    scope: &mut Map<String, Value>,
    key: Option<String>,
    path: &PatchPath,
    filter: &Filter,
    op: Op,
    value: Option<&Value>,
) -> Result<(), PatchError> {
    let key = key.unwrap_or_else(|| path.attr.name.clone());
    if op == Op::Remove {
        if let Some(Value::Array(items)) = scope.get_mut(&key) {
            match &path.sub {
                None => items.retain(|i| !filter.matches(i)),
                Some(sub) => {
                    for item in items.iter_mut().filter(|i| filter.matches(i)) {
                        if let Value::Object(o) = item
                            && let Some(k) = key_of(o, sub)
                        {
                            o.remove(&k);
                        }
                    }
                }
            }
        }
        return Ok(());
    }
    let value = value.cloned().unwrap_or(Value::Null);
    let mut items = match scope.remove(&key) {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            scope.insert(key, other);
            return Err(PatchError::Value(format!(
                "{} is not multi-valued: a filter ([…]) selects values of a multi-valued attribute",
                path.attr.name
            )));
        }
    };
    let set = |item: &mut Value| match &path.sub {
        Some(sub) => {
            if let Value::Object(o) = item {
                let k = key_of(o, sub).unwrap_or_else(|| sub.clone());
                o.insert(k, value.clone());
            }
        }
        None => merge(item, &value),
    };
    let mut hit = false;
    for item in items.iter_mut().filter(|i| filter.matches(i)) {
        set(item);
        hit = true;
    }
    let mut made = Map::new();
    let result = if hit {
        Ok(())
    } else if described(filter, &mut made) {
        let mut item = Value::Object(made);
        set(&mut item);
        items.push(item);
        Ok(())
    } else {
        Err(PatchError::NoTarget(format!(
            "no value of {} matches [{filter}], and the filter does not describe one to make",
            path.attr.name
        )))
    };
    // Put back as it was found when nothing was made of a missing attribute.
    if !(items.is_empty() && result.is_err()) {
        scope.insert(key, Value::Array(items));
    }
    result
}
