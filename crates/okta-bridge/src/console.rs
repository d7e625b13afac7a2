//! Signing in to the console with OpenID Connect, besides the admin token: the authorization
//! code flow with PKCE and a nonce against any OpenID provider found by discovery (an Okta
//! org's own authorization server is the obvious one), the ID token's signature checked with
//! the provider's keys, and the person let in only if their verified email, or one of their
//! groups, is on the allow list. The pending sign-in is kept like a connect flow's (the state
//! hashed, single-use, bound to the browser by a cookie; the PKCE verifier sealed).

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use crate::crypto::{hash, random_secret};
use crate::egress::Egress;
use crate::error::{Error, Result};
use crate::model::{ClientSecret, PendingAuthorization, PkceVerifier, now};
use crate::oauth::{CallbackParams, STATE_TTL, Started, binding_cookie_name, binding_hash, take_callback};
use crate::settings::ConsoleSettings;
use crate::store::Store;

/// What console sign-ins bind their pending state to, in place of an admin session.
pub const CONSOLE_SIGN_IN: &str = "console-sign-in";

/// The setting named in configuration errors.
const SETTING: &str = "OKTA_BRIDGE_CONSOLE_OIDC_ISSUER";

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone)]
struct Provider {
    authorization: Url,
    token: Url,
    jwks: Url,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
}

/// Who signed in, as the ID token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`.
    pub subject: String,
    /// The verified `email`, if any.
    pub email: Option<String>,
    /// The `groups` claim.
    pub groups: Vec<String>,
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    /// One audience or several.
    #[serde(default)]
    aud: serde_json::Value,
    /// The authorized party: the client the token was issued to.
    azp: Option<String>,
    /// When it was issued (unix seconds).
    iat: Option<i64>,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    #[serde(default)]
    groups: Vec<String>,
}

/// The console's OpenID provider and who may sign in through it.
#[derive(Debug)]
pub struct ConsoleOidc {
    issuer: Url,
    client_id: String,
    client_secret: ClientSecret,
    allowed_emails: Vec<String>,
    allowed_groups: Vec<String>,
    http: reqwest::Client,
    provider: tokio::sync::OnceCell<Provider>,
    keys: tokio::sync::Mutex<Option<jsonwebtoken::jwk::JwkSet>>,
}

impl ConsoleOidc {
    /// The console's sign-in as `settings` configure it (`None` without an issuer), reaching
    /// the provider as `egress` allows.
    ///
    /// # Errors
    /// [`Error::Config`] for an issuer without a client, or with nobody allowed in.
    pub fn from_settings(settings: &ConsoleSettings, egress: &Egress) -> Result<Option<Self>> {
        let Some(issuer) = settings.issuer.clone() else {
            return Ok(None);
        };
        let (Some(client_id), Some(secret)) = (&settings.client_id, &settings.client_secret) else {
            return Err(Error::config(
                SETTING,
                "a console OIDC issuer needs its app: set OKTA_BRIDGE_CONSOLE_OIDC_CLIENT_ID and OKTA_BRIDGE_CONSOLE_OIDC_CLIENT_SECRET",
            ));
        };
        let list = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let allowed_emails: Vec<String> = list(&settings.allowed_emails)
            .into_iter()
            .map(|e| e.to_lowercase())
            .collect();
        let allowed_groups = list(&settings.allowed_groups);
        if allowed_emails.is_empty() && allowed_groups.is_empty() {
            return Err(Error::config(
                SETTING,
                "say who may sign in to the console: OKTA_BRIDGE_CONSOLE_ALLOWED_EMAILS and/or OKTA_BRIDGE_CONSOLE_ALLOWED_GROUPS (comma-separated)",
            ));
        }
        Ok(Some(Self {
            issuer,
            client_id: client_id.clone(),
            client_secret: ClientSecret::new(secret.expose_secret()),
            allowed_emails,
            allowed_groups,
            http: egress.http_client(Duration::from_secs(15))?,
            provider: tokio::sync::OnceCell::new(),
            keys: tokio::sync::Mutex::new(None),
        }))
    }

