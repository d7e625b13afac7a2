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
