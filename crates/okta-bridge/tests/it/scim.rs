//! SCIM 2.0 push against a real `serve` on SQLite and PostgreSQL: Okta's own request sequence
//! for users and Group Push, the quirks of other providers, bad input, and filters whose SQL
//! selects what the reference evaluation selects.

use reqwest::Method;
use serde_json::{Value, json};

use crate::flow::on_both_databases;
use crate::util::{AppOptions, TestApp, TestDb, api, spawn_app};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// An account with SCIM on: its SCIM base URL and token.
pub(crate) struct Scim {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Scim {
    pub(crate) async fn on(app: &TestApp, name: &str) -> Self {
        let (status, body) = api(
            app,
            Method::POST,
            "/api/accounts",
            Some(json!({ "name": name, "orgUrl": app.sandbox.url() })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = api(app, Method::POST, &format!("/api/accounts/{name}/scim"), None).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["baseUrl"], format!("{}/scim/v2/{name}", app.url));
        let token = body["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("scim_") && token.len() >= 48, "{token}");
        Self {
            base: body["baseUrl"].as_str().unwrap().to_owned(),
            token,
            http: reqwest::Client::new(),
        }
    }

    /// A request as Okta sends it (`Authorization: Bearer`, `application/scim+json`): the
    /// status, the answer's content type and its JSON.
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, v) = self.call_full(method, path, body).await;
        (status, v)
    }

    async fn call_full(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/scim+json; charset=utf-8")
                .body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        if !text.is_empty() {
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/scim+json"),
                "{path}: {text}"
            );
        }
        (status, headers, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// The feed of `account` after `after`: (type, object id, data) of each event.
pub(crate) async fn feed(app: &TestApp, account: &str, after: i64) -> Vec<(String, String, Value)> {
    let (status, body) = api(
        app,
        Method::GET,
        &format!("/api/connections/{account}/events?after={after}&limit=1000"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["objectId"].as_str().unwrap().to_owned(),
                e["data"].clone(),
            )
        })
        .collect()
}

pub(crate) fn types(events: &[(String, String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _, _)| t.as_str()).collect()
}

/// Okta's user as it pushes one: the profile it maps, a placeholder password.
pub(crate) fn okta_user(user_name: &str, given: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "name": { "givenName": given, "familyName": "Lovelace" },
        "emails": [{ "primary": true, "value": user_name, "type": "work" }],
        "displayName": format!("{given} Lovelace"),
        "locale": "en-US",
        "externalId": "00u1okta",
        "groups": [],
        "password": "Placeholder-Passw0rd",
        "active": true
    })
}

