//! The grammar of RFC 7644 over [`crate::lex`]'s tokens: filters (§3.4.2.2) and PATCH paths
//! (§3.5.2).

use crate::lex::{Kind, Token, tokens};
use crate::{AttrPath, CompValue, CompareOp, Filter, ParseError, PatchPath};

/// The deepest nesting of parentheses and `not`s taken: deeper input is refused, not a stack
/// overflow.
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Where the input ends (1-based), for errors at its end.
    end: usize,
    depth: usize,
}

impl Parser {
    fn new(input: &str) -> Result<Self, ParseError> {
        Ok(Self {
            tokens: tokens(input)?,
            next: 0,
            end: input.chars().count() + 1,
            depth: 0,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn take(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.next).cloned();
        self.next += 1;
        t
    }

    fn at(&self) -> usize {
        self.peek().map_or(self.end, |t| t.at)
    }

    fn found(&self) -> String {
        self.peek().map_or_else(|| "the end".to_owned(), |t| t.kind.describe())
    }

    fn error(&self, expected: &str) -> ParseError {
        ParseError {
            at: self.at(),
            message: format!("expected {expected}, found {}", self.found()),
        }
    }

    /// Whether the next token is the keyword `word` (any case); taken if so.
    fn keyword(&mut self, word: &str) -> bool {
        let is = matches!(self.peek(), Some(Token { kind: Kind::Word(w), .. }) if w.eq_ignore_ascii_case(word));
        if is {
            self.next += 1;
        }
        is
    }

    fn expect(&mut self, kind: &Kind, what: &str) -> Result<(), ParseError> {
        if self.peek().map(|t| &t.kind) == Some(kind) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn deeper(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                at: self.at(),
                message: format!("nested more than {MAX_DEPTH} deep"),
            });
        }
        Ok(())
    }

    /// `or` of `and`s.
    fn filter(&mut self, in_value_path: bool) -> Result<Filter, ParseError> {
        self.joined("or", Filter::or, |p| {
            p.joined("and", Filter::and, |p| p.unary(in_value_path))
        })
    }

    /// What `operand` parses, joined by keyword `word` into `join`s grouped to the left.
    fn joined(
        &mut self,
        word: &str,
        join: fn(Filter, Filter) -> Filter,
        mut operand: impl FnMut(&mut Self) -> Result<Filter, ParseError>,
    ) -> Result<Filter, ParseError> {
        let mut left = operand(self)?;
        while self.keyword(word) {
            let right = operand(self)?;
            left = join(left, right);
        }
        Ok(left)
    }