    /// The provider's issuer.
    pub fn issuer(&self) -> &Url {
        &self.issuer
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>> {
        let res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| Error::config(SETTING, format!("cannot read {url}: {}", e.without_url())))?;
        if !res.status().is_success() {
            return Err(Error::config(SETTING, format!("{url} answered {}", res.status())));
        }
        let body = okta_client::body::read_limited(res, okta_client::body::MAX_SMALL_BYTES)
            .await
            .map_err(|e| Error::config(SETTING, format!("cannot read {url}: {e}")))?;
        Ok(body.to_vec())
    }

    /// The provider's endpoints, discovered once: on the issuer's origin only.
    async fn provider(&self) -> Result<&Provider> {
        self.provider
            .get_or_try_init(|| async {
                let base = self.issuer.as_str().trim_end_matches('/');
                let url = format!("{base}/.well-known/openid-configuration");
                let doc: Discovery = serde_json::from_slice(&self.get(&url).await?)
                    .map_err(|e| Error::config(SETTING, format!("{url} is not a discovery document: {e}")))?;
                if doc.issuer.trim_end_matches('/') != base {
                    return Err(Error::config(
                        SETTING,
                        format!("the discovery document of {base} names another issuer ({})", doc.issuer),
                    ));
                }
                let endpoint = |name: &str, value: Option<String>| -> Result<Url> {
                    let value =
                        value.ok_or_else(|| Error::config(SETTING, format!("the discovery document has no {name}")))?;
                    let url =
                        Url::parse(&value).map_err(|e| Error::config(SETTING, format!("{name} {value:?}: {e}")))?;
                    if url.origin() != self.issuer.origin() {
                        return Err(Error::config(
                            SETTING,
                            format!("the {name} {url} is not on the issuer's origin"),
                        ));
                    }
                    Ok(url)
                };
                Ok(Provider {
                    authorization: endpoint("authorization_endpoint", doc.authorization_endpoint)?,
                    token: endpoint("token_endpoint", doc.token_endpoint)?,
                    jwks: endpoint("jwks_uri", doc.jwks_uri)?,
                })
            })
            .await
    }

    /// The nonce of the sign-in whose browser holds `binding`: only that browser's callback
    /// can produce it, and it is never stored.
    fn nonce(binding: &str) -> String {
        hash(&format!("okta-bridge console nonce\n{binding}"))
    }