/// Okta's create-update-deactivate-reactivate sequence: each request as Okta documents it,
/// with the directory, the feed and a webhook receiver checked after each step.
async fn okta_user_lifecycle(db: TestDb) {
    let mut app = spawn_app(&db, AppOptions::default()).await;
    let (url, received) = crate::webhooks::receiver(0, std::time::Duration::ZERO).await;
    let (status, made) = api(&app, Method::POST, "/api/webhooks", Some(json!({ "url": url }))).await;
    assert_eq!(status, 201, "{made}");
    let scim = Scim::on(&app, "acme").await;

    // "Test API Credentials".
    let (status, page) = scim.call(Method::GET, "/Users?startIndex=1&count=1", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalResults"], 0);
    assert_eq!(page["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");
    let (_, state) = api(&app, Method::GET, "/api/accounts/acme/scim", None).await;
    assert_eq!(state["lastRequest"]["status"], 200, "{state}");
    assert_eq!(state["lastRequest"]["request"], "GET /Users", "{state}");

    // The check before a create finds nobody; the create answers 201 with Location.
    let (status, page) = scim
        .call(
            Method::GET,
            "/Users?filter=userName%20eq%20%22Ada%40Example.com%22&startIndex=1&count=100",
            None,
        )
        .await;
    assert_eq!((status, page["totalResults"].clone()), (200, json!(0)), "{page}");
    let (status, headers, ada) = scim
        .call_full(Method::POST, "/Users", Some(okta_user("Ada@Example.com", "Ada")))
        .await;
    assert_eq!(status, 201, "{ada}");
    let id = ada["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers.get("location").unwrap().to_str().unwrap(),
        format!("{}/Users/{id}", scim.base)
    );
    assert_eq!(ada["meta"]["location"], format!("{}/Users/{id}", scim.base));
    assert!(ada["meta"]["version"].as_str().unwrap().starts_with("W/\""), "{ada}");
    assert!(ada["meta"]["created"].as_str().unwrap().ends_with('Z'), "{ada}");
    assert_eq!(ada["active"], true);
    assert!(ada.get("password").is_none(), "a password is never kept: {ada}");
    assert_eq!(ada["externalId"], "00u1okta");

    // userName matched in any case, answered as stored.
    let (_, page) = scim
        .call(
            Method::GET,
            "/Users?filter=userName%20eq%20%22ada%40example.COM%22",
            None,
        )
        .await;
    assert_eq!(page["totalResults"], 1, "{page}");
    assert_eq!(page["Resources"][0]["userName"], "Ada@Example.com");
    let events = feed(&app, "acme", 0).await;
    assert_eq!(types(&events), ["user.created"]);
    assert_eq!(events[0].2["profile"]["firstName"], "Ada");
    assert_eq!(events[0].2["externalId"], "00u1okta");
    assert_eq!(events[0].2["status"], "ACTIVE");

    // A second user with the same userName in another case: 409 uniqueness, nothing stored.
    let (status, err) = scim
        .call(Method::POST, "/Users", Some(okta_user("ADA@example.com", "Other")))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["scimType"], "uniqueness");
    assert_eq!(err["status"], "409");

    // A profile change: PUT of the whole user.
    let (status, put) = scim
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(okta_user("Ada@Example.com", "Augusta")),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["name"]["givenName"], "Augusta");
    // The same PUT again changes nothing.
    let (status, _) = scim
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(okta_user("Ada@Example.com", "Augusta")),
        )
        .await;
    assert_eq!(status, 200);
    let events = feed(&app, "acme", 1).await;
    assert_eq!(types(&events), ["user.updated"], "{events:?}");
    let changed = events[0].2["changed"].as_array().unwrap();
    assert!(changed.contains(&json!("profile.firstName")), "{changed:?}");
    assert!(changed.contains(&json!("profile.displayName")), "{changed:?}");

    // Deactivation: a path-less replace of active; the user still answers, inactive.
    let deactivate = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "value": { "active": false } }] });
    let (status, off) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(deactivate))
        .await;
    assert_eq!((status, off["active"].clone()), (200, json!(false)), "{off}");
    let (status, got) = scim.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!((status, got["active"].clone()), (200, json!(false)), "{got}");
    let reactivate = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "value": { "active": true } }] });
    let (status, on) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(reactivate))
        .await;
    assert_eq!((status, on["active"].clone()), (200, json!(true)), "{on}");
    let events = feed(&app, "acme", 2).await;
    assert_eq!(types(&events), ["user.deactivated", "user.reactivated"]);
    assert_eq!(events[0].2["status"], "DEPROVISIONED");

    // The directory API and the connections list serve it as any connection's.
    let (status, user) = api(
        &app,
        Method::GET,
        &format!("/api/connections/acme/directory/users/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["login"], "Ada@Example.com");
    assert_eq!(user["status"], "ACTIVE");
    let (_, conns) = api(&app, Method::GET, "/api/connections", None).await;
    let acme = conns
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["account"] == "acme")
        .unwrap();
    assert_eq!(acme["method"], "scim", "{acme}");
    let (_, sync) = api(&app, Method::GET, "/api/connections/acme/sync", None).await;
    assert_eq!(sync["source"], "scim", "{sync}");
    assert_eq!(
        sync["scim"]["lastRequest"]["request"],
        format!("PATCH /Users/{id}"),
        "{sync}"
    );
    assert_eq!(sync["scim"]["lastRequest"]["status"], 200, "{sync}");
    // The console's page of the connection says where its directory comes from.
    let mut browser = crate::util::Browser::signed_in(&app).await;
    let page = browser.read(&format!("{}/connections/acme", app.url)).await;
    assert!(page.contains("SCIM push") && page.contains(&scim.base), "{page}");
    assert!(page.contains(&format!("PATCH /Users/{id} answered 200")), "{page}");

    // The webhook receiver gets the four events, in order.
    let got = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let arrived = received.arrived.notified();
            let n = received.got.lock().unwrap().len();
            if n >= 4 {
                break;
            }
            arrived.await;
        }
    })
    .await;
    assert!(got.is_ok(), "the webhook receiver did not get the pushes");
    let bodies: Vec<Value> = received
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, b)| serde_json::from_str(b).unwrap())
        .collect();
    let kinds: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["user.created", "user.updated", "user.deactivated", "user.reactivated"]
    );

    // Another client may delete; Okta never does.
    let (status, _) = scim.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, err) = scim.call(Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!((status, err["status"].clone()), (404, json!("404")), "{err}");
    assert_eq!(types(&feed(&app, "acme", 4).await), ["user.deleted"]);
    // Deliveries may be in flight: stop the server and its workers before the database goes.
    app.stop().await;
}
on_both_databases!(okta_user_lifecycle_works, super::okta_user_lifecycle);

