//! Okta's API through a connection (`/api/connections/{name}/okta/api/v1/…`) and the API keys
//! that limit who may read and who may write through it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{AppOptions, TestApp, TestDb, api, set_faults, spawn_app};

/// A request with `key` as the bearer; status, headers and JSON (or text) body.
pub(crate) async fn call(
    app: &TestApp,
    key: &str,
    method: Method,
    path_or_url: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_owned()
    } else {
        format!("{}{path_or_url}", app.url)
    };
    let mut req = reqwest::Client::new().request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn next_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get_all("link").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        v.contains("rel=\"next\"")
            .then(|| v[v.find('<').unwrap() + 1..v.find('>').unwrap()].to_owned())
    })
}

/// An app with account `acme` connected to its sandbox by API token.
async fn connected_app(db: &TestDb) -> TestApp {
    let app = spawn_app(db, AppOptions::default()).await;
    crate::util::connect_by_api_token(&app, "acme").await;
    app
}

/// Makes a key with `scope` as the admin; its id and secret.
pub(crate) async fn key(app: &TestApp, name: &str, scope: &str) -> (String, String) {
    let (status, body) = api(
        app,
        Method::POST,
        "/api/api-keys",
        Some(json!({ "name": name, "scope": scope })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scope"], scope);
    let secret = body["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("okb_"), "{body}");
    (body["id"].as_str().unwrap().to_owned(), secret)
}

#[tokio::test]
async fn the_proxy_reads_pages_writes_and_passes_okta_errors_unchanged() {
    let db = TestDb::sqlite();
    let app = connected_app(&db).await;
    let (_, reader) = key(&app, "reader", "directory:read").await;
    let (_, writer) = key(&app, "writer", "connections:write").await;
    let base = "/api/connections/acme/okta";

    // Reads: every user, page by page, following Link headers that lead back through us.
    let mut ids = Vec::new();
    let mut next = Some(format!("{base}/api/v1/users?limit=30"));
    let mut pages = 0;
    while let Some(url) = next {
        let (status, headers, body) = call(&app, &reader, Method::GET, &url, None).await;
        assert_eq!(status, 200, "{body}");
        for h in ["x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"] {
            assert!(headers.contains_key(h), "{h} passed back");
        }
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        ids.extend(
            body.as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        next = next_of(&headers);
        if let Some(n) = &next {
            assert!(
                n.starts_with(&format!("{}{base}/api/v1/users?", app.url)),
                "the link points through okta-bridge: {n}"
            );
        }
        pages += 1;
    }
    assert_eq!(ids, app.sandbox.state().listed_user_ids());
    assert!(pages > 3, "{pages} pages");

    // Okta's errors come back as Okta sent them.
    let direct = crate::util::org_get(&app.sandbox, "/api/v1/users/00unope").await;
    let (status, headers, body) = call(
        &app,
        &reader,
        Method::GET,
        &format!("{base}/api/v1/users/00unope"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["errorCode"], "E0000007", "{body}");
    assert_eq!(body["errorSummary"], direct["errorSummary"]);
    assert!(headers.contains_key("x-okta-request-id"));

    // Only /api/v1/.
    for path in ["/oauth2/v1/keys", "/api/v2/users", "/.well-known/openid-configuration"] {
        let (status, _, body) = call(&app, &reader, Method::GET, &format!("{base}{path}"), None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains("/api/v1/"), "{body}");
    }

    // A read-only key cannot write: 403 saying which scope it needs, and nothing reaches Okta.
    let new_user = json!({ "profile": {
        "firstName": "Pat", "lastName": "Proxy", "email": "pat.proxy@example.com", "login": "pat.proxy@example.com"
    }});
    let before = app.sandbox.state().listed_user_ids().len();
    let (status, headers, body) = call(
        &app,
        &reader,
        Method::POST,
        &format!("{base}/api/v1/users?activate=true"),
        Some(new_user.clone()),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "insufficient_scope");
    assert!(
        body["message"].as_str().unwrap().contains("connections:write"),
        "{body}"
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(app.sandbox.state().listed_user_ids().len(), before);

    // A write key writes; Okta's answer comes back; the user is there.
    let (status, _, created) = call(
        &app,
        &writer,
        Method::POST,
        &format!("{base}/api/v1/users?activate=true"),
        Some(new_user.clone()),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        created["status"], "PROVISIONED",
        "activated without a password, as Okta does"
    );
    let (status, _, got) = call(&app, &reader, Method::GET, &format!("{base}/api/v1/users/{id}"), None).await;
    assert_eq!(
        (status.as_u16(), &got["profile"]["login"]),
        (200, &json!("pat.proxy@example.com"))
    );

    // Okta's refusal of a write, unchanged (the login is taken).
    let (status, _, body) = call(
        &app,
        &writer,
        Method::POST,
        &format!("{base}/api/v1/users"),
        Some(new_user.clone()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorCode"], "E0000001", "{body}");
    assert!(body["errorCauses"].is_array(), "{body}");

    // Idempotent reads are retried through a 5xx; a POST that may have reached Okta is not.
    set_faults(&app, json!([{ "route": "/api/v1/users", "errors": 1.0, "times": 1 }])).await;
    let (status, _, _) = call(
        &app,
        &reader,
        Method::GET,
        &format!("{base}/api/v1/users?limit=1"),
        None,
    )
    .await;
    assert_eq!(status, 200, "retried");
    set_faults(&app, json!([{ "route": "/api/v1/users", "errors": 1.0, "times": 1 }])).await;
    let other = json!({ "profile": {
        "firstName": "Sam", "lastName": "Once", "email": "sam.once@example.com", "login": "sam.once@example.com"
    }});
    let (status, _, _) = call(
        &app,
        &writer,
        Method::POST,
        &format!("{base}/api/v1/users"),
        Some(other),
    )
    .await;
    assert!(
        status.is_server_error(),
        "Okta's 5xx passed back, not retried: {status}"
    );
    set_faults(&app, json!([])).await;

    // Writes are in the audit log: who, what, Okta's status; never the body.
    let (status, audit) = api(&app, Method::GET, "/api/accounts/acme/audit", None).await;
    assert_eq!(status, 200, "{audit}");
    let writes: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["event"] == "okta_write")
        .collect();
    let details: Vec<&str> = writes.iter().map(|r| r["detail"].as_str().unwrap()).collect();
    assert_eq!(
        details[..2],
        ["POST /api/v1/users -> 200", "POST /api/v1/users -> 400"],
        "{audit}"
    );
    assert_eq!(writes.len(), 3, "{audit}");
    assert!(
        writes
            .iter()
            .all(|r| r["actor"].as_str().unwrap().starts_with("api key writer (ak_"))
    );
    assert!(!audit.to_string().contains("pat.proxy"), "no bodies in the audit log");

    // Unknown connections are ours to say.
    let (status, _, body) = call(
        &app,
        &reader,
        Method::GET,
        "/api/connections/nope/okta/api/v1/users",
        None,
    )
    .await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (404, Some("not_found")));
}

async fn keys_are_scoped_hashed_and_revocable(db: TestDb) {
    let app = connected_app(&db).await;
    let (reader_id, reader) = key(&app, "ci reader", "directory:read").await;
    let (_, writer) = key(&app, "deployer", "connections:write").await;
    let (admin_id, admin) = key(&app, "ops", "admin").await;

    // A name is unique among live keys.
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/api-keys",
        Some(json!({ "name": "ops", "scope": "admin" })),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains(&admin_id),
        "names the key to revoke: {body}"
    );
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/api-keys",
        Some(json!({ "name": "x", "scope": "everything" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("directory:read"), "{body}");

    // Each scope reaches what it covers, and no further.
    let cases: [(&str, Method, &str, [u16; 3]); 6] = [
        ("read", Method::GET, "/api/connections", [200, 200, 200]),
        ("read", Method::GET, "/api/connections/acme/sync", [200, 200, 200]),
        ("write", Method::POST, "/api/accounts/acme/setup-link", [403, 201, 201]),
        ("admin", Method::GET, "/api/webhooks", [403, 403, 200]),
        ("admin", Method::GET, "/api/api-keys", [403, 403, 200]),
        ("admin", Method::GET, "/api/accounts/acme/audit", [403, 403, 200]),
    ];
    for (what, method, path, expected) in cases {
        for (key, want) in [&reader, &writer, &admin].into_iter().zip(expected) {
            let (status, _, body) = call(&app, key, method.clone(), path, None).await;
            assert_eq!(status.as_u16(), want, "{what} {method} {path}: {body}");
            if want == 403 {
                assert_eq!(body["error"], "insufficient_scope", "{body}");
            }
        }
    }

    // The list shows keys and when they were used, never a key; the store keeps only hashes.
    let (status, list) = api(&app, Method::GET, "/api/api-keys", None).await;
    assert_eq!(status, 200);
    let text = list.to_string();
    for secret in [&reader, &writer, &admin] {
        assert!(!text.contains(secret.as_str()));
    }
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == reader_id.as_str())
        .unwrap();
    assert!(entry["lastUsedAt"].as_i64().is_some(), "{entry}");
    assert_eq!(entry["scope"], "directory:read");
    let store = db.open().await;
    let keys = store.api_keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    for file in db.files() {
        let bytes = std::fs::read(file).unwrap_or_default();
        let hay = String::from_utf8_lossy(&bytes);
        for secret in [&reader, &writer, &admin] {
            assert!(!hay.contains(&secret[4..]), "a key in plaintext in the database");
        }
    }

    // Revoked: refused at once, and the name is free again.
    let (status, body) = api(&app, Method::DELETE, &format!("/api/api-keys/{reader_id}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["revokedAt"].as_i64().is_some());
    let (status, _, body) = call(&app, &reader, Method::GET, "/api/connections", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = api(&app, Method::DELETE, &format!("/api/api-keys/{reader_id}"), None).await;
    assert_eq!(status, 404, "{body}");
    key(&app, "ci reader", "directory:read").await;
}

#[tokio::test]
async fn keys_are_scoped_hashed_and_revocable_on_sqlite() {
    keys_are_scoped_hashed_and_revocable(TestDb::sqlite()).await;
}

#[tokio::test]
async fn keys_are_scoped_hashed_and_revocable_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        keys_are_scoped_hashed_and_revocable(db).await;
    }
}

/// `okta-bridge api-keys`: a key made on the command line works against the server on the
/// same database at once, is listed without its secret, and stops working when revoked.
#[tokio::test]
async fn api_keys_from_the_command_line() {
    let db = TestDb::sqlite();
    let app = connected_app(&db).await;
    let run = |args: &[&str]| {
        let mut c = crate::cli::okta_bridge();
        c.args(args)
            .args(["--database-url", &db.url])
            .env("OKTA_BRIDGE_MASTER_KEY", &*crate::util::TEST_KEY_B64);
        c
    };
    let out = run(&["api-keys", "create", "billing", "--scope", "directory:read"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("okb_"), "{key}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Shown once"));

    let (status, _, body) = call(
        &app,
        &key,
        Method::GET,
        "/api/connections/acme/okta/api/v1/users?limit=1",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let out = run(&["api-keys", "list"]).output().await.unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("ID "), "{table}");
    let line = table.lines().find(|l| l.contains("billing")).unwrap();
    assert!(
        line.contains("directory:read") && line.contains("active") && !line.contains("never"),
        "{line}"
    );
    assert!(!table.contains(&key));

    let out = run(&["api-keys", "create", "x", "--scope", "root"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("connections:write"));

    let out = run(&["api-keys", "revoke", "billing"]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, _, _) = call(&app, &key, Method::GET, "/api/connections", None).await;
    assert_eq!(status, 401);
    let out = run(&["api-keys", "revoke", "billing"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("api-keys list"));
}

/// The connection `account` as `GET /api/connections` lists it.
async fn listed(app: &TestApp, account: &str) -> Value {
    let (status, list) = api(app, Method::GET, "/api/connections", None).await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["account"] == account)
        .cloned()
        .unwrap_or_else(|| panic!("{account} is listed: {list}"))
}

/// Issue 25, finding 1: Okta answers 401 E0000015 for a feature the org is not licensed for
/// (`/api/v1/authorizationServers` without API Access Management). Through the proxy, a
/// read-only key gets that answer as Okta sent it, and the connection — API token or OAuth —
/// stays connected: no mark, no forced refresh, every other caller still served.
async fn a_read_only_key_cannot_take_a_connection_out_of_service(db: TestDb) {
    let app = spawn_app(
        &db,
        AppOptions {
            // An org without API Access Management: no custom authorization servers.
            sandbox: Box::new(|c| c.authorization_servers.clear()),
            ..AppOptions::default()
        },
    )
    .await;
    // `acme` by API token, and the server-wide web app's OAuth connection.
    crate::util::connect_by_api_token(&app, "acme").await;
    let token = app.sandbox.config().api_token_value().to_owned();
    crate::util::connect(&app, &mut crate::util::Browser::new()).await;
    let oauth = format!("127-0-0-1-{}", app.sandbox.addr().port());
    let (_, reader) = key(&app, "reader", "directory:read").await;
    let client_id = app.sandbox.config().client_id.clone();
    let grants = app.sandbox.state().token_grants(&client_id);

    let direct = crate::util::org_get(&app.sandbox, "/api/v1/authorizationServers").await;
    assert_eq!(direct["errorCode"], "E0000015", "the org lacks the feature: {direct}");
    for account in ["acme", oauth.as_str()] {
        let base = format!("/api/connections/{account}/okta/api/v1");
        for _ in 0..3 {
            let (status, headers, body) = call(
                &app,
                &reader,
                Method::GET,
                &format!("{base}/authorizationServers"),
                None,
            )
            .await;
            assert_eq!(status, 401, "Okta's status, as Okta sent it: {body}");
            assert_eq!(body["errorCode"], "E0000015", "{body}");
            assert_eq!(body["errorSummary"], direct["errorSummary"], "{body}");
            assert!(headers.contains_key("x-okta-request-id"));
        }
        let conn = listed(&app, account).await;
        assert_eq!(conn["status"], "connected", "{account} stays in service: {conn}");
        let (status, _, users) = call(&app, &reader, Method::GET, &format!("{base}/users?limit=2"), None).await;
        assert_eq!(status, 200, "{account} still serves: {users}");
        let res = crate::util::api_get(&app, &format!("/api/connections/{account}/users?limit=1")).await;
        assert_eq!(res.status(), 200, "{account}: every other caller too");
    }
    assert_eq!(
        app.sandbox.state().token_grants(&client_id),
        grants,
        "no forced refresh of the OAuth connection"
    );

    // A token the org really refuses (E0000011) is confirmed by okta-bridge's own request:
    // the OAuth connection's revoked access token is replaced once, and the caller's request
    // answered with the fresh one.
    app.sandbox.state().revoke_all_access_tokens();
    let (status, _, users) = call(
        &app,
        &reader,
        Method::GET,
        &format!("/api/connections/{oauth}/okta/api/v1/users?limit=2"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert_eq!(app.sandbox.state().token_grants(&client_id), grants + 1, "one refresh");
    assert_eq!(listed(&app, &oauth).await["status"], "connected");

    // An API token Okta no longer takes: the probe is refused too, and the connection is
    // marked, saying what to do.
    let revoked = reqwest::Client::new()
        .delete(format!("{}/api/v1/api-tokens/current", app.sandbox.url()))
        .header("authorization", format!("SSWS {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let (status, _, body) = call(
        &app,
        &reader,
        Method::GET,
        "/api/connections/acme/okta/api/v1/authorizationServers",
        None,
    )
    .await;
    assert_eq!(
        (status.as_u16(), &body["errorCode"]),
        (401, &json!("E0000015")),
        "still Okta's answer: it says nothing about the token, so nothing is marked: {body}"
    );
    assert_eq!(listed(&app, "acme").await["status"], "connected");
    let (status, _, body) = call(
        &app,
        &reader,
        Method::GET,
        "/api/connections/acme/okta/api/v1/users",
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "reconnect_required", "{body}");
    assert_eq!(listed(&app, "acme").await["status"], "needs_reauth");
}
crate::flow::on_both_databases!(
    a_read_only_key_cannot_take_a_connection_out_of_service,
    super::a_read_only_key_cannot_take_a_connection_out_of_service
);

/// Issue 25, finding 3: a customer controls what its "org" answers. An org that sends `Link`
/// and `Location` URLs pointing at another server (or at its own pages outside the API) cannot
/// make an application that pages "as it would through Okta" send its okta-bridge key there:
/// such URLs are dropped, and the org's own API links point through okta-bridge.
#[tokio::test]
async fn links_and_locations_that_point_elsewhere_are_never_passed() {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;

    // Whoever the links lead to records what it was sent.
    let stolen: Arc<Mutex<Vec<String>>> = Arc::default();
    let thief = {
        let stolen = stolen.clone();
        axum::Router::new().fallback(move |headers: HeaderMap| {
            let stolen = stolen.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap_or_default().to_owned())
                    .unwrap_or_default();
                stolen.lock().unwrap().push(auth);
                "thanks"
            }
        })
    };
    let thief_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let thief_url = format!("http://{}", thief_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(thief_listener, thief).await });

    // The customer's "org": passes the API token check, then answers with foreign links.
    let org_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let org_url = format!("http://{}", org_listener.local_addr().unwrap());
    let user = json!({ "id": "00u1", "status": "ACTIVE", "profile": {
        "login": "eve@example.com", "email": "eve@example.com", "firstName": "Eve", "lastName": "Tenant"
    }});
    let org = {
        let (thief_url, org_url, user) = (thief_url.clone(), org_url.clone(), user.clone());
        axum::Router::new()
            .route(
                "/api/v1/users/me",
                axum::routing::get({
                    let user = user.clone();
                    move || async move { axum::Json(user) }
                }),
            )
            .route(
                "/api/v1/users",
                axum::routing::get({
                    let (thief_url, org_url, user) = (thief_url.clone(), org_url.clone(), user.clone());
                    move || async move {
                        let mut links = HeaderMap::new();
                        for link in [
                            format!("<{org_url}/api/v1/users>; rel=\"self\""),
                            format!("<{thief_url}/api/v1/users?after=00u1>; rel=\"next\""),
                            format!(
                                "<{org_url}/login/sso?after=00u1>; rel=\"prev\", <{org_url}/api/v1/users?after=00u0>; rel=\"first\""
                            ),
                        ] {
                            links.append("link", link.parse().unwrap());
                        }
                        (links, axum::Json(json!([user])))
                    }
                })
                .post({
                    let thief_url = thief_url.clone();
                    move || async move {
                        (
                            axum::http::StatusCode::CREATED,
                            [("location", format!("{thief_url}/api/v1/users/00u2"))],
                            axum::Json(json!({})),
                        )
                    }
                }),
            )
            .route(
                "/api/v1/groups",
                axum::routing::post({
                    let org_url = org_url.clone();
                    move || async move {
                        (
                            axum::http::StatusCode::CREATED,
                            [("location", format!("{org_url}/api/v1/groups/00g1"))],
                            axum::Json(json!({})),
                        )
                    }
                }),
            )
    };
    tokio::spawn(async move { axum::serve(org_listener, org).await });

    let db = TestDb::sqlite();
    let app = spawn_app(&db, AppOptions::default()).await;
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/accounts",
        Some(json!({ "name": "tenant", "orgUrl": org_url })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api(
        &app,
        Method::POST,
        "/api/accounts/tenant/connect",
        Some(json!({ "apiToken": "00anything" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, reader) = key(&app, "reader", "directory:read").await;
    let (_, writer) = key(&app, "writer", "connections:write").await;
    let through = format!("{}/api/connections/tenant/okta", app.url);

    let (status, headers, _) = call(&app, &reader, Method::GET, &format!("{through}/api/v1/users"), None).await;
    assert_eq!(status, 200);
    let links: Vec<String> = headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        links,
        [
            format!("<{through}/api/v1/users>; rel=\"self\""),
            format!("<{through}/api/v1/users?after=00u0>; rel=\"first\""),
        ],
        "the org's API links through okta-bridge; the foreign `next` and the org's non-API `prev` dropped"
    );
    assert!(next_of(&headers).is_none(), "so an application stops paging here");
    // An application that follows every link it was given stays with okta-bridge.
    for link in &links {
        let target = &link[1..link.find('>').unwrap()];
        assert!(target.starts_with(&through), "{target}");
        call(&app, &reader, Method::GET, target, None).await;
    }

    let (status, headers, _) = call(
        &app,
        &writer,
        Method::POST,
        &format!("{through}/api/v1/users"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    assert!(
        !headers.contains_key("location"),
        "a foreign Location is dropped: {headers:?}"
    );
    let (status, headers, _) = call(
        &app,
        &writer,
        Method::POST,
        &format!("{through}/api/v1/groups"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        headers["location"],
        format!("{through}/api/v1/groups/00g1").as_str(),
        "the org's own, through us"
    );

    assert!(
        stolen.lock().unwrap().is_empty(),
        "nothing reached the other server: {:?}",
        stolen.lock().unwrap()
    );
}
