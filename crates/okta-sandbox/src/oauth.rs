//! The org authorization server: `/oauth2/v1/*` and its discovery document.
//!
//! Grants live in memory ([`Grants`]). Codes are single-use and short-lived; refresh tokens are
//! issued only when `offline_access` was granted and rotate per the app's setting.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use url::Url;

use crate::config::RefreshTokenRotation;
use crate::error::OAuthError;
use crate::server::SandboxState;
use crate::util::{constant_time_eq, now, random_token};

/// Scopes the org authorization server knows.
pub(crate) const SUPPORTED_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
    "okta.users.read",
    "okta.users.manage",
    "okta.groups.read",
    "okta.groups.manage",
    "okta.apps.read",
    "okta.apps.manage",
    "okta.logs.read",
];

/// How long a sign-in page stays usable.
const SIGN_IN_TTL: time::Duration = time::Duration::minutes(10);

/// Which authorization server a request is for: the org's (`/oauth2/v1/*`) or a custom one
/// (`/oauth2/{id}/v1/*`, by its index in [`SandboxConfig::authorization_servers`]). Taken from
/// the request's path.
///
/// [`SandboxConfig::authorization_servers`]: crate::SandboxConfig::authorization_servers
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthServer {
    Org,
    Custom(usize),
}

impl AuthServer {
    fn custom(self, s: &SandboxState) -> Option<&crate::config::AuthorizationServer> {
        match self {
            AuthServer::Org => None,
            AuthServer::Custom(i) => s.config.authorization_servers.get(i),
        }
    }
    /// The `iss` of its tokens and discovery document.
    pub fn issuer(self, s: &SandboxState) -> String {
        match self.custom(s) {
            None => s.base.clone(),
            Some(a) => format!("{}/oauth2/{}", s.base, a.id),
        }
    }
    /// The `aud` of its access tokens.
    pub fn audience(self, s: &SandboxState) -> String {
        match self.custom(s) {
            None => s.base.clone(),
            Some(a) => a.audience.clone(),
        }
    }
    /// Where its endpoints live.
    fn endpoints(self, s: &SandboxState) -> String {
        match self.custom(s) {
            None => format!("{}/oauth2/v1", s.base),
            Some(a) => format!("{}/oauth2/{}/v1", s.base, a.id),
        }
    }
    fn token_url(self, s: &SandboxState) -> String {
        format!("{}/token", self.endpoints(s))
    }
    fn scopes(self, s: &SandboxState) -> Vec<&str> {
        match self.custom(s) {
            None => SUPPORTED_SCOPES.to_vec(),
            Some(a) => a.supported_scopes().collect(),
        }
    }
}

impl axum::extract::FromRequestParts<Arc<SandboxState>> for AuthServer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &Arc<SandboxState>,
    ) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path();
        if path.starts_with("/oauth2/v1/") || path.starts_with("/.well-known/") {
            return Ok(AuthServer::Org);
        }
        let id = path
            .strip_prefix("/oauth2/")
            .and_then(|p| p.split('/').next())
            .unwrap_or_default();
        match s.config.authorization_servers.iter().position(|a| a.id == id) {
            Some(i) => Ok(AuthServer::Custom(i)),
            None => Err(crate::error::ApiError::not_found(id, "AuthorizationServer").into_response()),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AuthRequest {
    server: AuthServer,
    client_id: String,
    redirect_uri: String,
    state: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
    expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    server: AuthServer,
    client_id: String,
    redirect_uri: String,
    user_id: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
    expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    server: AuthServer,
    client_id: String,
    user_id: String,
    scopes: Vec<String>,
    issued_at: OffsetDateTime,
}

/// Everything the authorization server has handed out.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    pending: HashMap<String, AuthRequest>,
    codes: HashMap<String, CodeGrant>,
    refresh: HashMap<String, RefreshGrant>,
    /// Rotated-out refresh tokens: their successor and when they were rotated. They keep
    /// working during the app's leeway, as Okta's do, handing out the successor.
    rotated: HashMap<String, (String, OffsetDateTime)>,
    revoked_access: HashSet<String>,
    /// `jti`s of the access tokens issued (kept to revoke them all at once).
    issued_access: Vec<String>,
    /// `jti`s of client assertions already used (an assertion works once).
    used_assertions: HashMap<String, i64>,
    /// Token grants per client id, for tests that count refreshes.
    pub token_grants: HashMap<String, u64>,
}

