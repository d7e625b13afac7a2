//! `/authenticate_okta` and `/oauth/okta_callback`.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::{AdminPage, SESSION_COOKIE, cookie, csrf_matches, has_session, set_cookie, to_sign_in};
use super::error::{PageContext, PageError};
use super::setup::{SETUP_COOKIE, after_connecting, guide_page};
use super::views::{ConnectPage, error_page, render};
use crate::error::Error;
use crate::model::{AccountName, SetupLink, SetupMethod};
use crate::oauth::{CallbackParams, OAuthApp, binding_cookie_name};
use crate::service::{explain, setup_binding};

#[derive(Deserialize)]
pub(crate) struct AuthenticateParams {
    account: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct AuthenticateForm {
    /// Missing is refused like wrong (403, with the page that says why).
    #[serde(default)]
    csrf: String,
    account: Option<String>,
}

/// The account named (if any) and the app it connects through, or the page saying why not.
async fn app_for(state: &AppState, account: Option<&str>) -> Result<(Option<AccountName>, OAuthApp), Response> {
    let account = account
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(AccountName::parse)
        .transpose()
        .page("Invalid account name")
        .map_err(IntoResponse::into_response)?;
    let oauth = state
        .service
        .web_app_for(account.as_ref())
        .await
        .page("Not connected this way")
        .map_err(IntoResponse::into_response)?;
    let Some(oauth) = oauth else {
        let message = match &account {
            Some(a) => format!(
                "There is no account named {a} and no OAuth app configured for the server: add the account first (okta-bridge accounts add, or POST /api/accounts)."
            ),
            None => "Choose an account to connect, or configure the server's OAuth app (OKTA_CLIENT_ORGURL, OKTA_CLIENT_CLIENTID, OKTA_CLIENT_CLIENTSECRET), or run `okta-bridge serve --sandbox`.".to_owned(),
        };
        return Err(error_page(
            StatusCode::NOT_FOUND,
            "No Okta app for this account",
            &message,
        ));
    };
    Ok((account, oauth))
}

/// `GET /authenticate_okta[?account=NAME]`: the signed-in admin's page for connecting an
/// account (or the server's configured org): it says where the browser will go and has the
/// button that starts the flow. A GET never starts one (a link, a prefetch or another site's
/// image cannot). Anyone else goes to the sign-in form.
pub(crate) async fn authenticate_page(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Query(p): Query<AuthenticateParams>,
) -> Response {
    match app_for(&state, p.account.as_deref()).await {
        Ok((account, oauth)) => render(&ConnectPage {
            account: account.map(|a| a.to_string()),
            org: oauth.org().to_string(),
            csrf: admin.csrf,
        }),
        Err(page) => page,
    }
}

/// `POST /authenticate_okta` (the page's CSRF token, `account`): sends the signed-in admin's
/// browser to the org's sign-in, through the account's own web app (or the server's configured
/// app), with a binding cookie for this flow only.
pub(crate) async fn authenticate(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(f): Form<AuthenticateForm>,
) -> Result<Response, PageError> {
    if !csrf_matches(Some(&admin.csrf), &f.csrf) {
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "Not connected",
            "The form did not come from this site. Start from okta-bridge's own page.",
        ));
    }
    let (account, oauth) = match app_for(&state, f.account.as_deref()).await {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let session = cookie(&state, &headers, SESSION_COOKIE).unwrap_or_default();
    let started = state
        .service
        .start_authorization(&oauth, account, session)
        .await
        .page("Could not start")?;
    Ok(to_sign_in(&state, &started))
}

/// `GET /oauth/okta_callback`: finishes the flow named by its state with the app it was
/// started with and stores the connection. The flow was started by a signed-in admin, or by a
/// setup link's browser (its session cookie): a setup link's flow ends on its health summary,
/// or back on its steps with what went wrong in plain words. Only that flow's binding cookie is
/// cleared (its state is used up, whatever the outcome): other flows in other tabs go on.
pub(crate) async fn callback(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Response {
    let admin = if has_session(&state, &headers).await {
        cookie(&state, &headers, SESSION_COOKIE)
    } else {
        None
    };
    let setup = match cookie(&state, &headers, SETUP_COOKIE) {
        Some(s) => state.service.setup_link_by_session(s).await.ok().map(|l| (s, l)),
        None => None,
    };
    if admin.is_none() && setup.is_none() {
        return Redirect::to("/login").into_response();
    }
    let setup_session = setup.as_ref().map(|(s, _)| setup_binding(s));
    let sessions: Vec<&str> = admin.into_iter().chain(setup_session.as_deref()).collect();
    let binding_cookie = p.state.as_deref().map(binding_cookie_name);
    let binding = binding_cookie
        .as_deref()
        .and_then(|name| cookie(&state, &headers, name));
    let finished = state.service.finish_authorization(&p, binding, &sessions).await;
    let mut res = match (finished, setup) {
        (Ok(account), Some((session, link))) if account == link.account => {
            let outcome = match state.service.setup_verify(&link).await {
                Ok(()) => state
                    .service
                    .setup_signed_in(&link)
                    .await
                    .map(|()| after_connecting(&state, &link, account)),
                Err(e) => setup_failed(&state, &link, session, e).await,
            };
            outcome.unwrap_or_else(|e| Err::<(), _>(e).page("Okta was not connected").into_response())
        }
        (Ok(_), _) => Redirect::to("/").into_response(),
        (Err(e), Some((session, link))) if admin.is_none() => match setup_failed(&state, &link, session, e).await {
            Ok(page) => page,
            Err(e) => Err::<(), _>(e).page("Okta was not connected").into_response(),
        },
        (Err(e), _) => Err::<(), _>(e).page("Okta was not connected").into_response(),
    };
    if let Some(name) = binding_cookie.filter(|_| binding.is_some()) {
        res.headers_mut()
            .append(header::SET_COOKIE, set_cookie(&state, &name, "", "/oauth", "Lax", 0));
    }
    res
}

/// The steps page of a setup link's web app path, saying in plain words why the sign-in did not
/// connect (and audited).
async fn setup_failed(state: &AppState, link: &SetupLink, session: &str, e: Error) -> Result<Response, Error> {
    state.service.setup_sign_in_failed(link, &e).await?;
    let said = explain(SetupMethod::WebApp, &e, &link.scopes);
    // What the admin entered before the sign-in, kept for the next try (never the secret).
    let (org, client_id) = match state.store().account(&link.account).await? {
        Some(a) => (a.org_url.to_string(), a.app.client_id().unwrap_or_default().to_owned()),
        None => (String::new(), String::new()),
    };
    Ok(guide_page(
        state,
        link,
        session,
        SetupMethod::WebApp,
        Some(said),
        (&org, &client_id),
    )
    .await)
}
