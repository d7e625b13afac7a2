//! Okta's expression language for `search` and `filter` (SCIM-like): comparisons
//! `attr op "value"` with `eq`, `sw`, `co`, `gt`, `ge`, `lt`, `le`, presence `attr pr`,
//! combined with `and` / `or` (and binds tighter) and parentheses. Operators and keywords are
//! case-insensitive, attribute names are not, string comparisons ignore case.
//!
//! The parser never panics and bounds its work: inputs over [`MAX_LEN`] bytes or nested deeper
//! than [`MAX_DEPTH`] are errors.
//!
//! Longer than our other files (~640 lines) for a reason: the parser and the evaluator of one
//! small language change together, and a quarter of the file is their unit tests.

use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Longest expression accepted.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses accepted.
pub const MAX_DEPTH: usize = 32;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Sw,
    Co,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "sw" => Op::Sw,
            "co" => Op::Co,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Sw => "sw",
            Op::Co => "co",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp { attr: String, op: Op, value: Literal },
    Present(String),
}

/// Why an expression was rejected, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.message, self.offset)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Str(String),
    Word(String),
}

fn lex(input: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let err = |offset, message: &str| {
        Err(ParseError {
            offset,
            message: message.to_owned(),
        })
    };
    let mut toks = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                toks.push((i, Tok::Open));
            }
            ')' => {
                chars.next();
                toks.push((i, Tok::Close));
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return err(i, "unterminated string"),
                        Some((_, '"')) => break,
                        Some((j, '\\')) => match chars.next() {
                            Some((_, e @ ('"' | '\\' | '/'))) => s.push(e),
                            Some((_, 'n')) => s.push('\n'),
                            Some((_, 't')) => s.push('\t'),
                            _ => return err(j, "unknown escape in string: use \\\" or \\\\"),
                        },
                        Some((_, c)) => s.push(c),
                    }
                }
                toks.push((i, Tok::Str(s)));
            }
            c if c.is_alphanumeric() || "_.-+:$".contains(c) => {
                let mut w = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_alphanumeric() || "_.-+:$".contains(c) {
                        w.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                toks.push((i, Tok::Word(w)));
            }
            _ => return err(i, &format!("unexpected character {c:?}")),
        }
    }
    Ok(toks)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |t| t.0)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            offset: self.offset(),
            message: message.into(),
        })
    }
    fn keyword(&mut self, kw: &str) -> bool {
        if let Some((_, Tok::Word(w))) = self.toks.get(self.pos)
            && w.eq_ignore_ascii_case(kw)
        {
            self.pos += 1;
            return true;
        }
        false
    }
    fn or(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }
    fn and(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut left = self.primary(depth)?;
        while self.keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.primary(depth)?));
        }
        Ok(left)
    }
    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        match self.toks.get(self.pos).cloned() {
            Some((_, Tok::Open)) => {
                if depth >= MAX_DEPTH {
                    return self.err(format!("expression nested deeper than {MAX_DEPTH} levels"));
                }
                self.pos += 1;
                let e = self.or(depth + 1)?;
                match self.toks.get(self.pos) {
                    Some((_, Tok::Close)) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    _ => self.err("missing ')'"),
                }
            }
            Some((_, Tok::Word(attr))) => {
                if !attr.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    || ["and", "or"].contains(&attr.to_ascii_lowercase().as_str())
                {
                    return self.err(format!("expected an attribute name, found {attr:?}"));
                }
                self.pos += 1;
                let op = match self.toks.get(self.pos) {
                    Some((_, Tok::Word(w))) if w.eq_ignore_ascii_case("pr") => {
                        self.pos += 1;
                        return Ok(Expr::Present(attr));
                    }
                    Some((_, Tok::Word(w))) => match Op::parse(w) {
                        Some(op) => op,
                        None => {
                            return self.err(format!(
                                "unsupported operator {w:?}: use eq, sw, co, gt, ge, lt, le or pr"
                            ));
                        }
                    },
                    _ => return self.err(format!("expected an operator after {attr:?}")),
                };
                self.pos += 1;
                let value = match self.toks.get(self.pos).cloned() {
                    Some((_, Tok::Str(s))) => Literal::Str(s),
                    Some((_, Tok::Word(w))) => match w.to_ascii_lowercase().as_str() {
                        "true" => Literal::Bool(true),
                        "false" => Literal::Bool(false),
                        "null" => Literal::Null,
                        _ => match w.parse::<f64>() {
                            Ok(n) if n.is_finite() => Literal::Num(n),
                            _ => return self.err(format!("expected a quoted value, found {w:?}")),
                        },
                    },
                    _ => return self.err("expected a value"),
                };
                self.pos += 1;
                Ok(Expr::Cmp { attr, op, value })
            }
            Some(_) => self.err("expected an attribute or '('"),
            None => self.err("the expression ends too early"),
        }
    }
}