    /// Starts a sign-in that comes back to `redirect_uri`: the provider's authorize URL and
    /// the cookie that binds the sign-in to this browser.
    ///
    /// # Errors
    /// [`Error::Config`] when the provider cannot be discovered; [`Error::Database`].
    pub async fn start(&self, store: &Store, redirect_uri: &str) -> Result<Started> {
        use base64::Engine;
        use sha2::Digest;
        let provider = self.provider().await?;
        let state = random_secret();
        let binding = random_secret();
        let verifier = random_secret();
        let challenge =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        store
            .put_pending(&PendingAuthorization {
                state_hash: hash(&state),
                browser_hash: binding_hash(&binding, CONSOLE_SIGN_IN),
                pkce_verifier: PkceVerifier::new(verifier),
                account: None,
                expires_at: now() + STATE_TTL.as_secs() as i64,
            })
            .await?;
        let mut scopes = String::from("openid email profile");
        if !self.allowed_groups.is_empty() {
            scopes.push_str(" groups");
        }
        let mut url = provider.authorization.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &Self::nonce(&binding))
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(Started {
            authorize_url: url,
            binding_cookie: binding_cookie_name(&state),
            browser_binding: binding.into(),
        })
    }

    /// Finishes a sign-in from its callback: takes the pending sign-in (once), exchanges the
    /// code, checks the ID token (signature, issuer, audience, expiry, nonce) and whether the
    /// person may sign in.
    ///
    /// # Errors
    /// [`Error::OAuth`] for a callback that is not this browser's, a refused exchange or an ID
    /// token that does not check out; [`Error::ConsoleRefused`] for someone not on the lists.
    pub async fn finish(
        &self,
        store: &Store,
        params: &CallbackParams,
        binding: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Identity> {
        let callback = take_callback(store, params, binding, &[CONSOLE_SIGN_IN]).await?;
        let provider = self.provider().await?;
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let res = self
            .http
            .post(provider.token.clone())
            .basic_auth(enc(&self.client_id), Some(enc(self.client_secret.expose_secret())))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", callback.code()),
                ("redirect_uri", redirect_uri),
                ("code_verifier", callback.pending.pkce_verifier.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| refused(format!("the provider could not be reached: {}", e.without_url())))?;
        let status = res.status();
        let body = okta_client::body::read_limited(res, okta_client::body::MAX_SMALL_BYTES)
            .await
            .map_err(|e| refused(format!("the provider's answer could not be read: {e}")))?;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            let error = answer["error"].as_str().unwrap_or("error");
            let description = answer["error_description"].as_str().unwrap_or("");
            return Err(refused(format!(
                "the provider refused the sign-in ({error}: {description})"
            )));
        }
        let id_token = answer["id_token"]
            .as_str()
            .ok_or_else(|| refused("the provider sent no ID token (is the app an OpenID Connect app?)".to_owned()))?;
        let claims = self.verify(id_token, &Self::nonce(binding.unwrap_or_default())).await?;
        self.admit(claims)
    }

    /// Who the ID token's claims say signed in, if the lists let them in: by an email the
    /// provider says it verified (`email_verified: true`; a provider that does not say so
    /// cannot vouch for the address, so it counts only through groups), or by a group.
    fn admit(&self, claims: IdClaims) -> Result<Identity> {
        let email = claims.email.map(|e| e.to_lowercase());
        let verified = claims.email_verified == Some(true);
        if self.admits(email.as_deref().filter(|_| verified), &claims.groups) {
            Ok(Identity {
                subject: claims.sub,
                email: email.filter(|_| verified),
                groups: claims.groups,
            })
        } else {
            let who = match (&email, verified) {
                (Some(e), true) => e.clone(),
                (Some(e), false) => format!("{e} (an address the provider did not say it verified)"),
                (None, _) => claims.sub,
            };
            Err(Error::ConsoleRefused { who })
        }
    }

    /// Whether the lists in force let in someone with the verified `email` (lower-case) or one
    /// of `groups`: at sign-in, and again on every request of the session it got, so that a
    /// person taken off the lists is out at once.
    pub fn admits(&self, email: Option<&str>, groups: &[String]) -> bool {
        email.is_some_and(|e| self.allowed_emails.iter().any(|a| a == e))
            || groups.iter().any(|g| self.allowed_groups.contains(g))
    }

    /// The claims of `id_token`, signed by one of the provider's keys (fetched again once
    /// when the key id is new: the provider rotated), for this app, from this issuer, not
    /// expired, with `nonce`.
    async fn verify(&self, id_token: &str, nonce: &str) -> Result<IdClaims> {
        use jsonwebtoken::{DecodingKey, decode_header};
        let header = decode_header(id_token).map_err(|e| refused(format!("the ID token is not a JWT: {e}")))?;
        let kid = header
            .kid
            .ok_or_else(|| refused("the ID token names no key (kid)".to_owned()))?;
        let mut keys = self.keys.lock().await;
        let known = keys.as_ref().and_then(|k| k.find(&kid)).is_some();
        if !known {
            let provider = self.provider().await?;
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&self.get(provider.jwks.as_str()).await?)
                .map_err(|e| refused(format!("the provider's keys could not be read: {e}")))?;
            *keys = Some(set);
        }
        let jwk = keys.as_ref().and_then(|k| k.find(&kid)).ok_or_else(|| {
            refused(format!(
                "the ID token is signed with a key ({kid}) the provider does not publish"
            ))
        })?;
        let key =
            DecodingKey::from_jwk(jwk).map_err(|e| refused(format!("the provider's key {kid} is unusable: {e}")))?;
        drop(keys);
        check_id_token(id_token, &key, &self.issuer, &self.client_id, nonce, now())
    }
}

/// How far ahead of our clock a provider's may be: `nbf` and `iat` later than this from now
/// are refused (`exp` gets the same leeway the other way).
const CLOCK_SKEW_SECS: u64 = 60;

