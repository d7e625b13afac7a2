//! Filters and PATCH paths: RFC 7644's own examples, what Okta and Entra ID send, errors that
//! say where and what, and a property test that generated expressions print and parse back
//! the same.

use proptest::prelude::*;
use scim_expr::{AttrPath, CompValue, CompareOp, Filter, PatchPath};

fn parse(s: &str) -> Filter {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn cmp(attr: &str, op: CompareOp, v: CompValue) -> Filter {
    Filter::Compare(path(attr), op, v)
}

fn path(attr: &str) -> AttrPath {
    let (name, sub) = match attr.split_once('.') {
        Some((n, s)) => (n, Some(s.to_owned())),
        None => (attr, None),
    };
    AttrPath {
        uri: None,
        name: name.to_owned(),
        sub,
    }
}

fn s(v: &str) -> CompValue {
    CompValue::String(v.to_owned())
}

#[test]
fn rfc_7644_examples_parse() {
    // §3.4.2.2's examples, each parsed and printed back to an expression that parses the same.
    let examples = [
        r#"userName Eq "john""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        "title pr",
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];
    for e in examples {
        let f = parse(e);
        assert_eq!(parse(&f.to_string()), f, "{e} → {f}");
    }
    assert_eq!(
        parse(r#"userName Eq "john""#),
        cmp("userName", CompareOp::Eq, s("john"))
    );
    let f = parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#);
    let Filter::Compare(p, CompareOp::Sw, _) = &f else {
        panic!("{f:?}")
    };
    assert_eq!(p.uri.as_deref(), Some("urn:ietf:params:scim:schemas:core:2.0:User"));
    assert!(p.is("USERNAME", None));
}

#[test]
fn and_binds_tighter_than_or_and_both_group_left() {
    let (a, b, c) = (
        cmp("a", CompareOp::Eq, CompValue::Number(1.into())),
        cmp("b", CompareOp::Eq, CompValue::Bool(true)),
        cmp("c", CompareOp::Eq, CompValue::Null),
    );
    assert_eq!(
        parse("a eq 1 or b eq true and c eq null"),
        Filter::or(a.clone(), Filter::and(b.clone(), c.clone()))
    );
    assert_eq!(
        parse("a eq 1 and b eq true or c eq null"),
        Filter::or(Filter::and(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse("a eq 1 and b eq TRUE and c eq Null"),
        Filter::and(Filter::and(a.clone(), b.clone()), c.clone())
    );
    // Right-nested, printed with its parentheses so it stays right-nested.
    let right = Filter::and(a.clone(), Filter::and(b, c));
    assert_eq!(right.to_string(), "a eq 1 and (b eq true and c eq null)");
    assert_eq!(parse(&right.to_string()), right);
    assert_eq!(
        parse("NOT (a eq 1)").to_string(),
        "not (a eq 1)",
        "keywords in any case"
    );
}

#[test]
fn what_okta_and_entra_send_parses() {
    // Okta before creating a user; Entra ID's value paths and case.
    assert_eq!(
        parse(r#"userName eq "ada.lovelace@example.com""#),
        cmp("userName", CompareOp::Eq, s("ada.lovelace@example.com"))
    );
    assert_eq!(
        parse(r#"externalId EQ "00u1abcd""#),
        cmp("externalId", CompareOp::Eq, s("00u1abcd"))
    );
    let f = parse(r#"emails[Type EQ "work"]"#);
    assert_eq!(
        f,
        Filter::ValuePath(path("emails"), Box::new(cmp("Type", CompareOp::Eq, s("work"))))
    );
    assert_eq!(
        parse(r#"displayName eq "Engineering \"Core\" \u00e9""#),
        cmp("displayName", CompareOp::Eq, s("Engineering \"Core\" é"))
    );
    // Enterprise extension attributes, with and without a sub-attribute.
    let f = parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "00u2""#);
    let Filter::Compare(p, _, _) = &f else { panic!("{f:?}") };
    assert_eq!(
        (p.uri.as_deref(), p.name.as_str(), p.sub.as_deref()),
        (
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
            "manager",
            Some("value")
        )
    );
    assert_eq!(parse(&f.to_string()), f);
}

#[test]
fn patch_paths_parse() {
    let p: PatchPath = r#"members[value eq "00u1abc"]"#.parse().unwrap();
    assert!(p.attr.is("members", None) && p.sub.is_none());
    assert_eq!(p.filter, Some(cmp("value", CompareOp::Eq, s("00u1abc"))));
    let p: PatchPath = r#"emails[type eq "work"].value"#.parse().unwrap();
    assert_eq!(p.sub.as_deref(), Some("value"));
    assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
    let p: PatchPath = "name.givenName".parse().unwrap();
    assert!(p.attr.is("name", Some("givenName")) && p.filter.is_none());
    let p: PatchPath = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        .parse()
        .unwrap();
    assert_eq!(p.attr.name, "department");
    for bad in [
        "",
        "members[",
        r#"members[value eq "1"]."#,
        r#"members[value eq "1"] extra"#,
        r#"name.givenName[value eq "1"]"#,
        "userName eq",
    ] {
        assert!(bad.parse::<PatchPath>().is_err(), "{bad:?} is not a path");
    }
}

#[test]
fn errors_say_where_and_what() {
    let err = |s: &str| s.parse::<Filter>().unwrap_err().to_string();
    let cases = [
        (
            r#"userName eq "ada"#,
            "at character 13: a string is not closed: end it with `\"`",
        ),
        (
            r#"userName equals "ada""#,
            "at character 10: `equals` is not an operator: after `userName` comes eq, ne, co, sw, ew, gt, ge, lt, le or pr",
        ),
        (
            "userName eq",
            "at character 12: expected a value after `eq` (a JSON string, a number, true, false or null), found the end",
        ),
        (r#"(userName eq "a""#, "at character 17: expected `)`, found the end"),
        (
            r#"userName eq "a" )"#,
            "at character 17: `)` after the filter: nothing more was expected",
        ),
        (
            r#"emails[type eq "work" and x[y eq 1]]"#,
            "at character 28: a value filter (`[…]`) cannot hold another one",
        ),
    ];
    for (input, said) in cases {
        assert_eq!(err(input), said, "{input}");
    }
    assert!(err("userName eq 'a'").contains("`'` has no meaning here"));
    assert!(err("9lives eq 1").contains("expected an attribute"));
    assert!(err("").contains("expected an attribute, found the end"));
    assert!(err(&"(".repeat(100)).contains("nested more than 64 deep"));
    assert!(err(&"not ".repeat(100)).contains("nested more than 64 deep"));
}

const NAMES: [&str; 8] = [
    "userName",
    "displayName",
    "active",
    "externalId",
    "id",
    "title",
    "x-1",
    "$ref",
];
const SUBS: [&str; 4] = ["value", "type", "givenName", "primary"];
const URIS: [&str; 2] = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
];

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (
        proptest::option::of(proptest::sample::select(&URIS[..])),
        proptest::sample::select(&NAMES[..]),
        proptest::option::of(proptest::sample::select(&SUBS[..])),
    )
        .prop_map(|(uri, name, sub)| AttrPath {
            uri: uri.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        any::<String>().prop_map(CompValue::String),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        attr_path().prop_map(Filter::Present),
        (attr_path(), proptest::sample::select(&CompareOp::ALL[..]), comp_value())
            .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
    ]
}

/// `and`, `or` and `not` of `inner`'s filters.
fn combined(inner: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::or(a, b)),
        inner.prop_map(|f| Filter::Not(Box::new(f))),
    ]
}

/// Filters with no value path (what a value path may hold).
fn plain() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(4, 24, 2, combined)
}

fn filter() -> impl Strategy<Value = Filter> {
    let value_path = (attr_path(), plain()).prop_map(|(mut p, f)| {
        p.sub = None;
        Filter::ValuePath(p, Box::new(f))
    });
    prop_oneof![leaf(), value_path].prop_recursive(4, 32, 2, combined)
}

proptest! {
    #[test]
    fn generated_filters_print_and_parse_back_the_same(f in filter()) {
        let printed = f.to_string();
        let back: Filter = printed.parse().map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&back, &f, "{}", printed);
        prop_assert_eq!(back.to_string(), printed);
    }

    #[test]
    fn generated_patch_paths_print_and_parse_back_the_same(
        attr in attr_path(),
        filter in proptest::option::of(plain()),
        sub in proptest::option::of(proptest::sample::select(&SUBS[..])),
    ) {
        let mut path = PatchPath { attr, filter, sub: sub.map(str::to_owned) };
        if path.filter.is_some() {
            path.attr.sub = None;
        } else {
            path.sub = None;
        }
        let printed = path.to_string();
        let back: PatchPath = printed.parse().map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(back, path);
    }

    #[test]
    fn any_input_parses_or_says_why_without_panicking(input in ".{0,80}") {
        if let Err(e) = input.parse::<Filter>() {
            prop_assert!(e.at >= 1 && e.at <= input.chars().count() + 1, "{}: {}", input, e);
        }
        let _ = input.parse::<PatchPath>();
    }
}
