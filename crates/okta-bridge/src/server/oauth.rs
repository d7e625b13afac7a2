//! `/authenticate_okta` and `/oauth/okta_callback`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::AppState;
use super::auth::{AdminPage, SESSION_COOKIE, cookie};
use super::pages::error_page;
use crate::connect::{CallbackParams, OAuthApp, STATE_TTL, take_callback};
use crate::domain::AccountName;

const BINDING_COOKIE: &str = "okta_bridge_oauth";

#[derive(Deserialize)]
pub(crate) struct AuthenticateParams {
    account: Option<String>,
}

fn binding_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.secure_cookies() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{BINDING_COOKIE}={value}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("base64url cookie values are valid headers")
}

/// The web app that connects `account` (an account's own, or the configured one), or the
/// error page that says why there is none.
async fn app_for(state: &AppState, account: Option<&AccountName>) -> Result<OAuthApp, Response> {
    let found = match account {
        Some(a) => state.refresher.apps().web_app(a).await,
        None => Ok(state.refresher.apps().fallback().cloned()),
    };
    match found {
        Ok(Some(app)) => Ok(app),
        Ok(None) => Err(error_page(
            StatusCode::NOT_FOUND,
            "No Okta app for this account",
            &match account {
                Some(a) => format!(
                    "There is no account named {a} and no OAuth app configured for the server: add the account first (okta-bridge accounts add, or POST /api/accounts)."
                ),
                None => "Choose an account to connect, or configure the server's OAuth app (OKTA_CLIENT_ORGURL, OKTA_CLIENT_CLIENTID, OKTA_CLIENT_CLIENTSECRET), or run `okta-bridge serve --sandbox`.".to_owned(),
            },
        )),
        Err(e @ crate::error::Error::Invalid(_)) => {
            Err(error_page(StatusCode::BAD_REQUEST, "Not connected this way", &e.to_string()))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot build the account's OAuth app");
            let (status, message) = super::api::classify(&e);
            Err(error_page(status, "The account's app cannot be used", &message))
        }
    }
}

/// `GET /authenticate_okta[?account=NAME]`: sends the signed-in admin's browser to the org's
/// sign-in, through the account's own web app (or the server's configured app); anyone else
/// goes to the sign-in form: only the admin connects orgs.
pub(crate) async fn authenticate(
    _: AdminPage,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<AuthenticateParams>,
) -> Response {
    let account = match p
        .account
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(AccountName::parse)
        .transpose()
    {
        Ok(a) => a,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, "Invalid account name", &e.to_string()),
    };
    let oauth = match app_for(&state, account.as_ref()).await {
        Ok(app) => app,
        Err(page) => return page,
    };
    let session = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    match oauth.start(&state.store, account, session).await {
        Ok(started) => {
            let mut res = Redirect::to(started.authorize_url.as_str()).into_response();
            res.headers_mut().append(
                header::SET_COOKIE,
                binding_cookie(&state, started.browser_binding.expose_secret(), STATE_TTL.as_secs()),
            );
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "could not start an authorization");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not start",
                "The authorization could not be recorded; see the server log.",
            )
        }
    }
}

/// `GET /oauth/okta_callback`: finishes the flow with the app it was started with and stores
/// the connection.
pub(crate) async fn callback(
    _: AdminPage,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Response {
    let session = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let mut res = match take_callback(&state.store, &p, cookie(&headers, BINDING_COOKIE), session).await {
        Ok(cb) => match app_for(&state, cb.pending.account.as_ref()).await {
            Ok(oauth) => finished(&state, oauth.finish(&state.store, cb).await),
            Err(page) => page,
        },
        Err(e) => finished(&state, Err(e)),
    };
    res.headers_mut()
        .append(header::SET_COOKIE, binding_cookie(&state, "", 0));
    res
}

fn finished(state: &AppState, result: crate::error::Result<AccountName>) -> Response {
    match result {
        Ok(account) => {
            state.clients.lock().expect("clients lock").remove(account.as_str());
            Redirect::to("/").into_response()
        }
        Err(crate::error::Error::OAuth(message)) => {
            tracing::warn!(%message, "connect flow rejected");
            error_page(StatusCode::BAD_REQUEST, "Okta was not connected", &message)
        }
        Err(e) => {
            tracing::error!(error = %e, "connect flow failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Okta was not connected",
                "The connection could not be stored; see the server log.",
            )
        }
    }
}
