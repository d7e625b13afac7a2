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
use crate::connect::{CallbackParams, STATE_TTL};
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

/// `GET /authenticate_okta[?account=NAME]`: sends the signed-in admin's browser to the org's
/// sign-in (anyone else to the sign-in form: only the admin connects orgs).
pub(crate) async fn authenticate(
    _: AdminPage,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<AuthenticateParams>,
) -> Response {
    let Some(oauth) = &state.oauth else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "No Okta org configured",
            "Set OKTA_CLIENT_ORGURL, OKTA_CLIENT_CLIENTID and OKTA_CLIENT_CLIENTSECRET, or run `okta-bridge serve --sandbox`.",
        );
    };
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

/// `GET /oauth/okta_callback`: finishes the flow and stores the connection.
pub(crate) async fn callback(
    _: AdminPage,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Response {
    let Some(oauth) = &state.oauth else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "No Okta org configured",
            "This server has no OAuth client configured.",
        );
    };
    let session = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let result = oauth
        .finish(&state.store, &p, cookie(&headers, BINDING_COOKIE), session)
        .await;
    let mut res = match result {
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
    };
    res.headers_mut()
        .append(header::SET_COOKIE, binding_cookie(&state, "", 0));
    res
}