impl Grants {
    fn prune(&mut self, now: OffsetDateTime) {
        self.pending.retain(|_, r| r.expires_at > now);
        self.codes.retain(|_, c| c.expires_at > now);
    }
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked_access.contains(jti)
    }
    pub fn live_refresh_tokens(&self) -> usize {
        self.refresh.len()
    }
    /// Revokes every access token issued so far.
    pub fn revoke_all_access(&mut self) {
        let issued = std::mem::take(&mut self.issued_access);
        self.revoked_access.extend(issued);
    }
}

/// Claims of an access token of the org authorization server (Okta's shape).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub ver: u32,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub cid: String,
    /// The signed-in user; absent for a service app's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub scp: Vec<String>,
    pub auth_time: i64,
    pub sub: String,
    /// DPoP binding: the thumbprint of the key proofs must be signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim of a DPoP-bound token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Confirmation {
    pub jkt: String,
}

pub(crate) async fn discovery(State(s): State<Arc<SandboxState>>, server: AuthServer) -> impl IntoResponse {
    let e = server.endpoints(&s);
    Json(json!({
        "issuer": server.issuer(&s),
        "authorization_endpoint": format!("{e}/authorize"),
        "token_endpoint": format!("{e}/token"),
        "jwks_uri": format!("{e}/keys"),
        "revocation_endpoint": format!("{e}/revoke"),
        "introspection_endpoint": format!("{e}/introspect"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "scopes_supported": server.scopes(&s),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "request_parameter_supported": false,
    }))
}

pub(crate) async fn keys(State(s): State<Arc<SandboxState>>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "max-age=3600, must-revalidate")],
        Json(s.keys.jwks()),
    )
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    client_id: &'a str,
    request_id: &'a str,
    action: &'a str,
    username: &'a str,
    scopes: String,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    error: &'a str,
    description: &'a str,
}

fn error_page(status: StatusCode, error: &str, description: &str) -> Response {
    let body = ErrorPage { error, description }
        .render()
        .unwrap_or_else(|_| description.to_owned());
    (status, Html(body)).into_response()
}