    fn unary(&mut self, in_value_path: bool) -> Result<Filter, ParseError> {
        if self.keyword("not") {
            self.deeper()?;
            let inner = self.unary(in_value_path)?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek().map(|t| &t.kind) == Some(&Kind::Open) {
            self.next += 1;
            self.deeper()?;
            let inner = self.filter(in_value_path)?;
            self.depth -= 1;
            self.expect(&Kind::Close, "`)`")?;
            return Ok(inner);
        }
        let attr = self.attr_path()?;
        if self.peek().map(|t| &t.kind) == Some(&Kind::OpenBracket) {
            if in_value_path {
                return Err(ParseError {
                    at: self.at(),
                    message: "a value filter (`[…]`) cannot hold another one".to_owned(),
                });
            }
            if attr.sub.is_some() {
                return Err(ParseError {
                    at: self.at(),
                    message: format!("`[` follows an attribute, not a sub-attribute (`{attr}`)"),
                });
            }
            self.next += 1;
            let inner = self.filter(true)?;
            self.expect(&Kind::CloseBracket, "`]` (or `and`, `or`)")?;
            return Ok(Filter::ValuePath(attr, Box::new(inner)));
        }
        let op_at = self.at();
        let Some(Token {
            kind: Kind::Word(word), ..
        }) = self.peek().cloned()
        else {
            return Err(self.error(&format!(
                "an operator after `{attr}` (eq, ne, co, sw, ew, gt, ge, lt, le or pr)"
            )));
        };
        self.next += 1;
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(attr));
        }
        let Some(op) = CompareOp::from_word(&word) else {
            return Err(ParseError {
                at: op_at,
                message: format!(
                    "`{word}` is not an operator: after `{attr}` comes eq, ne, co, sw, ew, gt, ge, lt, le or pr"
                ),
            });
        };
        let value = self.value(op)?;
        Ok(Filter::Compare(attr, op, value))
    }

    fn value(&mut self, op: CompareOp) -> Result<CompValue, ParseError> {
        let what = format!("a value after `{op}` (a JSON string, a number, true, false or null)");
        let value = match self.peek().map(|t| &t.kind) {
            Some(Kind::String(s)) => CompValue::String(s.clone()),
            Some(Kind::Number(n)) => CompValue::Number(n.clone()),
            Some(Kind::Word(w)) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Some(Kind::Word(w)) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Some(Kind::Word(w)) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            _ => return Err(self.error(&what)),
        };
        self.next += 1;
        Ok(value)
    }

    fn attr_path(&mut self) -> Result<AttrPath, ParseError> {
        match self.peek().cloned() {
            Some(Token {
                kind: Kind::Word(w),
                at,
            }) if !["and", "or", "not"].iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                self.next += 1;
                attr_path(&w, at)
            }
            _ => Err(self.error("an attribute")),
        }
    }

    fn finish(&self, what: &str) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(ParseError {
                at: t.at,
                message: format!("{} after the {what}: nothing more was expected", t.kind.describe()),
            }),
        }
    }
}

fn name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// `word` (starting at `at`) as an attribute path.
fn attr_path(word: &str, at: usize) -> Result<AttrPath, ParseError> {
    let bad = |why: String| ParseError { at, message: why };
    let (uri, rest) = match word.rfind(':') {
        Some(i) => (Some(&word[..i]), &word[i + 1..]),
        None => (None, word),
    };
    if uri.is_some_and(str::is_empty) {
        return Err(bad(format!("`{word}`: a schema URI comes before the `:`")));
    }
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    if !name_ok(name) || sub.is_some_and(|s| !name_ok(s)) {
        return Err(bad(format!(
            "`{word}` is not an attribute: a name of letters, digits, `-` and `_`, starting with a letter, optionally `.` and a sub-attribute, after an optional schema URI and `:`"
        )));
    }
    Ok(AttrPath {
        uri: uri.map(str::to_owned),
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// Parses a filter.
pub(crate) fn filter(input: &str) -> Result<Filter, ParseError> {
    let mut p = Parser::new(input)?;
    let f = p.filter(false)?;
    p.finish("filter")?;
    Ok(f)
}

/// Parses a PATCH path.
pub(crate) fn patch_path(input: &str) -> Result<PatchPath, ParseError> {
    let mut p = Parser::new(input)?;
    let attr = p.attr_path()?;
    let mut path = PatchPath {
        attr,
        filter: None,
        sub: None,
    };
    if p.peek().map(|t| &t.kind) == Some(&Kind::OpenBracket) {
        if path.attr.sub.is_some() {
            return Err(p.error("the end: a value filter follows an attribute, not a sub-attribute"));
        }
        p.next += 1;
        path.filter = Some(p.filter(true)?);
        p.expect(&Kind::CloseBracket, "`]` (or `and`, `or`)")?;
        if p.peek().map(|t| &t.kind) == Some(&Kind::Dot) {
            p.next += 1;
            match p.take() {
                Some(Token {
                    kind: Kind::Word(w), ..
                }) if name_ok(&w) => path.sub = Some(w),
                Some(Token { at, kind }) => {
                    return Err(ParseError {
                        at,
                        message: format!("expected a sub-attribute after `.`, found {}", kind.describe()),
                    });
                }
                None => return Err(p.error("a sub-attribute after `.`")),
            }
        }
    }
    p.finish("path")?;
    Ok(path)
}
