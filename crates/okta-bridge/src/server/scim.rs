//! `/scim/v2/{account}`: the SCIM 2.0 service provider an account's Okta pushes its directory
//! to (RFC 7644): `Users`, `Groups`, `ServiceProviderConfig`, `ResourceTypes`, `Schemas`.
//!
//! Every request is checked by [`guard`] first: the account's SCIM token as `Authorization:
//! Bearer <token>` or, as Okta's "HTTP Header" authentication sends it, the whole header value
//! (a wrong token is 401 and recorded nowhere); at most `--scim-max-in-flight` (64) requests at once here
//! (more are 429 with `Retry-After`, which Okta honours); the request and its status recorded
//! as the account's last. Every answer is `application/scim+json`, every error a SCIM Error
//! with `status` as a string.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::classify;
use crate::error::Error;
use crate::model::AccountName;
use crate::model::scim::{self as resource, ERROR_SCHEMA, LIST_SCHEMA, ScimKind};
use crate::service::{MAX_SCIM_PAGE, Skipped, parse_filter};
use crate::store::{ScimGroup, ScimUser};

/// The largest request body taken (said in `ServiceProviderConfig`).
const MAX_PAYLOAD: usize = 1024 * 1024;

const SCIM_JSON: &str = "application/scim+json";

/// An error as SCIM answers it.
pub(crate) struct ScimError(Error);

impl From<Error> for ScimError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let (status, _, detail) = classify(&self.0);
        let scim_type = match &self.0 {
            Error::Scim { scim_type, .. } => *scim_type,
            Error::Invalid { .. } | Error::NotJson => Some("invalidSyntax"),
            Error::Body(crate::error::BodyRefusal::TooLarge { .. }) => Some("tooLarge"),
            _ => None,
        };
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": detail,
        });
        if let Some(t) = scim_type {
            body["scimType"] = json!(t);
        }
        let mut res = scim_json(status, &body);
        if status == StatusCode::TOO_MANY_REQUESTS {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        res
    }
}

type Answer = Result<Response, ScimError>;

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

fn scim_error(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
    ScimError(Error::Scim {
        status,
        scim_type,
        detail: detail.into(),
    })
}

/// The SCIM routes, under `/scim/v2/{account}`.
pub(crate) fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/scim/v2/{account}/Users", get(list_users).post(create_user))
        .route(
            "/scim/v2/{account}/Users/{id}",
            get(get_user).put(replace_user).patch(patch_user).delete(delete_user),
        )
        .route("/scim/v2/{account}/Groups", get(list_groups).post(create_group))
        .route(
            "/scim/v2/{account}/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route("/scim/v2/{account}/ServiceProviderConfig", get(service_provider_config))
        .route("/scim/v2/{account}/ResourceTypes", get(resource_types))
        .route("/scim/v2/{account}/ResourceTypes/{name}", get(resource_type))
        .route("/scim/v2/{account}/Schemas", get(schemas))
        .route("/scim/v2/{account}/Schemas/{id}", get(schema))
        .route("/scim/v2/{account}/Users/.search", axum::routing::post(search_users))
        .route("/scim/v2/{account}/Groups/.search", axum::routing::post(search_groups))
        .route("/scim/v2/{account}/.search", axum::routing::post(search_everything))
        .route("/scim/v2/{account}/{*rest}", axum::routing::any(unknown))
        .route_layer(axum::middleware::from_fn_with_state(state, guard))
}

/// The account a SCIM path names.
fn account_of(path: &str) -> Option<&str> {
    path.strip_prefix("/scim/v2/")?.split('/').next()
}

/// The token a request presents: `Bearer <token>`, or the whole header value.
fn presented(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => v,
    };
    (!token.is_empty()).then_some(token)
}

