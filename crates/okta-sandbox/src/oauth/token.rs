//! `/token` (authorization code, refresh token, client credentials), client authentication,
//! `/revoke` and `/introspect`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::AccessClaims;
use super::client_credentials::{DpopRefusal, authenticate_secret, client_credentials, dpop_binding, issue};
use crate::config::RefreshTokenRotation;
use crate::error::OAuthError;
use crate::state::SandboxState;
use crate::state::grants::{AuthServer, RefreshGrant};
use crate::util::{constant_time_eq, now, random_token};

/// Authenticates the client of a token, revoke or introspect request by
/// `client_secret_basic` or `client_secret_post`.
fn authenticate_client(
    s: &SandboxState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(), OAuthError> {
    let (id, secret) = super::secret_credentials(headers, form)?;
    let ok_id = constant_time_eq(id.as_bytes(), s.config.client_id.as_bytes());
    let ok_secret = constant_time_eq(secret.as_bytes(), s.config.client_secret.expose_secret().as_bytes());
    if ok_id && ok_secret {
        Ok(())
    } else {
        Err(OAuthError::invalid_client())
    }
}

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let digest = Sha256::digest(verifier.as_bytes());
    constant_time_eq(URL_SAFE_NO_PAD.encode(digest).as_bytes(), challenge.as_bytes())
}

