//! `/authenticate_okta` and `/oauth/okta_callback`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::AppState;
use super::auth::{AdminPage, SESSION_COOKIE, cookie, set_cookie};
use super::error::{PageContext, PageError};
use super::views::error_page;
use crate::model::AccountName;
use crate::oauth::{CallbackParams, STATE_TTL, binding_cookie_name};

#[derive(Deserialize)]
pub(crate) struct AuthenticateParams {
    account: Option<String>,
}

/// `GET /authenticate_okta[?account=NAME]`: sends the signed-in admin's browser to the org's
/// sign-in, through the account's own web app (or the server's configured app); anyone else
/// goes to the sign-in form: only the admin connects orgs.
pub(crate) async fn authenticate(
    _: AdminPage,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<AuthenticateParams>,
) -> Result<Response, PageError> {
    let account = p
        .account
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(AccountName::parse)
        .transpose()
        .page("Invalid account name")?;
    let Some(oauth) = state
        .service
        .web_app_for(account.as_ref())
        .await
        .page("Not connected this way")?
    else {
        let message = match &account {
            Some(a) => format!(
                "There is no account named {a} and no OAuth app configured for the server: add the account first (okta-bridge accounts add, or POST /api/accounts)."
            ),
            None => "Choose an account to connect, or configure the server's OAuth app (OKTA_CLIENT_ORGURL, OKTA_CLIENT_CLIENTID, OKTA_CLIENT_CLIENTSECRET), or run `okta-bridge serve --sandbox`.".to_owned(),
        };
        return Ok(error_page(
            StatusCode::NOT_FOUND,
            "No Okta app for this account",
            &message,
        ));
    };
    let session = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let started = state
        .service
        .start_authorization(&oauth, account, session)
        .await
        .page("Could not start")?;
    let mut res = Redirect::to(started.authorize_url.as_str()).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state,
            &started.binding_cookie,
            started.browser_binding.expose_secret(),
            "/oauth",
            "Lax",
            STATE_TTL.as_secs(),
        ),
    );
    Ok(res)
}

/// `GET /oauth/okta_callback`: finishes the flow named by its state with the app it was
/// started with and stores the connection. Only that flow's binding cookie is cleared (its
/// state is used up, whatever the outcome): other flows in other tabs go on.
pub(crate) async fn callback(
    _: AdminPage,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Response {
    let session = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let binding_cookie = p.state.as_deref().map(binding_cookie_name);
    let binding = binding_cookie.as_deref().and_then(|name| cookie(&headers, name));
    let finished = state
        .service
        .finish_authorization(&p, binding, session)
        .await
        .page("Okta was not connected");
    let mut res = match finished {
        Ok(_) => Redirect::to("/").into_response(),
        Err(page) => page.into_response(),
    };
    if let Some(name) = binding_cookie.filter(|_| binding.is_some()) {
        res.headers_mut()
            .append(header::SET_COOKIE, set_cookie(&state, &name, "", "/oauth", "Lax", 0));
    }
    res
}
