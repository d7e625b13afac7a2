//! The Management API: `/api/v1/users`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::error::ApiError;
use crate::oauth::AccessClaims;
use crate::org::OrgUser;
use crate::query::{self, Dialect, Expr};
use crate::state::SandboxState;
use crate::util::constant_time_eq;

const MAX_LIMIT: usize = 200;

/// Who is calling, after authentication.
pub(crate) struct Caller {
    pub(crate) user_id: String,
    /// `None` for an SSWS token, which acts with all of its admin's permissions.
    scopes: Option<Vec<String>>,
    super_admin: bool,
}

impl Caller {
    /// Okta's check for a delegated token: the scope must be granted and the signed-in user's
    /// admin role must allow the operation.
    pub(crate) fn require(&self, any_of: &[&str]) -> Result<(), ApiError> {
        if let Some(scopes) = &self.scopes
            && !scopes.iter().any(|s| any_of.contains(&s.as_str()))
        {
            return Err(ApiError::insufficient_scope());
        }
        if !self.super_admin {
            return Err(ApiError::forbidden());
        }
        Ok(())
    }
}

pub(crate) fn authenticate(s: &SandboxState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::invalid_token)?;
    // Okta's Python SDK 3.x sends `SSWS<token>` with no space; the scheme is matched as a
    // case-insensitive prefix with optional whitespace after it, so both forms work.
    let split = |scheme: &'static str| {
        value
            .get(..scheme.len())
            .filter(|p| p.eq_ignore_ascii_case(scheme))
            .map(|_| (scheme, value[scheme.len()..].trim_start()))
    };
    let (scheme, credential) = split("SSWS")
        .or_else(|| split("Bearer"))
        .or_else(|| split("DPoP"))
        .ok_or_else(ApiError::invalid_token)?;
    if scheme.eq_ignore_ascii_case("SSWS") {
        if !constant_time_eq(
            credential.trim().as_bytes(),
            s.config.api_token.expose_secret().as_bytes(),
        ) || !s.api_token_live()
        {
            return Err(ApiError::invalid_token());
        }
        let dir = s.dir();
        let admin = dir.find(&s.config.admin_login).ok_or_else(ApiError::invalid_token)?;
        return Ok(Caller {
            user_id: admin.id.clone(),
            scopes: None,
            super_admin: true,
        });
    }
    if scheme == "Bearer" || scheme == "DPoP" {
        let claims: AccessClaims = s
            .keys
            .verify(credential.trim(), &s.base, &s.base)
            .ok_or_else(ApiError::invalid_token)?;
        if s.grants.lock().expect("grants lock").is_revoked(&claims.jti) {
            return Err(ApiError::invalid_token());
        }
        // A DPoP-bound token needs the DPoP scheme and a proof by its key; a Bearer one, neither.
        match (&claims.cnf, scheme) {
            (None, "Bearer") => {}
            (Some(cnf), "DPoP") => {
                let proof = headers
                    .get("dpop")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| ApiError::invalid_dpop("the DPoP proof header is missing"))?;
                let (method, url) = crate::middleware::REQUEST_TARGET
                    .try_with(Clone::clone)
                    .unwrap_or_default();
                let mut d = s.dpop.lock().expect("dpop lock");
                match crate::dpop::verify(&mut d, proof, &method, &url, false, Some(credential.trim())) {
                    Ok(p) if p.jkt == cnf.jkt => {}
                    Ok(_) => {
                        return Err(ApiError::invalid_dpop(
                            "the DPoP proof was not signed by the token's key",
                        ));
                    }
                    Err(crate::dpop::ProofError::Invalid(why)) => return Err(ApiError::invalid_dpop(why)),
                    Err(crate::dpop::ProofError::Nonce) => return Err(ApiError::invalid_dpop("nonce")),
                }
            }
            _ => return Err(ApiError::invalid_token()),
        }
        // A service app's token: it acts with the roles granted to the app (here: super admin).
        let Some(uid) = &claims.uid else {
            if s.service_app(|a| a.client_id == claims.cid).is_none() {
                return Err(ApiError::invalid_token());
            }
            return Ok(Caller {
                user_id: claims.cid.clone(),
                scopes: Some(claims.scp),
                super_admin: true,
            });
        };
        let dir = s.dir();
        let user = dir
            .find(uid)
            .filter(|u| u.is_active())
            .ok_or_else(ApiError::invalid_token)?;
        return Ok(Caller {
            user_id: user.id.clone(),
            scopes: Some(claims.scp),
            super_admin: user.is_super_admin,
        });
    }
    Err(ApiError::invalid_token())
}

