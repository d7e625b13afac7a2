//! PATCH as Okta sends it (deactivation, Group Push) and as Entra ID sends it, applied to a
//! resource's JSON; malformed requests refused with the SCIM error type that says why.

use scim_expr::patch::{Op, PatchError, apply, operations};
use serde_json::{Map, Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// `resource` after the PATCH request `body`.
fn patched(resource: Value, body: Value) -> Value {
    let mut r: Map<String, Value> = serde_json::from_value(resource).unwrap();
    for op in operations(&body).unwrap_or_else(|e| panic!("{body}: {e}")) {
        apply(&mut r, &op).unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    Value::Object(r)
}

fn request(ops: Value) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops })
}

#[test]
fn okta_deactivates_and_reactivates_with_a_pathless_replace() {
    let user = json!({ "id": "u1", "userName": "ada@example.com", "active": true });
    let off = patched(
        user,
        request(json!([{ "op": "replace", "value": { "active": false } }])),
    );
    assert_eq!(off["active"], false);
    let on = patched(off, request(json!([{ "op": "replace", "value": { "active": true } }])));
    assert_eq!(on["active"], true);
    assert_eq!(on["userName"], "ada@example.com", "the rest stays");
}

#[test]
fn okta_group_push_adds_removes_renames_and_empties_members() {
    let group = json!({ "id": "g1", "displayName": "Eng", "members": [] });
    let added = patched(
        group,
        request(json!([{ "op": "add", "path": "members", "value": [
            { "value": "u1", "display": "ada@example.com" },
            { "value": "u2", "display": "bob@example.com" },
        ] }])),
    );
    assert_eq!(added["members"].as_array().unwrap().len(), 2);
    // Added again (Okta retries): no duplicate.
    let again = patched(
        added,
        request(
            json!([{ "op": "add", "path": "members", "value": [{ "value": "u2", "display": "bob@example.com" }] }]),
        ),
    );
    assert_eq!(again["members"].as_array().unwrap().len(), 2);
    let removed = patched(
        again,
        request(json!([
            { "op": "remove", "path": "members[value eq \"u1\"]" },
            { "op": "remove", "path": "members[value eq \"nobody\"]" },
        ])),
    );
    assert_eq!(
        removed["members"],
        json!([{ "value": "u2", "display": "bob@example.com" }])
    );
    // Okta sends the group's id and name with every membership update.
    let renamed = patched(
        removed,
        request(json!([{ "op": "replace", "value": { "id": "g1", "displayName": "Engineering" } }])),
    );
    assert_eq!(
        (renamed["id"].clone(), renamed["displayName"].clone()),
        (json!("g1"), json!("Engineering"))
    );
    let emptied = patched(
        renamed,
        request(json!([{ "op": "replace", "path": "members", "value": [] }])),
    );
    assert_eq!(emptied["members"], json!([]));
}

#[test]
fn entra_quirks_are_taken() {
    let user = json!({ "id": "u1", "userName": "ada@example.com", "name": { "familyName": "Lovelace" } });
    let body = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@work.example" },
        { "op": "Add", "path": "name.givenName", "value": "Ada" },
        { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Analytical Engines" },
        { "op": "replace", "value": { "name.formatted": "Ada Lovelace", "displayName": "Ada" } },
    ] });
    let u = patched(user, body);
    assert_eq!(
        u["emails"],
        json!([{ "type": "work", "value": "ada@work.example" }]),
        "made from the filter"
    );
    assert_eq!(
        u["name"],
        json!({ "familyName": "Lovelace", "givenName": "Ada", "formatted": "Ada Lovelace" })
    );
    assert_eq!(u[ENTERPRISE]["department"], "Analytical Engines");
    assert_eq!(u["displayName"], "Ada");
    // The work email changed again: the existing one is updated, not a second made.
    let u = patched(
        u,
        request(json!([{ "op": "replace", "path": "EMAILS[TYPE eq \"Work\"].value", "value": "ada@new.example" }])),
    );
    assert_eq!(u["emails"], json!([{ "type": "work", "value": "ada@new.example" }]));
    // Members removed by listing them as the value; an extension's object set path-less.
    let group = json!({ "members": [{ "value": "u1" }, { "value": "u2" }, { "value": "u3" }] });
    let g = patched(
        group,
        request(json!([{ "op": "Remove", "path": "members", "value": [{ "value": "u1" }, { "value": "u3" }] }])),
    );
    assert_eq!(g["members"], json!([{ "value": "u2" }]));
    let u = patched(
        json!({ "id": "u1" }),
        request(
            json!([{ "op": "add", "value": { ENTERPRISE: { "costCenter": "42", "manager": { "value": "u9" } } } }]),
        ),
    );
    assert_eq!(
        u[ENTERPRISE],
        json!({ "costCenter": "42", "manager": { "value": "u9" } })
    );
}