async fn make_user(scim: &Scim, name: &str) -> String {
    let (status, u) = scim.call(Method::POST, "/Users", Some(okta_user(name, "X"))).await;
    assert_eq!(status, 201, "{u}");
    u["id"].as_str().unwrap().to_owned()
}

/// Group Push as Okta sends it: create with members, add (with an unknown id beside), remove
/// by filter, a path-less rename, members replaced with none, delete.
async fn group_push(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let scim = Scim::on(&app, "acme").await;
    let u1 = make_user(&scim, "one@example.com").await;
    let u2 = make_user(&scim, "two@example.com").await;
    let base = feed(&app, "acme", 0).await.len() as i64;

    let (status, headers, g) = scim
        .call_full(
            Method::POST,
            "/Groups",
            Some(json!({ "schemas": [GROUP], "displayName": "Engineering", "members": [{ "value": u1, "display": "one@example.com" }] })),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    assert!(headers.get("location").is_some());
    let gid = g["id"].as_str().unwrap().to_owned();
    assert_eq!(g["members"][0]["value"], u1.as_str());
    assert_eq!(
        types(&feed(&app, "acme", base).await),
        ["group.created", "group.user_added"]
    );

    // Okta's membership update: add, with the path-less displayName replace it always sends;
    // an id that is no user here is skipped and said, the rest applied.
    let add = json!({ "schemas": [PATCH], "Operations": [
        { "op": "replace", "value": { "id": gid, "displayName": "Engineering" } },
        { "op": "add", "path": "members", "value": [{ "value": u2, "display": "two@example.com" }, { "value": "00unknown" }] }
    ]});
    let (status, headers, g) = scim
        .call_full(Method::PATCH, &format!("/Groups/{gid}"), Some(add))
        .await;
    assert_eq!(status, 200, "{g}");
    // The unknown id is said in the answer and kept in the group's resource as pushed, not a
    // membership in the directory.
    let skipped = headers.get("okta-bridge-skipped-members").unwrap().to_str().unwrap();
    assert!(
        skipped.contains("00unknown") && skipped.starts_with("1 member id"),
        "{skipped}"
    );
    let values: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(values.len(), 3, "{g}");
    assert!(values.contains(&"00unknown") && values.contains(&u2.as_str()), "{g}");
    let events = feed(&app, "acme", base + 2).await;
    assert_eq!(types(&events), ["group.user_added"]);
    assert_eq!(events[0].1, u2);

    let remove = json!({ "schemas": [PATCH], "Operations": [
        { "op": "remove", "path": format!("members[value eq \"{u1}\"]") }
    ]});
    let (status, g) = scim.call(Method::PATCH, &format!("/Groups/{gid}"), Some(remove)).await;
    assert_eq!((status, g["members"].as_array().unwrap().len()), (200, 2), "{g}");
    let rename =
        json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "value": { "displayName": "Platform" } }] });
    let (status, g) = scim.call(Method::PATCH, &format!("/Groups/{gid}"), Some(rename)).await;
    assert_eq!((status, g["displayName"].clone()), (200, json!("Platform")), "{g}");
    let none = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "members", "value": [] }] });
    let (status, g) = scim.call(Method::PATCH, &format!("/Groups/{gid}"), Some(none)).await;
    assert_eq!((status, g["members"].clone()), (200, json!([])), "{g}");
    let events = feed(&app, "acme", base + 3).await;
    assert_eq!(
        types(&events),
        ["group.user_removed", "group.updated", "group.user_removed"]
    );
    assert!(
        events[1].2["changed"]
            .as_array()
            .unwrap()
            .contains(&json!("profile.name")),
        "{events:?}"
    );

    // The directory API sees the group as any synced one.
    let (status, groups) = api(&app, Method::GET, "/api/connections/acme/directory/groups", None).await;
    assert_eq!(status, 200, "{groups}");
    assert!(groups.to_string().contains("Platform"), "{groups}");

    let (status, page) = scim
        .call(
            Method::GET,
            "/Groups?filter=displayName%20eq%20%22platform%22&excludedAttributes=members",
            None,
        )
        .await;
    assert_eq!((status, page["totalResults"].clone()), (200, json!(1)), "{page}");
    assert!(page["Resources"][0].get("members").is_none(), "{page}");
    let (status, _) = scim.call(Method::DELETE, &format!("/Groups/{gid}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(types(&feed(&app, "acme", base + 6).await), ["group.deleted"]);
    let (status, _) = scim.call(Method::GET, &format!("/Groups/{gid}"), None).await;
    assert_eq!(status, 404);
}
on_both_databases!(group_push_works, super::group_push);

/// Entra ID's forms: op names capitalised, booleans as strings, a filtered path with a
/// sub-attribute, members without a type.
async fn other_providers_quirks(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let scim = Scim::on(&app, "acme").await;
    let mut body = okta_user("grace@example.com", "Grace");
    body["active"] = json!("True");
    body["schemas"] = json!([USER, ENTERPRISE]);
    body[ENTERPRISE] = json!({ "department": "Navy" });
    let (status, u) = scim.call(Method::POST, "/Users", Some(body)).await;
    assert_eq!((status, u["active"].clone()), (201, json!(true)), "{u}");
    let id = u["id"].as_str().unwrap().to_owned();
    let entra = json!({ "schemas": [PATCH], "Operations": [
        { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "hopper@example.com" },
        { "op": "Replace", "path": "active", "value": "False" },
        { "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Research" }
    ]});
    let (status, u) = scim.call(Method::PATCH, &format!("/Users/{id}"), Some(entra)).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["active"], false);
    assert_eq!(u["emails"][0]["value"], "hopper@example.com");
    assert_eq!(u[ENTERPRISE]["department"], "Research");
    let events = feed(&app, "acme", 1).await;
    assert_eq!(types(&events), ["user.deactivated"]);
    assert_eq!(events[0].2["profile"]["email"], "hopper@example.com");
    assert_eq!(events[0].2["profile"]["department"], "Research");
    let (status, g) = scim
        .call(
            Method::POST,
            "/Groups",
            Some(json!({ "schemas": [GROUP], "displayName": "Admirals", "members": [{ "value": id }] })),
        )
        .await;
    assert_eq!((status, g["members"][0]["value"].clone()), (201, json!(id)), "{g}");
    // Filters as Entra sends them, `eq` on a sub-attribute of an extension.
    let (_, page) = scim
        .call(
            Method::GET,
            "/Users?filter=urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Aextension%3Aenterprise%3A2.0%3AUser%3Adepartment%20eq%20%22research%22",
            None,
        )
        .await;
    assert_eq!(page["totalResults"], 1, "{page}");
    let (_, page) = scim
        .call(
            Method::GET,
            "/Users?filter=emails%5Btype%20eq%20%22work%22%20and%20value%20co%20%22hopper%22%5D",
            None,
        )
        .await;
    assert_eq!(page["totalResults"], 1, "{page}");
}
on_both_databases!(other_providers_quirks_works, super::other_providers_quirks);