/// Which users a listing selects.
enum Selection {
    /// No query: every user but DEPROVISIONED ones.
    All,
    /// `search` or `filter`: DEPROVISIONED users included.
    Expr(Expr),
    /// `q`: prefix of first name, last name or email; DEPROVISIONED excluded.
    Q(String),
}

impl Selection {
    fn selects(&self, u: &OrgUser, type_id: &str) -> bool {
        match self {
            Selection::All => u.status != "DEPROVISIONED",
            Selection::Expr(e) => e.matches(&|path| u.attr(path, type_id)),
            Selection::Q(q) => {
                let p = &u.profile;
                u.status != "DEPROVISIONED"
                    && [&p.first_name, &p.last_name, &p.email]
                        .iter()
                        .any(|v| v.to_lowercase().starts_with(q.as_str()))
            }
        }
    }
}

/// `GET /api/v1/users`: users in id order (or `sortBy` for searches), `limit` at a time, with
/// `Link` headers (`self` first, then `next` while more remain).
pub(crate) async fn list_users(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    authenticate(&s, &headers)?.require(&["okta.users.read", "okta.users.manage"])?;
    let selection = match (params.get("search"), params.get("filter"), params.get("q")) {
        (Some(e), _, _) => {
            let expr = query::parse(e).map_err(|err| ApiError::invalid_search(err.to_string()))?;
            expr.check(Dialect::Search).map_err(ApiError::invalid_search)?;
            Selection::Expr(expr)
        }
        (None, Some(e), _) => {
            let expr = query::parse(e).map_err(|err| ApiError::invalid_search(err.to_string()))?;
            expr.check(Dialect::UserFilter).map_err(ApiError::invalid_search)?;
            Selection::Expr(expr)
        }
        (None, None, Some(q)) => Selection::Q(q.trim().to_lowercase()),
        (None, None, None) => Selection::All,
    };
    let default_limit = if matches!(selection, Selection::Q(_)) {
        10
    } else {
        MAX_LIMIT
    };
    let limit = parse_limit(params.get("limit"), default_limit, MAX_LIMIT)?;
    let sort_by = params.get("sortBy").map(str::to_owned);
    let descending = match params.get("sortOrder") {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("asc") => false,
        Some(o) if o.eq_ignore_ascii_case("desc") => true,
        Some(o) => return Err(ApiError::validation(format!("sortOrder: {o:?} must be asc or desc"))),
    };
    if sort_by.is_some() && params.get("search").is_none() {
        return Err(ApiError::validation("sortBy: sorting is supported with search only"));
    }
    let after = params.get("after");

    // A page concatenates each user's pre-rendered JSON: no per-request serialization.
    let (body, last_id, more) = {
        let dir = s.dir();
        let type_id = dir.user_type_id.as_str();
        let mut body = String::with_capacity(limit * 1100 + 2);
        let mut last_id = None;
        let mut push = |i: usize, u: &OrgUser| {
            body.push(if i == 0 { '[' } else { ',' });
            body.push_str(&u.list_json);
            last_id = Some(u.id.clone());
        };
        let more = match &sort_by {
            None => {
                let mut listed = dir.after(after).filter(|u| selection.selects(u, type_id));
                listed.by_ref().take(limit).enumerate().for_each(|(i, u)| push(i, u));
                listed.next().is_some()
            }
            Some(key) => {
                // Sorted searches page by position: the cursor is the last id listed.
                let mut all: Vec<(Option<Value>, &OrgUser)> = dir
                    .after(None)
                    .filter(|u| selection.selects(u, type_id))
                    .map(|u| (u.attr(key, type_id), u))
                    .collect();
                all.sort_by(|a, b| sort_key_cmp(&a.0, &b.0).then_with(|| a.1.id.cmp(&b.1.id)));
                if descending {
                    all.reverse();
                }
                let start = match after {
                    None => 0,
                    Some(a) => all.iter().position(|(_, u)| u.id == a).map(|i| i + 1).ok_or_else(|| {
                        ApiError::validation("after: the cursor does not belong to this search; start again without it")
                    })?,
                };
                let page = all.iter().skip(start).take(limit);
                page.enumerate().for_each(|(i, (_, u))| push(i, u));
                start + limit < all.len()
            }
        };
        if body.is_empty() {
            body.push('[');
        }
        body.push(']');
        (body, last_id, more)
    };
    let mut res = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    params.page_links(
        &mut res,
        &s.base,
        "/api/v1/users",
        limit,
        more.then_some(last_id).flatten(),
    );
    Ok(res)
}

