//! A SCIM filter compiled to a SQL condition on the kept resources (`dir_users.scim`,
//! `dir_groups.scim`), with bound parameters, for SQLite and PostgreSQL: the same rows
//! [`scim_expr::Filter::matches`] selects from the resources, never by loading them to filter
//! here.
//!
//! A path's values are the rows of a JSON table function over the attribute (`json_each`,
//! `jsonb_array_elements`), an attribute that is not a list read as a list of one; a comparison
//! holds when a value of the right JSON type satisfies it (`EXISTS`), `ne` is `not eq`, `eq
//! null` holds for an attribute with no value. Strings compare in ASCII case (SQLite's
//! `lower`, PostgreSQL's under `COLLATE "C"`, byte order for `gt`/`lt`). `userName eq` reads
//! the indexed column.

use scim_expr::{AttrPath, CompValue, CompareOp, Filter};

use crate::model::scim::{ScimKind, canonical_attr};

/// Which SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

/// A piece of a compiled condition: SQL, or a value bound in its place.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece {
    Sql(String),
    Text(String),
    Number(f64),
}

/// The condition `filter` is on the rows of `kind` (`u`: `dir_users`, `g`: `dir_groups`).
///
/// # Errors
/// What makes a filter unusable here: an attribute of a schema this kind does not take.
pub(super) fn compile(filter: &Filter, kind: ScimKind, dialect: Dialect) -> Result<Vec<Piece>, String> {
    let mut c = Compiler {
        d: dialect,
        kind,
        out: Vec::new(),
        n: 0,
        within: &[],
    };
    let doc = match (dialect, kind) {
        (Dialect::Sqlite, ScimKind::User) => "u.scim",
        (Dialect::Sqlite, ScimKind::Group) => "g.scim",
        (Dialect::Postgres, ScimKind::User) => "u.scim::jsonb",
        (Dialect::Postgres, ScimKind::Group) => "g.scim::jsonb",
    };
    c.filter(filter, doc, true)?;
    Ok(c.out)
}

struct Compiler {
    d: Dialect,
    kind: ScimKind,
    out: Vec<Piece>,
    /// Table aliases taken.
    n: usize,
    /// Inside a value path: the sub-attributes of its attribute, as the schema spells them.
    within: &'static [&'static str],
}

/// Where a path's values come from: the expression of the list, and each value's expressions.
struct Rows {
    alias: String,
}

impl Compiler {
    fn sql(&mut self, s: &str) {
        self.out.push(Piece::Sql(s.to_owned()));
    }

    fn text(&mut self, s: &str) {
        match self.d {
            Dialect::Sqlite => self.out.push(Piece::Text(s.to_owned())),
            Dialect::Postgres => {
                self.sql("CAST(");
                self.out.push(Piece::Text(s.to_owned()));
                self.sql(" AS text)");
            }
        }
    }

    fn number(&mut self, x: f64) {
        match self.d {
            Dialect::Sqlite => self.out.push(Piece::Number(x)),
            Dialect::Postgres => {
                self.sql("CAST(");
                self.out.push(Piece::Number(x));
                self.sql(" AS float8)");
            }
        }
    }