/// Bad input is answered with the right SCIM error, and nothing is stored.
async fn bad_input_is_refused_and_nothing_stored(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let scim = Scim::on(&app, "acme").await;
    let raw = |method: Method, path: &str, ctype: &str, body: String| {
        scim.http
            .request(method, format!("{}{path}", scim.base))
            .bearer_auth(&scim.token)
            .header("content-type", ctype)
            .body(body)
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, Option<&str>, &str)> = vec![
        (
            raw(
                Method::POST,
                "/Users",
                "application/scim+json",
                "{\"userName\": ".into(),
            ),
            400,
            Some("invalidSyntax"),
            "not valid JSON",
        ),
        (
            raw(
                Method::POST,
                "/Users",
                "application/json",
                json!({ "schemas": ["urn:example:unknown"], "userName": "a" }).to_string(),
            ),
            400,
            Some("invalidValue"),
            "unknown schema",
        ),
        (
            raw(
                Method::POST,
                "/Users",
                "application/json",
                json!({ "schemas": [USER] }).to_string(),
            ),
            400,
            Some("invalidValue"),
            "userName is required",
        ),
        (
            raw(Method::POST, "/Users", "text/plain", "{}".into()),
            415,
            Some("invalidSyntax"),
            "Content-Type",
        ),
        (
            raw(
                Method::POST,
                "/Users",
                "application/scim+json",
                format!("{{\"userName\": \"{}\"}}", "x".repeat(2 * 1024 * 1024)),
            ),
            413,
            Some("tooLarge"),
            "larger than",
        ),
        (
            raw(
                Method::GET,
                "/Users?filter=userName%20eq",
                "application/json",
                String::new(),
            ),
            400,
            Some("invalidFilter"),
            "at character",
        ),
        (
            raw(
                Method::GET,
                "/Users?filter=title%20zz%20%22x%22",
                "application/json",
                String::new(),
            ),
            400,
            Some("invalidFilter"),
            "at character",
        ),
        (
            raw(Method::GET, "/Users?count=many", "application/json", String::new()),
            400,
            Some("invalidValue"),
            "count",
        ),
        (
            raw(Method::GET, "/Users/nobody", "application/json", String::new()),
            404,
            None,
            "no User",
        ),
        (
            raw(
                Method::PATCH,
                "/Users/nobody",
                "application/json",
                json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "value": { "active": false } }] })
                    .to_string(),
            ),
            404,
            None,
            "no User",
        ),
        (
            raw(
                Method::POST,
                "/Groups",
                "application/json",
                json!({ "schemas": [GROUP], "displayName": "g", "members": "everyone" }).to_string(),
            ),
            400,
            Some("invalidValue"),
            "members",
        ),
    ];
    for (req, status, scim_type, detail) in cases {
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status);
        assert_eq!(
            res.headers().get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/scim+json")
        );
        let err: Value = res.json().await.unwrap();
        assert_eq!(
            err["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{err}"
        );
        assert_eq!(err["status"], status.to_string(), "{err}");
        assert_eq!(err.get("scimType").and_then(Value::as_str), scim_type, "{err}");
        assert!(err["detail"].as_str().unwrap().contains(detail), "{detail}: {err}");
    }
    // A wrong token, a missing one: 401, recorded nowhere.
    let (_, before) = api(&app, Method::GET, "/api/accounts/acme/scim", None).await;
    for auth in [Some("Bearer scim_wrong"), None] {
        let mut req = scim.http.get(format!("{}/Users", scim.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["status"], "401", "{err}");
    }
    let (_, after) = api(&app, Method::GET, "/api/accounts/acme/scim", None).await;
    assert_eq!(before["lastRequest"], after["lastRequest"]);
    // Okta's "HTTP Header" authentication: the token as the whole header value.
    let res = scim
        .http
        .get(format!("{}/Users", scim.base))
        .header("authorization", &scim.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["totalResults"], 0, "nothing was stored: {page}");
    assert!(feed(&app, "acme", 0).await.is_empty());
}
on_both_databases!(
    bad_input_is_refused_and_nothing_stored_works,
    super::bad_input_is_refused_and_nothing_stored
);

