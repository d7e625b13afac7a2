//! HTML pages: connections, a connection's users, sign-in.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::api::PageParams;
use super::auth::{AdminPage, SESSION_COOKIE, SESSION_TTL_SECS, cookie, csrf_matches, session_csrf, token_matches};
use crate::connect::{hash, random_secret};
use crate::error::Error;

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// An HTML error page.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let mut res = render(&ErrorPage { title, message });
    *res.status_mut() = status;
    res
}

/// Formats unix seconds for people.
pub(crate) fn fmt_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

struct ConnectionRow {
    account: String,
    org_url: String,
    scopes: String,
    expires_at: String,
    updated_at: String,
    has_refresh_token: bool,
    status: &'static str,
    status_reason: String,
}

struct AccountRow {
    name: String,
    org_url: String,
    /// `web`, `service` or `token`.
    kind: &'static str,
    client_id: String,
    /// `connected`, `needs_reauth` or `not_connected`.
    status: &'static str,
    status_reason: String,
    /// How it is connected, for people.
    method: &'static str,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    accounts: Vec<AccountRow>,
    connections: Vec<ConnectionRow>,
    org: String,
    has_default_app: bool,
    csrf: String,
}

/// `GET /`.
pub(crate) async fn index(admin: AdminPage, State(state): State<Arc<AppState>>) -> Response {
    let connections = match state.store.connections().await {
        Ok(c) => c,
        Err(e) => return internal(&e),
    };
    let accounts = match state.accounts_with_connections().await {
        Ok(a) => a,
        Err(e) => return internal(&e),
    };
    let accounts = accounts
        .into_iter()
        .map(|(a, c)| AccountRow {
            name: a.name.to_string(),
            org_url: a.org_url.to_string(),
            kind: a.app.kind(),
            client_id: a.app.client_id().unwrap_or_default().to_owned(),
            status: crate::accounts::status_of(c.as_ref()).0,
            status_reason: crate::accounts::status_of(c.as_ref()).1.unwrap_or_default().to_owned(),
            method: match c.map(|c| c.method) {
                Some(crate::store::ConnectionMethod::ApiToken) => "API token",
                Some(crate::store::ConnectionMethod::ServiceApp) if a.dpop => "service app (DPoP)",
                Some(crate::store::ConnectionMethod::ServiceApp) => "service app",
                Some(_) => "Okta sign-in",
                None => "",
            },
        })
        .collect();
    let rows = connections
        .into_iter()
        .map(|c| ConnectionRow {
            account: c.account.to_string(),
            org_url: c.org_url.to_string(),
            scopes: c.scopes,
            expires_at: if c.expires_at == crate::store::NEVER {
                "never".to_owned()
            } else {
                fmt_time(c.expires_at)
            },
            updated_at: fmt_time(c.updated_at),
            has_refresh_token: c.refresh_token.is_some(),
            status: c.status.as_str(),
            status_reason: match &c.status {
                crate::store::ConnectionStatus::NeedsReauth(r) => r.clone(),
                _ => String::new(),
            },
        })
        .collect();
    let org = state
        .refresher
        .apps()
        .fallback()
        .map_or_else(|| "none configured".to_owned(), |o| o.org().to_string());
    render(&IndexPage {
        has_default_app: state.refresher.apps().fallback().is_some(),
        accounts,
        connections: rows,
        org,
        csrf: admin.csrf,
    })
}

struct UserRow {
    id: String,
    status: String,
    login: String,
    name: String,
    email: String,
    last_login: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    csrf: String,
    account: String,
    users: Vec<UserRow>,
    next: Option<String>,
}

/// `GET /connections/{account}/users`: one page of users, read live.
pub(crate) async fn users(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<PageParams>,
) -> Response {
    let (account, page) = match super::api::fetch_page(&state, &account, &p).await {
        Ok(v) => v,
        Err(e) => {
            let (status, message) = super::api::classify(&e);
            return error_page(status, "Could not read users", &message);
        }
    };
    let next = page.next_cursor().map(|c| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("after", &c)
            .finish();
        format!("/connections/{account}/users?{q}")
    });
    let users = page
        .items
        .into_iter()
        .map(|u| UserRow {
            name: [u.profile.first_name.as_deref(), u.profile.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            email: u.profile.email.clone().unwrap_or_default(),
            login: u.profile.login.clone(),
            status: u.status.to_string(),
            last_login: u.last_login.map(|t| fmt_time(t.unix_timestamp())).unwrap_or_default(),
            id: u.id,
        })
        .collect();
    render(&UsersPage {
        csrf: admin.csrf,
        account: account.to_string(),
        users,
        next,
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: Option<&'a str>,
    csrf: &'a str,
}

/// The cookie that carries the sign-in form's CSRF token (double submit: a page of another
/// site can neither read it nor set it).
const LOGIN_CSRF_COOKIE: &str = "okta_bridge_login_csrf";

fn login_csrf_cookie(state: &AppState, value: &str) -> HeaderValue {
    let secure = if state.secure_cookies() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LOGIN_CSRF_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    ))
    .expect("base64url cookie values are valid headers")
}

/// The sign-in page with a fresh CSRF token (and its cookie).
fn login_page(state: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    let csrf = random_secret();
    let mut res = render(&LoginPage { error, csrf: &csrf });
    *res.status_mut() = status;
    res.headers_mut()
        .append(header::SET_COOKIE, login_csrf_cookie(state, &csrf));
    res
}

/// `GET /login`.
pub(crate) async fn login_form(State(state): State<Arc<AppState>>) -> Response {
    login_page(&state, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.secure_cookies() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("base64url cookie values are valid headers")
}

/// `POST /login`: the admin token in exchange for a session cookie.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !csrf_matches(cookie(&headers, LOGIN_CSRF_COOKIE), &f.csrf) {
        return login_page(
            &state,
            Some("The sign-in form expired or did not come from this site: sign in again."),
            StatusCode::FORBIDDEN,
        );
    }
    if !token_matches(&state, f.token.trim()) {
        return login_page(&state, Some("That is not the admin token."), StatusCode::UNAUTHORIZED);
    }
    let id = random_secret();
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + SESSION_TTL_SECS;
    if let Err(e) = state.store.create_session(&hash(&id), expires).await {
        return internal(&e);
    }
    let mut res = Redirect::to("/").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&state, &id, SESSION_TTL_SECS));
    res
}

/// `POST /connections/{account}/disconnect` (CSRF token): revoke, forget, back to the list.
pub(crate) async fn disconnect(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_matches(Some(&admin.csrf), &f.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Not disconnected",
            "The form did not come from this site.",
        );
    }
    let result = match crate::domain::AccountName::parse(&account) {
        Ok(a) => state.disconnect(&a, false).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => {
            let (status, message) = super::api::classify(&e);
            error_page(status, "Could not disconnect", &message)
        }
    }
}

/// `POST /logout`.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_matches(session_csrf(&headers).as_deref(), &f.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Not signed out",
            "The form did not come from this site. Use the Sign out button of okta-bridge's own pages.",
        );
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state.store.delete_session(&hash(id)).await
    {
        return internal(&e);
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&state, "", 0));
    res
}

fn internal(e: &Error) -> Response {
    tracing::error!(error = %e, "request failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "See the server log for details.",
    )
}
