//! A sweep driven by Okta's specs. Every read operation of the families the sandbox implements
//! is called, then a sequence of writes and of OAuth calls; every response, success or error, is
//! checked against that operation's entry in the spec (the status is documented, the body is
//! valid against that response's schema, the headers it documents are present) and against what
//! Okta sends on every response (`Date`, `X-Okta-Request-Id`, `X-Rate-Limit-*`, `Link` with
//! `rel="self"` on collections).

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::spec::{MANAGEMENT, OAUTH, Spec};
use crate::util::{REDIRECT, code_for, http, pkce, sandbox, ssws};

const FAMILIES: &[&str] = &["/api/v1/users", "/api/v1/groups", "/api/v1/apps", "/api/v1/logs"];

/// The read operations the sandbox implements. The sweep fails when one of them does not
/// answer 2xx, and when an operation missing here does, so the list stays true.
const IMPLEMENTED_READS: &[&str] = &[
    "/api/v1/users",
    "/api/v1/users/{id}",
    "/api/v1/users/{id}/groups",
    "/api/v1/groups",
    "/api/v1/groups/{groupId}",
    "/api/v1/groups/{groupId}/users",
    "/api/v1/apps",
    "/api/v1/apps/{appId}",
    "/api/v1/apps/{appId}/users",
    "/api/v1/apps/{appId}/users/{userId}",
    "/api/v1/apps/{appId}/groups",
    "/api/v1/logs",
];

/// Answers Okta gives that its spec does not document for the operation (`*`: any), each with
/// the reason the sandbox gives it anyway. Their bodies must still be Okta's `Error`.
const UNDOCUMENTED: &[(&str, &str, u16, &str)] = &[
    (
        "GET",
        "/api/v1/users",
        400,
        "a malformed `search`/`filter` is E0000031/E0000001, as Okta's users guide documents",
    ),
    (
        "*",
        "*",
        401,
        "a missing or invalid token is E0000011 on every operation, as Okta documents in its errors guide",
    ),
];

/// The rel="self"/"next" `Link` headers of a response.
fn link_rels(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split("rel=\"").nth(1))
        .map(|r| r.trim_end_matches('"').to_owned())
        .collect()
}

/// What Okta sends on every response.
fn common_headers(what: &str, headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    let mut errors = Vec::new();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    match text("date") {
        Some(d) if httpdate::parse_http_date(&d).is_ok() => {}
        other => errors.push(format!("{what}: Date header {other:?}")),
    }
    if text("x-okta-request-id").is_none_or(|id| id.is_empty()) {
        errors.push(format!("{what}: no X-Okta-Request-Id"));
    }
    let number = |name: &str| text(name).and_then(|v| v.parse::<i64>().ok());
    match (
        number("x-rate-limit-limit"),
        number("x-rate-limit-remaining"),
        number("x-rate-limit-reset"),
    ) {
        (Some(limit), Some(remaining), Some(reset))
            if remaining <= limit && reset > time::OffsetDateTime::now_utc().unix_timestamp() - 1 => {}
        other => errors.push(format!("{what}: X-Rate-Limit-* {other:?}")),
    }
    if !body.is_empty() && !text("content-type").is_some_and(|c| c.starts_with("application/json")) {
        errors.push(format!(
            "{what}: Content-Type {:?} for a JSON body",
            text("content-type")
        ));
    }
    errors
}

struct Sweep<'a> {
    spec: &'a Spec,
    errors: Vec<String>,
    checked: usize,
    /// The headers of the last response.
    last_headers: HeaderMap,
    /// The sandbox's base URL and the admin's `Authorization` value.
    base: String,
    auth: String,
}