/// Parses an expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    if input.len() > MAX_LEN {
        return Err(ParseError {
            offset: MAX_LEN,
            message: format!("expression longer than {MAX_LEN} characters"),
        });
    }
    let toks = lex(input)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: input.len(),
    };
    let e = p.or(0)?;
    if p.pos != p.toks.len() {
        return p.err("unexpected text after the expression");
    }
    Ok(e)
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::And(a, b) => write!(f, "({a} and {b})"),
            Expr::Or(a, b) => write!(f, "({a} or {b})"),
            Expr::Present(a) => write!(f, "{a} pr"),
            Expr::Cmp { attr, op, value } => {
                let v = match value {
                    Literal::Str(s) => quote(s),
                    Literal::Num(n) => n.to_string(),
                    Literal::Bool(b) => b.to_string(),
                    Literal::Null => "null".to_owned(),
                };
                write!(f, "{attr} {} {v}", op.as_str())
            }
        }
    }
}

/// Which parameter an expression came in: they allow different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `search`: any attribute; `co` only on names, email and login.
    Search,
    /// `filter`: a few attributes, `eq` only (and ranges on `lastUpdated`).
    UserFilter,
    /// Groups' `search`: any attribute; `co` only on the name and description.
    GroupSearch,
    /// Groups' `filter`: `type`, `id` with `eq`, and ranges on the timestamps.
    GroupFilter,
    /// Apps' `filter`: `id`, `status`, `name` with `eq`.
    AppFilter,
}

/// Attributes that hold timestamps: compared as instants.
pub const DATE_ATTRS: &[&str] = &[
    "created",
    "activated",
    "statusChanged",
    "lastLogin",
    "lastUpdated",
    "lastMembershipUpdated",
    "passwordChanged",
];

