//! A filter evaluated against one JSON object: the values of a multi-valued attribute a
//! PATCH path selects (`members[value eq "00u1"]`), and the reference that other evaluations
//! (SQL) are checked against. Attribute names match in any case; strings compare in any case
//! (RFC 7643's default, `caseExact: false`; ASCII letters only, as SQL databases fold them); `gt`/`ge`/`lt`/`le` compare numbers as numbers and
//! strings (RFC 3339 times among them) as strings.

use std::cmp::Ordering;

use serde_json::Value;

use crate::{AttrPath, CompValue, CompareOp, Filter};

/// The member of `object` named `name`, in any case.
pub fn member<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The values `path` names in `object`: the attribute's (each element of a multi-valued one),
/// or its sub-attribute's in each of them. A schema URI names the extension's object (the core
/// schemas' are the object itself).
pub fn values<'a>(object: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let scope = match &path.uri {
        Some(uri) if !is_core(uri) => match member(object, uri) {
            Some(ext) => ext,
            None => return Vec::new(),
        },
        _ => object,
    };
    let Some(attr) = member(scope, &path.name) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match attr {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    match &path.sub {
        None => items,
        Some(sub) => items.into_iter().filter_map(|i| member(i, sub)).collect(),
    }
}

/// Whether `uri` is one of SCIM's core schemas (whose attributes sit at the top of a
/// resource).
pub fn is_core(uri: &str) -> bool {
    uri.eq_ignore_ascii_case("urn:ietf:params:scim:schemas:core:2.0:User")
        || uri.eq_ignore_ascii_case("urn:ietf:params:scim:schemas:core:2.0:Group")
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(v: &Value, op: CompareOp, with: &CompValue) -> bool {
    // ASCII case folding: what SQLite's lower() and PostgreSQL's under `COLLATE "C"` do, so a
    // filter selects the same rows in SQL as here.
    let text = |s: &str| s.to_ascii_lowercase();
    match (v, with) {
        (Value::String(a), CompValue::String(b)) => {
            let (a, b) = (text(a), text(b));
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            }
        }
        (Value::Number(a), CompValue::Number(b)) => {
            let Some(ord) = a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)) else {
                return false;
            };
            ordered(op, ord)
        }
        (Value::Bool(a), CompValue::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        (Value::Null, CompValue::Null) => op == CompareOp::Eq,
        (_, CompValue::Null) => op == CompareOp::Ne,
        _ => op == CompareOp::Ne,
    }
}

fn ordered(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

impl Filter {
    /// Whether `object` matches: a comparison holds when any of the attribute's values
    /// satisfies it (an attribute with no value is `ne` anything but `null`).
    pub fn matches(&self, object: &Value) -> bool {
        match self {
            Filter::Present(p) => values(object, p).into_iter().any(present),
            Filter::Compare(p, op, with) => {
                let vs = values(object, p);
                if vs.is_empty() {
                    return match with {
                        CompValue::Null => *op == CompareOp::Eq,
                        _ => *op == CompareOp::Ne,
                    };
                }
                if *op == CompareOp::Ne {
                    return vs.into_iter().all(|v| compare(v, CompareOp::Ne, with));
                }
                vs.into_iter().any(|v| compare(v, *op, with))
            }
            Filter::ValuePath(p, inner) => values(object, p).into_iter().any(|v| inner.matches(v)),
            Filter::And(a, b) => a.matches(object) && b.matches(object),
            Filter::Or(a, b) => a.matches(object) || b.matches(object),
            Filter::Not(inner) => !inner.matches(object),
        }
    }
}