impl Sweep<'_> {
    /// Sends one request, checks its response, and returns its status and JSON body.
    async fn call(
        &mut self,
        method: Method,
        template: &str,
        url: &str,
        auth: Option<&str>,
        body: Option<Req>,
    ) -> (u16, Value) {
        let mut req = http().request(method.clone(), url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req = match body {
            Some(Req::Json(b)) => req.json(&b),
            Some(Req::Form(f, basic)) => {
                let req = match basic {
                    Some((id, secret)) => req.basic_auth(id, Some(secret)),
                    None => req,
                };
                req.form(&f)
            }
            None => req,
        };
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let what = format!("{method} {template} -> {status}");
        self.checked += 1;
        self.last_headers = headers.clone();
        self.errors.extend(common_headers(&what, &headers, &bytes));
        let undocumented = !self.spec.documents(method.as_str(), template, status)
            && UNDOCUMENTED.iter().any(|(m, t, s, _)| {
                (*m == "*" || *m == method.as_str()) && (*t == "*" || *t == template) && *s == status
            });
        if undocumented {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let mut e = Vec::new();
            self.spec.validate_named("Error", &body, &mut e);
            self.errors.extend(e.into_iter().map(|e| format!("{what}: {e}")));
        } else {
            self.errors.extend(
                self.spec
                    .check_response(method.as_str(), template, status, &headers, &bytes),
            );
        }
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A call as the admin (SSWS) to `path` on the sandbox, expected to answer `want`; its body.
    async fn admin(&mut self, want: u16, method: Method, template: &str, path: &str, body: Option<Value>) -> Value {
        let (url, auth) = (format!("{}{path}", self.base), self.auth.clone());
        let what = format!("{method} {path}");
        let (status, body) = self
            .call(method, template, &url, Some(&auth), body.map(Req::Json))
            .await;
        self.expect(&what, status, want);
        body
    }

    fn expect(&mut self, what: &str, got: u16, want: u16) {
        if got != want {
            self.errors.push(format!("{what}: status {got}, expected {want}"));
        }
    }
}

enum Req {
    Json(Value),
    Form(Vec<(&'static str, String)>, Option<(String, String)>),
}

#[tokio::test]
async fn every_operation_answers_as_the_spec_documents() {
    let sb = sandbox(|c| {
        c.users = 40;
        c.groups = 4;
        c.apps = 2;
    })
    .await;
    let base = format!("http://{}", sb.addr());
    let admin = ssws(&sb);
    let mut sweep = Sweep {
        spec: &MANAGEMENT,
        errors: Vec::new(),
        checked: 0,
        last_headers: HeaderMap::new(),
        base: base.clone(),
        auth: admin.clone(),
    };

    // Sample ids: a group of the org, one of its members, an app.
    let (_, groups) = sweep
        .call(
            Method::GET,
            "/api/v1/groups",
            &format!("{base}/api/v1/groups"),
            Some(&admin),
            None,
        )
        .await;
    let group_id = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["type"] == "OKTA_GROUP")
        .expect("the org has groups")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, members) = sweep
        .call(
            Method::GET,
            "/api/v1/groups/{groupId}/users",
            &format!("{base}/api/v1/groups/{group_id}/users"),
            Some(&admin),
            None,
        )
        .await;
    let user_id = members[0]["id"].as_str().expect("the group has members").to_owned();
    let (_, apps) = sweep
        .call(
            Method::GET,
            "/api/v1/apps",
            &format!("{base}/api/v1/apps"),
            Some(&admin),
            None,
        )
        .await;
    let app_id = apps[0]["id"].as_str().unwrap().to_owned();
    let fill = |template: &str| {
        let mut path = String::new();
        for segment in template.split('/').filter(|s| !s.is_empty()) {
            path.push('/');
            path.push_str(match segment {
                "{id}" | "{userId}" | "{userIdOrLogin}" => &user_id,
                "{groupId}" => &group_id,
                "{appId}" => &app_id,
                s if s.starts_with('{') => "sample0",
                s => s,
            });
        }
        path
    };

    // The sample user assigned to the sample app directly, so that its assignment can be read.
    sweep
        .admin(
            200,
            Method::POST,
            "/api/v1/apps/{appId}/users",
            &format!("/api/v1/apps/{app_id}/users"),
            Some(json!({ "id": user_id, "scope": "USER", "credentials": { "userName": "sweep" } })),
        )
        .await;

    // Every read of the families.
    let mut implemented = 0;
    for (method, template) in MANAGEMENT.operations(FAMILIES) {
        if method != "GET" {
            continue;
        }
        let url = format!("{base}{}", fill(&template));
        let listed = IMPLEMENTED_READS.contains(&template.as_str());
        if listed {
            let (status, body) = sweep.call(Method::GET, &template, &url, Some(&admin), None).await;
            implemented += 1;
            sweep.expect(&format!("GET {template}"), status, 200);
            if body.is_array() && link_rels(&sweep.last_headers).first().is_none_or(|r| r != "self") {
                sweep.errors.push(format!(
                    "GET {template}: a collection without a Link rel=\"self\" first"
                ));
            }
        } else {
            // Not implemented: an Okta error, never a success that the list above does not know.
            let res = http().get(&url).header("authorization", &admin).send().await.unwrap();
            if res.status().is_success() {
                sweep.errors.push(format!(
                    "GET {template} answers {}: add it to IMPLEMENTED_READS",
                    res.status()
                ));
            }
        }
    }
    assert_eq!(implemented, IMPLEMENTED_READS.len(), "every listed read is in the spec");

    // Errors of reads.
    sweep
        .admin(404, Method::GET, "/api/v1/users/{id}", "/api/v1/users/00uNobody", None)
        .await;
    sweep
        .admin(
            400,
            Method::GET,
            "/api/v1/users",
            "/api/v1/users?search=profile.login%20eq",
            None,
        )
        .await;
    sweep
        .admin(
            404,
            Method::GET,
            "/api/v1/groups/{groupId}",
            "/api/v1/groups/00gNone",
            None,
        )
        .await;
    let (status, _) = sweep
        .call(
            Method::GET,
            "/api/v1/users",
            &format!("{base}/api/v1/users"),
            Some("SSWS wrong"),
            None,
        )
        .await;
    sweep.expect("wrong token", status, 401);

    // Writes, in the order a user's and a group's lives go.
    let profile =
        json!({ "firstName": "Sweep", "lastName": "Spec", "email": "sweep@example.com", "login": "sweep@example.com" });
    let password = json!({ "password": { "value": "Sandbox-Passw0rd" } });
    let new_user = json!({ "profile": profile, "credentials": password });
    let created = sweep
        .admin(
            200,
            Method::POST,
            "/api/v1/users",
            "/api/v1/users?activate=false",
            Some(new_user),
        )
        .await;
    let invalid = json!({ "profile": { "firstName": "No" } });
    sweep
        .admin(400, Method::POST, "/api/v1/users", "/api/v1/users", Some(invalid))
        .await;
    let user = format!("/api/v1/users/{}", created["id"].as_str().unwrap_or("missing"));
    let nick = json!({ "profile": { "nickName": "Sweepy" } });
    sweep
        .admin(200, Method::POST, "/api/v1/users/{id}", &user, Some(nick))
        .await;
    sweep
        .admin(
            200,
            Method::PUT,
            "/api/v1/users/{id}",
            &user,
            Some(json!({ "profile": profile })),
        )
        .await;
    for (op, want) in [
        ("activate", 200),
        ("activate", 403),
        ("suspend", 200),
        ("suspend", 400),
        ("unsuspend", 200),
        ("unlock", 403),
        ("expire_password", 200),
        ("reset_password", 200),
        ("deactivate", 200),
        ("reactivate", 403),
    ] {
        let template = format!("/api/v1/users/{{id}}/lifecycle/{op}");
        let path = format!("{user}/lifecycle/{op}?sendEmail=false");
        sweep.admin(want, Method::POST, &template, &path, None).await;
    }
    let new_group = json!({ "profile": { "name": "Sweepers", "description": "made by the sweep" } });
    let group = sweep
        .admin(200, Method::POST, "/api/v1/groups", "/api/v1/groups", Some(new_group))
        .await;
    let group = format!("/api/v1/groups/{}", group["id"].as_str().unwrap_or("missing"));
    let renamed = json!({ "profile": { "name": "Sweepers", "description": "renamed" } });
    sweep
        .admin(200, Method::PUT, "/api/v1/groups/{groupId}", &group, Some(renamed))
        .await;
    let member = format!("{group}/users/{user_id}");
    for method in [Method::PUT, Method::DELETE] {
        sweep
            .admin(204, method, "/api/v1/groups/{groupId}/users/{userId}", &member, None)
            .await;
    }
    sweep
        .admin(204, Method::DELETE, "/api/v1/groups/{groupId}", &group, None)
        .await;
    // Once the direct assignment is gone, the user may still be assigned through a group
    // (which only removing the group's assignment ends).
    let app_groups = sweep
        .admin(
            200,
            Method::GET,
            "/api/v1/apps/{appId}/groups",
            &format!("/api/v1/apps/{app_id}/groups"),
            None,
        )
        .await;
    let through_groups = app_groups.as_array().is_some_and(|g| !g.is_empty());
    let assignment = format!("/api/v1/apps/{app_id}/users/{user_id}");
    for want in [204, if through_groups { 403 } else { 404 }] {
        sweep
            .admin(
                want,
                Method::DELETE,
                "/api/v1/apps/{appId}/users/{userId}",
                &assignment,
                None,
            )
            .await;
    }
    sweep
        .admin(
            400,
            Method::POST,
            "/api/v1/apps/{appId}/users",
            &format!("/api/v1/apps/{app_id}/users"),
            Some(json!({ "scope": "USER" })),
        )
        .await;
    sweep
        .admin(204, Method::DELETE, "/api/v1/users/{id}", &user, None)
        .await;
    sweep.admin(404, Method::GET, "/api/v1/users/{id}", &user, None).await;

    // The OAuth 2.0 spec: discovery, keys, token, introspect, revoke (authorize answers a
    // browser with a page or a redirect, which the spec does not model).
    let mut oauth = Sweep {
        spec: &OAUTH,
        errors: Vec::new(),
        checked: 0,
        last_headers: HeaderMap::new(),
        base: base.clone(),
        auth: admin.clone(),
    };
    let (status, _) = oauth
        .call(
            Method::GET,
            "/.well-known/openid-configuration",
            &format!("{base}/.well-known/openid-configuration"),
            None,
            None,
        )
        .await;
    oauth.expect("org discovery", status, 200);
    for doc in ["oauth-authorization-server", "openid-configuration"] {
        let template = format!("/oauth2/{{authorizationServerId}}/.well-known/{doc}");
        for (server, want) in [("default", 200), ("ausNone", 404)] {
            let (status, _) = oauth
                .call(
                    Method::GET,
                    &template,
                    &format!("{base}/oauth2/{server}/.well-known/{doc}"),
                    None,
                    None,
                )
                .await;
            oauth.expect(&format!("{server} {doc}"), status, want);
        }
    }
    for (template, path) in [
        ("/oauth2/v1/keys", "/oauth2/v1/keys".to_owned()),
        (
            "/oauth2/{authorizationServerId}/v1/keys",
            "/oauth2/default/v1/keys".to_owned(),
        ),
    ] {
        let (status, _) = oauth
            .call(Method::GET, template, &format!("{base}{path}"), None, None)
            .await;
        oauth.expect(template, status, 200);
    }
    let c = sb.config().clone();
    let basic = Some((c.client_id.clone(), c.client_secret_value().to_owned()));
    let (verifier, challenge) = pkce();
    let code = code_for(&sb, &c.admin_login, "okta.users.read offline_access", Some(&challenge)).await;
    let token_url = format!("{base}/oauth2/v1/token");
    let form = |pairs: &[(&'static str, &str)]| pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect::<Vec<_>>();
    let (status, tokens) = oauth
        .call(
            Method::POST,
            "/oauth2/v1/token",
            &token_url,
            None,
            Some(Req::Form(
                form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &verifier),
                ]),
                basic.clone(),
            )),
        )
        .await;
    oauth.expect("code exchange", status, 200);
    let (status, _) = oauth
        .call(
            Method::POST,
            "/oauth2/v1/token",
            &token_url,
            None,
            Some(Req::Form(
                form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ]),
                basic.clone(),
            )),
        )
        .await;
    oauth.expect("replayed code", status, 400);
    let (status, _) = oauth
        .call(
            Method::POST,
            "/oauth2/v1/token",
            &token_url,
            None,
            Some(Req::Form(
                form(&[("grant_type", "refresh_token"), ("refresh_token", "x")]),
                Some((c.client_id.clone(), "wrong".to_owned())),
            )),
        )
        .await;
    oauth.expect("wrong client secret", status, 401);
    let access = tokens["access_token"].as_str().unwrap_or_default().to_owned();
    for (template, path) in [
        ("/oauth2/v1/introspect", "/oauth2/v1/introspect"),
        (
            "/oauth2/{authorizationServerId}/v1/introspect",
            "/oauth2/default/v1/introspect",
        ),
        ("/oauth2/v1/revoke", "/oauth2/v1/revoke"),
    ] {
        let (status, _) = oauth
            .call(
                Method::POST,
                template,
                &format!("{base}{path}"),
                None,
                Some(Req::Form(form(&[("token", &access)]), basic.clone())),
            )
            .await;
        oauth.expect(template, status, 200);
    }
    let (status, _) = oauth
        .call(
            Method::POST,
            "/oauth2/v1/introspect",
            &format!("{base}/oauth2/v1/introspect"),
            None,
            Some(Req::Form(form(&[("token", &access)]), None)),
        )
        .await;
    oauth.expect("introspect without client authentication", status, 401);

    let errors: Vec<String> = sweep.errors.into_iter().chain(oauth.errors).collect();
    assert!(
        errors.is_empty(),
        "{} problems in {} responses:\n  {}",
        errors.len(),
        sweep.checked + oauth.checked,
        errors.join("\n  ")
    );
    assert!(sweep.checked + oauth.checked > 40, "the sweep covered the operations");
}
