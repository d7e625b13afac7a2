//! `Link` headers (RFC 8288), as Okta sends them for pagination: one relation per header line
//! (`<…>; rel="self"`, then `<…>; rel="next"`), though a comma-joined list parses the same.

/// One link: its target and relation types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The URL between `<` and `>`, exactly as given.
    pub target: String,
    /// The `rel` values (lower-cased).
    pub rels: Vec<String>,
}

/// Parses every link in one header value. Malformed entries are skipped, never guessed at.
pub fn parse(value: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(after_lt) = rest.strip_prefix('<') else { break };
        let Some(end) = after_lt.find('>') else { break };
        let target = &after_lt[..end];
        rest = &after_lt[end + 1..];
        // Parameters run until the next top-level comma (commas inside quotes don't count).
        let mut in_quotes = false;
        let mut params_end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '"' => in_quotes = !in_quotes,
                ',' if !in_quotes => {
                    params_end = i;
                    break;
                }
                _ => {}
            }
        }
        let params = &rest[..params_end];
        rest = &rest[params_end..];
        let mut rels = Vec::new();
        for param in params.split(';') {
            let Some((k, v)) = param.split_once('=') else { continue };
            if k.trim().eq_ignore_ascii_case("rel") {
                let v = v.trim().trim_matches('"');
                rels.extend(v.split_whitespace().map(str::to_ascii_lowercase));
            }
        }
        links.push(Link {
            target: target.to_owned(),
            rels,
        });
    }
    links
}

/// The target of the first link with relation `rel` across all `Link` header lines.
pub fn find_rel<'a>(values: impl IntoIterator<Item = &'a str>, rel: &str) -> Option<String> {
    values
        .into_iter()
        .flat_map(parse)
        .find(|l| l.rels.iter().any(|r| r == rel))
        .map(|l| l.target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn okta_style_lines() {
        let lines = [
            r#"<https://dev.okta.com/api/v1/users?limit=200>; rel="self""#,
            r#"<https://dev.okta.com/api/v1/users?after=00u1&limit=200>; rel="next""#,
        ];
        assert_eq!(
            find_rel(lines, "next").as_deref(),
            Some("https://dev.okta.com/api/v1/users?after=00u1&limit=200")
        );
        assert_eq!(
            find_rel(lines, "self").as_deref(),
            Some("https://dev.okta.com/api/v1/users?limit=200")
        );
        assert_eq!(find_rel(lines, "prev"), None);
    }

    #[test]
    fn next_first_or_joined_with_commas() {
        let joined = r#"<https://x/a?after=2>; rel="next", <https://x/a>; rel="self""#;
        assert_eq!(find_rel([joined], "next").as_deref(), Some("https://x/a?after=2"));
        assert_eq!(find_rel([joined], "self").as_deref(), Some("https://x/a"));
        let quoted = r#"<https://x/a>; title="a, b"; rel="next""#;
        assert_eq!(find_rel([quoted], "next").as_deref(), Some("https://x/a"));
    }

    #[test]
    fn garbage_yields_nothing() {
        for g in ["", "garbage", "<unterminated", ";;;", r#"rel="next""#] {
            assert_eq!(find_rel([g], "next"), None, "{g}");
        }
    }

    proptest! {
        #[test]
        fn any_input_parses_without_panic(s in ".*") {
            let _ = parse(&s);
        }

        #[test]
        fn targets_round_trip(targets in proptest::collection::vec("[a-zA-Z0-9:/?&=._%-]{1,60}", 1..5)) {
            let header = targets
                .iter()
                .enumerate()
                .map(|(i, t)| format!("<{t}>; rel=\"r{i}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let links = parse(&header);
            prop_assert_eq!(links.len(), targets.len());
            for (i, (l, t)) in links.iter().zip(&targets).enumerate() {
                prop_assert_eq!(&l.target, t);
                prop_assert_eq!(&l.rels, &vec![format!("r{i}")]);
            }
        }
    }
}
