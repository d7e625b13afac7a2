//! Setup links: the admin API that makes, lists and revokes them, and the pages the customer's
//! Okta admin goes through (`/setup/{token}` → Start → `/setup` → `/setup/done`), with no
//! okta-bridge admin token: the link's token, then the session cookie of the browser that opened
//! it, is the credential, and its forms carry a CSRF token derived from that session.

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::accounts::json_body;
use super::auth::{Admin, Writer, cookie, csrf_matches, set_cookie, to_sign_in};
use super::error::classify;
use super::extract::{Path, Query};
use super::openapi::{AuditView, ErrorBody, NewSetupLinkBody, SetupLinkView};
use super::views::{error_page, render};
use crate::crypto::hash;
use crate::error::{Error, Result};
use crate::model::{
    AccountName, ApiToken, ClientSecret, Role, RoleMapping, RoleMappings, ScopeBody, SetupLink, SetupMethod, now,
    secret_opt,
};
use crate::service::{OrgGroup, SetupHealth, SetupInput, SetupOutcome, SetupSteps, explain};
use crate::store::SetupLinkBy;

/// The cookie of the browser that opened a setup link.
pub(crate) const SETUP_COOKIE: &str = "okta_bridge_setup";

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewLinkBody {
    /// Seconds.
    expires_in: Option<u64>,
    scopes: Option<String>,
    choose_scope: Option<bool>,
    map_roles: Option<bool>,
    manage: Option<bool>,
}

fn link_json(state: &AppState, l: &SetupLink) -> Value {
    json!({
        "id": l.id,
        "account": l.account,
        "state": l.state(now()),
        "scopes": l.scopes.to_string(),
        "createdAt": l.created_at,
        "expiresAt": l.expires_at,
        "openedAt": l.opened_at,
        "connectedAt": l.connected_at,
        "revokedAt": l.revoked_at,
        "method": l.method,
        "chooseScope": l.choose_scope,
        "mapRoles": l.map_roles,
        "manage": l.manage,
        "revoke": format!("{}/api/setup-links/{}", state.base(), l.id),
    })
}

