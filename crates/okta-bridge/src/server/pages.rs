//! HTML pages: accounts and connections, a connection's users, webhook deliveries, sign-in and
//! sign-out.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::api::PageParams;
use super::auth::{
    AdminPage, SESSION_COOKIE, SESSION_TTL_SECS, cookie, csrf_matches, session_csrf, set_cookie, to_sign_in_at,
    token_binding, token_matches,
};
use super::error::{PageContext, PageError};
use super::views::{
    AccountRow, ConnectionRow, IndexPage, LoginPage, UserRow, UsersPage, WebhookView, WebhooksPage, WorkItemView,
    WorkKindView, WorkPage, error_page, fmt_seconds, fmt_time, render, sync_words, work_headline,
};
use crate::crypto::{hash, random_secret};
use crate::model::{AccountName, SessionGrant, now};

const SOMETHING_WENT_WRONG: &str = "Something went wrong";

/// `GET /`.
pub(crate) async fn index(admin: AdminPage, State(state): State<Arc<AppState>>) -> Result<Response, PageError> {
    let connections = state.store().connections().await.page(SOMETHING_WENT_WRONG)?;
    let accounts = state.service.accounts().await.page(SOMETHING_WENT_WRONG)?;
    let fallback = state.service.apps().fallback();
    let mut rows = Vec::with_capacity(connections.len());
    for c in connections {
        let account = c.account.clone();
        let mut row = ConnectionRow::new(c);
        let sync = state.service.sync_state(&account).await.page(SOMETHING_WENT_WRONG)?;
        row.sync = sync_words(&sync, state.service.sync_policy().interval);
        rows.push(row);
    }
    Ok(render(&IndexPage {
        has_default_app: fallback.is_some(),
        accounts: accounts.iter().map(|(a, c)| AccountRow::new(a, c.as_ref())).collect(),
        connections: rows,
        org: fallback.map_or_else(|| "none configured".to_owned(), |o| o.org().to_string()),
        csrf: admin.csrf,
    }))
}

/// `GET /webhooks`: each endpoint, where each connection's stream stands, and its newest 20
/// attempts (status, latency, the start of the answer).
pub(crate) async fn webhooks(admin: AdminPage, State(state): State<Arc<AppState>>) -> Result<Response, PageError> {
    let mut hooks = Vec::new();
    for h in state.service.webhooks().await.page(SOMETHING_WENT_WRONG)? {
        let streams = state.store().webhook_streams(&h.id).await.page(SOMETHING_WENT_WRONG)?;
        let attempts = state
            .store()
            .webhook_attempts(&h.id, 20)
            .await
            .page(SOMETHING_WENT_WRONG)?;
        hooks.push(WebhookView::new(&h, streams, attempts));
    }
    Ok(render(&WebhooksPage {
        csrf: admin.csrf,
        hooks,
    }))
}

/// How many late syncs, failed syncs and open circuits the work page lists.
const WORK_LIST: i64 = 10;

