//! Accounts in the JSON API (`/api/accounts…`) and the connect forms of the accounts page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::api::error_response;
use super::auth::{Admin, AdminPage, csrf_matches};
use super::pages::{error_page, fmt_time};
use crate::accounts::{Account, AppCredentials, Connected, NewAccount, connect_api_token, connect_service_app};
use crate::domain::AccountName;
use crate::error::{Error, Result};
use crate::store::{Connection, NEVER};

/// An account as the API shows it: never a secret, with its connection's status.
pub(crate) fn account_json(a: &Account, conn: Option<&Connection>) -> Value {
    let (status, reason) = crate::accounts::status_of(conn);
    json!({
        "name": a.name,
        "orgUrl": a.org_url.to_string(),
        "kind": a.app.kind(),
        "clientId": a.app.client_id(),
        "keyId": match &a.app { AppCredentials::Service { key_id, .. } => key_id.as_deref(), _ => None },
        "issuer": a.issuer.as_ref().map(url::Url::as_str),
        "scopes": a.scopes,
        "dpop": a.dpop,
        "created": fmt_time(a.created_at),
        "lastUpdated": fmt_time(a.updated_at),
        "status": status,
        "statusReason": reason,
        "connection": conn.map(|c| json!({
            "method": c.method.as_str(),
            "tokenType": c.token_type,
            "expiresAt": (c.expires_at != NEVER).then(|| fmt_time(c.expires_at)),
            "lastUpdated": fmt_time(c.updated_at),
        })),
    })
}

impl AppState {
    /// Every account with its connection, if it has one.
    pub(crate) async fn accounts_with_connections(&self) -> Result<Vec<(Account, Option<Connection>)>> {
        let accounts = self.store.accounts().await?;
        let mut conns: HashMap<String, Connection> = self
            .store
            .connections()
            .await?
            .into_iter()
            .map(|c| (c.account.to_string(), c))
            .collect();
        Ok(accounts
            .into_iter()
            .map(|a| {
                let c = conns.remove(a.name.as_str());
                (a, c)
            })
            .collect())
    }

    /// Connects `name` with an API token (when given) or as its service app.
    async fn connect_account(&self, name: &str, api_token: Option<SecretString>) -> Result<Connected> {
        let name = AccountName::parse(name)?;
        let account = self
            .store
            .account(&name)
            .await?
            .ok_or_else(|| Error::UnknownAccount(name.to_string()))?;
        let connected = match (api_token, &account.app) {
            (Some(token), _) => connect_api_token(self.refresher.apps(), &account, &token).await?,
            (None, AppCredentials::Service { .. }) => connect_service_app(self.refresher.apps(), &account).await?,
            (None, AppCredentials::Web { .. }) => {
                return Err(Error::Invalid(format!(
                    "account {name} connects through Okta's sign-in: open {}/authenticate_okta?account={name} in a browser (or send an apiToken)",
                    self.base()
                )));
            }
            (None, _) => {
                return Err(Error::Invalid(format!(
                    "account {name} connects with an API token: send {{\"apiToken\": \"…\"}}"
                )));
            }
        };
        self.clients.lock().expect("clients lock").remove(name.as_str());
        Ok(connected)
    }
}

/// `GET /api/accounts`.
pub(crate) async fn list(_: Admin, State(state): State<Arc<AppState>>) -> Response {
    match state.accounts_with_connections().await {
        Ok(all) => Json(all.iter().map(|(a, c)| account_json(a, c.as_ref())).collect::<Vec<_>>()).into_response(),
        Err(e) => error_response(&e),
    }
}