impl Expr {
    /// Checks what the dialect allows.
    pub fn check(&self, dialect: Dialect) -> Result<(), String> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.check(dialect)?;
                b.check(dialect)
            }
            Expr::Present(attr) => match dialect {
                Dialect::Search | Dialect::GroupSearch => Ok(()),
                Dialect::UserFilter | Dialect::GroupFilter | Dialect::AppFilter => {
                    Err(format!("'pr' is not supported in filter (on {attr}); use search"))
                }
            },
            Expr::Cmp { attr, op, value } => {
                if DATE_ATTRS.contains(&attr.as_str())
                    && !matches!(value, Literal::Str(s) if OffsetDateTime::parse(s, &Rfc3339).is_ok())
                {
                    return Err(format!(
                        "{attr} compares with a timestamp such as \"2024-01-01T00:00:00.000Z\""
                    ));
                }
                match dialect {
                    Dialect::Search => {
                        if *op == Op::Co
                            && ![
                                "profile.firstName",
                                "profile.lastName",
                                "profile.email",
                                "profile.login",
                            ]
                            .contains(&attr.as_str())
                        {
                            return Err(format!(
                                "'co' works only on profile.firstName, profile.lastName, profile.email and profile.login, not {attr}"
                            ));
                        }
                        Ok(())
                    }
                    Dialect::GroupSearch => {
                        if *op == Op::Co && !["profile.name", "profile.description"].contains(&attr.as_str()) {
                            return Err(format!(
                                "'co' works only on profile.name and profile.description, not {attr}"
                            ));
                        }
                        Ok(())
                    }
                    Dialect::AppFilter => {
                        if !["id", "status", "name"].contains(&attr.as_str()) || *op != Op::Eq {
                            return Err(format!(
                                "filter supports only 'eq' on id, status and name, not '{}' on {attr}",
                                op.as_str()
                            ));
                        }
                        Ok(())
                    }
                    Dialect::GroupFilter => {
                        const ALLOWED: &[&str] = &["type", "id", "lastUpdated", "lastMembershipUpdated", "created"];
                        if !ALLOWED.contains(&attr.as_str()) {
                            return Err(format!("filter does not support {attr}; use search"));
                        }
                        let ranged = DATE_ATTRS.contains(&attr.as_str());
                        if matches!(op, Op::Sw | Op::Co) || (*op != Op::Eq && !ranged) {
                            return Err(format!("filter does not support '{}' on {attr}", op.as_str()));
                        }
                        Ok(())
                    }
                    Dialect::UserFilter => {
                        const ALLOWED: &[&str] = &[
                            "status",
                            "lastUpdated",
                            "id",
                            "profile.login",
                            "profile.email",
                            "profile.firstName",
                            "profile.lastName",
                        ];
                        if !ALLOWED.contains(&attr.as_str()) {
                            return Err(format!("filter does not support {attr}; use search"));
                        }
                        if *op != Op::Eq && attr != "lastUpdated" {
                            return Err(format!("filter supports only 'eq' on {attr}"));
                        }
                        if matches!(op, Op::Sw | Op::Co) {
                            return Err(format!("filter does not support '{}' on {attr}", op.as_str()));
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// Evaluates against a record whose attributes `lookup` returns as JSON.
    pub fn matches(&self, lookup: &dyn Fn(&str) -> Option<Value>) -> bool {
        match self {
            Expr::And(a, b) => a.matches(lookup) && b.matches(lookup),
            Expr::Or(a, b) => a.matches(lookup) || b.matches(lookup),
            Expr::Present(attr) => lookup(attr).is_some_and(|v| !v.is_null() && v != Value::Array(vec![])),
            Expr::Cmp { attr, op, value } => {
                let Some(actual) = lookup(attr) else {
                    return matches!(value, Literal::Null) && *op == Op::Eq;
                };
                let is_date = DATE_ATTRS.contains(&attr.as_str());
                match actual {
                    Value::Array(items) => items.iter().any(|v| compare(v, *op, value, is_date)),
                    v => compare(&v, *op, value, is_date),
                }
            }
        }
    }
}

fn ordering_matches(op: Op, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ord == Equal,
        Op::Gt => ord == Greater,
        Op::Ge => ord != Less,
        Op::Lt => ord == Less,
        Op::Le => ord != Greater,
        Op::Sw | Op::Co => false,
    }
}

fn compare(actual: &Value, op: Op, expected: &Literal, is_date: bool) -> bool {
    match (actual, expected) {
        (Value::Null, Literal::Null) => op == Op::Eq,
        (Value::Null, _) | (_, Literal::Null) => false,
        (Value::String(a), Literal::Str(e)) => {
            if is_date && let (Ok(a), Ok(e)) = (OffsetDateTime::parse(a, &Rfc3339), OffsetDateTime::parse(e, &Rfc3339))
            {
                return ordering_matches(op, a.cmp(&e));
            }
            let (a, e) = (a.to_lowercase(), e.to_lowercase());
            match op {
                Op::Sw => a.starts_with(&e),
                Op::Co => a.contains(&e),
                _ => ordering_matches(op, a.cmp(&e)),
            }
        }
        (Value::Number(a), Literal::Num(e)) => a
            .as_f64()
            .and_then(|a| a.partial_cmp(e))
            .is_some_and(|ord| ordering_matches(op, ord)),
        (Value::Number(a), Literal::Str(e)) => e
            .parse::<f64>()
            .ok()
            .and_then(|e| a.as_f64()?.partial_cmp(&e))
            .is_some_and(|ord| ordering_matches(op, ord)),
        (Value::Bool(a), Literal::Bool(e)) => op == Op::Eq && a == e,
        (Value::Bool(a), Literal::Str(e)) => op == Op::Eq && a.to_string().eq_ignore_ascii_case(e),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn user(v: Value) -> impl Fn(&str) -> Option<Value> {
        move |path: &str| {
            let mut cur = &v;
            for part in path.split('.') {
                cur = cur.get(part)?;
            }
            Some(cur.clone())
        }
    }

    /// The examples of Okta's documentation for `search` and `filter`.
    #[test]
    fn okta_documentation_examples_parse() {
        for e in [
            r#"status eq "STAGED""#,
            r#"lastUpdated gt "2014-01-01T00:00:00.000Z""#,
            r#"id eq "00u1ero7vZFVEIYLWPBN""#,
            r#"profile.department eq "Engineering" and (created lt "2014-01-01T00:00:00.000Z" or status eq "ACTIVE")"#,
            r#"profile.arrayAttr eq "arrayAttrVal1""#,
            r#"status eq "LOCKED_OUT""#,
            r#"profile.login eq "login@example.com""#,
            r#"lastUpdated gt "2013-06-01T00:00:00.000Z" and lastUpdated lt "2014-01-01T00:00:00.000Z""#,
            r#"lastUpdated gt "2013-06-01T00:00:00.000Z" and (status eq "LOCKED_OUT" or status eq "RECOVERY")"#,
            r#"(status lt "STAGED" or status gt "STAGED")"#,
            r#"profile.mobilePhone pr"#,
            r#"STATUS EQ "ACTIVE" AND profile.firstName SW "j""#,
        ] {
            parse(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap();
        assert_eq!(e.to_string(), r#"(a eq "1" or (b eq "2" and c eq "3"))"#);
    }

    #[test]
    fn evaluation_follows_okta() {
        let u = user(json!({
            "id": "00u1", "status": "ACTIVE", "created": "2013-06-24T16:39:18.000Z",
            "profile": { "firstName": "José", "department": "Engineering", "login": "jose@example.com", "mobilePhone": null, "tags": ["a", "b"], "level": 3 }
        }));
        let t = |e: &str| parse(e).unwrap().matches(&u);
        assert!(t(r#"profile.department eq "engineering""#), "values ignore case");
        assert!(!t(r#"profile.Department eq "Engineering""#), "names do not");
        assert!(t(r#"profile.firstName sw "jo""#) && !t(r#"profile.firstName sw "jos""#.replace("jos", "x").as_str()));
        assert!(t(r#"profile.login co "@example""#));
        assert!(t(
            r#"created lt "2014-01-01T00:00:00.000Z" and created gt "2013-01-01T00:00:00Z""#
        ));
        assert!(t(r#"(status lt "STAGED" or status gt "STAGED")"#));
        assert!(!t(r#"(status lt "ACTIVE" or status gt "ACTIVE")"#));
        assert!(t(r#"profile.tags eq "b""#), "arrays match on any element");
        assert!(t("profile.level ge 3") && !t("profile.level gt 3"));
        assert!(!t("profile.mobilePhone pr") && t("profile.firstName pr") && !t("profile.nothing pr"));
    }

    #[test]
    fn errors_say_where() {
        for (e, at) in [
            (r#"status eq"#, 9),
            (r#"status ne "ACTIVE""#, 7),
            (r#"status eq "ACTIVE"#, 10),
            (r#"(status eq "ACTIVE""#, 19),
            (r#"status eq "A" extra"#, 14),
            (r#"status eq ACTIVE"#, 10),
            ("", 0),
        ] {
            let err = parse(e).expect_err(e);
            assert_eq!(err.offset, at, "{e}: {err}");
        }
        let deep = "(".repeat(100) + r#"a eq "b""# + &")".repeat(100);
        assert!(parse(&deep).unwrap_err().message.contains("nested"));
        assert!(parse(&"a".repeat(MAX_LEN + 1)).unwrap_err().message.contains("longer"));
    }

    #[test]
    fn dialects_limit_what_is_allowed() {
        let check = |e: &str, d| parse(e).unwrap().check(d);
        assert!(check(r#"profile.login eq "a""#, Dialect::UserFilter).is_ok());
        assert!(check(r#"lastUpdated gt "2013-06-01T00:00:00.000Z""#, Dialect::UserFilter).is_ok());
        // The spec's own group filter example: ranges on both group times.
        assert!(
            check(
                r#"type eq "OKTA_GROUP" and (lastUpdated lt "2015-11-11T00:00:00.000Z" or lastMembershipUpdated lt "2015-11-11T00:00:00.000Z")"#,
                Dialect::GroupFilter
            )
            .is_ok()
        );
        assert!(check(r#"profile.department eq "a""#, Dialect::UserFilter).is_err());
        assert!(check(r#"status sw "A""#, Dialect::UserFilter).is_err());
        assert!(check(r#"profile.department co "a""#, Dialect::Search).is_err());
        assert!(check(r#"profile.email co "a""#, Dialect::Search).is_ok());
        assert!(check(r#"created gt "yesterday""#, Dialect::Search).is_err());
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
        let attr = "[a-zA-Z_][a-zA-Z0-9_]{0,8}(\\.[a-zA-Z_][a-zA-Z0-9_]{0,8})?";
        let op = prop_oneof![
            Just(Op::Eq),
            Just(Op::Sw),
            Just(Op::Co),
            Just(Op::Gt),
            Just(Op::Ge),
            Just(Op::Lt),
            Just(Op::Le)
        ];
        let lit = prop_oneof![
            any::<String>().prop_map(Literal::Str),
            (-1.0e9f64..1.0e9).prop_map(|n| Literal::Num(n.trunc())),
            any::<bool>().prop_map(Literal::Bool),
        ];
        let leaf = prop_oneof![
            (attr, op, lit).prop_map(|(attr, op, value)| Expr::Cmp { attr, op, value }),
            attr.prop_map(Expr::Present),
        ]
        .prop_filter("keywords are not attributes", |e| match e {
            Expr::Cmp { attr, .. } | Expr::Present(attr) => {
                !["and", "or"].contains(&attr.to_ascii_lowercase().as_str())
            }
            _ => true,
        });
        leaf.prop_recursive(6, 40, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_near_expressions(s in "[()\" a-z.\\\\]{0,80}( (eq|and|or|pr|sw) )?[()\" a-z.\\\\]{0,80}") {
            let _ = parse(&s);
        }

        #[test]
        fn printed_expressions_parse_back_the_same(e in arb_expr()) {
            let printed = e.to_string();
            prop_assume!(printed.len() <= MAX_LEN);
            prop_assert_eq!(parse(&printed).unwrap(), e);
        }
    }
}