/// The claims of `id_token` if it checks out at `now` (OpenID Connect Core 3.1.3.7): signed
/// with `key` (RS256), from `issuer`, for `client_id` — when it names several audiences, or
/// any `azp`, its `azp` must be `client_id` — not expired, not before its `nbf`, not issued in
/// the future, with `nonce`.
fn check_id_token(
    id_token: &str,
    key: &jsonwebtoken::DecodingKey,
    issuer: &Url,
    client_id: &str,
    nonce: &str,
    now: i64,
) -> Result<IdClaims> {
    use jsonwebtoken::{Algorithm, Validation, decode};
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[issuer.as_str().trim_end_matches('/'), issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = CLOCK_SKEW_SECS;
    let claims = decode::<IdClaims>(id_token, key, &validation)
        .map_err(|e| refused(format!("the ID token does not check out: {e}")))?
        .claims;
    let skew = i64::try_from(CLOCK_SKEW_SECS).unwrap_or(i64::MAX);
    if claims.iat.is_some_and(|iat| iat > now + skew) {
        return Err(refused(
            "the ID token says it was issued in the future: check the clocks of okta-bridge and the provider"
                .to_owned(),
        ));
    }
    let audiences = match &claims.aud {
        serde_json::Value::Array(a) => a.len(),
        _ => 1,
    };
    let azp_ok = match claims.azp.as_deref() {
        Some(azp) => azp == client_id,
        None => audiences == 1,
    };
    if !azp_ok {
        return Err(refused(format!(
            "the ID token was issued to another client (azp {:?}, audiences {}): it is not for this app",
            claims.azp.as_deref().unwrap_or("missing"),
            claims.aud
        )));
    }
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(refused(
            "the ID token was not made for this sign-in (nonce): start again".to_owned(),
        ));
    }
    Ok(claims)
}

