//! `/authorize`: the sign-in page, and codes for the browser's redirect.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use super::SIGN_IN_TTL;
use crate::state::SandboxState;
use crate::state::grants::{AuthRequest, AuthServer, CodeGrant};
use crate::util::{constant_time_eq, now, random_token};

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

/// Whether `presented` is the registered redirect URI `registered`: the same string, or, for
/// a loopback IP literal over http (`http://127.0.0.1/…`, `http://[::1]/…`), the same but for
/// the port, which a native app picks when it starts listening (RFC 8252, section 7.3).
pub(crate) fn redirect_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(r), Ok(p)) = (url::Url::parse(registered), url::Url::parse(presented)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && matches!(
                u.host(),
                Some(url::Host::Ipv4(ip)) if ip.is_loopback()
            )
            || u.scheme() == "http" && matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    };
    loopback(&r)
        && loopback(&p)
        && r.host() == p.host()
        && r.path() == p.path()
        && r.query() == p.query()
        && r.fragment().is_none()
        && p.fragment().is_none()
        && p.username().is_empty()
        && p.password().is_none()
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
        Some(r) if cfg.redirect_uris.iter().any(|u| redirect_matches(u, r)) => r.clone(),
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
        nonce: q.get("nonce").filter(|n| !n.is_empty()).cloned(),
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
        s.record(id, "user.session.start", &[], password_ok);
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
    let assigned = request.client_id != s.config.client_id || {
        let login = s
            .dir()
            .find(&user_id)
            .map(|u| u.profile.login.clone())
            .unwrap_or_default();
        s.web_app_assigned(&login)
    };
    if !assigned {
        s.grants.lock().expect("grants lock").pending.remove(&f.request_id);
        let Ok(mut url) = Url::parse(&request.redirect_uri) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The registered redirect URI is not a URL.",
            );
        };
        url.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "User is not assigned to the client application.")
            .append_pair("state", &request.state);
        return Redirect::to(url.as_str()).into_response();
    }
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
                nonce: request.nonce.clone(),
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

#[cfg(test)]
mod tests {
    use super::redirect_matches;

    #[test]
    fn loopback_redirects_take_any_port() {
        let registered = "http://127.0.0.1/oauth/okta_callback";
        assert!(redirect_matches(
            registered,
            "http://127.0.0.1:49152/oauth/okta_callback"
        ));
        assert!(redirect_matches(registered, registered));
        assert!(redirect_matches("http://[::1]/cb", "http://[::1]:8080/cb"));
        for other in [
            "http://127.0.0.1:49152/oauth/other",
            "http://localhost:49152/oauth/okta_callback",
            "https://127.0.0.1:49152/oauth/okta_callback",
            "http://127.0.0.2:49152/oauth/okta_callback",
            "http://127.0.0.1:49152/oauth/okta_callback?x=1",
            "http://user@127.0.0.1:49152/oauth/okta_callback",
        ] {
            assert!(!redirect_matches(registered, other), "{other}");
        }
        // Not loopback: exact only.
        assert!(!redirect_matches("http://app.example/cb", "http://app.example:8080/cb"));
    }
}