/// The token: rotated with an overlap (both work), turned off (none works); SCIM refused for
/// an account connected another way.
async fn token_rotation_and_turning_off(db: TestDb) {
    let app = spawn_app(&db, AppOptions::default()).await;
    let mut scim = Scim::on(&app, "acme").await;
    let (status, again) = api(&app, Method::POST, "/api/accounts/acme/scim", None).await;
    assert_eq!(status, 409, "{again}");
    let (status, rotated) = api(
        &app,
        Method::POST,
        "/api/accounts/acme/scim/rotate",
        Some(json!({ "overlapSeconds": 600 })),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(new, scim.token);
    let (status, _) = scim.call(Method::GET, "/Users", None).await;
    assert_eq!(status, 200, "the old token works during the overlap");
    scim.token = new.clone();
    let (status, _) = scim.call(Method::GET, "/Users", None).await;
    assert_eq!(status, 200);
    let (_, state) = api(&app, Method::GET, "/api/accounts/acme/scim", None).await;
    assert!(state["previousTokenUntil"].is_string(), "{state}");
    // Only the tokens' hashes are stored.
    for file in db.files() {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&new), "{} holds the token", file.display());
    }
    assert!(state.get("token").is_none(), "the token is shown once: {state}");
    let (status, off) = api(&app, Method::DELETE, "/api/accounts/acme/scim", None).await;
    assert_eq!(status, 200, "{off}");
    let (status, _) = scim.call(Method::GET, "/Users", None).await;
    assert_eq!(status, 401);
    let (status, _) = api(&app, Method::GET, "/api/accounts/acme/scim", None).await;
    assert_eq!(status, 404);
    // An account connected by API token keeps its one source.
    crate::util::connect_by_api_token(&app, "pulled").await;
    let (status, err) = api(&app, Method::POST, "/api/accounts/pulled/scim", None).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("disconnect it first"),
        "{err}"
    );
}
on_both_databases!(
    token_rotation_and_turning_off_works,
    super::token_rotation_and_turning_off
);