fn redirect_error(redirect_uri: &str, error: &str, description: &str, state: Option<&str>) -> Response {
    let mut url = match Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, error, description),
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error)
            .append_pair("error_description", description);
        if let Some(state) = state {
            q.append_pair("state", state);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

/// `GET /oauth2/v1/authorize`: validates the request, then shows the sign-in page.
pub(crate) async fn authorize(
    State(s): State<Arc<SandboxState>>,
    server: AuthServer,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let cfg = &s.config;
    // Errors about the client or the redirect URI are shown, never redirected (RFC 6749 §4.1.2.1).
    match q.get("client_id") {
        Some(id) if id == &cfg.client_id => {}
        Some(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "The client_id is not registered with this org.",
            );
        }
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The 'client_id' parameter is required.",
            );
        }
    }
    let redirect_uri = match q.get("redirect_uri") {
        Some(r) if cfg.redirect_uris.iter().any(|u| u == r) => r.clone(),
        Some(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings.",
            );
        }
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The 'redirect_uri' parameter is required.",
            );
        }
    };
    let state = q.get("state").filter(|s| !s.is_empty());
    let fail =
        |error: &str, description: &str| redirect_error(&redirect_uri, error, description, state.map(String::as_str));
    match q.get("response_type").map(String::as_str) {
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "The response type is not supported by the authorization server. Configured response types: [code].",
            );
        }
        None => return fail("invalid_request", "The 'response_type' parameter is required."),
    }
    let Some(state) = state else {
        return fail("invalid_request", "The 'state' parameter is required.");
    };
    let scopes: Vec<String> = match q.get("scope") {
        Some(scope) if !scope.trim().is_empty() => scope.split_whitespace().map(str::to_owned).collect(),
        _ => return fail("invalid_request", "The 'scope' parameter is required."),
    };
    let supported = server.scopes(&s);
    if let Some(bad) = scopes.iter().find(|sc| !supported.contains(&sc.as_str())) {
        return fail(
            "invalid_scope",
            &format!("One or more scopes are not configured for the authorization server resource: {bad}."),
        );
    }
    let code_challenge = match (
        q.get("code_challenge"),
        q.get("code_challenge_method").map(String::as_str),
    ) {
        (None, None) => None,
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => Some(c.clone()),
        (Some(_), Some("S256")) => {
            return fail(
                "invalid_request",
                "The 'code_challenge' must be between 43 and 128 characters.",
            );
        }
        (Some(_), None) | (Some(_), Some(_)) => {
            return fail(
                "invalid_request",
                "The 'code_challenge_method' parameter must be 'S256'.",
            );
        }
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "The 'code_challenge' parameter is required with 'code_challenge_method'.",
            );
        }
    };
    let request_id = random_token(32);
    let request = AuthRequest {
        server,
        client_id: cfg.client_id.clone(),
        redirect_uri,
        state: state.clone(),
        scopes,
        code_challenge,
        expires_at: now() + SIGN_IN_TTL,
    };
    let page = sign_in_page(&s, &request_id, &request, "", None);
    {
        let mut g = s.grants.lock().expect("grants lock");
        g.prune(now());
        g.pending.insert(request_id, request);
    }
    page
}

