//! The application's roles (issue 28), declared through the API and the CLI on SQLite and
//! PostgreSQL: replaced whole in their order, refused with what is wrong (and nothing changed),
//! readable by a read-only key, declared only with the admin scope.

use reqwest::Method;
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::proxy::{call, key};
use crate::util::{AppOptions, TestDb, api, spawn_app};

fn slugs(body: &Value) -> Vec<&str> {
    body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["slug"].as_str().unwrap())
        .collect()
}

async fn roles_declared_and_replaced(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let (status, none) = api(&app, Method::GET, "/api/roles", None).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none, json!({ "roles": [], "updatedAt": null, "updatedBy": null }));

    let three = json!({ "roles": [
        { "slug": "admin", "name": "Admin" },
        { "slug": "member", "name": " Member " },
        { "slug": "viewer", "name": "Viewer" },
    ] });
    let (status, put) = api(&app, Method::PUT, "/api/roles", Some(three)).await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(slugs(&put), ["admin", "member", "viewer"]);
    assert_eq!(put["roles"][1]["name"], "Member", "names are trimmed");
    assert_eq!(put["updatedBy"], "admin token");
    let at = put["updatedAt"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
        "{at}"
    );
    let (_, got) = api(&app, Method::GET, "/api/roles", None).await;
    assert_eq!(got, put);

    // Bad declarations say what is wrong and change nothing.
    for (bad, says) in [
        (
            json!({ "roles": [{ "slug": "a", "name": "A" }, { "slug": "a", "name": "B" }] }),
            "roles[1].slug \"a\" is declared twice",
        ),
        (
            json!({ "roles": [{ "slug": "Admin", "name": "Admin" }] }),
            "lowercase letters",
        ),
        (json!({ "roles": [{ "slug": "admin", "name": "" }] }), "roles[0].name"),
        (
            json!({ "roles": [{ "slug": "admin", "name": "A", "rank": 1 }] }),
            "unknown field",
        ),
        (json!({ "role": [] }), "unknown field"),
    ] {
        let (status, body) = api(&app, Method::PUT, "/api/roles", Some(bad)).await;
        assert_eq!(status, 400, "{body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body} should say {says}");
    }
    let (_, got) = api(&app, Method::GET, "/api/roles", None).await;
    assert_eq!(slugs(&got), ["admin", "member", "viewer"], "nothing changed");

    // A new declaration replaces the old one whole, in its own order; a read-only key reads it
    // but may not declare.
    let (_, admin) = key(&app, "deployer", "admin").await;
    let (status, _, put) = call(
        &app,
        &admin,
        Method::PUT,
        "/api/roles",
        Some(json!({ "roles": [{ "slug": "viewer", "name": "Viewer" }, { "slug": "owner", "name": "Owner" }] })),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(slugs(&put), ["viewer", "owner"]);
    assert!(
        put["updatedBy"].as_str().unwrap().starts_with("api key deployer"),
        "{put}"
    );
    let (_, reader) = key(&app, "reader", "directory:read").await;
    let (status, _, got) = call(&app, &reader, Method::GET, "/api/roles", None).await;
    assert_eq!((status.as_u16(), slugs(&got)), (200, vec!["viewer", "owner"]));
    let (status, _, _) = call(&app, &reader, Method::PUT, "/api/roles", Some(json!({ "roles": [] }))).await;
    assert_eq!(status, 403);
    let (status, cleared) = api(&app, Method::PUT, "/api/roles", Some(json!({ "roles": [] }))).await;
    assert_eq!((status.as_u16(), slugs(&cleared)), (200, Vec::<&str>::new()));
}

on_both_databases!(
    roles_are_declared_and_replaced_whole,
    super::roles_declared_and_replaced
);