    fn filter(&mut self, f: &Filter, doc: &str, top: bool) -> Result<(), String> {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => {
                self.sql("(");
                self.filter(a, doc, top)?;
                self.sql(if matches!(f, Filter::And(..)) { " AND " } else { " OR " });
                self.filter(b, doc, top)?;
                self.sql(")");
            }
            Filter::Not(inner) => {
                self.sql("(NOT ");
                self.filter(inner, doc, top)?;
                self.sql(")");
            }
            Filter::Compare(p, CompareOp::Ne, v) => {
                self.sql("(NOT ");
                self.compare(p, CompareOp::Eq, v, doc, top)?;
                self.sql(")");
            }
            Filter::Compare(p, op, v) => self.compare(p, *op, v, doc, top)?,
            Filter::Present(p) => {
                let sub = self.sub_of(p, top);
                let rows = self.rows(p, doc, top)?;
                self.present(&rows, sub.as_deref());
                self.sql(")");
            }
            Filter::ValuePath(p, inner) => {
                let rows = self.rows(p, doc, top)?;
                let element = match self.d {
                    Dialect::Sqlite => format!(
                        "(CASE WHEN {a}.type = 'object' THEN {a}.value ELSE '{{}}' END)",
                        a = rows.alias
                    ),
                    Dialect::Postgres => format!("{}.x", rows.alias),
                };
                self.sql("1 = 1 AND ");
                let subs = self.subs(p, top);
                let outer = std::mem::replace(&mut self.within, subs);
                self.filter(inner, &element, false)?;
                self.within = outer;
                self.sql(")");
            }
        }
        Ok(())
    }

    /// `EXISTS (SELECT 1 FROM <the values of p> WHERE ` — the caller adds the condition and
    /// the closing parenthesis.
    fn rows(&mut self, p: &AttrPath, doc: &str, top: bool) -> Result<Rows, String> {
        let attr = if top {
            canonical_attr(self.kind, p.uri.as_deref(), &p.name, None)
                .ok_or_else(|| format!("{} has no attributes of schema {:?}", self.kind.endpoint(), p.uri))?
        } else {
            // Inside a value path: a sub-attribute of the outer attribute.
            crate::model::scim::AttrName {
                uri: None,
                name: self.spelled(&p.name),
                sub: None,
            }
        };
        self.n += 1;
        let alias = format!("e{}", self.n);
        let members = top && self.kind == ScimKind::Group && attr.uri.is_none() && attr.name == "members";
        self.sql("EXISTS (SELECT 1 FROM ");
        match self.d {
            Dialect::Sqlite => {
                if members {
                    self.sql(
                        "json_each((SELECT json_group_array(json_object('value', m.user_id, 'type', 'User')) FROM dir_members m WHERE m.account = g.account AND m.group_id = g.id))",
                    );
                } else {
                    let path = match attr.uri {
                        Some(uri) => format!("$.\"{uri}\".\"{}\"", attr.name),
                        None => format!("$.\"{}\"", attr.name),
                    };
                    self.sql(&format!("json_each(CASE json_type({doc}, "));
                    self.text(&path);
                    self.sql(&format!(") WHEN 'array' THEN json_extract({doc}, "));
                    self.text(&path);
                    self.sql(&format!(") ELSE '[' || ({doc} -> "));
                    self.text(&path);
                    self.sql(") || ']' END)");
                }
                self.sql(&format!(" AS {alias} WHERE "));
            }
            Dialect::Postgres => {
                if members {
                    self.sql(
                        "jsonb_array_elements((SELECT COALESCE(jsonb_agg(jsonb_build_object('value', m.user_id, 'type', 'User')), '[]'::jsonb) FROM dir_members m WHERE m.account = g.account AND m.group_id = g.id))",
                    );
                } else {
                    let value = |c: &mut Self| {
                        c.sql(&format!("({doc} -> "));
                        if let Some(uri) = attr.uri {
                            c.text(uri);
                            c.sql(" -> ");
                        }
                        c.text(&attr.name);
                        c.sql(")");
                    };
                    self.sql("jsonb_array_elements(CASE WHEN ");
                    value(self);
                    self.sql(" IS NULL THEN '[]'::jsonb WHEN jsonb_typeof(");
                    value(self);
                    self.sql(") = 'array' THEN ");
                    value(self);
                    self.sql(" ELSE jsonb_build_array(");
                    value(self);
                    self.sql(") END)");
                }
                self.sql(&format!(" AS {alias}(x) WHERE "));
            }
        }
        Ok(Rows { alias })
    }

    /// The expressions of a value of `rows` (its `sub`-attribute's when given), and the
    /// condition that it exists: SQLite (value, JSON type), PostgreSQL (jsonb, jsonb).
    fn value(&mut self, rows: &Rows, sub: Option<&str>) -> (String, String, Option<String>) {
        let a = &rows.alias;
        match (self.d, sub) {
            (Dialect::Sqlite, None) => (format!("{a}.value"), format!("{a}.type"), None),
            (Dialect::Sqlite, Some(s)) => {
                let obj = format!("(CASE WHEN {a}.type = 'object' THEN {a}.value ELSE '{{}}' END)");
                // The path is an attribute name from the grammar (letters, digits, `-`, `_`,
                // `$`): quoted, it cannot leave the string.
                let path = format!("'$.\"{}\"'", s.replace(['\'', '"', '\\'], ""));
                (
                    format!("json_extract({obj}, {path})"),
                    format!("json_type({obj}, {path})"),
                    Some(format!("json_type({obj}, {path}) IS NOT NULL")),
                )
            }
            (Dialect::Postgres, None) => (format!("{a}.x"), format!("{a}.x"), None),
            (Dialect::Postgres, Some(s)) => {
                let v = format!("({a}.x -> '{}')", s.replace(['\'', '\\'], ""));
                (v.clone(), v.clone(), Some(format!("{v} IS NOT NULL")))
            }
        }
    }

    fn present(&mut self, rows: &Rows, sub: Option<&str>) {
        let (v, t, exists) = self.value(rows, sub);
        if let Some(e) = exists {
            self.sql(&format!("{e} AND "));
        }
        match self.d {
            Dialect::Sqlite => self.sql(&format!(
                "{t} <> 'null' AND NOT ({t} = 'text' AND {v} = '') AND NOT ({t} = 'array' AND json_array_length({v}) = 0) \
                 AND NOT ({t} = 'object' AND NOT EXISTS (SELECT 1 FROM json_each({v})))"
            )),
            Dialect::Postgres => self.sql(&format!(
                "{v} NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{{}}'::jsonb)"
            )),
        }
    }

    /// `name` as the value path's attribute spells its sub-attributes (unknown: as written).
    fn spelled(&self, name: &str) -> String {
        self.within
            .iter()
            .find(|x| x.eq_ignore_ascii_case(name))
            .map_or_else(|| name.to_owned(), |x| (*x).to_owned())
    }

    /// The sub-attributes of `p`'s attribute (at the top: of the schema; inside a value path,
    /// none are known).
    fn subs(&self, p: &AttrPath, top: bool) -> &'static [&'static str] {
        if top {
            crate::model::scim::sub_attributes(self.kind, p.uri.as_deref(), &p.name)
        } else {
            &[]
        }
    }

    /// The sub-attribute of `p` as the schema spells it (inside a value path: as written).
    fn sub_of(&self, p: &AttrPath, top: bool) -> Option<String> {
        let s = p.sub.as_deref()?;
        if !top {
            return Some(s.to_owned());
        }
        Some(
            canonical_attr(self.kind, p.uri.as_deref(), &p.name, Some(s))
                .and_then(|a| a.sub)
                .unwrap_or_else(|| s.to_owned()),
        )
    }

    fn compare(&mut self, p: &AttrPath, op: CompareOp, with: &CompValue, doc: &str, top: bool) -> Result<(), String> {
        // The column Okta's check before every create reads, indexed on both databases.
        if top
            && self.kind == ScimKind::User
            && op == CompareOp::Eq
            && p.sub.is_none()
            && p.uri
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case(crate::model::scim::USER_SCHEMA))
            && p.name.eq_ignore_ascii_case("userName")
            && let CompValue::String(s) = with
        {
            match self.d {
                Dialect::Sqlite => {
                    self.sql("lower(u.login) = lower(");
                    self.text(s);
                    self.sql(")");
                }
                Dialect::Postgres => {
                    self.sql("lower(u.login COLLATE \"C\") = lower(");
                    self.text(s);
                    self.sql(" COLLATE \"C\")");
                }
            }
            return Ok(());
        }
        let sub = self.sub_of(p, top);
        if let (CompareOp::Eq, CompValue::Null) = (op, with) {
            self.sql("(NOT ");
            let rows = self.rows(p, doc, top)?;
            let (_, _, exists) = self.value(&rows, sub.as_deref());
            self.sql(exists.as_deref().unwrap_or("1 = 1"));
            self.sql(") OR ");
            let rows = self.rows(p, doc, top)?;
            let (_, t, exists) = self.value(&rows, sub.as_deref());
            if let Some(e) = exists {
                self.sql(&format!("{e} AND "));
            }
            match self.d {
                Dialect::Sqlite => self.sql(&format!("{t} = 'null'")),
                Dialect::Postgres => self.sql(&format!("jsonb_typeof({t}) = 'null'")),
            }
            self.sql("))");
            return Ok(());
        }
        let rows = self.rows(p, doc, top)?;
        let (v, t, exists) = self.value(&rows, sub.as_deref());
        if let Some(e) = exists {
            self.sql(&format!("{e} AND "));
        }
        match with {
            CompValue::String(s) => self.string(op, &v, &t, s),
            CompValue::Number(n) => match (op, n.as_f64()) {
                (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, _) | (_, None) => self.sql("1 = 0"),
                (_, Some(x)) => {
                    let sym = symbol(op);
                    match self.d {
                        Dialect::Sqlite => self.sql(&format!("{t} IN ('integer', 'real') AND {v} {sym} ")),
                        Dialect::Postgres => self.sql(&format!(
                            "jsonb_typeof({v}) = 'number' AND (CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v} #>> '{{}}')::float8 END) {sym} "
                        )),
                    }
                    self.number(x);
                }
            },
            CompValue::Bool(b) => match op {
                CompareOp::Eq => match self.d {
                    Dialect::Sqlite => self.sql(&format!("{t} = '{b}'")),
                    Dialect::Postgres => self.sql(&format!("{v} = '{b}'::jsonb")),
                },
                _ => self.sql("1 = 0"),
            },
            // `gt null` and the like hold for nothing.
            CompValue::Null => self.sql("1 = 0"),
        }
        self.sql(")");
        Ok(())
    }

    fn string(&mut self, op: CompareOp, v: &str, t: &str, s: &str) {
        let (is_text, folded) = match self.d {
            Dialect::Sqlite => (format!("{t} = 'text'"), format!("lower({v})")),
            Dialect::Postgres => (
                format!("jsonb_typeof({v}) = 'string'"),
                format!("lower(({v} #>> '{{}}') COLLATE \"C\")"),
            ),
        };
        self.sql(&format!("{is_text} AND "));
        let lower = |c: &mut Self| {
            c.sql("lower(");
            c.text(s);
            if c.d == Dialect::Postgres {
                c.sql(" COLLATE \"C\"");
            }
            c.sql(")");
        };
        match op {
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew if s.is_empty() => self.sql("1 = 1"),
            CompareOp::Co => {
                match self.d {
                    Dialect::Sqlite => self.sql(&format!("instr({folded}, ")),
                    Dialect::Postgres => self.sql(&format!("strpos({folded}, ")),
                }
                lower(self);
                self.sql(") > 0");
            }
            CompareOp::Sw | CompareOp::Ew => {
                let n = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
                match (self.d, op) {
                    (Dialect::Sqlite, CompareOp::Sw) => self.sql(&format!("substr({folded}, 1, {n}) = ")),
                    (Dialect::Sqlite, _) => self.sql(&format!("substr({folded}, -{n}) = ")),
                    (Dialect::Postgres, CompareOp::Sw) => self.sql(&format!("left({folded}, {n}) = ")),
                    (Dialect::Postgres, _) => self.sql(&format!("right({folded}, {n}) = ")),
                }
                lower(self);
            }
            _ => {
                self.sql(&format!("{folded} {} ", symbol(op)));
                lower(self);
            }
        }
    }
}

fn symbol(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "=",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(f: &str, d: Dialect) -> String {
        let f: Filter = f.parse().unwrap();
        compile(&f, ScimKind::User, d)
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Piece::Sql(s) => s,
                Piece::Text(_) | Piece::Number(_) => "?".into(),
            })
            .collect()
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let s = sql(r#"userName eq "x' OR 1=1 --""#, Dialect::Sqlite);
        assert_eq!(s, "lower(u.login) = lower(?)");
        let s = sql(r#"title co "'; DROP TABLE dir_users; --""#, Dialect::Postgres);
        assert!(!s.contains("DROP"), "{s}");
    }

    #[test]
    fn username_eq_reads_the_indexed_column_on_both() {
        assert_eq!(
            sql(r#"USERNAME eq "a""#, Dialect::Postgres),
            "lower(u.login COLLATE \"C\") = lower(CAST(? AS text) COLLATE \"C\")"
        );
        // Any other operator reads the resource.
        assert!(sql(r#"userName co "a""#, Dialect::Sqlite).contains("json_each"));
    }
}