/// Generated filters parse, print and parse back the same; on both databases their SQL selects
/// exactly the users the reference evaluation (`Filter::matches` on each kept resource)
/// selects.
async fn filters_select_what_the_reference_selects(db: TestDb) {
    use proptest::strategy::{Strategy, ValueTree};
    use scim_expr::Filter;

    let app = spawn_app(&db, AppOptions::default()).await;
    let scim = Scim::on(&app, "acme").await;
    for user in generated_users(48) {
        let (status, u) = scim.call(Method::POST, "/Users", Some(user)).await;
        assert_eq!(status, 201, "{u}");
    }
    let account = okta_bridge::model::AccountName::parse("acme").unwrap();
    let (total, all) = app.store.scim_users(&account, None, 0, 1000).await.unwrap();
    assert_eq!(total, 48);
    let kept: Vec<(String, Value)> = all
        .into_iter()
        .map(|u| (u.user.id, Value::Object(u.scim.unwrap())))
        .collect();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = filters::filter();
    let (mut selective, mut cases) = (0, 0);
    while cases < 400 {
        let f: Filter = strategy.new_tree(&mut runner).unwrap().current();
        let text = f.to_string();
        let parsed: Filter = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed, f, "{text}");
        let expected: Vec<&str> = kept
            .iter()
            .filter(|(_, r)| f.matches(r))
            .map(|(id, _)| id.as_str())
            .collect();
        let (n, got) = app
            .store
            .scim_users(&account, Some(&parsed), 0, 1000)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        let got: Vec<&str> = got.iter().map(|u| u.user.id.as_str()).collect();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort_unstable();
        assert_eq!(got, expected_sorted, "{text}");
        assert_eq!(n as usize, expected.len(), "{text}");
        if !expected.is_empty() && expected.len() < kept.len() {
            selective += 1;
        }
        cases += 1;
    }
    // The generated filters are not all trivial: most select some users and not others.
    assert!(selective > 100, "only {selective} of {cases} filters told users apart");
}
on_both_databases!(
    filters_select_what_the_reference_selects_works,
    super::filters_select_what_the_reference_selects
);

/// `n` users with every kind of value a filter meets: attributes missing, empty, null, in other
/// cases and beyond ASCII; lists of emails; numbers and booleans of an extension.
fn generated_users(n: usize) -> Vec<Value> {
    let names = ["Ada", "ada", "Grace", "Élodie", "élodie", "Zoë", "", "ADA LOVELACE"];
    let titles = [
        Value::Null,
        json!(""),
        json!("Engineer"),
        json!("engineer"),
        json!("Senior Engineer"),
        json!("Zz"),
    ];
    let departments = ["R&D", "r&d", "Sales", "Ventes É", ""];
    (0..n)
        .map(|i| {
            let mut u = json!({ "schemas": [USER], "userName": format!("{}{i}@Example.com", ["user", "ÉLODIE", "ada"][i % 3]) });
            if i % 5 != 4 {
                u["name"] = json!({ "givenName": names[i % names.len()], "familyName": names[(i / 2) % names.len()] });
            }
            if i % 7 != 0 {
                u["title"] = titles[i % titles.len()].clone();
            }
            let emails: Vec<Value> = (0..(i % 3))
                .map(|k| {
                    let domain = ["example.com", "Example.ORG"][k % 2];
                    let kind = ["work", "home", "Work"][(i + k) % 3];
                    json!({
                        "value": format!("{}{}@{domain}", names[(i + k) % names.len()], i),
                        "type": kind,
                        "primary": k == 0,
                    })
                })
                .collect();
            if !emails.is_empty() {
                u["emails"] = json!(emails);
            }
            if i % 4 == 1 {
                u["active"] = json!(false);
            }
            if i % 3 != 2 {
                u["externalId"] = json!(format!("00u{i:03}"));
            }
            let mut schemas = vec![json!(USER)];
            if i % 2 == 0 {
                u[ENTERPRISE] = json!({ "department": departments[i % departments.len()] });
                schemas.push(json!(ENTERPRISE));
            }
            if i % 3 != 1 {
                let custom = "urn:ietf:params:scim:schemas:extension:okta-bridge:2.0:User";
                let level = [1.0, 2.0, 2.5, 3.0, 10.0][i % 5];
                u[custom] = json!({ "level": level, "flag": i % 2 == 0 });
                schemas.push(json!(custom));
            }
            u["schemas"] = json!(schemas);
            u
        })
        .collect()
}

