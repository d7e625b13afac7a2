//! The tokens of filters and paths: words (attribute paths, operators, `and`/`or`/`not`,
//! `true`/`false`/`null`), JSON strings and numbers, brackets, and the `.` after a `]`.

use crate::ParseError;

/// A token and the 1-based character where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Word(String),
    String(String),
    Number(serde_json::Number),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Dot,
}

impl Kind {
    /// How the token reads in an error.
    pub fn describe(&self) -> String {
        match self {
            Kind::Word(w) => format!("`{w}`"),
            Kind::String(s) => format!("the string {}", serde_json::Value::String(s.clone())),
            Kind::Number(n) => format!("the number {n}"),
            Kind::Open => "`(`".to_owned(),
            Kind::Close => "`)`".to_owned(),
            Kind::OpenBracket => "`[`".to_owned(),
            Kind::CloseBracket => "`]`".to_owned(),
            Kind::Dot => "`.`".to_owned(),
        }
    }
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '$')
}

/// `text` as a number: an integer when it is one, else the nearest finite `f64` (Rust's own
/// parsing, exact to the last bit, so a printed number reads back the same).
fn number(text: &str) -> Option<serde_json::Number> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(u.into());
    }
    text.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}

/// The tokens of `input`.
pub(crate) fn tokens(input: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (byte, c) = chars[i];
        let at = i + 1;
        let single = match c {
            '(' => Some(Kind::Open),
            ')' => Some(Kind::Close),
            '[' => Some(Kind::OpenBracket),
            ']' => Some(Kind::CloseBracket),
            '.' => Some(Kind::Dot),
            _ => None,
        };
        if let Some(kind) = single {
            out.push(Token { kind, at });
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut j = i + 1;
            let mut escaped = false;
            while j < chars.len() && (escaped || chars[j].1 != '"') {
                escaped = !escaped && chars[j].1 == '\\';
                j += 1;
            }
            if j == chars.len() {
                return Err(ParseError {
                    at,
                    message: "a string is not closed: end it with `\"`".to_owned(),
                });
            }
            let end = chars[j].0 + 1;
            let text: String = serde_json::from_str(&input[byte..end]).map_err(|e| ParseError {
                at,
                message: format!("not a JSON string: {e}"),
            })?;
            out.push(Token {
                kind: Kind::String(text),
                at,
            });
            i = j + 1;
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|(_, d)| d.is_ascii_digit())) {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].1.is_ascii_digit() || matches!(chars[j].1, '.' | 'e' | 'E' | '+' | '-'))
            {
                j += 1;
            }
            let end = chars.get(j).map_or(input.len(), |(b, _)| *b);
            let n = number(&input[byte..end]).ok_or_else(|| ParseError {
                at,
                message: format!("`{}` is not a JSON number", &input[byte..end]),
            })?;
            out.push(Token {
                kind: Kind::Number(n),
                at,
            });
            i = j;
        } else if c.is_ascii_alphabetic() || c == '$' || c == '_' {
            let mut j = i + 1;
            while j < chars.len() && word_char(chars[j].1) {
                j += 1;
            }
            let end = chars.get(j).map_or(input.len(), |(b, _)| *b);
            out.push(Token {
                kind: Kind::Word(input[byte..end].to_owned()),
                at,
            });
            i = j;
        } else {
            return Err(ParseError {
                at,
                message: format!(
                    "`{c}` has no meaning here: a filter is made of attributes, operators, JSON values, `and`, `or`, `not`, `(`, `)`, `[` and `]`"
                ),
            });
        }
    }
    Ok(out)
}
