//! Typed builders for Okta's `search` and `filter` expressions, which quote and escape every
//! value, so whatever string goes in is what Okta compares against.
//!
//! ```
//! use okta_client::expr::Attr;
//! # fn demo() -> Result<(), okta_client::Error> {
//! let dept = Attr::new("profile.department")?;
//! let status = Attr::new("status")?;
//! let e = dept.eq(r#"R&D "West""#).and(status.eq("ACTIVE").or(status.eq("STAGED")));
//! assert_eq!(
//!     e.to_string(),
//!     r#"profile.department eq "R&D \"West\"" and (status eq "ACTIVE" or status eq "STAGED")"#
//! );
//! # Ok(()) }
//! ```
//!
//! Pass an [`Expr`] to `search(...)` or `filter(...)` of a list request; plain strings are
//! accepted there too, as written.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

/// An attribute name: `status`, `lastUpdated`, `profile.department`, `type`…
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr(String);

impl Attr {
    /// Checks the name: letters, digits, `_`, `-` and `.` between parts.
    ///
    /// # Errors
    /// [`Error::Config`] naming the attribute when it could not be written unquoted.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let ok = !name.is_empty()
            && name
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        if ok {
            Ok(Self(name))
        } else {
            Err(Error::Config(format!(
                "{name:?} is not an attribute name Okta's expressions accept (letters, digits, _ and -, parts joined by .)"
            )))
        }
    }

    fn cmp(&self, op: &'static str, value: impl Into<Value>) -> Expr {
        Expr(Node::Cmp {
            attr: self.0.clone(),
            op,
            value: value.into(),
        })
    }
    /// `attr eq value`
    pub fn eq(&self, value: impl Into<Value>) -> Expr {
        self.cmp("eq", value)
    }
    /// `attr sw value` (starts with)
    pub fn sw(&self, value: impl Into<Value>) -> Expr {
        self.cmp("sw", value)
    }
    /// `attr co value` (contains)
    pub fn co(&self, value: impl Into<Value>) -> Expr {
        self.cmp("co", value)
    }
    /// `attr gt value`
    pub fn gt(&self, value: impl Into<Value>) -> Expr {
        self.cmp("gt", value)
    }
    /// `attr ge value`
    pub fn ge(&self, value: impl Into<Value>) -> Expr {
        self.cmp("ge", value)
    }
    /// `attr lt value`
    pub fn lt(&self, value: impl Into<Value>) -> Expr {
        self.cmp("lt", value)
    }
    /// `attr le value`
    pub fn le(&self, value: impl Into<Value>) -> Expr {
        self.cmp("le", value)
    }
    /// `attr pr` (has a value)
    pub fn pr(&self) -> Expr {
        Expr(Node::Present(self.0.clone()))
    }
}

/// A value compared against: strings and times are quoted, numbers and booleans not.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A string, quoted with `"` and `\` escaped.
    Str(String),
    /// A number.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// A timestamp, written as Okta writes them (`"2024-01-31T12:00:00.000Z"`).
    Time(OffsetDateTime),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Str(s.clone())
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<OffsetDateTime> for Value {
    fn from(t: OffsetDateTime) -> Self {
        Value::Time(t)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")
            }
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Time(t) => write!(f, "\"{}\"", okta_time(*t)),
        }
    }
}

/// A time as Okta writes them: UTC with milliseconds (`2024-01-31T12:00:00.000Z`).
pub(crate) fn okta_time(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    utc.format(&fmt)
        .unwrap_or_else(|_| utc.format(&Rfc3339).unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Cmp {
        attr: String,
        op: &'static str,
        value: Value,
    },
    Present(String),
    And(Vec<Node>),
    Or(Vec<Node>),
}

/// An expression: comparisons joined by `and` / `or`. Its `Display` is Okta's syntax.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr(Node);

impl Expr {
    /// `self and other`.
    #[must_use]
    pub fn and(self, other: Expr) -> Expr {
        Expr(match self.0 {
            Node::And(mut v) => {
                v.push(other.0);
                Node::And(v)
            }
            n => Node::And(vec![n, other.0]),
        })
    }
    /// `self or other`.
    #[must_use]
    pub fn or(self, other: Expr) -> Expr {
        Expr(match self.0 {
            Node::Or(mut v) => {
                v.push(other.0);
                Node::Or(v)
            }
            n => Node::Or(vec![n, other.0]),
        })
    }
}

fn write_node(f: &mut fmt::Formatter<'_>, n: &Node, inside_and: bool) -> fmt::Result {
    match n {
        Node::Cmp { attr, op, value } => write!(f, "{attr} {op} {value}"),
        Node::Present(attr) => write!(f, "{attr} pr"),
        Node::And(parts) => {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(" and ")?;
                }
                write_node(f, p, true)?;
            }
            Ok(())
        }
        Node::Or(parts) => {
            // `and` binds tighter than `or`: an `or` inside an `and` needs parentheses.
            if inside_and {
                f.write_str("(")?;
            }
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(" or ")?;
                }
                write_node(f, p, false)?;
            }
            if inside_and {
                f.write_str(")")?;
            }
            Ok(())
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(f, &self.0, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn values_are_quoted_and_escaped() {
        let a = Attr::new("profile.nickName").unwrap();
        assert_eq!(a.eq(r#"a"b\c"#).to_string(), r#"profile.nickName eq "a\"b\\c""#);
        assert_eq!(
            Attr::new("lastUpdated")
                .unwrap()
                .gt(datetime!(2024-01-31 12:00 UTC))
                .to_string(),
            r#"lastUpdated gt "2024-01-31T12:00:00.000Z""#
        );
        assert_eq!(
            Attr::new("profile.age").unwrap().ge(42).to_string(),
            "profile.age ge 42"
        );
        assert_eq!(Attr::new("profile.email").unwrap().pr().to_string(), "profile.email pr");
    }

    #[test]
    fn or_inside_and_is_parenthesised() {
        let s = Attr::new("status").unwrap();
        let t = Attr::new("type").unwrap();
        let e = s.eq("A").or(s.eq("B")).and(t.eq("X"));
        assert_eq!(e.to_string(), r#"(status eq "A" or status eq "B") and type eq "X""#);
        let e = s.eq("A").and(t.eq("X")).or(s.eq("B"));
        assert_eq!(e.to_string(), r#"status eq "A" and type eq "X" or status eq "B""#);
    }

    #[test]
    fn attribute_names_are_checked() {
        for bad in ["", "profile.", "a b", "x\"y", "a..b", "eq\"or"] {
            let err = Attr::new(bad).unwrap_err();
            assert!(err.to_string().contains("attribute name"), "{bad}: {err}");
        }
        assert!(Attr::new("profile.employee_number-2").is_ok());
    }
}