/// Filters over the attributes [`generated_users`] has (and some it has not), in any case.
mod filters {
    use proptest::prelude::*;
    use scim_expr::{AttrPath, CompValue, CompareOp, Filter};

    const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:okta-bridge:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn path(uri: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            uri: uri.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        }
    }

    fn top_path() -> impl Strategy<Value = AttrPath> + Clone {
        prop_oneof![
            Just(path(None, "userName", None)),
            Just(path(None, "USERNAME", None)),
            Just(path(
                Some("urn:ietf:params:scim:schemas:core:2.0:User"),
                "userName",
                None
            )),
            Just(path(None, "name", Some("givenName"))),
            Just(path(None, "Name", Some("FAMILYNAME"))),
            Just(path(None, "name", None)),
            Just(path(None, "title", None)),
            Just(path(None, "nickName", None)),
            Just(path(None, "emails", None)),
            Just(path(None, "emails", Some("value"))),
            Just(path(None, "EMAILS", Some("Type"))),
            Just(path(None, "emails", Some("primary"))),
            Just(path(None, "active", None)),
            Just(path(None, "externalId", None)),
            Just(path(None, "meta", Some("resourceType"))),
            Just(path(Some(ENTERPRISE), "department", None)),
            Just(path(Some(ENTERPRISE), "DEPARTMENT", None)),
            Just(path(Some(CUSTOM), "level", None)),
            Just(path(Some(CUSTOM), "flag", None)),
        ]
    }

    fn inner_path() -> impl Strategy<Value = AttrPath> + Clone {
        prop_oneof![
            Just(path(None, "type", None)),
            Just(path(None, "TYPE", None)),
            Just(path(None, "value", None)),
            Just(path(None, "primary", None)),
            Just(path(None, "display", None)),
        ]
    }

    fn op() -> impl Strategy<Value = CompareOp> {
        prop_oneof![
            Just(CompareOp::Eq),
            Just(CompareOp::Ne),
            Just(CompareOp::Co),
            Just(CompareOp::Sw),
            Just(CompareOp::Ew),
            Just(CompareOp::Gt),
            Just(CompareOp::Ge),
            Just(CompareOp::Lt),
            Just(CompareOp::Le),
        ]
    }

    fn value() -> impl Strategy<Value = CompValue> {
        let strings = [
            "ada",
            "ADA",
            "Ada",
            "engineer",
            "Eng",
            "er",
            "@example.com",
            "example.org",
            "élodie",
            "Élodie",
            "work",
            "WORK",
            "home",
            "",
            "user1",
            "ada0@example.com",
            "ADA3@EXAMPLE.COM",
            "00u001",
            "r&d",
            "R&D",
            "zz",
            "User",
            "E",
            "É",
        ];
        prop_oneof![
            4 => proptest::sample::select(strings.to_vec()).prop_map(|s| CompValue::String(s.to_owned())),
            1 => proptest::sample::select(vec![1.0, 2.0, 2.5, 3.0, 10.0])
                .prop_map(|n| CompValue::Number(serde_json::Number::from_f64(n).unwrap())),
            1 => any::<bool>().prop_map(CompValue::Bool),
            1 => Just(CompValue::Null),
        ]
    }

    fn leaf(p: impl Strategy<Value = AttrPath> + Clone) -> impl Strategy<Value = Filter> {
        prop_oneof![
            4 => (p.clone(), op(), value()).prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
            1 => p.prop_map(Filter::Present),
        ]
    }

    fn combined(inner: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    }

    pub(super) fn filter() -> impl Strategy<Value = Filter> {
        let inner = leaf(inner_path()).prop_recursive(2, 6, 2, |i| combined(i.boxed()));
        let value_path = (
            prop_oneof![Just(path(None, "emails", None)), Just(path(None, "name", None))],
            inner,
        )
            .prop_map(|(p, f)| Filter::ValuePath(p, Box::new(f)));
        prop_oneof![3 => leaf(top_path()), 1 => value_path].prop_recursive(3, 12, 2, |i| combined(i.boxed()))
    }
}