/// Authenticates, limits and records every SCIM request (see the module's documentation).
async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let Some(account) = account_of(&path).and_then(|a| AccountName::parse(a).ok()) else {
        return scim_error(404, None, "no such SCIM endpoint: the base URL is /scim/v2/{account}").into_response();
    };
    let refused = || {
        let mut res = scim_error(
            401,
            None,
            "the SCIM token is missing or wrong: send the token okta-bridge gave for this account (okta-bridge scim rotate makes a new one) as Authorization: Bearer <token>",
        )
        .into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"okta-bridge SCIM\""),
        );
        res
    };
    let Some(token) = presented(req.headers()) else {
        return refused();
    };
    match state.service.scim_authorized(&account, token).await {
        Ok(true) => {}
        Ok(false) => return refused(),
        Err(e) => return ScimError(e).into_response(),
    }
    let Ok(_permit) = state.scim_permits.clone().try_acquire_owned() else {
        tracing::warn!(account = %account, "SCIM: too many requests at once; answered 429");
        return scim_error(
            429,
            None,
            "too many SCIM requests at once: try again after Retry-After seconds",
        )
        .into_response();
    };
    let what = format!(
        "{} {}",
        req.method(),
        path.trim_start_matches(&format!("/scim/v2/{account}"))
    );
    let res = next.run(req).await;
    let status = res.status().as_u16();
    if let Err(e) = state.service.record_scim_request(&account, &what, status).await {
        tracing::warn!(error = %e, "SCIM: the last request could not be recorded");
    }
    tracing::info!(account = %account, request = %what, status, "SCIM request");
    res
}

/// A pushed body: `application/scim+json` or `application/json` (with or without `charset`),
/// at most [`MAX_PAYLOAD`] bytes, a JSON value.
async fn json_in(headers: &HeaderMap, body: axum::body::Body) -> Result<Value, ScimError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    if !matches!(media.as_deref(), Some("application/scim+json" | "application/json")) {
        return Err(scim_error(
            415,
            Some("invalidSyntax"),
            "send the body as JSON, with Content-Type: application/scim+json (or application/json)",
        ));
    }
    let bytes: Bytes = super::body::read(body, MAX_PAYLOAD).await.map_err(|e| match e {
        Error::Body(crate::error::BodyRefusal::TooLarge { limit }) => scim_error(
            413,
            Some("tooLarge"),
            format!("the body is larger than {limit} bytes, the most a SCIM request may hold here"),
        ),
        e => ScimError(e),
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| scim_error(400, Some("invalidSyntax"), format!("the body is not valid JSON: {e}")))
}