/// `GET /work`: background work at a glance: keeping up or what is late, what runs longest
/// here, the syncs waiting longest and whose last run failed, the endpoints whose circuit is
/// open.
pub(crate) async fn work(admin: AdminPage, State(state): State<Arc<AppState>>) -> Result<Response, PageError> {
    let t = now();
    let backlog = super::ops::work_backlog(&state).await;
    let stats = state.service.work_stats();
    let mut kinds = Vec::new();
    let mut longest = Vec::new();
    for s in &stats {
        let counted = backlog.iter().find(|(k, _)| *k == s.kind).map(|(_, b)| *b);
        kinds.push(WorkKindView::of(s, counted, t));
        longest.extend(s.longest.iter().map(|(item, ran)| WorkItemView {
            kind: s.kind.to_owned(),
            item: item.clone(),
            when: format!(
                "running for {}",
                fmt_seconds(i64::try_from(ran.as_secs()).unwrap_or(i64::MAX))
            ),
            detail: String::new(),
        }));
    }
    let late_syncs = match state.service.sync_policy().interval {
        Some(interval) => state
            .store()
            .late_syncs(i64::try_from(interval.as_secs()).unwrap_or(i64::MAX), WORK_LIST)
            .await
            .page(SOMETHING_WENT_WRONG)?
            .into_iter()
            .map(|(account, due)| WorkItemView {
                kind: "scheduled_sync".to_owned(),
                item: account,
                when: format!("due since {}", fmt_time(due)),
                detail: format!("waiting {}", fmt_seconds(t - due)),
            })
            .collect(),
        None => Vec::new(),
    };
    let failed_syncs = state
        .store()
        .failed_syncs(WORK_LIST)
        .await
        .page(SOMETHING_WENT_WRONG)?
        .into_iter()
        .map(|(account, at, error)| WorkItemView {
            kind: "sync".to_owned(),
            item: account,
            when: at.map(fmt_time).unwrap_or_default(),
            detail: error,
        })
        .collect();
    let circuits = state
        .store()
        .open_circuit_list()
        .await
        .page(SOMETHING_WENT_WRONG)?
        .into_iter()
        .map(|(id, url, failures, until)| WorkItemView {
            kind: "webhook_endpoint".to_owned(),
            item: format!("{url} ({id})"),
            when: format!("tried again at {}", fmt_time(until)),
            detail: format!("{failures} attempts failed in a row"),
        })
        .collect();
    let (keeping_up, headline) = work_headline(&kinds);
    Ok(render(&WorkPage {
        csrf: admin.csrf,
        headline,
        keeping_up,
        kinds,
        longest,
        late_syncs,
        failed_syncs,
        circuits,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct UsersPageParams {
    after: Option<String>,
    /// `directory`: the synced copy (every status, no request to Okta); otherwise live.
    source: Option<String>,
    /// With the synced copy: a prefix of the login, email or names.
    q: Option<String>,
}

/// `GET /connections/{account}/users`: one page of users, read live from Okta
/// (`?source=directory` goes to the synced directory's page).
pub(crate) async fn users(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<UsersPageParams>,
) -> Result<Response, PageError> {
    const TITLE: &str = "Could not read users";
    // The synced copy has its own pages now (search, filters, a user's groups and events).
    if p.source.as_deref() == Some("directory") {
        let account = AccountName::parse(&account).page(TITLE)?;
        let mut to = format!("/connections/{account}/directory");
        if let Some(q) = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            to.push('?');
            to.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("q", q)
                    .finish(),
            );
        }
        return Ok(Redirect::to(&to).into_response());
    }
    let live = PageParams {
        limit: None,
        after: p.after,
    };
    let (account, page) = super::api::fetch_page(&state, &account, &live).await.page(TITLE)?;
    let next = page.next_cursor().map(|c| {
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("after", &c)
            .finish();
        format!("/connections/{account}/users?{q}")
    });
    Ok(render(&UsersPage {
        csrf: admin.csrf,
        account: account.to_string(),
        users: page.items.into_iter().map(UserRow::new).collect(),
        next,
    }))
}

/// The cookie that carries the sign-in form's CSRF token (double submit: a page of another
/// site can neither read it nor set it).
const LOGIN_CSRF_COOKIE: &str = "okta_bridge_login_csrf";

/// The sign-in page with a fresh CSRF token (and its cookie).
fn login_page(state: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    let csrf = random_secret();
    let provider = state
        .console
        .as_ref()
        .map(|c| c.issuer().host_str().unwrap_or("your identity provider").to_owned());
    let mut res = render(&LoginPage {
        error,
        csrf: &csrf,
        provider,
    });
    *res.status_mut() = status;
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, "/login", "Strict", 3600),
    );
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

/// `POST /login`: the admin token in exchange for a session cookie.
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, PageError> {
    if !csrf_matches(cookie(&state, &headers, LOGIN_CSRF_COOKIE), &f.csrf) {
        return Ok(login_page(
            &state,
            Some("The sign-in form expired or did not come from this site: sign in again."),
            StatusCode::FORBIDDEN,
        ));
    }
    if !token_matches(&state, f.token.trim()) {
        return Ok(login_page(
            &state,
            Some("That is not the admin token."),
            StatusCode::UNAUTHORIZED,
        ));
    }
    new_session(&state, &SessionGrant::AdminToken).await
}

/// A new session for the browser, remembering how it was granted: the cookie, and off to the
/// console.
async fn new_session(state: &AppState, grant: &SessionGrant) -> Result<Response, PageError> {
    let id = random_secret();
    let expires = now() + i64::try_from(SESSION_TTL_SECS).unwrap_or(i64::MAX / 2);
    state
        .store()
        .create_granted_session(&hash(&id), &token_binding(state, &id), expires, grant)
        .await
        .page(SOMETHING_WENT_WRONG)?;
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, &id, "/", "Lax", SESSION_TTL_SECS),
    );
    Ok(res)
}

