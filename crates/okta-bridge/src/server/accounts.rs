//! Accounts in the JSON API (`/api/accounts…`) and the accounts page's forms.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{AdminPage, Reader, Writer, csrf_matches};
use super::error::{PageContext, PageError};
use super::extract::{Path, Query};
use super::openapi::{AccountView, ConnectBodyDoc, ConnectedView, ErrorBody, NewAccountBody};
use super::views::{account_json, error_page};
use crate::error::{Error, Result};
use crate::model::{AccountName, ApiToken, AppKind, ClientSecret, NewAccount, PrivateKeyPem, secret_opt};
use crate::service::Connected;

/// The JSON body of an API request, which must say it is JSON: a page of another site can send
/// `text/plain` without a preflight, never `application/json`.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8], what: &str) -> Result<T> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Error::NotJson);
    }
    // serde's message names the field, never its value.
    serde_json::from_slice(body).map_err(|e| Error::invalid("body", format!("{what} is not valid JSON: {e}")))
}

/// `GET /api/accounts`.
#[utoipa::path(get, path = "/api/accounts", operation_id = "accounts_list", tag = "accounts", summary = "Every account", responses((status = 200, description = "The accounts", body = Vec<AccountView>), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn list(_: Reader, State(state): State<Arc<AppState>>) -> Result<Json<Vec<Value>>> {
    let all = state.service.accounts().await?;
    Ok(Json(all.iter().map(|(a, c)| account_json(a, c.as_ref())).collect()))
}

/// `GET /api/accounts/{name}`.
#[utoipa::path(get, path = "/api/accounts/{name}", operation_id = "accounts_get", tag = "accounts", summary = "One account", params(("name" = String, Path, description = "The account")), responses((status = 200, description = "The account", body = AccountView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn get(
    _: Reader,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let (a, c) = state.service.account(&AccountName::parse(&name)?).await?;
    Ok(Json(account_json(&a, c.as_ref())))
}

#[derive(Deserialize)]
pub(crate) struct AddParams {
    #[serde(default)]
    replace: bool,
}

/// `POST /api/accounts[?replace=true]` with a [`NewAccount`] as JSON: 201 with the account,
/// 409 when the name is taken (unless `replace`), 400 saying what to fix.
#[utoipa::path(post, path = "/api/accounts", operation_id = "accounts_add", tag = "accounts", summary = "Add (or with replace, change) an account", params(("replace" = Option<bool>, Query, description = "Replace an account of that name")), request_body(content = NewAccountBody, content_type = "application/json"), responses((status = 201, description = "The account", body = AccountView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn add(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Query(p): Query<AddParams>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<(StatusCode, Json<Value>)> {
    let input: NewAccount = json_body(&headers, &body, "the account")?;
    let stored = state.service.add_account(input, p.replace).await?;
    let conn = state.store().connection(&stored.name).await?;
    Ok((StatusCode::CREATED, Json(account_json(&stored, conn.as_ref()))))
}

/// `DELETE /api/accounts/{name}`: only an account without a connection.
#[utoipa::path(delete, path = "/api/accounts/{name}", operation_id = "accounts_remove", tag = "accounts", summary = "Remove an account without a connection", params(("name" = String, Path, description = "The account")), responses((status = 200, description = "`{\"removed\": name}`", body = serde_json::Value), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn remove(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let name = AccountName::parse(&name)?;
    state.service.remove_account(&name).await?;
    Ok(Json(json!({ "removed": name })))
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConnectBody {
    #[serde(default, deserialize_with = "secret_opt")]
    api_token: Option<ApiToken>,
}

/// `POST /api/accounts/{name}/connect` with `{"apiToken": "…"}` (checked with Okta before it
/// is stored) or `{}` for a service app.
#[utoipa::path(post, path = "/api/accounts/{name}/connect", operation_id = "accounts_connect", tag = "accounts", summary = "Connect an API-token or service-app account (checked with Okta first)", params(("name" = String, Path, description = "The account")), request_body(content = Option<ConnectBodyDoc>, content_type = "application/json"), responses((status = 200, description = "Connected", body = ConnectedView), (status = "default", description = "An error: what happened and what to do", body = ErrorBody)))]
pub(crate) async fn connect(
    _: Writer,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    super::body::Body(body): super::body::Body,
) -> Result<Json<Connected>> {
    // No body connects a service app; a body (an API token) must be JSON.
    let b: ConnectBody = if body.iter().all(u8::is_ascii_whitespace) {
        ConnectBody::default()
    } else {
        json_body(&headers, &body, "the body")?
    };
    let name = AccountName::parse(&name)?;
    Ok(Json(state.service.connect(&name, b.api_token).await?))
}

/// The page's answer to a forged form.
fn forged(title: &str) -> Response {
    error_page(StatusCode::FORBIDDEN, title, "The form did not come from this site.")
}

#[derive(Deserialize)]
pub(crate) struct ConnectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "secret_opt")]
    api_token: Option<ApiToken>,
}

/// `POST /accounts/{name}/connect` (accounts page; CSRF token): paste an API token, or
/// connect a service app.
pub(crate) async fn connect_form(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<ConnectForm>,
) -> Result<Response, PageError> {
    const TITLE: &str = "Not connected";
    if !csrf_matches(Some(&admin.csrf), &f.csrf) {
        return Ok(forged(TITLE));
    }
    let name = AccountName::parse(&name).page(TITLE)?;
    state.service.connect(&name, f.api_token).await.page(TITLE)?;
    Ok(Redirect::to("/").into_response())
}

/// The add-account form of the page: every field a string, blank meaning absent.
#[derive(Deserialize)]
pub(crate) struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    org_url: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    client_id: String,
    #[serde(default, deserialize_with = "secret_opt")]
    client_secret: Option<ClientSecret>,
    #[serde(default, deserialize_with = "secret_opt")]
    private_key: Option<PrivateKeyPem>,
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    scopes: String,
}

fn present(s: String) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// `POST /accounts` (the page's form; CSRF token): adds an account, back to the list.
pub(crate) async fn add_form(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    axum::Form(f): axum::Form<AddForm>,
) -> Result<Response, PageError> {
    const TITLE: &str = "Account not added";
    if !csrf_matches(Some(&admin.csrf), &f.csrf) {
        return Ok(forged("Not added"));
    }
    let kind = present(f.kind);
    let parsed = kind.as_deref().and_then(AppKind::parse);
    // The form shows every field whatever the kind: only the kind's own credentials are taken.
    let (client_secret, private_key) = match parsed {
        // A service app: its key, or (an API service integration) its client secret.
        Some(AppKind::Service) => match f.private_key {
            Some(key) => (None, Some(key)),
            None => (f.client_secret, None),
        },
        Some(AppKind::ApiToken) => (None, None),
        _ => (f.client_secret, None),
    };
    let input = NewAccount {
        name: f.name,
        org_url: f.org_url,
        client_id: present(f.client_id).filter(|_| parsed != Some(AppKind::ApiToken)),
        kind,
        client_secret,
        private_key,
        key_id: present(f.key_id),
        issuer: present(f.issuer),
        scopes: present(f.scopes),
    };
    state.service.add_account(input, false).await.page(TITLE)?;
    Ok(Redirect::to("/").into_response())
}