/// A request's query string, decoded once.
pub(crate) struct Params {
    raw: String,
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default().to_owned();
        let pairs = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
        Ok(Self { raw, pairs })
    }
}

impl Params {
    /// The first value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `Link` headers of a page: `self` (the request as made), then `next` (the same query
    /// with `after` set to the last id listed) when more remain. Absolute on the public URL.
    pub fn page_links(&self, res: &mut Response, base: &str, path: &str, limit: usize, next_after: Option<String>) {
        let path = format!("{base}{path}");
        let self_link = if self.raw.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", self.raw)
        };
        let links = res.headers_mut();
        links.append(header::LINK, link_value(&self_link, "self"));
        if let Some(last) = next_after {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in self.pairs.iter().filter(|(k, _)| k != "after") {
                q.append_pair(k, v);
            }
            if self.get("limit").is_none() {
                q.append_pair("limit", &limit.to_string());
            }
            q.append_pair("after", &last);
            links.append(header::LINK, link_value(&format!("{path}?{}", q.finish()), "next"));
        }
    }
}

/// `limit`: `default` when absent, capped at `max`, a 400 when not a positive number.
pub(crate) fn parse_limit(value: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok((n as usize).min(max)),
            _ => Err(ApiError::validation(format!("limit: {v:?} is not a positive number"))),
        },
    }
}

fn link_value(url: &str, rel: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("<{url}>; rel=\"{rel}\"")).expect("URLs we build are valid header values")
}

/// `DELETE /api/v1/api-tokens/current`: revokes the API token the request is made with
/// (204); from then on it is refused like any invalid token. Only an API token can revoke
/// itself: an OAuth access token gets 403.
pub(crate) async fn revoke_current_api_token(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    if caller.scopes.is_some() {
        return Err(ApiError::forbidden_because(
            "only an API token (SSWS) can revoke itself",
        ));
    }
    s.api_token_revoked.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/users/{id or login}` (and `me`).
pub(crate) async fn get_user(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s, &headers)?;
    let lookup = if id == "me" {
        caller.user_id.as_str()
    } else {
        caller.require(&["okta.users.read", "okta.users.manage"])?;
        id.as_str()
    };
    let dir = s.dir();
    let user = dir.find(lookup).ok_or_else(|| ApiError::not_found(&id, "User"))?;
    let body = dir.user_json(user);
    // Okta documents an `ETag` on this response: a weak validator of the representation.
    let etag = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(body.to_string().as_bytes());
        format!("W/\"{}\"", hex_prefix(&digest[..8]))
    };
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        axum::http::header::ETAG,
        axum::http::HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    Ok(res)
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Order of `sortBy` values: strings ignoring case, numbers numerically, missing or null last.
fn sort_key_cmp(a: &Option<Value>, b: &Option<Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let present = |v: &Option<Value>| v.clone().filter(|v| !v.is_null());
    match (present(a), present(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Value::String(x)), Some(Value::String(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal)
        }
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}