fn sign_in_page(s: &SandboxState, request_id: &str, r: &AuthRequest, username: &str, error: Option<&str>) -> Response {
    let action = format!("{}/login/signin", s.base);
    let page = SignInPage {
        client_id: &r.client_id,
        request_id,
        action: &action,
        username,
        scopes: r.scopes.join(" "),
        error,
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string()),
    }
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    request_id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /login/signin`: the sign-in form. A correct password sends the browser back to the
/// app with a code; a wrong one shows the page again with an error.
pub(crate) async fn sign_in(State(s): State<Arc<SandboxState>>, Form(f): Form<SignInForm>) -> Response {
    let request = {
        let g = s.grants.lock().expect("grants lock");
        g.pending.get(&f.request_id).filter(|r| r.expires_at > now()).cloned()
    };
    let Some(request) = request else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in page has expired or was already used. Go back to the application and start again.",
        );
    };
    // A user's own password when set through the API, the org-wide one otherwise.
    let (user_id, password_ok) = {
        let dir = s.dir();
        let user = dir.find(f.username.trim());
        let expected = user
            .and_then(|u| u.password.as_ref())
            .unwrap_or(&s.config.user_password);
        let ok = constant_time_eq(f.password.as_bytes(), expected.expose_secret().as_bytes());
        (user.filter(|u| u.is_active()).map(|u| u.id.clone()), ok)
    };
    if let Some(id) = &user_id {
        s.record(id, "user.session.start", None, password_ok);
    }
    let Some(user_id) = user_id.filter(|_| password_ok) else {
        return sign_in_page(
            &s,
            &f.request_id,
            &request,
            &f.username,
            Some("Unable to sign in: the username or password is wrong."),
        );
    };
    let code = random_token(43);
    {
        let mut g = s.grants.lock().expect("grants lock");
        if g.pending.remove(&f.request_id).is_none() {
            drop(g);
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This sign-in page was already used. Go back to the application and start again.",
            );
        }
        g.codes.insert(
            code.clone(),
            CodeGrant {
                server: request.server,
                client_id: request.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                user_id,
                scopes: request.scopes.clone(),
                code_challenge: request.code_challenge.clone(),
                expires_at: now() + time::Duration::try_from(s.config.code_ttl).unwrap_or(time::Duration::minutes(5)),
            },
        );
    }
    let mut url = match Url::parse(&request.redirect_uri) {
        Ok(u) => u,
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The registered redirect URI is not a URL.",
            );
        }
    };
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &request.state);
    Redirect::to(url.as_str()).into_response()
}

/// Authenticates the client of a token, revoke or introspect request by
/// `client_secret_basic` or `client_secret_post`.
fn authenticate_client(
    s: &SandboxState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let (id, secret) = match (basic, form.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Cannot supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a client_assertion in the post body.",
            ));
        }
        (Some(b), None) => {
            let decoded = STANDARD.decode(b.trim()).map_err(|_| OAuthError::invalid_client())?;
            let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            let dec = |v: &str| {
                url::form_urlencoded::parse(format!("v={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (dec(id), dec(secret))
        }
        (None, Some(secret)) => (form.get("client_id").cloned().unwrap_or_default(), secret.clone()),
        (None, None) => return Err(OAuthError::invalid_client()),
    };
    let ok_id = constant_time_eq(id.as_bytes(), s.config.client_id.as_bytes());
    let ok_secret = constant_time_eq(secret.as_bytes(), s.config.client_secret.expose_secret().as_bytes());
    if ok_id && ok_secret {
        Ok(())
    } else {
        Err(OAuthError::invalid_client())
    }
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let digest = Sha256::digest(verifier.as_bytes());
    constant_time_eq(URL_SAFE_NO_PAD.encode(digest).as_bytes(), challenge.as_bytes())
}

/// `POST /oauth2/v1/token`.
pub(crate) async fn token(
    State(s): State<Arc<SandboxState>>,
    server: AuthServer,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    if (form.contains_key("client_assertion") || form.contains_key("client_assertion_type"))
        && server == AuthServer::Org
    {
        return client_credentials(&s, &headers, &form);
    }
    authenticate_client(&s, &headers, &form)?;
    // Before the code or refresh token is looked at: a nonce round trip must not consume it.
    let cnf = match dpop_binding(&s, &headers, &server.token_url(&s), s.config.web_app_require_dpop) {
        Ok(cnf) => cnf,
        Err(DpopRefusal::Nonce(res)) => return Ok(*res),
        Err(DpopRefusal::Error(e)) => return Err(e),
    };
    let client_id = s.config.client_id.clone();
    let (user_id, scopes, refresh) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form
                .get("code")
                .ok_or_else(|| OAuthError::invalid_request("The 'code' parameter is required."))?;
            // Removing the code first makes it single-use even when the rest fails.
            let grant = s.grants.lock().expect("grants lock").codes.remove(code);
            let grant = grant
                .filter(|g| g.expires_at > now() && g.client_id == client_id && g.server == server)
                .ok_or_else(|| OAuthError::invalid_grant("The authorization code is invalid or has expired."))?;
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return Err(OAuthError::invalid_grant(
                    "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
                ));
            }
            if let Some(challenge) = &grant.code_challenge {
                let verifier = form.get("code_verifier").ok_or_else(|| {
                    OAuthError::invalid_grant("PKCE verification failed: the 'code_verifier' parameter is required.")
                })?;
                if !pkce_matches(verifier, challenge) {
                    return Err(OAuthError::invalid_grant("PKCE verification failed."));
                }
            }
            let refresh = grant.scopes.iter().any(|s| s == "offline_access").then(|| {
                let rt = random_token(43);
                let g = RefreshGrant {
                    server,
                    client_id: client_id.clone(),
                    user_id: grant.user_id.clone(),
                    scopes: grant.scopes.clone(),
                    issued_at: now(),
                };
                s.grants.lock().expect("grants lock").refresh.insert(rt.clone(), g);
                rt
            });
            (grant.user_id, grant.scopes, refresh)
        }
        Some("refresh_token") => {
            let rt = form
                .get("refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("The 'refresh_token' parameter is required."))?;
            let mut g = s.grants.lock().expect("grants lock");
            // A token rotated out less than the leeway ago still works: it yields the successor.
            let leeway = time::Duration::try_from(s.config.refresh_token_leeway).unwrap_or_default();
            let (rt, within_leeway) = match g.rotated.get(rt) {
                Some((successor, at)) if now() - *at <= leeway && g.refresh.contains_key(successor) => {
                    (successor.clone(), true)
                }
                _ => (rt.clone(), false),
            };
            let rt = &rt;
            let grant = g
                .refresh
                .get(rt)
                .filter(|g| g.client_id == client_id && g.server == server)
                .cloned()
                .ok_or_else(|| OAuthError::invalid_grant("The refresh token is invalid or expired."))?;
            let scopes = match form.get("scope") {
                Some(req) => {
                    let req: Vec<String> = req.split_whitespace().map(str::to_owned).collect();
                    if req.iter().any(|r| !grant.scopes.contains(r)) {
                        return Err(OAuthError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            "The requested scope is invalid, unknown, or malformed.",
                        ));
                    }
                    req
                }
                None => grant.scopes.clone(),
            };
            let next = match s.config.refresh_token_rotation {
                RefreshTokenRotation::Static => rt.clone(),
                RefreshTokenRotation::Rotate if within_leeway => rt.clone(),
                RefreshTokenRotation::Rotate => {
                    g.refresh.remove(rt);
                    let new = random_token(43);
                    g.refresh.insert(
                        new.clone(),
                        RefreshGrant {
                            issued_at: now(),
                            ..grant.clone()
                        },
                    );
                    g.rotated.retain(|_, (_, at)| now() - *at <= time::Duration::minutes(1));
                    g.rotated.insert(rt.clone(), (new.clone(), now()));
                    new
                }
            };
            (grant.user_id, scopes, Some(next))
        }
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("The authorization grant type is not supported by the authorization server: '{other}'."),
            ));
        }
        None => return Err(OAuthError::invalid_request("The 'grant_type' parameter is required.")),
    };
    let login = s
        .dir()
        .find(&user_id)
        .filter(|u| u.is_active())
        .map(|u| u.profile.login.clone())
        .ok_or_else(|| OAuthError::invalid_grant("The user is no longer active."))?;
    let issued = now();
    let ttl = s.config.access_token_ttl.as_secs() as i64;
    let claims = AccessClaims {
        ver: 1,
        jti: format!("AT.{}", random_token(43)),
        iss: server.issuer(&s),
        aud: server.audience(&s),
        iat: issued.unix_timestamp(),
        exp: issued.unix_timestamp() + ttl,
        cid: client_id.clone(),
        uid: Some(user_id.clone()),
        scp: scopes.clone(),
        auth_time: issued.unix_timestamp(),
        sub: login,
        cnf: cnf.clone(),
    };
    let access_token = s.keys.sign(&claims);
    let client_id_for_log = client_id.clone();
    {
        let mut g = s.grants.lock().expect("grants lock");
        g.issued_access.push(claims.jti.clone());
        *g.token_grants.entry(client_id).or_default() += 1;
    }
    let app = crate::syslog::Target {
        id: &client_id_for_log,
        kind: "AppInstance",
        alternate_id: None,
        display_name: Some("okta-sandbox web app"),
    };
    s.record(&user_id, "app.oauth2.as.token.grant.access_token", Some(app), true);
    let mut body = json!({
        "token_type": if cnf.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": ttl,
        "access_token": access_token,
        "scope": scopes.join(" "),
    });
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// `POST /oauth2/v1/revoke`: always 200 for a token the server does not know (RFC 7009).
pub(crate) async fn revoke(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    authenticate_client(&s, &headers, &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The 'token' parameter is required."))?;
    let mut g = s.grants.lock().expect("grants lock");
    g.rotated
        .retain(|old, (successor, _)| old != token && successor != token);
    if g.refresh.remove(token).is_none()
        && let Some(claims) = s.keys.verify_signature::<AccessClaims>(token)
    {
        g.revoked_access.insert(claims.jti);
    }
    Ok(StatusCode::OK.into_response())
}

/// `POST /oauth2/v1/introspect`.
pub(crate) async fn introspect(
    State(s): State<Arc<SandboxState>>,
    server: AuthServer,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    authenticate_client(&s, &headers, &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The 'token' parameter is required."))?;
    let g = s.grants.lock().expect("grants lock");
    if let Some(r) = g.refresh.get(token).filter(|r| r.server == server) {
        let login = s.dir().find(&r.user_id).map(|u| u.profile.login.clone());
        return Ok(Json(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": r.scopes.join(" "),
            "client_id": r.client_id,
            "username": login,
            "sub": login,
            "uid": r.user_id,
            "iat": r.issued_at.unix_timestamp(),
            "iss": server.issuer(&s),
        }))
        .into_response());
    }
    let claims = s
        .keys
        .verify::<AccessClaims>(token, &server.issuer(&s), &server.audience(&s))
        .filter(|c| !g.is_revoked(&c.jti));
    let body = match claims {
        Some(c) => json!({
            "active": true,
            "token_type": if c.cnf.is_some() { "DPoP" } else { "Bearer" },
            "scope": c.scp.join(" "),
            "client_id": c.cid,
            "username": c.sub,
            "sub": c.sub,
            "uid": c.uid,
            "exp": c.exp,
            "iat": c.iat,
            "aud": c.aud,
            "iss": c.iss,
            "jti": c.jti,
        }),
        None => json!({ "active": false }),
    };
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        // RFC 7636 appendix B.
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches("wrong", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    jti: Option<String>,
    exp: i64,
    iat: Option<i64>,
}

/// Authenticates a service app by its `private_key_jwt` client assertion: signed by a key of
/// its JWKS, `iss` = `sub` = client id, `aud` = this token endpoint, unexpired (at most an hour
/// long), and a `jti` never seen before.
fn authenticate_assertion<'a>(
    s: &'a SandboxState,
    form: &HashMap<String, String>,
) -> Result<&'a crate::config::ServiceApp, OAuthError> {
    let invalid = |why: &str| OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", why.to_owned());
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err(invalid(
            "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        ));
    }
    let assertion = form
        .get("client_assertion")
        .ok_or_else(|| invalid("The client_assertion is required."))?;
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid("The client_assertion is not a JWT."))?;
    let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| invalid("The client_assertion lacks iss, sub or exp."))?;
    let app = s
        .config
        .service_apps
        .iter()
        .find(|a| a.client_id == unverified.iss)
        .ok_or_else(|| invalid("The client_assertion's issuer is not a registered client."))?;
    if form.get("client_id").is_some_and(|id| id != &app.client_id) {
        return Err(invalid("The client_id does not match the client_assertion's issuer."));
    }
    let jwk = match &header.kid {
        Some(kid) => app.jwks.find(kid),
        None if app.jwks.keys.len() == 1 => app.jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| invalid("The client_assertion was signed with a key that is not registered for the client."))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
        .map_err(|_| invalid("The registered key cannot verify signatures."))?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[format!("{}/oauth2/v1/token", s.base)]);
    v.set_issuer(&[app.client_id.as_str()]);
    v.leeway = 0;
    let claims: AssertionClaims = jsonwebtoken::decode(assertion, &key, &v)
        .map_err(|e| invalid(&format!("The client_assertion is not valid: {e}.")))?
        .claims;
    if claims.sub != app.client_id {
        return Err(invalid("The client_assertion's sub must be the client id."));
    }
    if claims.exp - claims.iat.unwrap_or_else(|| now().unix_timestamp()) > 3600 {
        return Err(invalid("The client_assertion may be valid for at most one hour."));
    }
    let jti = claims.jti.ok_or_else(|| invalid("The client_assertion needs a jti."))?;
    let mut g = s.grants.lock().expect("grants lock");
    let now_ts = now().unix_timestamp();
    g.used_assertions.retain(|_, exp| *exp >= now_ts);
    if g.used_assertions.insert(jti, claims.exp).is_some() {
        return Err(invalid("The client_assertion token has already been used (jti)."));
    }
    Ok(app)
}

/// Why a token request's DPoP proof was not accepted.
enum DpopRefusal {
    /// `use_dpop_nonce`: not an error to report but an answer to retry with the nonce.
    Nonce(Box<Response>),
    Error(OAuthError),
}

/// DPoP on a token request of an app that requires it: a valid proof binds the token to the
/// proof's key (`cnf.jkt`); a missing nonce is answered with `use_dpop_nonce` and a
/// `DPoP-Nonce` header, before anything is consumed, so the client can retry the same request.
/// An app that does not require DPoP gets Bearer tokens and its proofs are ignored, as Okta
/// does (Okta's Node.js SDK sends a proof on every token request and relies on that).
fn dpop_binding(
    s: &SandboxState,
    headers: &HeaderMap,
    token_url: &str,
    required: bool,
) -> Result<Option<Confirmation>, DpopRefusal> {
    if !required {
        return Ok(None);
    }
    let Some(proof) = headers.get("dpop").and_then(|v| v.to_str().ok()) else {
        return Err(DpopRefusal::Error(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            "The DPoP proof JWT header is missing.",
        )));
    };
    let mut d = s.dpop.lock().expect("dpop lock");
    match crate::dpop::verify(&mut d, proof, "POST", token_url, true, None) {
        Ok(p) => Ok(Some(Confirmation { jkt: p.jkt })),
        Err(crate::dpop::ProofError::Nonce) => {
            let nonce = d.nonce();
            let mut res = (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "use_dpop_nonce", "error_description": "Authorization server requires nonce in DPoP proof." })),
            )
                .into_response();
            res.headers_mut()
                .insert("dpop-nonce", HeaderValue::from_str(&nonce).expect("base62 nonce"));
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Err(DpopRefusal::Nonce(Box::new(res)))
        }
        Err(crate::dpop::ProofError::Invalid(why)) => Err(DpopRefusal::Error(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            why,
        ))),
    }
}

/// `grant_type=client_credentials` for a service app: an access token with the granted
/// `okta.*` scopes asked for, no refresh token.
fn client_credentials(
    s: &SandboxState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let app = authenticate_assertion(s, form)?;
    let cnf = match dpop_binding(s, headers, &AuthServer::Org.token_url(s), app.require_dpop) {
        Ok(cnf) => cnf,
        Err(DpopRefusal::Nonce(res)) => return Ok(*res),
        Err(DpopRefusal::Error(e)) => return Err(e),
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Service apps use the client_credentials grant.",
        ));
    }
    let scopes: Vec<String> = form
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    if scopes.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The 'scope' parameter is required.",
        ));
    }
    let missing: Vec<&str> = scopes
        .iter()
        .filter(|sc| !app.scopes.contains(sc))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "The following scopes are not granted to the client: {}.",
                missing.join(" ")
            ),
        ));
    }
    let issued = now();
    let ttl = s.config.access_token_ttl.as_secs() as i64;
    let claims = AccessClaims {
        ver: 1,
        jti: format!("AT.{}", random_token(43)),
        iss: s.base.clone(),
        aud: s.base.clone(),
        iat: issued.unix_timestamp(),
        exp: issued.unix_timestamp() + ttl,
        cid: app.client_id.clone(),
        uid: None,
        scp: scopes.clone(),
        auth_time: issued.unix_timestamp(),
        sub: app.client_id.clone(),
        cnf: cnf.clone(),
    };
    let access_token = s.keys.sign(&claims);
    {
        let mut g = s.grants.lock().expect("grants lock");
        g.issued_access.push(claims.jti.clone());
        *g.token_grants.entry(app.client_id.clone()).or_default() += 1;
    }
    let mut res = Json(json!({
        "token_type": if cnf.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": ttl,
        "access_token": access_token,
        "scope": scopes.join(" "),
    }))
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