/// The base URL of `account`'s SCIM endpoint.
fn base(state: &AppState, account: &AccountName) -> String {
    format!("{}/scim/v2/{account}", state.base())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListParams {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GetParams {
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

fn names(list: Option<&String>) -> Vec<String> {
    list.map(|l| {
        l.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn integer(value: Option<&String>, name: &str, default: i64) -> Result<i64, ScimError> {
    match value {
        None => Ok(default),
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            scim_error(
                400,
                Some("invalidValue"),
                format!("{name} must be an integer, not {v:?}"),
            )
        }),
    }
}

fn query<T: serde::de::DeserializeOwned>(req_query: Option<&str>) -> Result<T, ScimError> {
    serde_urlencoded_query(req_query.unwrap_or_default())
        .map_err(|e| scim_error(400, Some("invalidSyntax"), format!("the query does not read: {e}")))
}

fn serde_urlencoded_query<T: serde::de::DeserializeOwned>(q: &str) -> Result<T, String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let mut m = Map::new();
    for (k, v) in pairs {
        // Parameter names in any case (`startindex`, `StartIndex`).
        let k = ["filter", "startIndex", "count", "attributes", "excludedAttributes"]
            .into_iter()
            .find(|n| n.eq_ignore_ascii_case(&k))
            .map_or(k, str::to_owned);
        m.insert(k, Value::String(v));
    }
    serde_json::from_value(Value::Object(m)).map_err(|e| e.to_string())
}

fn user_answer(state: &AppState, account: &AccountName, u: &ScimUser) -> Map<String, Value> {
    let kept = u.scim.clone().unwrap_or_else(|| resource::from_pulled(&u.user));
    resource::answer(ScimKind::User, &kept, &base(state, account))
}

fn group_answer(
    state: &AppState,
    account: &AccountName,
    g: &ScimGroup,
    members: &[(String, String)],
) -> Map<String, Value> {
    let kept = g.scim.clone().unwrap_or_else(|| {
        let mut m = Map::new();
        m.insert("id".into(), json!(g.group.id));
        m.insert("displayName".into(), json!(g.group.name));
        m.insert(
            "meta".into(),
            json!({ "resourceType": "Group", "created": g.group.created, "lastModified": g.group.last_updated }),
        );
        m
    });
    let base = base(state, account);
    let mut out = resource::answer(ScimKind::Group, &kept, &base);
    // The directory's members, then those kept as pushed that are no user here.
    let unresolved = match out.remove("members") {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let mut all: Vec<Value> = members
        .iter()
        .map(|(id, login)| json!({ "value": id, "display": login, "type": "User", "$ref": format!("{base}/Users/{id}") }))
        .collect();
    all.extend(unresolved);
    out.insert("members".into(), Value::Array(all));
    out
}

fn shaped(kind: ScimKind, resource: Map<String, Value>, attributes: &[String], excluded: &[String]) -> Value {
    Value::Object(resource::project(kind, resource, attributes, excluded))
}

fn with_location(status: StatusCode, body: Value) -> Response {
    let location = body
        .pointer("/meta/location")
        .and_then(Value::as_str)
        .and_then(|l| HeaderValue::from_str(l).ok());
    let mut res = scim_json(status, &body);
    if let Some(l) = location {
        res.headers_mut().insert(header::LOCATION, l);
    }
    res
}

fn account(name: &str) -> Result<AccountName, ScimError> {
    AccountName::parse(name).map_err(ScimError)
}

async fn list(state: Arc<AppState>, name: String, kind: ScimKind, raw_query: Option<String>) -> Answer {
    let account = account(&name)?;
    let p: ListParams = query(raw_query.as_deref())?;
    let filter = p
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(parse_filter)
        .transpose()?;
    let start_index = integer(p.start_index.as_ref(), "startIndex", 1)?;
    let count = integer(p.count.as_ref(), "count", 100)?.min(MAX_SCIM_PAGE);
    let page = state
        .service
        .scim_list(&account, kind, filter.as_ref(), start_index, count)
        .await?;
    let (attributes, excluded) = (names(p.attributes.as_ref()), names(p.excluded_attributes.as_ref()));
    let resources: Vec<Value> = match kind {
        ScimKind::User => page
            .users
            .iter()
            .map(|u| shaped(ScimKind::User, user_answer(&state, &account, u), &attributes, &excluded))
            .collect(),
        ScimKind::Group => page
            .groups
            .iter()
            .map(|(g, m)| {
                shaped(
                    ScimKind::Group,
                    group_answer(&state, &account, g, m),
                    &attributes,
                    &excluded,
                )
            })
            .collect(),
    };
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": page.total,
            "startIndex": page.start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    ))
}

/// Any other path under the base URL: a SCIM 404.
async fn unknown(axum::extract::Path((_, rest)): axum::extract::Path<(String, String)>) -> Answer {
    Err(scim_error(
        404,
        None,
        format!("no SCIM endpoint /{rest}: Users, Groups, ServiceProviderConfig, ResourceTypes and Schemas are served"),
    ))
}

/// A search's body (`POST /Users/.search`, RFC 7644 §3.4.3): the listing's parameters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Option<Vec<String>>,
    excluded_attributes: Option<Vec<String>>,
}

impl SearchBody {
    /// The listing's query string that asks the same.
    fn query(&self) -> String {
        let b = self;
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(f) = &b.filter {
            q.append_pair("filter", f);
        }
        if let Some(n) = b.start_index {
            q.append_pair("startIndex", &n.to_string());
        }
        if let Some(n) = b.count {
            q.append_pair("count", &n.to_string());
        }
        if let Some(a) = &b.attributes {
            q.append_pair("attributes", &a.join(","));
        }
        if let Some(a) = &b.excluded_attributes {
            q.append_pair("excludedAttributes", &a.join(","));
        }
        q.finish()
    }
}

async fn search(
    state: Arc<AppState>,
    name: String,
    kind: ScimKind,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    let v = json_in(&headers, body).await?;
    let b: SearchBody = serde_json::from_value(v)
        .map_err(|e| scim_error(400, Some("invalidSyntax"), format!("not a SearchRequest: {e}")))?;
    let query = b.query();
    list(state, name, kind, Some(query)).await
}

/// `POST /.search` (every resource type at once): 501, as RFC 7644 §3.12 says for an operation
/// not supported.
async fn search_everything() -> Answer {
    Err(scim_error(
        501,
        None,
        "searching several resource types at once is not supported: POST /Users/.search or /Groups/.search",
    ))
}

async fn search_users(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    search(state, name, ScimKind::User, headers, body).await
}

async fn search_groups(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    search(state, name, ScimKind::Group, headers, body).await
}

async fn list_users(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Answer {
    list(state, name, ScimKind::User, q).await
}

async fn list_groups(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Answer {
    list(state, name, ScimKind::Group, q).await
}

async fn get_user(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Answer {
    let account = account(&name)?;
    let p: GetParams = query(q.as_deref())?;
    let u = state.service.scim_user(&account, &id).await?;
    let body = shaped(
        ScimKind::User,
        user_answer(&state, &account, &u),
        &names(p.attributes.as_ref()),
        &names(p.excluded_attributes.as_ref()),
    );
    Ok(scim_json(StatusCode::OK, &body))
}

async fn get_group(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Answer {
    let account = account(&name)?;
    let p: GetParams = query(q.as_deref())?;
    let (g, members) = state.service.scim_group(&account, &id).await?;
    let body = shaped(
        ScimKind::Group,
        group_answer(&state, &account, &g, &members),
        &names(p.attributes.as_ref()),
        &names(p.excluded_attributes.as_ref()),
    );
    Ok(scim_json(StatusCode::OK, &body))
}

async fn create_user(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    let account = account(&name)?;
    let body = json_in(&headers, body).await?;
    let u = state.service.scim_create_user(&account, body).await?;
    Ok(with_location(
        StatusCode::CREATED,
        Value::Object(user_answer(&state, &account, &u)),
    ))
}

async fn replace_user(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    let account = account(&name)?;
    let body = json_in(&headers, body).await?;
    let u = state.service.scim_replace_user(&account, &id, body).await?;
    Ok(scim_json(
        StatusCode::OK,
        &Value::Object(user_answer(&state, &account, &u)),
    ))
}

async fn patch_user(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    let account = account(&name)?;
    let body = json_in(&headers, body).await?;
    let u = state.service.scim_patch_user(&account, &id, &body).await?;
    Ok(scim_json(
        StatusCode::OK,
        &Value::Object(user_answer(&state, &account, &u)),
    ))
}

async fn delete_user(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
) -> Answer {
    let account = account(&name)?;
    state.service.scim_delete_user(&account, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A group's answer after a push, with the member ids skipped (no user here) said in the
/// `Okta-Bridge-Skipped-Members` header.
async fn group_pushed(
    state: &AppState,
    account: &AccountName,
    status: StatusCode,
    g: &ScimGroup,
    skipped: &Skipped,
) -> Answer {
    let members = state.service.scim_group(account, &g.group.id).await?.1;
    let body = group_answer(state, account, g, &members);
    let mut res = if status == StatusCode::CREATED {
        with_location(status, Value::Object(body))
    } else {
        scim_json(status, &Value::Object(body))
    };
    if !skipped.0.is_empty() {
        // A SCIM client ignores a header it does not know; the body stays a valid Group.
        let detail = format!(
            "{} member id(s) are no user here and were skipped (push those users first): {}",
            skipped.0.len(),
            skipped.0.join(", ")
        );
        if let Ok(v) = HeaderValue::from_str(&detail) {
            res.headers_mut().insert("okta-bridge-skipped-members", v);
        }
    }
    Ok(res)
}

async fn create_group(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    let account = account(&name)?;
    let body = json_in(&headers, body).await?;
    let (g, skipped) = state.service.scim_create_group(&account, body).await?;
    group_pushed(&state, &account, StatusCode::CREATED, &g, &skipped).await
}

async fn replace_group(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    let account = account(&name)?;
    let body = json_in(&headers, body).await?;
    let (g, skipped) = state.service.scim_replace_group(&account, &id, body).await?;
    group_pushed(&state, &account, StatusCode::OK, &g, &skipped).await
}

async fn patch_group(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Answer {
    let account = account(&name)?;
    let body = json_in(&headers, body).await?;
    let (g, skipped) = state.service.scim_patch_group(&account, &id, &body).await?;
    group_pushed(&state, &account, StatusCode::OK, &g, &skipped).await
}

async fn delete_group(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
) -> Answer {
    let account = account(&name)?;
    state.service.scim_delete_group(&account, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn service_provider_config(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Answer {
    let account = account(&name)?;
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": format!("{}/api/openapi.json", state.base()),
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_SCIM_PAGE },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The account's SCIM token as Authorization: Bearer <token>",
                "primary": true
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{}/ServiceProviderConfig", base(&state, &account)),
            }
        }),
    ))
}

fn resource_type_of(state: &AppState, account: &AccountName, kind: ScimKind) -> Value {
    let (schema, extensions) = match kind {
        ScimKind::User => (
            resource::USER_SCHEMA,
            json!([
                { "schema": resource::ENTERPRISE_SCHEMA, "required": false },
                { "schema": resource::CUSTOM_SCHEMA, "required": false }
            ]),
        ),
        ScimKind::Group => (resource::GROUP_SCHEMA, json!([])),
    };
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": kind.as_str(),
        "name": kind.as_str(),
        "endpoint": format!("/{}", kind.endpoint()),
        "schema": schema,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{}/ResourceTypes/{}", base(state, account), kind.as_str()),
        }
    })
}

async fn resource_types(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Answer {
    let account = account(&name)?;
    let all = [ScimKind::User, ScimKind::Group].map(|k| resource_type_of(&state, &account, k));
    Ok(scim_json(
        StatusCode::OK,
        &json!({ "schemas": [LIST_SCHEMA], "totalResults": 2, "startIndex": 1, "itemsPerPage": 2, "Resources": all }),
    ))
}

async fn resource_type(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, which)): axum::extract::Path<(String, String)>,
) -> Answer {
    let account = account(&name)?;
    let kind = match which.as_str() {
        "User" => ScimKind::User,
        "Group" => ScimKind::Group,
        _ => {
            return Err(scim_error(
                404,
                None,
                format!("no resource type {which:?}: User and Group"),
            ));
        }
    };
    Ok(scim_json(StatusCode::OK, &resource_type_of(&state, &account, kind)))
}

async fn schemas(State(state): State<Arc<AppState>>, axum::extract::Path(name): axum::extract::Path<String>) -> Answer {
    let account = account(&name)?;
    let all: Vec<Value> = super::scim_schemas::ALL
        .iter()
        .map(|id| super::scim_schemas::schema(id, &base(&state, &account)).unwrap_or(Value::Null))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &json!({ "schemas": [LIST_SCHEMA], "totalResults": all.len(), "startIndex": 1, "itemsPerPage": all.len(), "Resources": all }),
    ))
}

async fn schema(
    State(state): State<Arc<AppState>>,
    axum::extract::Path((name, id)): axum::extract::Path<(String, String)>,
) -> Answer {
    let account = account(&name)?;
    super::scim_schemas::schema(&id, &base(&state, &account))
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| scim_error(404, None, format!("no schema {id:?}: GET /Schemas lists them")))
}