#[test]
fn malformed_requests_say_why_in_scim_terms() {
    let kind = |body: Value| operations(&body).unwrap_err().scim_type();
    assert_eq!(kind(json!({ "Operations": "no" })), "invalidSyntax");
    assert_eq!(kind(json!({ "schemas": ["urn:x"], "Operations": [] })), "invalidSyntax");
    assert_eq!(kind(request(json!([{ "op": "move", "path": "x" }]))), "invalidSyntax");
    assert_eq!(
        kind(request(json!([{ "op": "add", "path": "x" }]))),
        "invalidSyntax",
        "add needs a value"
    );
    assert_eq!(
        kind(request(json!([{ "op": "remove", "path": "members[value eq" }]))),
        "invalidPath"
    );
    let err = operations(&request(json!([{ "op": "remove", "path": "members[value eq" }]))).unwrap_err();
    assert!(err.to_string().contains("expected a value after `eq`"), "{err}");

    let mut r: Map<String, Value> = serde_json::from_value(json!({ "userName": "a" })).unwrap();
    let apply_one = |r: &mut Map<String, Value>, ops: Value| {
        let op = operations(&request(ops)).unwrap().remove(0);
        apply(r, &op)
    };
    let e = apply_one(&mut r, json!([{ "op": "remove" }])).unwrap_err();
    assert_eq!(e.scim_type(), "noTarget");
    let e = apply_one(
        &mut r,
        json!([{ "op": "replace", "path": "userName[value eq \"a\"]", "value": "b" }]),
    )
    .unwrap_err();
    assert!(matches!(e, PatchError::Value(_)), "{e:?}");
    let e = apply_one(
        &mut r,
        json!([{ "op": "replace", "path": "emails[value co \"a\"]", "value": "b" }]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), "noTarget", "a filter that describes no value to make");
    let e = apply_one(&mut r, json!([{ "op": "replace", "value": "not an object" }])).unwrap_err();
    assert_eq!(e.scim_type(), "invalidValue");
    // Removing what is not there does nothing.
    apply_one(&mut r, json!([{ "op": "remove", "path": "title" }])).unwrap();
    assert_eq!(
        Value::Object(r),
        json!({ "userName": "a" }),
        "failed operations left nothing behind"
    );
    assert_eq!(
        operations(&request(json!([{ "op": "REMOVE", "path": "x" }]))).unwrap()[0].op,
        Op::Remove
    );
}

#[test]
fn filters_match_json_as_scim_compares() {
    let user = json!({
        "userName": "Ada@Example.com", "active": true, "age": 36,
        "emails": [{ "type": "work", "value": "ada@work.example" }, { "type": "home", "value": "ada@home.example" }],
        ENTERPRISE: { "department": "Engines" },
    });
    let m = |f: &str| f.parse::<scim_expr::Filter>().unwrap().matches(&user);
    assert!(
        m(r#"username eq "ada@example.com""#),
        "attribute names and strings in any case"
    );
    assert!(m(r#"emails[type eq "work" and value ew "@work.example"]"#));
    assert!(
        !m(r#"emails[type eq "work" and value ew "@home.example"]"#),
        "one value matches both"
    );
    assert!(m(r#"emails.value co "home""#));
    assert!(m("active eq true and age ge 36 and not (age gt 36)"));
    assert!(m(&format!("{ENTERPRISE}:department sw \"eng\"")));
    assert!(m("title eq null") && m("title ne \"x\"") && !m("title pr") && m("emails pr"));
}