/// `GET /api/accounts/{name}`.
pub(crate) async fn get(_: Admin, State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let found = async {
        let name = AccountName::parse(&name)?;
        let a = state
            .store
            .account(&name)
            .await?
            .ok_or_else(|| Error::UnknownAccount(name.to_string()))?;
        let c = state.store.connection(&name).await?;
        Ok::<_, Error>(account_json(&a, c.as_ref()))
    };
    match found.await {
        Ok(v) => Json(v).into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct AddParams {
    #[serde(default)]
    replace: bool,
}

/// `POST /api/accounts[?replace=true]` with a [`NewAccount`] as JSON: 201 with the account,
/// 409 when the name is taken (unless `replace`), 400 saying what to fix.
pub(crate) async fn add(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Query(p): Query<AddParams>,
    body: axum::body::Bytes,
) -> Response {
    let input: NewAccount = match serde_json::from_slice(&body) {
        Ok(v) => v,
        // serde's message names the field, never its value.
        Err(e) => return error_response(&Error::Invalid(format!("the account is not valid JSON: {e}"))),
    };
    let result = async {
        let stored = state.add_account(input, p.replace).await?;
        let conn = state.store.connection(&stored.name).await?;
        Ok::<_, Error>(account_json(&stored, conn.as_ref()))
    };
    match result.await {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => error_response(&e),
    }
}

/// `DELETE /api/accounts/{name}`: only an account without a connection.
pub(crate) async fn remove(_: Admin, State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let result = async {
        let name = AccountName::parse(&name)?;
        if state.store.remove_account(&name).await? {
            Ok(name)
        } else {
            Err(Error::UnknownAccount(name.to_string()))
        }
    };
    match result.await {
        Ok(name) => Json(json!({ "removed": name })).into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConnectBody {
    #[serde(default, deserialize_with = "crate::accounts::secret_opt")]
    api_token: Option<SecretString>,
}

/// `POST /api/accounts/{name}/connect` with `{"apiToken": "…"}` (checked with Okta before it
/// is stored) or `{}` for a service app.
pub(crate) async fn connect(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let parsed: Result<ConnectBody> = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(ConnectBody::default())
    } else {
        serde_json::from_slice(&body).map_err(|e| Error::Invalid(format!("the body is not valid JSON: {e}")))
    };
    let result = match parsed {
        Ok(b) => state.connect_account(&name, b.api_token).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(c) => Json(c).into_response(),
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct ConnectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, deserialize_with = "crate::accounts::secret_opt")]
    api_token: Option<SecretString>,
}

/// `POST /accounts/{name}/connect` (accounts page; CSRF token): paste an API token, or
/// connect a service app.
pub(crate) async fn connect_form(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<ConnectForm>,
) -> Response {
    if !csrf_matches(Some(&admin.csrf), &f.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Not connected",
            "The form did not come from this site.",
        );
    }
    match state.connect_account(&name, f.api_token).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => {
            let (status, message) = super::api::classify(&e);
            error_page(status, "Not connected", &message)
        }
    }
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
    #[serde(default, deserialize_with = "crate::accounts::secret_opt")]
    client_secret: Option<SecretString>,
    #[serde(default, deserialize_with = "crate::accounts::secret_opt")]
    private_key: Option<SecretString>,
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

impl AppState {
    /// Checks and stores an account described by an admin: fields, the org's name as it
    /// resolves, then [`crate::accounts::save`].
    async fn add_account(&self, input: NewAccount, replace: bool) -> Result<Account> {
        let allow = self.refresher.apps().allows_private_orgs();
        let account = input.validate(allow)?;
        account.check_resolves(allow).await?;
        crate::accounts::save(&self.store, &account, replace).await?;
        Ok(self.store.account(&account.name).await?.unwrap_or(account))
    }
}

/// `POST /accounts` (the page's form; CSRF token): adds an account, back to the list.
pub(crate) async fn add_form(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    axum::Form(f): axum::Form<AddForm>,
) -> Response {
    if !csrf_matches(Some(&admin.csrf), &f.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Not added",
            "The form did not come from this site.",
        );
    }
    let kind = present(f.kind);
    // The form shows every field whatever the kind: only the kind's own credentials are taken.
    let (client_secret, private_key) = match kind.as_deref() {
        Some("service") => (None, f.private_key),
        Some("token") => (None, None),
        _ => (f.client_secret, None),
    };
    let input = NewAccount {
        name: f.name,
        org_url: f.org_url,
        client_id: present(f.client_id).filter(|_| kind.as_deref() != Some("token")),
        kind,
        client_secret,
        private_key,
        key_id: present(f.key_id),
        issuer: present(f.issuer),
        scopes: present(f.scopes),
    };
    match state.add_account(input, false).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => {
            let (status, message) = super::api::classify(&e);
            error_page(status, "Account not added", &message)
        }
    }
}