/// `okta-bridge scim enable|status|rotate|disable`: the token printed once beside the base
/// URL, working against a running server; rotated without overlap (the old one refused at
/// once); turned off; bad input refused with what to do.
#[tokio::test]
async fn scim_from_the_command_line() {
    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/accounts",
        Some(json!({ "name": "acme", "orgUrl": app.sandbox.url() })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let run = |args: &[&str]| {
        let mut c = crate::cli::okta_bridge();
        c.args(args)
            .args(["--database-url", &db.url])
            .env("OKTA_BRIDGE_PUBLIC_URL", "https://bridge.example.com")
            .env("OKTA_BRIDGE_MASTER_KEY", &*crate::util::TEST_KEY_B64);
        c
    };
    let out = run(&["scim", "enable", "acme"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let made: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(made["baseUrl"], "https://bridge.example.com/scim/v2/acme");
    let token = lines.next().unwrap().to_owned();
    let http = reqwest::Client::new();
    let users = format!("{}/scim/v2/acme/Users", app.url);
    let status_with = |t: String| {
        let (http, users) = (http.clone(), users.clone());
        async move { http.get(&users).bearer_auth(t).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status_with(token.clone()).await, 200);

    let out = run(&["scim", "status", "acme"]).output().await.unwrap();
    let state: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["lastRequest"]["status"], 200, "{state}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&token));

    let out = run(&["scim", "rotate", "acme", "--overlap-seconds", "0"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rotated = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    assert_ne!(rotated, token);
    assert_eq!(status_with(token).await, 401);
    assert_eq!(status_with(rotated.clone()).await, 200);

    let out = run(&["scim", "disable", "acme"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(status_with(rotated).await, 401);
    let out = run(&["scim", "status", "acme"]).output().await.unwrap();
    assert!(!out.status.success());
    let out = run(&["scim", "enable", "nobody"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no account named"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python of the pinned SCIM conformance checker (`sdk-tests/scim`; `.ci/run` installs it
/// and sets `OKTA_BRIDGE_SCIM_TESTER`).
fn scim_tester() -> Option<String> {
    match std::env::var("OKTA_BRIDGE_SCIM_TESTER") {
        Ok(p) => Some(p),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must set OKTA_BRIDGE_SCIM_TESTER (see .ci/run)")
        }
        Err(_) => {
            eprintln!(
                "OKTA_BRIDGE_SCIM_TESTER is not set: skipping the SCIM conformance check (bash .ci/run sets it up)"
            );
            None
        }
    }
}

/// An independent SCIM conformance checker (scim2-tester, pinned) reports no failure on
/// discovery, Users and Groups against a real server, on both databases.
async fn an_independent_checker_finds_no_failure(db: TestDb) {
    let Some(python) = scim_tester() else {
        return;
    };
    let app = spawn_app(&db, AppOptions::default()).await;
    let scim = Scim::on(&app, "acme").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk-tests/scim/conformance.py");
    let out = tokio::process::Command::new(python)
        .args([script, &scim.base, &scim.token])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the checker found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("checks, 0 failed"), "{stdout}");
}
on_both_databases!(
    an_independent_checker_finds_no_failure_works,
    super::an_independent_checker_finds_no_failure
);

/// Overload: with `--scim-max-in-flight 1`, a request arriving while another is served is
/// answered 429 with `Retry-After` (Okta waits and retries), as a SCIM error; once the first
/// ends, pushes are served again. The first is held in flight by withholding its body.
#[tokio::test]
async fn overload_is_answered_429_with_retry_after() {
    use tokio::io::AsyncWriteExt;
    let db = TestDb::sqlite();
    let app = spawn_app(
        &db,
        AppOptions {
            settings: Box::new(|s| s.scim_max_in_flight = 1),
            ..AppOptions::default()
        },
    )
    .await;
    let scim = Scim::on(&app, "acme").await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut held = tokio::net::TcpStream::connect(&addr).await.unwrap();
    held.write_all(
        format!(
            "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{{",
            scim.token
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // Each try is a real request: the first that finds the held one in flight is refused.
    let mut refused = None;
    for _ in 0..500 {
        let (status, headers, body) = scim.call_full(Method::GET, "/Users?count=1", None).await;
        if status == 429 {
            refused = Some((headers, body));
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    let (headers, body) = refused.expect("a request beyond the limit is refused");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(body["status"], "429", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Retry-After"), "{body}");
    // The held request ends (its client goes): pushes are served again, nothing was lost.
    drop(held);
    let mut served = false;
    for _ in 0..500 {
        let (status, body) = scim
            .call(Method::POST, "/Users", Some(okta_user("after@example.com", "After")))
            .await;
        if status == 201 {
            served = true;
            break;
        }
        assert_eq!(status, 429, "{body}");
    }
    assert!(served, "served again once the held request ended");
    let (status, list) = scim.call(Method::GET, "/Users", None).await;
    assert_eq!((status, list["totalResults"].clone()), (200, json!(1)), "{list}");
}
