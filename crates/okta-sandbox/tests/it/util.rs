//! Helpers: a sandbox, an HTTP client that follows no redirect, and the sign-in dance.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use okta_sandbox::{Sandbox, SandboxConfig};
use reqwest::header::LOCATION;
use sha2::{Digest, Sha256};

pub const REDIRECT: &str = "http://127.0.0.1:3000/oauth/okta_callback";

pub async fn sandbox(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut c = SandboxConfig {
        users: 50,
        redirect_uris: vec![REDIRECT.to_owned()],
        ..SandboxConfig::default()
    };
    f(&mut c);
    Sandbox::spawn(c).await.expect("sandbox starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn query_of(location: &str) -> HashMap<String, String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = "a".repeat(20) + &"b".repeat(30);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// GET the org authorization server's /authorize with `params` (client_id and redirect_uri
/// added unless given).
pub async fn authorize(sb: &Sandbox, params: &[(&str, &str)]) -> reqwest::Response {
    authorize_at(sb, "/oauth2/v1", params).await
}

/// GET `{server}/authorize` (`server` is `/oauth2/v1` or `/oauth2/default/v1`).
pub async fn authorize_at(sb: &Sandbox, server: &str, params: &[(&str, &str)]) -> reqwest::Response {
    let mut q: Vec<(&str, &str)> = vec![("client_id", &sb.config().client_id), ("redirect_uri", REDIRECT)];
    q.retain(|(k, _)| !params.iter().any(|(p, _)| p == k));
    q.extend_from_slice(params);
    http()
        .get(format!("{}{server}/authorize", sb.url()))
        .query(&q)
        .send()
        .await
        .unwrap()
}

/// Signs in as `login` on a fresh authorize request; returns the code.
pub async fn code_for(sb: &Sandbox, login: &str, scope: &str, challenge: Option<&str>) -> String {
    code_at(sb, "/oauth2/v1", login, scope, challenge).await
}

/// [`code_for`] at the authorization server under `server`.
pub async fn code_at(sb: &Sandbox, server: &str, login: &str, scope: &str, challenge: Option<&str>) -> String {
    let mut params = vec![("response_type", "code"), ("scope", scope), ("state", "st-1")];
    if let Some(c) = challenge {
        params.push(("code_challenge", c));
        params.push(("code_challenge_method", "S256"));
    }
    let page = authorize_at(sb, server, &params).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = http()
        .post(format!("{}/login/signin", sb.url()))
        .form(&[
            ("request_id", request_id.as_str()),
            ("username", login),
            ("password", sb.config().user_password_value()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "sign-in redirects");
    let q = query_of(res.headers()[LOCATION].to_str().unwrap());
    assert_eq!(q["state"], "st-1");
    q["code"].clone()
}

/// POST /token with client_secret_basic.
pub async fn token(sb: &Sandbox, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{}/oauth2/v1/token", sb.url()))
        .basic_auth(&sb.config().client_id, Some(sb.config().client_secret_value()))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A full sign-in as `login` with `scope`: the token response.
pub async fn tokens_for(sb: &Sandbox, login: &str, scope: &str) -> serde_json::Value {
    let (verifier, challenge) = pkce();
    let code = code_for(sb, login, scope, Some(&challenge)).await;
    let res = token(
        sb,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// A client for `sb`: trusting its CA when it serves https.
pub fn http_for(sb: &Sandbox) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = sb.ca_pem() {
        builder = builder.tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// The URL of `path` on `sb`'s listener (https when it serves https).
pub fn on_listener(sb: &Sandbox, path: &str) -> String {
    let scheme = if sb.ca_pem().is_some() { "https" } else { "http" };
    format!("{scheme}://{}{path}", sb.addr())
}

/// GET an API path with an `Authorization` header value.
pub async fn api(sb: &Sandbox, path: &str, auth: &str) -> reqwest::Response {
    http_for(sb)
        .get(on_listener(sb, path))
        .header("authorization", auth)
        .send()
        .await
        .unwrap()
}

pub fn ssws(sb: &Sandbox) -> String {
    format!("SSWS {}", sb.config().api_token_value())
}

/// The login of an active user who is not an admin.
pub fn ordinary_user(sb: &Sandbox) -> String {
    sb.state()
        .listed_user_ids()
        .iter()
        .filter_map(|id| sb.state().user_json(id))
        .find(|u| u["status"] == "ACTIVE" && u["profile"]["login"] != sb.config().admin_login.as_str())
        .map(|u| u["profile"]["login"].as_str().unwrap().to_owned())
        .expect("an ordinary active user")
}

/// A request with a method, path (on the listener) and optional JSON body, as the admin.
pub async fn send(
    sb: &Sandbox,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut req = http_for(sb)
        .request(method, on_listener(sb, path))
        .header("authorization", ssws(sb));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}
