//! The client credentials grant of service apps: `private_key_jwt` client assertions
//! (RFC 7523) and DPoP-bound tokens (RFC 9449).

use std::collections::HashMap;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{AccessClaims, Confirmation};
use crate::error::OAuthError;
use crate::state::SandboxState;
use crate::state::grants::AuthServer;
use crate::util::{now, random_token};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    jti: Option<String>,
    exp: i64,
    iat: Option<i64>,
}

/// Authenticates a service app by its `private_key_jwt` client assertion: signed by a key of
/// its JWKS, `iss` = `sub` = client id, `aud` = this token endpoint, unexpired (at most an hour
/// long), and a `jti` never seen before.
fn authenticate_assertion(
    s: &SandboxState,
    form: &HashMap<String, String>,
) -> Result<crate::config::ServiceApp, OAuthError> {
    let invalid = |why: &str| OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", why.to_owned());
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err(invalid(
            "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
        ));
    }
    let assertion = form
        .get("client_assertion")
        .ok_or_else(|| invalid("The client_assertion is required."))?;
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid("The client_assertion is not a JWT."))?;
    let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| invalid("The client_assertion lacks iss, sub or exp."))?;
    let app = s
        .service_app(|a| a.client_id == unverified.iss)
        .ok_or_else(|| invalid("The client_assertion's issuer is not a registered client."))?;
    if form.get("client_id").is_some_and(|id| id != &app.client_id) {
        return Err(invalid("The client_id does not match the client_assertion's issuer."));
    }
    let jwk = match &header.kid {
        Some(kid) => app.jwks.find(kid),
        None if app.jwks.keys.len() == 1 => app.jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| invalid("The client_assertion was signed with a key that is not registered for the client."))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
        .map_err(|_| invalid("The registered key cannot verify signatures."))?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[format!("{}/oauth2/v1/token", s.base)]);
    v.set_issuer(&[app.client_id.as_str()]);
    v.leeway = 0;
    let claims: AssertionClaims = jsonwebtoken::decode(assertion, &key, &v)
        .map_err(|e| invalid(&format!("The client_assertion is not valid: {e}.")))?
        .claims;
    if claims.sub != app.client_id {
        return Err(invalid("The client_assertion's sub must be the client id."));
    }
    if !lifetime_within(claims.exp, claims.iat, now().unix_timestamp(), MAX_ASSERTION_LIFETIME) {
        return Err(invalid("The client_assertion may be valid for at most one hour."));
    }
    let jti = claims.jti.ok_or_else(|| invalid("The client_assertion needs a jti."))?;
    let mut g = s.grants.lock().expect("grants lock");
    let now_ts = now().unix_timestamp();
    g.used_assertions.retain(|_, exp| *exp >= now_ts);
    if g.used_assertions.insert(jti, claims.exp).is_some() {
        return Err(invalid("The client_assertion token has already been used (jti)."));
    }
    Ok(app)
}

/// The longest a client assertion may be valid (`exp - iat`), as Okta allows.
const MAX_ASSERTION_LIFETIME: i64 = 3600;

/// Whether an assertion issued at `iat` (or `now`, without one) and expiring at `exp` lives
/// between 0 and `max` seconds, for any claims an assertion may carry: checked arithmetic, so
/// `exp = i64::MAX, iat = -1` is refused, never wrapped into a pass or a panic.
pub(crate) fn lifetime_within(exp: i64, iat: Option<i64>, now: i64, max: i64) -> bool {
    exp.checked_sub(iat.unwrap_or(now))
        .is_some_and(|d| (0..=max).contains(&d))
}

/// Why a token request's DPoP proof was not accepted.
pub(super) enum DpopRefusal {
    /// `use_dpop_nonce`: not an error to report but an answer to retry with the nonce.
    Nonce(Box<Response>),
    Error(OAuthError),
}

/// DPoP on a token request of an app that requires it: a valid proof binds the token to the
/// proof's key (`cnf.jkt`); a missing nonce is answered with `use_dpop_nonce` and a
/// `DPoP-Nonce` header, before anything is consumed, so the client can retry the same request.
/// An app that does not require DPoP gets Bearer tokens and its proofs are ignored, as Okta
/// does (Okta's Node.js SDK sends a proof on every token request and relies on that).
pub(super) fn dpop_binding(
    s: &SandboxState,
    headers: &HeaderMap,
    token_url: &str,
    required: bool,
) -> Result<Option<Confirmation>, DpopRefusal> {
    if !required {
        return Ok(None);
    }
    let Some(proof) = headers.get("dpop").and_then(|v| v.to_str().ok()) else {
        return Err(DpopRefusal::Error(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            "The DPoP proof JWT header is missing.",
        )));
    };
    let mut d = s.dpop.lock().expect("dpop lock");
    match crate::dpop::verify(&mut d, proof, "POST", token_url, true, None) {
        Ok(p) => Ok(Some(Confirmation { jkt: p.jkt })),
        Err(crate::dpop::ProofError::Nonce) => {
            let nonce = d.nonce();
            let mut res = (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "use_dpop_nonce", "error_description": "Authorization server requires nonce in DPoP proof." })),
            )
                .into_response();
            res.headers_mut()
                .insert("dpop-nonce", HeaderValue::from_str(&nonce).expect("base62 nonce"));
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Err(DpopRefusal::Nonce(Box::new(res)))
        }
        Err(crate::dpop::ProofError::Invalid(why)) => Err(DpopRefusal::Error(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            why,
        ))),
    }
}