/// `okta-bridge roles set|list` on the database the server reads.
#[tokio::test]
async fn roles_from_the_command_line() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let cli = |args: &[&str]| {
        let mut c = crate::cli::okta_bridge();
        c.args(args)
            .env("OKTA_BRIDGE_DATABASE_URL", &db.url)
            .env("OKTA_BRIDGE_MASTER_KEY", crate::util::TEST_KEY_B64.as_str());
        async move { c.output().await.unwrap() }
    };
    let out = cli(&["roles", "set", "admin=Admin", "member=Team member", "viewer"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, got) = api(&app, Method::GET, "/api/roles", None).await;
    assert_eq!(slugs(&got), ["admin", "member", "viewer"]);
    assert_eq!(
        (got["roles"][1]["name"].as_str(), got["roles"][2]["name"].as_str()),
        (Some("Team member"), Some("viewer"))
    );
    assert_eq!(got["updatedBy"], "cli");
    let out = cli(&["roles", "list"]).await;
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed, got);
    let out = cli(&["roles", "set", "Bad=Bad"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lowercase letters"));
    let (_, got) = api(&app, Method::GET, "/api/roles", None).await;
    assert_eq!(
        slugs(&got),
        ["admin", "member", "viewer"],
        "a refused declaration changes nothing"
    );

    let (status, _) = api(
        &app,
        Method::POST,
        "/api/accounts",
        Some(json!({ "name": "acme", "orgUrl": app.sandbox.url() })),
    )
    .await;
    assert_eq!(status, 201);
    let out = cli(&[
        "roles",
        "map",
        "acme",
        "00gAdmins=admin,viewer",
        "00gStaff=member",
        "--default",
        "viewer",
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, got) = api(&app, Method::GET, "/api/accounts/acme/role-mappings", None).await;
    assert_eq!(
        got["mappings"][0],
        json!({ "group": "00gAdmins", "roles": ["admin", "viewer"] })
    );
    assert_eq!(
        (got["default"].as_str(), got["updatedBy"].as_str()),
        (Some("viewer"), Some("cli"))
    );
    let out = cli(&["roles", "mappings", "acme"]).await;
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed, got);
    let out = cli(&["roles", "map", "acme", "00gAdmins"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GROUP_ID=ROLE"));
}

async fn mappings_set_and_checked(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let path = "/api/accounts/acme/role-mappings";
    let two = json!({ "mappings": [
        { "group": "00gAdmins", "roles": ["viewer", "admin"] },
        { "group": "00gStaff", "roles": ["member"] },
    ], "default": "viewer" });
    let (status, body) = api(&app, Method::PUT, path, Some(two.clone())).await;
    assert_eq!(status, 404, "an unknown account: {body}");
    let (status, made) = api(
        &app,
        Method::POST,
        "/api/accounts",
        Some(json!({ "name": "acme", "orgUrl": app.sandbox.url() })),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let (status, body) = api(&app, Method::PUT, path, Some(two.clone())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("declare them first"),
        "{body}"
    );
    let (_, none) = api(&app, Method::GET, path, None).await;
    assert_eq!(none["mappings"], json!([]), "{none}");
    assert_eq!(none["default"], Value::Null, "{none}");

    let roles = json!({ "roles": [
        { "slug": "admin", "name": "Admin" },
        { "slug": "member", "name": "Member" },
        { "slug": "viewer", "name": "Viewer" },
    ] });
    let (status, _) = api(&app, Method::PUT, "/api/roles", Some(roles)).await;
    assert_eq!(status, 200);
    let (status, set) = api(&app, Method::PUT, path, Some(two)).await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        set["mappings"],
        json!([
            { "group": "00gAdmins", "roles": ["admin", "viewer"] },
            { "group": "00gStaff", "roles": ["member"] },
        ]),
        "each group's roles in the declared order"
    );
    assert_eq!(
        (set["default"].as_str(), set["updatedBy"].as_str()),
        (Some("viewer"), Some("admin token"))
    );
    let (_, got) = api(&app, Method::GET, path, None).await;
    assert_eq!(got, set);
    let (_, audit) = api(&app, Method::GET, "/api/accounts/acme/audit", None).await;
    let record = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["event"] == "role_mappings_set")
        .unwrap_or_else(|| panic!("audited: {audit}"));
    assert_eq!(record["actor"], "admin token");
    assert!(record["detail"].as_str().unwrap().contains("2 group(s)"), "{record}");

    // A mapping naming an undeclared role is refused, saying which roles there are; nothing
    // changes.
    let (status, body) = api(
        &app,
        Method::PUT,
        path,
        Some(json!({ "mappings": [{ "group": "00gX", "roles": ["owner"] }] })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("(the roles are admin, member, viewer)"),
        "{body}"
    );
    let (_, got) = api(&app, Method::GET, path, None).await;
    assert_eq!(got, set, "nothing changed");

    // The roles cannot be declared without one a mapping names.
    let (status, body) = api(
        &app,
        Method::PUT,
        "/api/roles",
        Some(json!({ "roles": [{ "slug": "admin", "name": "Admin" }, { "slug": "viewer", "name": "Viewer" }] })),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("role \"member\" is still mapped in account(s) acme"),
        "{body}"
    );
    // … nor without the default one names.
    let (status, body) = api(
        &app,
        Method::PUT,
        "/api/roles",
        Some(json!({ "roles": [{ "slug": "admin", "name": "Admin" }, { "slug": "member", "name": "Member" }] })),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("role \"viewer\" is still mapped in account(s) acme"),
        "{body}"
    );
    let (_, still) = api(&app, Method::GET, "/api/roles", None).await;
    assert_eq!(slugs(&still), ["admin", "member", "viewer"]);

    // A read-only key reads the mappings, may not set them.
    let (_, reader) = key(&app, "reader", "directory:read").await;
    let (status, _, got) = call(&app, &reader, Method::GET, path, None).await;
    assert_eq!((status.as_u16(), got["default"].as_str()), (200, Some("viewer")));
    let (status, _, _) = call(&app, &reader, Method::PUT, path, Some(json!({ "mappings": [] }))).await;
    assert_eq!(status, 403);
}

on_both_databases!(
    role_mappings_are_set_checked_and_audited,
    super::mappings_set_and_checked
);

/// The roles `users` carry in the directory API (none: no `roles`).
async fn directory_roles(
    app: &crate::util::TestApp,
    account: &str,
) -> std::collections::BTreeMap<String, Option<Value>> {
    let (status, users) = api(
        app,
        Method::GET,
        &format!("/api/connections/{account}/directory/users?limit=1000"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{users}");
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap().to_owned(), u.get("roles").cloned()))
        .collect()
}

/// Each user's roles as the feed says them, folded from the start: the last user event's.
fn folded_roles(events: &[(String, String, Value)]) -> std::collections::BTreeMap<String, Option<Value>> {
    let mut out = std::collections::BTreeMap::new();
    for (t, id, data) in events {
        if t == "user.deleted" {
            out.remove(id);
        } else if t.starts_with("user.") {
            out.insert(id.clone(), data.get("roles").cloned());
        }
    }
    out
}

async fn declare(app: &crate::util::TestApp) {
    let (status, body) = api(
        app,
        Method::PUT,
        "/api/roles",
        Some(json!({ "roles": [
            { "slug": "admin", "name": "Admin" },
            { "slug": "member", "name": "Member" },
            { "slug": "viewer", "name": "Viewer" },
        ] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Roles through the API sync: a mapping change emits `user.updated` ("changed": ["roles"])
/// for exactly the users whose roles changed, in one transaction with it; a membership change
/// at the org does too, on the next sync; the directory API and the feed folded from the start
/// agree after each step.
async fn roles_follow_mappings_and_memberships(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            sandbox: Box::new(|c| {
                c.users = 8;
                c.groups = 0;
            }),
            ..AppOptions::default()
        },
    )
    .await;
    declare(&app).await;
    let ids = app.sandbox.state().listed_user_ids();
    let (u1, u2, u3) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let mut groups = Vec::new();
    for (name, members) in [("Admins", [&u1, &u3]), ("Staff", [&u2, &u3])] {
        groups.push(crate::scope::new_group(&app, name, &members).await);
    }
    crate::util::connect_by_api_token(&app, "acme").await;
    let (status, summary) = api(&app, Method::POST, "/api/connections/acme/sync", None).await;
    assert_eq!(status, 200, "{summary}");
    let before = crate::scim::feed(&app, "acme", 0).await;
    let users = directory_roles(&app, "acme").await;
    assert!(
        users.values().all(Option::is_none),
        "no roles before any mapping: {users:?}"
    );

    // The first mapping: every user's roles change (from none), each said once.
    let (status, set) = api(
        &app,
        Method::PUT,
        "/api/accounts/acme/role-mappings",
        Some(json!({ "mappings": [
            { "group": groups[0], "roles": ["admin"] },
            { "group": groups[1], "roles": ["member"] },
        ], "default": "viewer" })),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    let said = crate::scim::feed(&app, "acme", before.len() as i64).await;
    assert_eq!(said.len(), users.len(), "{said:?}");
    assert!(
        said.iter()
            .all(|(t, _, d)| t == "user.updated" && d["changed"] == json!(["roles"])),
        "{said:?}"
    );
    let roles = directory_roles(&app, "acme").await;
    assert_eq!(roles[&u1], Some(json!(["admin"])));
    assert_eq!(roles[&u2], Some(json!(["member"])));
    assert_eq!(roles[&u3], Some(json!(["admin", "member"])));
    assert_eq!(roles[&ids[3]], Some(json!(["viewer"])));
    let mut seen = before.len() + said.len();

    // The same mappings again: nothing changes, nothing is said.
    let (status, _) = api(
        &app,
        Method::PUT,
        "/api/accounts/acme/role-mappings",
        Some(json!({
            "mappings": [{ "group": groups[0], "roles": ["admin"] }, { "group": groups[1], "roles": ["member"] }],
            "default": "viewer",
        })),
    )
    .await;
    assert_eq!(status, 200);
    assert!(crate::scim::feed(&app, "acme", seen as i64).await.is_empty());

    // Staff also gives viewer: exactly Staff's members are said.
    let (status, _) = api(&app, Method::PUT, "/api/accounts/acme/role-mappings", Some(json!({
        "mappings": [{ "group": groups[0], "roles": ["admin"] }, { "group": groups[1], "roles": ["member", "viewer"] }],
        "default": "viewer",
    })))
    .await;
    assert_eq!(status, 200);
    let said = crate::scim::feed(&app, "acme", seen as i64).await;
    let who: std::collections::BTreeSet<&str> = said.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(who, [u2.as_str(), u3.as_str()].into_iter().collect(), "{said:?}");
    assert_eq!(
        directory_roles(&app, "acme").await[&u3],
        Some(json!(["admin", "member", "viewer"]))
    );
    seen += said.len();

    // u1 leaves Admins at the org: the next sync says the membership and u1's new roles.
    let (status, _) = crate::util::org_call(
        &app,
        Method::DELETE,
        &format!("/api/v1/groups/{}/users/{u1}", groups[0]),
        None,
    )
    .await;
    assert!(status < 300, "{status}");
    let (status, summary) = api(&app, Method::POST, "/api/connections/acme/sync", None).await;
    assert_eq!(status, 200, "{summary}");
    let said = crate::scim::feed(&app, "acme", seen as i64).await;
    let kinds: Vec<(&str, &str)> = said.iter().map(|(t, id, _)| (t.as_str(), id.as_str())).collect();
    assert!(kinds.contains(&("group.user_removed", u1.as_str())), "{kinds:?}");
    let update = said
        .iter()
        .find(|(t, id, _)| t == "user.updated" && *id == u1)
        .unwrap_or_else(|| panic!("u1's roles said: {said:?}"));
    assert_eq!(update.2["roles"], json!(["viewer"]));
    assert!(
        update.2["changed"].as_array().unwrap().contains(&json!("roles")),
        "{update:?}"
    );
    assert_eq!(
        said.iter().filter(|(t, _, _)| t == "user.updated").count(),
        1,
        "only u1's roles changed: {said:?}"
    );

    // The feed folded from the start says what the directory holds.
    let all = crate::scim::feed(&app, "acme", 0).await;
    assert_eq!(folded_roles(&all), directory_roles(&app, "acme").await);
}

on_both_databases!(
    roles_follow_mappings_and_memberships_works,
    super::roles_follow_mappings_and_memberships
);

/// Roles through SCIM push: a mapping of a pushed group, Group Push adding a member, a new
/// user (its `user.created` says its roles), the group deleted; the feed folded from the start
/// says what the directory holds.
async fn roles_follow_scim_pushes(db: TestDb) {
    use crate::scim::{Scim, feed, okta_user};
    let app = spawn_app(&db, AppOptions::default()).await;
    declare(&app).await;
    let scim = Scim::on(&app, "acme").await;
    let (status, u1) = scim
        .call(Method::POST, "/Users", Some(okta_user("ada@example.com", "Ada")))
        .await;
    assert_eq!(status, 201, "{u1}");
    let (status, u2) = scim
        .call(Method::POST, "/Users", Some(okta_user("bob@example.com", "Bob")))
        .await;
    assert_eq!(status, 201, "{u2}");
    let (u1, u2) = (
        u1["id"].as_str().unwrap().to_owned(),
        u2["id"].as_str().unwrap().to_owned(),
    );
    let (status, g) = scim
        .call(
            Method::POST,
            "/Groups",
            Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Admins", "members": [{ "value": u1 }] })),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let mut seen = feed(&app, "acme", 0).await.len();

    let (status, _) = api(
        &app,
        Method::PUT,
        "/api/accounts/acme/role-mappings",
        Some(json!({ "mappings": [{ "group": gid, "roles": ["admin"] }], "default": "viewer" })),
    )
    .await;
    assert_eq!(status, 200);
    let said = feed(&app, "acme", seen as i64).await;
    let roles: std::collections::BTreeMap<&str, &Value> =
        said.iter().map(|(_, id, d)| (id.as_str(), &d["roles"])).collect();
    assert_eq!(roles.len(), 2, "{said:?}");
    assert_eq!(
        (roles[u1.as_str()], roles[u2.as_str()]),
        (&json!(["admin"]), &json!(["viewer"]))
    );
    seen += said.len();

    // Group Push adds Bob: the membership and Bob's new roles.
    let (status, _) = scim
        .call(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": u2 }] }] })),
        )
        .await;
    assert_eq!(status, 200);
    let said = feed(&app, "acme", seen as i64).await;
    let kinds: Vec<(&str, &str)> = said.iter().map(|(t, id, _)| (t.as_str(), id.as_str())).collect();
    assert_eq!(
        kinds,
        [("group.user_added", u2.as_str()), ("user.updated", u2.as_str())],
        "{said:?}"
    );
    assert_eq!(
        (said[1].2["roles"].clone(), said[1].2["changed"].clone()),
        (json!(["admin"]), json!(["roles"]))
    );
    seen += said.len();

    // A new user: its user.created says its roles; nothing else is said.
    let (status, u3) = scim
        .call(Method::POST, "/Users", Some(okta_user("cy@example.com", "Cy")))
        .await;
    assert_eq!(status, 201, "{u3}");
    let said = feed(&app, "acme", seen as i64).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(
        (said[0].0.as_str(), said[0].2["roles"].clone()),
        ("user.created", json!(["viewer"]))
    );
    seen += said.len();

    // The group goes: its members fall back to the default.
    let (status, _) = scim.call(Method::DELETE, &format!("/Groups/{gid}"), None).await;
    assert_eq!(status, 204);
    let said = feed(&app, "acme", seen as i64).await;
    let updated: std::collections::BTreeSet<&str> = said
        .iter()
        .filter(|(t, _, d)| t == "user.updated" && d["roles"] == json!(["viewer"]))
        .map(|(_, id, _)| id.as_str())
        .collect();
    assert_eq!(updated, [u1.as_str(), u2.as_str()].into_iter().collect(), "{said:?}");

    let all = feed(&app, "acme", 0).await;
    assert_eq!(folded_roles(&all), directory_roles(&app, "acme").await);
}

on_both_databases!(roles_follow_scim_pushes_works, super::roles_follow_scim_pushes);