/// Where the console's OpenID provider sends the browser back.
fn oidc_redirect_uri(state: &AppState) -> String {
    format!("{}/login/oidc/callback", state.base())
}

/// `POST /login/oidc` (the sign-in form's CSRF token): off to the OpenID provider.
pub(crate) async fn login_oidc(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let Some(console) = &state.console else {
        return Ok(login_page(
            &state,
            Some("Signing in with an identity provider is not configured here: use the admin token."),
            StatusCode::NOT_FOUND,
        ));
    };
    if !csrf_matches(cookie(&state, &headers, LOGIN_CSRF_COOKIE), &f.csrf) {
        return Ok(login_page(
            &state,
            Some("The sign-in form expired or did not come from this site: sign in again."),
            StatusCode::FORBIDDEN,
        ));
    }
    let started = console
        .start(state.store(), &oidc_redirect_uri(&state))
        .await
        .page("Could not sign in")?;
    Ok(to_sign_in_at(&state, &started, "/login"))
}

/// `GET /login/oidc/callback`: the provider's answer; a session for someone on the lists.
pub(crate) async fn login_oidc_callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<crate::oauth::CallbackParams>,
) -> Result<Response, PageError> {
    let Some(console) = &state.console else {
        return Ok(login_page(&state, None, StatusCode::NOT_FOUND));
    };
    let binding = params
        .state
        .as_deref()
        .and_then(|s| cookie(&state, &headers, &crate::oauth::binding_cookie_name(s)));
    match console
        .finish(state.store(), &params, binding, &oidc_redirect_uri(&state))
        .await
    {
        Ok(who) => {
            tracing::info!(subject = %who.subject, email = ?who.email, "console sign-in with OpenID Connect");
            let grant = SessionGrant::Oidc {
                subject: who.subject,
                email: who.email,
                groups: who.groups,
            };
            new_session(&state, &grant).await
        }
        Err(e) => {
            let (mut status, _, message) = super::error::classify(&e);
            // A callback this browser did not start, or a sign-in the provider refused: the
            // request's fault, not a gateway's.
            if let crate::error::Error::OAuth {
                kind: crate::error::OAuthFailure::Refused,
                ..
            } = &e
            {
                status = StatusCode::BAD_REQUEST;
            }
            tracing::warn!(error = %e, "a console sign-in with OpenID Connect was refused");
            Ok(login_page(&state, Some(&message), status))
        }
    }
}

/// `POST /connections/{account}/disconnect` (CSRF token): revoke, forget, back to the list.
pub(crate) async fn disconnect(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    const TITLE: &str = "Could not disconnect";
    if !csrf_matches(Some(&admin.csrf), &f.csrf) {
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "Not disconnected",
            "The form did not come from this site.",
        ));
    }
    let account = AccountName::parse(&account).page(TITLE)?;
    state.service.disconnect(&account, false).await.page(TITLE)?;
    Ok(Redirect::to("/").into_response())
}

/// `POST /connections/{account}/sync` (CSRF token): syncs now (what changed since the last
/// run), back to the list, which shows the result.
pub(crate) async fn sync_now(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    const TITLE: &str = "Could not sync";
    if !csrf_matches(Some(&admin.csrf), &f.csrf) {
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "Not synced",
            "The form did not come from this site.",
        ));
    }
    let account = AccountName::parse(&account).page(TITLE)?;
    state.service.sync(&account, false).await.page(TITLE)?;
    // Back to the connection's health, which shows what the run did.
    Ok(Redirect::to(&format!("/connections/{account}")).into_response())
}

/// `POST /logout`.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    if !csrf_matches(session_csrf(&state, &headers).as_deref(), &f.csrf) {
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "Not signed out",
            "The form did not come from this site. Use the Sign out button of okta-bridge's own pages.",
        ));
    }
    if let Some(id) = cookie(&state, &headers, SESSION_COOKIE) {
        state
            .store()
            .delete_session(&hash(id))
            .await
            .page(SOMETHING_WENT_WRONG)?;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", "/", "Lax", 0),
    );
    Ok(res)
}
