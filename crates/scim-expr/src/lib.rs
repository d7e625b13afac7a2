//! SCIM 2.0 filter and PATCH path expressions, as RFC 7644 writes them (§3.4.2.2 filters,
//! §3.5.2 PATCH paths), parsed once into typed expressions and printed back; no I/O. What a
//! filter selects is decided by whoever evaluates it (okta-bridge compiles it to SQL with bound
//! parameters).
//!
//! ```
//! use scim_expr::{CompareOp, Filter};
//!
//! let f: Filter = r#"userName eq "Ada@Example.com" and not (active eq false)"#.parse().unwrap();
//! let Filter::And(left, _) = &f else { panic!() };
//! assert!(matches!(&**left, Filter::Compare(p, CompareOp::Eq, _) if p.name == "userName"));
//! assert_eq!(f.to_string(), r#"userName eq "Ada@Example.com" and not (active eq false)"#);
//! ```
//!
//! Liberal where identity providers differ: operators, `and`/`or`/`not` and `true`/`false`/
//! `null` in any case (`EQ`, `And`, `True`).
//!
//! # Layout
//! - [`Filter`], [`AttrPath`], [`CompareOp`], [`CompValue`]: the expression types, and their
//!   printing (`Display`: what parses back to the same expression).
//! - [`PatchPath`]: a PATCH operation's `path` (`members[value eq "…"]`,
//!   `emails[type eq "work"].value`, `name.givenName`).
//! - [`eval`]: a filter evaluated against one JSON object (a PATCH filter's selection; the
//!   reference other evaluations are checked against).
//! - [`patch`]: PATCH operations read from a request and applied to a resource's JSON.
//! - `lex`: the tokens; `parse`: the grammar over them.

use std::fmt;

pub mod eval;
mod lex;
mod parse;
pub mod patch;

/// Why an expression does not parse: where, and what was expected there. Its `Display` is the
/// `detail` of a SCIM `invalidFilter` / `invalidPath` error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {message}")]
pub struct ParseError {
    /// The 1-based character where the expression went wrong.
    pub at: usize,
    /// What was expected there and what was found.
    pub message: String,
}

/// An attribute: `[URI ":"] name ["." sub]`, e.g. `userName`, `name.givenName`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URI, when given (`urn:ietf:params:scim:schemas:core:2.0:User`).
    pub uri: Option<String>,
    /// The attribute's name as written (SCIM attribute names are case-insensitive: compare
    /// with [`AttrPath::is`]).
    pub name: String,
    /// The sub-attribute, when given (`givenName` of `name.givenName`).
    pub sub: Option<String>,
}

impl AttrPath {
    /// An attribute of no schema URI and no sub-attribute.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            uri: None,
            name: name.into(),
            sub: None,
        }
    }

    /// Whether this is attribute `name` (case-insensitive), with sub-attribute `sub` if given
    /// (and none if not).
    pub fn is(&self, name: &str, sub: Option<&str>) -> bool {
        self.name.eq_ignore_ascii_case(name)
            && match (&self.sub, sub) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(uri) = &self.uri {
            write!(f, "{uri}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ];

    /// The operator as RFC 7644 writes it (`eq`).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator written `word`, in any case.
    pub fn from_word(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value compared with: a JSON literal.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number, as written.
    Number(serde_json::Number),
    /// A JSON string (escapes decoded).
    String(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
        }
    }
}

/// A filter expression. `and` binds tighter than `or`; both group to the left, as written
/// (`a or b or c` is `Or(Or(a, b), c)`); parentheses only group.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr pr`: the attribute has a value.
    Present(AttrPath),
    /// `attr op value`.
    Compare(AttrPath, CompareOp, CompValue),
    /// `attr[filter]`: a value of multi-valued (or complex) attribute `attr` matches `filter`,
    /// whose attributes are the value's sub-attributes (`emails[type eq "work"]`).
    ValuePath(AttrPath, Box<Filter>),
    /// `left and right`.
    And(Box<Filter>, Box<Filter>),
    /// `left or right`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (filter)`.
    Not(Box<Filter>),
}

impl Filter {
    /// `left and right`.
    pub fn and(left: Filter, right: Filter) -> Self {
        Filter::And(Box::new(left), Box::new(right))
    }

    /// `left or right`.
    pub fn or(left: Filter, right: Filter) -> Self {
        Filter::Or(Box::new(left), Box::new(right))
    }

    /// How tightly it binds when printed: `or` 0, `and` 1, the rest 2.
    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 0,
            Filter::And(..) => 1,
            _ => 2,
        }
    }

    /// Prints `self` where a binding of at least `min` is needed, in parentheses if it binds
    /// less tightly.
    fn write_at(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            f.write_str("(")?;
            self.write_at(f, 0)?;
            return f.write_str(")");
        }
        match self {
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {op} {v}"),
            Filter::ValuePath(p, inner) => {
                write!(f, "{p}[")?;
                inner.write_at(f, 0)?;
                f.write_str("]")
            }
            // The right side one level tighter: a right-nested `and` keeps its parentheses,
            // so the same tree parses back.
            Filter::And(l, r) => {
                l.write_at(f, 1)?;
                f.write_str(" and ")?;
                r.write_at(f, 2)
            }
            Filter::Or(l, r) => {
                l.write_at(f, 0)?;
                f.write_str(" or ")?;
                r.write_at(f, 1)
            }
            Filter::Not(inner) => {
                f.write_str("not (")?;
                inner.write_at(f, 0)?;
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_at(f, 0)
    }
}

impl std::str::FromStr for Filter {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse::filter(s)
    }
}

/// A PATCH operation's `path`: an attribute (`name.givenName`), or the values of a multi-valued
/// one that match a filter (`members[value eq "00u1"]`), optionally one sub-attribute of them
/// (`emails[type eq "work"].value`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute when there is no filter).
    pub attr: AttrPath,
    /// Which of its values, when given.
    pub filter: Option<Filter>,
    /// The sub-attribute of the values the filter selects (`value` of `emails[…].value`).
    pub sub: Option<String>,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PatchPath {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse::patch_path(s)
    }
}