fn refused(detail: String) -> Error {
    Error::oauth(
        crate::error::OAuthFailure::Refused,
        format!("Signing in failed: {detail}"),
    )
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn settings() -> ConsoleSettings {
        ConsoleSettings {
            issuer: Some(Url::parse("https://acme.okta.com").unwrap()),
            client_id: Some("0oa1".to_owned()),
            client_secret: Some(SecretString::from("s".to_owned())),
            allowed_emails: vec![" Ops@Acme.com ".to_owned(), String::new()],
            allowed_groups: Vec::new(),
        }
    }

    #[test]
    fn a_provider_needs_its_app_and_someone_allowed() {
        let egress = Egress::public_only();
        assert!(
            ConsoleOidc::from_settings(&ConsoleSettings::default(), &egress)
                .unwrap()
                .is_none()
        );
        let c = ConsoleOidc::from_settings(&settings(), &egress).unwrap().unwrap();
        assert_eq!(
            c.allowed_emails,
            ["ops@acme.com"],
            "trimmed, lower-case, blanks dropped"
        );
        let nobody = ConsoleSettings {
            allowed_emails: vec![" ".to_owned()],
            ..settings()
        };
        let e = ConsoleOidc::from_settings(&nobody, &egress).unwrap_err().to_string();
        assert!(e.contains("OKTA_BRIDGE_CONSOLE_ALLOWED_EMAILS"), "{e}");
        let no_app = ConsoleSettings {
            client_secret: None,
            ..settings()
        };
        let e = ConsoleOidc::from_settings(&no_app, &egress).unwrap_err().to_string();
        assert!(e.contains("OKTA_BRIDGE_CONSOLE_OIDC_CLIENT_SECRET"), "{e}");
    }

    fn claims(email: Option<&str>, verified: Option<bool>, groups: &[&str]) -> IdClaims {
        IdClaims {
            sub: "00u1".to_owned(),
            aud: serde_json::json!("0oa1"),
            azp: None,
            iat: None,
            nonce: None,
            email: email.map(str::to_owned),
            email_verified: verified,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    #[test]
    fn only_verified_emails_or_listed_groups_get_in() {
        let mut s = settings();
        s.allowed_groups = vec!["Ops".to_owned()];
        let c = ConsoleOidc::from_settings(&s, &Egress::public_only()).unwrap().unwrap();
        let who = c.admit(claims(Some("OPS@acme.com"), Some(true), &[])).unwrap();
        assert_eq!(who.email.as_deref(), Some("ops@acme.com"));
        for unverified in [None, Some(false)] {
            let e = c
                .admit(claims(Some("ops@acme.com"), unverified, &[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("did not say it verified"), "{e}");
            let by_group = c.admit(claims(Some("ops@acme.com"), unverified, &["Ops"])).unwrap();
            assert_eq!(by_group.email, None, "an unverified address is not kept");
        }
        assert!(
            c.admit(claims(None, None, &["Sales"]))
                .unwrap_err()
                .to_string()
                .contains("00u1")
        );
    }

    /// Issue 25, finding 8: real ID tokens, signed with a real key, checked as a sign-in
    /// checks them: a future `nbf`, an `iat` far ahead, and audiences beside ours without our
    /// `azp` are refused; the token as a provider issues it passes.
    #[test]
    fn id_tokens_not_yet_valid_or_for_other_clients_are_refused() {
        use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, encode};
        use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
        let private = rsa::RsaPrivateKey::new(&mut rand_core06::OsRng, 2048).unwrap();
        let pem = private.to_pkcs1_pem(LineEnding::LF).unwrap();
        let signing = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        let public = private.to_public_key().to_pkcs1_pem(LineEnding::LF).unwrap();
        let key = DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
        let issuer = Url::parse("https://acme.okta.com").unwrap();
        let now = crate::model::now();
        let token = |changes: serde_json::Value| {
            let mut claims = serde_json::json!({
                "iss": "https://acme.okta.com", "sub": "00u1", "aud": "0oa1", "exp": now + 3600,
                "iat": now, "nonce": "n-1", "email": "ops@acme.com", "email_verified": true,
            });
            for (k, v) in changes.as_object().unwrap() {
                if v.is_null() {
                    claims.as_object_mut().unwrap().remove(k);
                } else {
                    claims[k] = v.clone();
                }
            }
            encode(&Header::new(Algorithm::RS256), &claims, &signing).unwrap()
        };
        let check = |t: &str| check_id_token(t, &key, &issuer, "0oa1", "n-1", now);

        for fine in [
            serde_json::json!({}),
            serde_json::json!({ "nbf": now - 10 }),
            serde_json::json!({ "nbf": now + 30, "iat": now + 30 }),
            serde_json::json!({ "aud": ["0oa1"] }),
            serde_json::json!({ "aud": ["0oa1", "api://other"], "azp": "0oa1" }),
            serde_json::json!({ "azp": "0oa1" }),
        ] {
            assert!(check(&token(fine.clone())).is_ok(), "{fine}");
        }
        for (bad, said) in [
            (serde_json::json!({ "nbf": now + 3600 }), "does not check out"),
            (serde_json::json!({ "iat": now + 3600 }), "issued in the future"),
            (serde_json::json!({ "aud": ["0oa1", "api://other"] }), "another client"),
            (
                serde_json::json!({ "aud": ["0oa1", "api://other"], "azp": "0oaOther" }),
                "another client",
            ),
            (serde_json::json!({ "azp": "0oaOther" }), "another client"),
            (serde_json::json!({ "aud": "0oaOther" }), "does not check out"),
            (serde_json::json!({ "exp": now - 3600 }), "does not check out"),
            (
                serde_json::json!({ "iss": "https://evil.example" }),
                "does not check out",
            ),
            (serde_json::json!({ "nonce": "n-2" }), "nonce"),
        ] {
            let e = check(&token(bad.clone()))
                .err()
                .unwrap_or_else(|| panic!("{bad} passed"))
                .to_string();
            assert!(e.contains(said), "{bad}: {e}");
        }
    }

    #[test]
    fn the_nonce_belongs_to_the_browser() {
        assert_eq!(ConsoleOidc::nonce("a"), ConsoleOidc::nonce("a"));
        assert_ne!(ConsoleOidc::nonce("a"), ConsoleOidc::nonce("b"));
    }
}