/// `POST /api/accounts/{name}/setup-link` with `{"expiresIn"?: seconds, "scopes"?: "…"}`:
/// 201 with the link's `url` (shown once) and id.
#[utoipa::path(post, path = "/api/accounts/{name}/setup-link", operation_id = "setup_create", tag = "setup", summary = "A single-use setup link for the customer's Okta admin", params(("name" = String, Path, description = "The account")), request_body(content = Option<NewSetupLinkBody>, content_type = "application/json"), responses((status = 201, description = "The link, with its url (shown once)", body = SetupLinkView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn create(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<(StatusCode, Json<Value>)> {
    let b: NewLinkBody = if body.iter().all(u8::is_ascii_whitespace) {
        NewLinkBody::default()
    } else {
        json_body(&headers, &body, "the body")?
    };
    let name = AccountName::parse(&name)?;
    let (link, token) = state
        .service
        .create_setup_link(
            &name,
            b.expires_in.map(Duration::from_secs),
            b.scopes.as_deref(),
            SetupSteps {
                choose_scope: b.choose_scope.unwrap_or(false),
                map_roles: b.map_roles.unwrap_or(false),
                manage: b.manage.unwrap_or(false),
            },
        )
        .await?;
    let mut out = link_json(&state, &link);
    out["url"] = json!(format!("{}/setup/{}", state.base(), token.expose_secret()));
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET /api/accounts/{name}/setup-links`: the account's links, newest first (never their
/// tokens).
#[utoipa::path(get, path = "/api/accounts/{name}/setup-links", operation_id = "setup_list", tag = "setup", summary = "The account's setup links (never their url)", params(("name" = String, Path, description = "The account")), responses((status = 200, description = "Links", body = Vec<SetupLinkView>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn list(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Value>>> {
    let name = AccountName::parse(&name)?;
    let links = state.service.setup_links(&name).await?;
    Ok(Json(links.iter().map(|l| link_json(&state, l)).collect()))
}

/// `DELETE /api/setup-links/{id}`: revokes a link.
#[utoipa::path(delete, path = "/api/setup-links/{id}", operation_id = "setup_revoke", tag = "setup", summary = "Revoke a setup link", params(("id" = String, Path, description = "The link (sl_…)")), responses((status = 200, description = "The link", body = SetupLinkView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn revoke(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let link = state.service.revoke_setup_link(&id).await?;
    Ok(Json(link_json(&state, &link)))
}

/// `GET /api/accounts/{name}/audit`: the account's audit log, oldest first.
#[utoipa::path(get, path = "/api/accounts/{name}/audit", operation_id = "setup_audit", tag = "accounts", summary = "The account's audit log, oldest first", params(("name" = String, Path, description = "The account")), responses((status = 200, description = "Records", body = Vec<AuditView>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn audit(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Value>>> {
    let name = AccountName::parse(&name)?;
    let records = state.store().audit(&name).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| json!({ "event": r.event, "detail": r.detail, "actor": r.actor, "at": r.at }))
            .collect(),
    ))
}

#[derive(Template)]
#[template(path = "setup.html")]
pub(crate) struct SetupPage {
    landing: bool,
    done: bool,
    token: String,
    account: String,
    expires: String,
    methods: Vec<(&'static str, &'static str)>,
    method: &'static str,
    title: &'static str,
    error: Option<String>,
    csrf: String,
    scopes: Vec<String>,
    redirect_uri: String,
    public_jwk: String,
    org_url: String,
    client_id: String,
    health: SetupHealth,
    /// The SCIM way's credentials, on the one page that shows them.
    scim_base_url: String,
    scim_token: String,
    /// The scope step (after connecting, when the link lets the admin choose): the org's groups.
    scope_step: bool,
    groups: Vec<OrgGroup>,
    /// On the scope step: whether groups are mapped to roles, and the roles declared.
    map_roles: bool,
    roles: Vec<Role>,
    /// A manage link (its landing page says so).
    manage: bool,
    /// On the scope step: the groups the account's scope names now (ticked).
    current: Vec<String>,
}

impl SetupPage {
    /// Whether group `id` is in the account's scope now.
    fn chosen(&self, id: &str) -> bool {
        self.current.iter().any(|c| c == id)
    }
}

impl SetupPage {
    fn new(link: &SetupLink) -> Self {
        Self {
            landing: false,
            done: false,
            token: String::new(),
            account: link.account.to_string(),
            expires: time::OffsetDateTime::from_unix_timestamp(link.expires_at)
                .map(|t| format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute()))
                .unwrap_or_default(),
            methods: SetupMethod::ALL.iter().map(|m| (m.as_str(), m.title())).collect(),
            method: SetupMethod::Integration.as_str(),
            title: SetupMethod::Integration.title(),
            error: None,
            csrf: String::new(),
            scopes: link.scopes.iter().map(str::to_owned).collect(),
            redirect_uri: String::new(),
            public_jwk: String::new(),
            org_url: String::new(),
            client_id: String::new(),
            health: SetupHealth::default(),
            scim_base_url: String::new(),
            scim_token: String::new(),
            scope_step: false,
            groups: Vec::new(),
            map_roles: link.map_roles,
            roles: Vec::new(),
            manage: link.manage,
            current: Vec::new(),
        }
    }
}

/// The page a refused link gets: why, in words, with the status that says it (404 or 410).
fn refused(e: &Error) -> Response {
    let (status, _, message) = classify(e);
    error_page(status, "This setup link cannot be used", &message)
}

/// The CSRF token of the forms of the browser with setup session `session`.
fn setup_csrf(session: &str) -> String {
    hash(&format!("setup-csrf:{session}"))
}

/// The setup session of this browser and the link it opened, while it can connect (a link
/// that connected already leads to its summary on a GET; anything else is refused).
async fn session_link(state: &AppState, headers: &HeaderMap) -> std::result::Result<(String, SetupLink), Response> {
    let session = setup_session(state, headers).map_err(|page| *page)?;
    match state.service.setup_link_by_session(session).await {
        Ok(link) => Ok((session.to_owned(), link)),
        Err(e) => Err(refused(&e)),
    }
}

/// The setup session of this browser, or the page that says to open the link first.
fn setup_session<'h>(state: &AppState, headers: &'h HeaderMap) -> std::result::Result<&'h str, Box<Response>> {
    cookie(state, headers, SETUP_COOKIE).ok_or_else(|| {
        Box::new(error_page(
            StatusCode::FORBIDDEN,
            "Open your setup link first",
            "This page belongs to a setup link: open the link you were sent, in this browser.",
        ))
    })
}

/// `GET /setup/{token}`: what the link is for, with the button that opens it. A GET never
/// uses the link up (a mail scanner or a preview may fetch it).
pub(crate) async fn landing(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    // The browser that opened this link already: back to its steps.
    if let Ok(session) = setup_session(&state, &headers)
        && let Ok(link) = state.service.setup_link_to_view(session).await
        && let Ok(Some(same)) = state.store().setup_link(SetupLinkBy::Token(&hash(&token))).await
        && same.id == link.id
    {
        return Redirect::to("/setup").into_response();
    }
    match state.service.setup_link_by_token(&token).await {
        Ok(link) => {
            let mut page = SetupPage::new(&link);
            page.landing = true;
            page.token = token;
            render(&page)
        }
        Err(e) => refused(&e),
    }
}

/// `POST /setup/{token}` (the Start button): opens the link for this browser (once), then on
/// to the steps.
pub(crate) async fn open(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    match state.service.open_setup_link(&token).await {
        Ok((link, session)) => {
            let ttl = u64::try_from(link.expires_at - now()).unwrap_or(0);
            let mut res = Redirect::to("/setup").into_response();
            // Lax: the browser comes back from Okta's sign-in with it (a top-level GET).
            res.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&state, SETUP_COOKIE, session.expose_secret(), "/", "Lax", ttl),
            );
            res
        }
        Err(e) => refused(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct GuideParams {
    method: Option<String>,
}

/// The steps page of `method`, with `error` said and what was entered kept (never secrets).
pub(crate) async fn guide_page(
    state: &AppState,
    link: &SetupLink,
    session: &str,
    method: SetupMethod,
    error: Option<String>,
    entered: (&str, &str),
) -> Response {
    let mut page = SetupPage::new(link);
    page.method = method.as_str();
    page.title = method.title();
    page.csrf = setup_csrf(session);
    page.error = error;
    page.redirect_uri = state.service.apps().redirect_uri().to_owned();
    page.org_url = entered.0.to_owned();
    page.client_id = entered.1.to_owned();
    if method == SetupMethod::ServiceKey {
        match state.service.setup_key(link).await {
            Ok(key) => page.public_jwk = key.public_jwk,
            Err(e) => return refused(&e),
        }
    }
    let mut res = render(&page);
    if page.error.is_some() {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

/// `GET /setup[?method=…]`: the steps of one way to connect.
pub(crate) async fn guide(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<GuideParams>,
) -> Response {
    // A link that connected shows its summary; it cannot connect again.
    if let Ok(session) = setup_session(&state, &headers)
        && let Ok(link) = state.service.setup_link_to_view(session).await
        && link.connected_at.is_some()
    {
        return Redirect::to("/setup/done").into_response();
    }
    let (session, link) = match session_link(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if link.manage {
        return Redirect::to("/setup/scope").into_response();
    }
    let method = p
        .method
        .as_deref()
        .and_then(SetupMethod::parse)
        .unwrap_or(SetupMethod::Integration);
    guide_page(&state, &link, &session, method, None, ("", "")).await
}

#[derive(Deserialize)]
pub(crate) struct ConnectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    org_url: String,
    #[serde(default)]
    client_id: String,
    #[serde(default, deserialize_with = "secret_opt")]
    client_secret: Option<ClientSecret>,
    #[serde(default, deserialize_with = "secret_opt")]
    api_token: Option<ApiToken>,
}

/// `POST /setup/connect` (the steps page's form): checks what was entered with Okta and
/// connects, or says what to fix; a web app goes on to Okta's sign-in.
pub(crate) async fn connect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<ConnectForm>,
) -> Response {
    let (session, link) = match session_link(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if !csrf_matches(Some(&setup_csrf(&session)), &f.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Not connected",
            "The form did not come from this page: go back to your setup link's steps.",
        );
    }
    let Some(method) = SetupMethod::parse(&f.method) else {
        return guide_page(
            &state,
            &link,
            &session,
            SetupMethod::Integration,
            Some("Choose how to connect.".into()),
            ("", ""),
        )
        .await;
    };
    let (org_url, client_id) = (f.org_url.clone(), f.client_id.clone());
    let input = SetupInput {
        method,
        org_url: f.org_url,
        client_id: f.client_id,
        client_secret: f.client_secret,
        api_token: f.api_token,
    };
    match state.service.setup_connect(&link, input, &session).await {
        Ok(SetupOutcome::Connected(c)) => after_connecting(&state, &link, c.account),
        Ok(SetupOutcome::SignIn(started)) => to_sign_in(&state, &started),
        Ok(SetupOutcome::Provisioning(token)) => {
            // Shown on this answer only (never stored in plaintext, never cached): a reload
            // leads to the summary.
            let mut page = SetupPage::new(&link);
            page.method = SetupMethod::Scim.as_str();
            page.title = SetupMethod::Scim.title();
            page.scim_base_url = super::scim_api::base_url(&state, &link.account);
            page.scim_token = token.expose_secret().to_owned();
            render(&page)
        }
        Err(e @ Error::SetupLink(_)) => refused(&e),
        Err(e) => {
            let said = explain(method, &e, &link.scopes);
            guide_page(&state, &link, &session, method, Some(said), (&org_url, &client_id)).await
        }
    }
}

/// Where a browser goes once its link connected: the scope step when the link lets the admin
/// choose (the first sync waits for the choice), else the summary, the first sync started.
pub(crate) fn after_connecting(state: &AppState, link: &SetupLink, account: AccountName) -> Response {
    if link.choose_scope {
        return Redirect::to("/setup/scope").into_response();
    }
    first_sync(state, account);
    Redirect::to("/setup/done").into_response()
}

/// The link of this browser's session once it connected an account it may choose the scope
/// of, or the page to go to instead.
async fn scope_link(state: &AppState, headers: &HeaderMap) -> std::result::Result<(String, SetupLink), Response> {
    let session = setup_session(state, headers).map_err(|page| *page)?;
    let link = state
        .service
        .setup_link_to_view(session)
        .await
        .map_err(|e| refused(&e))?;
    if link.connected_at.is_none() && !link.manage {
        return Err(Redirect::to("/setup").into_response());
    }
    if !link.choose_scope || link.method.as_deref() == Some(SetupMethod::Scim.as_str()) {
        return Err(Redirect::to("/setup/done").into_response());
    }
    Ok((session.to_owned(), link))
}

/// The scope step's page, `error` said.
async fn scope_page(state: &AppState, link: &SetupLink, session: &str, error: Option<String>) -> Response {
    let mut page = SetupPage::new(link);
    page.scope_step = true;
    page.csrf = setup_csrf(session);
    page.error = error;
    match state.service.setup_groups(link).await {
        Ok(groups) => page.groups = groups,
        Err(e) => {
            page.error = Some(format!(
                "Your org's groups could not be read: {e}. Choose everyone, or try again."
            ))
        }
    }
    match state.service.scope(&link.account).await {
        Ok(s) => {
            if let Some(crate::model::SyncScope::Groups(g)) = s.scope {
                page.current = g;
            }
        }
        Err(e) => return refused(&e),
    }
    if link.map_roles {
        match state.service.roles().await {
            Ok(r) => page.roles = r.roles,
            Err(e) => return refused(&e),
        }
    }
    let mut res = render(&page);
    if page.error.is_some() {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

/// `GET /setup/scope`: who the account should see — everyone, or the members of the org's
/// groups the admin picks (listed with their member counts).
pub(crate) async fn scope(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match scope_link(&state, &headers).await {
        Ok((session, link)) => scope_page(&state, &link, &session, None).await,
        Err(page) => page,
    }
}

/// `POST /setup/scope` (`who=all`, or `who=groups` with a `group` per group): stores the scope
/// (audited as the link's), starts the first sync under it, on to the summary.
pub(crate) async fn choose_scope(State(state): State<Arc<AppState>>, headers: HeaderMap, body: String) -> Response {
    let (session, link) = match scope_link(&state, &headers).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !csrf_matches(Some(&setup_csrf(&session)), field("csrf").unwrap_or_default()) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Nothing was changed",
            "The form did not come from this page: go back to your setup link's steps.",
        );
    }
    let groups: Vec<String> = fields
        .iter()
        .filter(|(n, _)| n == "group")
        .map(|(_, v)| v.clone())
        .collect();
    let body = match field("who") {
        Some("groups") if groups.is_empty() => {
            return scope_page(
                &state,
                &link,
                &session,
                Some("Pick at least one group, or choose everyone.".into()),
            )
            .await;
        }
        Some("groups") => ScopeBody {
            groups: Some(groups),
            ..ScopeBody::default()
        },
        _ => ScopeBody {
            all: Some(true),
            ..ScopeBody::default()
        },
    };
    let mappings = link.map_roles.then(|| RoleMappings {
        mappings: fields
            .iter()
            .filter_map(|(n, v)| Some((n.strip_prefix("role-")?, v)))
            .filter(|(_, v)| !v.is_empty())
            .map(|(g, v)| RoleMapping {
                group: g.to_owned(),
                roles: vec![v.clone()],
            })
            .collect(),
        default: field("default_role").filter(|d| !d.is_empty()).map(str::to_owned),
    });
    match state.service.setup_choose_scope(&link, body, mappings).await {
        Ok(()) => {
            first_sync(&state, link.account.clone());
            Redirect::to("/setup/done").into_response()
        }
        Err(e @ Error::Invalid { .. }) => {
            let (_, _, message) = classify(&e);
            scope_page(&state, &link, &session, Some(message)).await
        }
        Err(e) => refused(&e),
    }
}

/// Starts the first sync of a connection made through a setup link, in the background.
pub(crate) fn first_sync(state: &AppState, account: AccountName) {
    let service = state.service.clone();
    tokio::spawn(async move {
        if let Err(e) = service.sync(&account, false).await {
            tracing::warn!(account = %account, error = %e, "the first sync after a setup link did not run");
        }
    });
}

/// `GET /setup/done`: the health summary (connected, scopes granted, the first sync).
pub(crate) async fn done(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let session = match setup_session(&state, &headers) {
        Ok(s) => s,
        Err(page) => return *page,
    };
    let link = match state.service.setup_link_to_view(session).await {
        Ok(link) => link,
        Err(e) => return refused(&e),
    };
    let health = match state.service.setup_health(&link).await {
        Ok(h) => h,
        Err(e) => return refused(&e),
    };
    let mut page = SetupPage::new(&link);
    page.done = true;
    page.scim_base_url = super::scim_api::base_url(&state, &link.account);
    page.health = health;
    render(&page)
}

/// `at` (unix seconds) as the summary says it: `2026-12-07 21:50:03 UTC`.
pub(crate) fn clock(at: &i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(*at)
        .map(|t| format!("{} {:02}:{:02}:{:02} UTC", t.date(), t.hour(), t.minute(), t.second()))
        .unwrap_or_default()
}