/// Authenticates a service app that has a client secret by `client_secret_basic` (or
/// `client_secret_post`): `None` when the request names no such app (it is a web app's).
pub(super) fn authenticate_secret(
    s: &SandboxState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<Result<crate::config::ServiceApp, OAuthError>> {
    use secrecy::ExposeSecret;
    // Credentials that do not parse are the web app's path to refuse.
    let (id, secret) = super::secret_credentials(headers, form).ok()?;
    let app = s.service_app(|a| a.client_id == id && a.client_secret.is_some())?;
    let expected = app.client_secret.as_ref()?.expose_secret();
    Some(
        if crate::util::constant_time_eq(secret.as_bytes(), expected.as_bytes()) {
            Ok(app)
        } else {
            Err(OAuthError::invalid_client())
        },
    )
}

/// `grant_type=client_credentials` for a service app authenticated by its client assertion.
pub(super) fn client_credentials(
    s: &SandboxState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let app = authenticate_assertion(s, form)?;
    issue(s, headers, form, &app)
}

/// An access token for service `app` (authenticated): the granted `okta.*` scopes asked for,
/// no refresh token.
pub(super) fn issue(
    s: &SandboxState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    app: &crate::config::ServiceApp,
) -> Result<Response, OAuthError> {
    let cnf = match dpop_binding(s, headers, &AuthServer::Org.token_url(s), app.require_dpop) {
        Ok(cnf) => cnf,
        Err(DpopRefusal::Nonce(res)) => return Ok(*res),
        Err(DpopRefusal::Error(e)) => return Err(e),
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Service apps use the client_credentials grant.",
        ));
    }
    let scopes: Vec<String> = form
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    if scopes.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The 'scope' parameter is required.",
        ));
    }
    let missing: Vec<&str> = scopes
        .iter()
        .filter(|sc| !app.scopes.contains(sc))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "The following scopes are not granted to the client: {}.",
                missing.join(" ")
            ),
        ));
    }
    let issued = now();
    let ttl = s.config.access_token_ttl.as_secs() as i64;
    let claims = AccessClaims {
        ver: 1,
        jti: format!("AT.{}", random_token(43)),
        iss: s.base.clone(),
        aud: s.base.clone(),
        iat: issued.unix_timestamp(),
        exp: issued.unix_timestamp() + ttl,
        cid: app.client_id.clone(),
        uid: None,
        scp: scopes.clone(),
        auth_time: issued.unix_timestamp(),
        sub: app.client_id.clone(),
        cnf: cnf.clone(),
    };
    let access_token = s.keys.sign(&claims);
    {
        let mut g = s.grants.lock().expect("grants lock");
        g.issued_access.push(claims.jti.clone());
        *g.token_grants.entry(app.client_id.clone()).or_default() += 1;
    }
    let mut res = Json(json!({
        "token_type": if cnf.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": ttl,
        "access_token": access_token,
        "scope": scopes.join(" "),
    }))
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::lifetime_within;

    proptest! {
        #[test]
        fn extreme_claims_are_refused_never_a_panic(exp in any::<i64>(), iat in proptest::option::of(any::<i64>()), now in any::<i64>()) {
            let exact = (0..=3600).contains(&(i128::from(exp) - i128::from(iat.unwrap_or(now))));
            prop_assert_eq!(lifetime_within(exp, iat, now, 3600), exact);
        }
    }

    #[test]
    fn the_assertion_of_the_review_is_refused() {
        assert!(!lifetime_within(i64::MAX, Some(-1), 0, 3600));
        assert!(!lifetime_within(i64::MAX, Some(i64::MIN), 0, 3600));
        assert!(lifetime_within(1_000 + 3600, Some(1_000), 0, 3600));
        assert!(!lifetime_within(1_000 + 3601, Some(1_000), 0, 3600));
        assert!(
            !lifetime_within(999, Some(1_000), 0, 3600),
            "expires before it was issued"
        );
    }
}