/// `POST /oauth2/v1/token`.
pub(crate) async fn token(
    State(s): State<Arc<SandboxState>>,
    server: AuthServer,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    if (form.contains_key("client_assertion") || form.contains_key("client_assertion_type"))
        && server == AuthServer::Org
    {
        return client_credentials(&s, &headers, &form);
    }
    // A service app with a client secret (an API service integration): client_secret_basic.
    if server == AuthServer::Org
        && let Some(app) = authenticate_secret(&s, &headers, &form)
    {
        return issue(&s, &headers, &form, &app?);
    }
    authenticate_client(&s, &headers, &form)?;
    // Before the code or refresh token is looked at: a nonce round trip must not consume it.
    let cnf = match dpop_binding(&s, &headers, &server.token_url(&s), s.config.web_app_require_dpop) {
        Ok(cnf) => cnf,
        Err(DpopRefusal::Nonce(res)) => return Ok(*res),
        Err(DpopRefusal::Error(e)) => return Err(e),
    };
    let client_id = s.config.client_id.clone();
    // The ID token's nonce (authorization code grants only; a refresh's ID token has none).
    let mut nonce = None;
    let (user_id, scopes, refresh) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form
                .get("code")
                .ok_or_else(|| OAuthError::invalid_request("The 'code' parameter is required."))?;
            // Removing the code first makes it single-use even when the rest fails.
            let grant = s.grants.lock().expect("grants lock").codes.remove(code);
            let grant = grant
                .filter(|g| g.expires_at > now() && g.client_id == client_id && g.server == server)
                .ok_or_else(|| OAuthError::invalid_grant("The authorization code is invalid or has expired."))?;
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return Err(OAuthError::invalid_grant(
                    "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
                ));
            }
            if let Some(challenge) = &grant.code_challenge {
                let verifier = form.get("code_verifier").ok_or_else(|| {
                    OAuthError::invalid_grant("PKCE verification failed: the 'code_verifier' parameter is required.")
                })?;
                if !pkce_matches(verifier, challenge) {
                    return Err(OAuthError::invalid_grant("PKCE verification failed."));
                }
            }
            let refresh = grant.scopes.iter().any(|s| s == "offline_access").then(|| {
                let rt = random_token(43);
                let g = RefreshGrant {
                    server,
                    client_id: client_id.clone(),
                    user_id: grant.user_id.clone(),
                    scopes: grant.scopes.clone(),
                    issued_at: now(),
                };
                s.grants.lock().expect("grants lock").refresh.insert(rt.clone(), g);
                rt
            });
            nonce = grant.nonce.clone();
            (grant.user_id, grant.scopes, refresh)
        }
        Some("refresh_token") => {
            let rt = form
                .get("refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("The 'refresh_token' parameter is required."))?;
            let mut g = s.grants.lock().expect("grants lock");
            // A token rotated out less than the leeway ago still works: it yields the successor.
            let leeway = time::Duration::try_from(s.config.refresh_token_leeway).unwrap_or_default();
            let (rt, within_leeway) = match g.rotated.get(rt) {
                Some((successor, at)) if now() - *at <= leeway && g.refresh.contains_key(successor) => {
                    (successor.clone(), true)
                }
                _ => (rt.clone(), false),
            };
            let rt = &rt;
            let grant = g
                .refresh
                .get(rt)
                .filter(|g| g.client_id == client_id && g.server == server)
                .cloned()
                .ok_or_else(|| OAuthError::invalid_grant("The refresh token is invalid or expired."))?;
            let scopes = match form.get("scope") {
                Some(req) => {
                    let req: Vec<String> = req.split_whitespace().map(str::to_owned).collect();
                    if req.iter().any(|r| !grant.scopes.contains(r)) {
                        return Err(OAuthError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            "The requested scope is invalid, unknown, or malformed.",
                        ));
                    }
                    req
                }
                None => grant.scopes.clone(),
            };
            let next = match s.config.refresh_token_rotation {
                RefreshTokenRotation::Static => rt.clone(),
                RefreshTokenRotation::Rotate if within_leeway => rt.clone(),
                RefreshTokenRotation::Rotate => {
                    g.refresh.remove(rt);
                    let new = random_token(43);
                    g.refresh.insert(
                        new.clone(),
                        RefreshGrant {
                            issued_at: now(),
                            ..grant.clone()
                        },
                    );
                    g.rotated.retain(|_, (_, at)| now() - *at <= time::Duration::minutes(1));
                    g.rotated.insert(rt.clone(), (new.clone(), now()));
                    new
                }
            };
            (grant.user_id, scopes, Some(next))
        }
        // A web app authenticated, but not for this grant: Okta's answer names the grants it has.
        Some("client_credentials") => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "The client is not authorized to use the provided grant type. Configured grant types: [authorization_code, refresh_token].".to_owned(),
            ));
        }
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("The authorization grant type is not supported by the authorization server: '{other}'."),
            ));
        }
        None => return Err(OAuthError::invalid_request("The 'grant_type' parameter is required.")),
    };
    let (login, id_claims) = {
        let dir = s.dir();
        let user = dir
            .find(&user_id)
            .filter(|u| u.is_active())
            .ok_or_else(|| OAuthError::invalid_grant("The user is no longer active."))?;
        let has = |scope: &str| scopes.iter().any(|s| s == scope);
        // OpenID Connect: an ID token for `openid`, with the claims its scopes ask for.
        let id_claims = has("openid").then(|| {
            let p = &user.profile;
            let mut c = json!({
                "ver": 1,
                "sub": user.id,
                "iss": server.issuer(&s),
                "aud": client_id,
                "iat": now().unix_timestamp(),
                "exp": now().unix_timestamp() + 3600,
                "jti": format!("ID.{}", random_token(43)),
                "amr": ["pwd"],
                "idp": "00o-sandbox",
                "auth_time": now().unix_timestamp(),
            });
            if let Some(n) = &nonce {
                c["nonce"] = json!(n);
            }
            if has("email") {
                c["email"] = json!(p.email);
                c["email_verified"] = json!(true);
            }
            if has("profile") {
                c["name"] = json!(format!("{} {}", p.first_name, p.last_name));
                c["preferred_username"] = json!(p.login);
                c["given_name"] = json!(p.first_name);
                c["family_name"] = json!(p.last_name);
            }
            if has("groups") {
                let groups: Vec<&str> = dir.groups_of(&user.id).map(|g| g.name.as_str()).take(100).collect();
                c["groups"] = json!(groups);
            }
            c
        });
        (user.profile.login.clone(), id_claims)
    };
    let issued = now();
    let ttl = s.config.access_token_ttl.as_secs() as i64;
    let claims = AccessClaims {
        ver: 1,
        jti: format!("AT.{}", random_token(43)),
        iss: server.issuer(&s),
        aud: server.audience(&s),
        iat: issued.unix_timestamp(),
        exp: issued.unix_timestamp() + ttl,
        cid: client_id.clone(),
        uid: Some(user_id.clone()),
        scp: scopes.clone(),
        auth_time: issued.unix_timestamp(),
        sub: login,
        cnf: cnf.clone(),
    };
    let access_token = s.keys.sign(&claims);
    let client_id_for_log = client_id.clone();
    {
        let mut g = s.grants.lock().expect("grants lock");
        g.issued_access.push(claims.jti.clone());
        *g.token_grants.entry(client_id).or_default() += 1;
    }
    let app = crate::syslog::Target::new("AppInstance", &client_id_for_log, None, Some("okta-sandbox web app"));
    s.record(&user_id, "app.oauth2.as.token.grant.access_token", &[app], true);
    let mut body = json!({
        "token_type": if cnf.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": ttl,
        "access_token": access_token,
        "scope": scopes.join(" "),
    });
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    if let Some(claims) = &id_claims {
        body["id_token"] = json!(s.keys.sign(claims));
    }
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// `POST /oauth2/v1/revoke`: always 200 for a token the server does not know (RFC 7009).
pub(crate) async fn revoke(
    State(s): State<Arc<SandboxState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    authenticate_client(&s, &headers, &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The 'token' parameter is required."))?;
    let mut g = s.grants.lock().expect("grants lock");
    g.rotated
        .retain(|old, (successor, _)| old != token && successor != token);
    if g.refresh.remove(token).is_none()
        && let Some(claims) = s.keys.verify_signature::<AccessClaims>(token)
    {
        g.revoked_access.insert(claims.jti);
    }
    Ok(StatusCode::OK.into_response())
}

/// `POST /oauth2/v1/introspect`.
pub(crate) async fn introspect(
    State(s): State<Arc<SandboxState>>,
    server: AuthServer,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, OAuthError> {
    authenticate_client(&s, &headers, &form)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("The 'token' parameter is required."))?;
    let g = s.grants.lock().expect("grants lock");
    if let Some(r) = g.refresh.get(token).filter(|r| r.server == server) {
        let login = s.dir().find(&r.user_id).map(|u| u.profile.login.clone());
        return Ok(Json(json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": r.scopes.join(" "),
            "client_id": r.client_id,
            "username": login,
            "sub": login,
            "uid": r.user_id,
            "iat": r.issued_at.unix_timestamp(),
            "iss": server.issuer(&s),
        }))
        .into_response());
    }
    let claims = s
        .keys
        .verify::<AccessClaims>(token, &server.issuer(&s), &server.audience(&s))
        .filter(|c| !g.is_revoked(&c.jti));
    let body = match claims {
        Some(c) => json!({
            "active": true,
            "token_type": if c.cnf.is_some() { "DPoP" } else { "Bearer" },
            "scope": c.scp.join(" "),
            "client_id": c.cid,
            "username": c.sub,
            "sub": c.sub,
            "uid": c.uid,
            "exp": c.exp,
            "iat": c.iat,
            "aud": c.aud,
            "iss": c.iss,
            "jti": c.jti,
        }),
        None => json!({ "active": false }),
    };
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        // RFC 7636 appendix B.
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches("wrong", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }
}
