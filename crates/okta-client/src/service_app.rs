//! OAuth 2.0 for service apps: the client credentials grant with `private_key_jwt` client
//! authentication (or, for an API service integration installed from the Okta Integration
//! Network, `client_secret_basic`), optionally DPoP-bound, as Okta documents for the
//! Management API.
//!
//! The access token is cached and renewed ahead of its expiry; one renewal at a time (callers
//! that find it renewing wait for it). With DPoP the client has a P-256 key of its own and
//! sends a proof already on the first token request (no extra round trip when the org needs no
//! nonce); Okta's `use_dpop_nonce` answer is taken in and the request repeated once; resource
//! calls carry `Authorization: DPoP …` with a proof that holds the token's hash (`ath`).

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

use crate::error::{Error, Result, excerpt};

/// A service app's private key, for signing client assertions: RSA (RS256) or P-256 (ES256),
/// from PEM (PKCS#1 or PKCS#8) or a private JWK, as Okta's SDKs accept it. `Debug` never shows
/// it.
#[derive(Clone)]
pub struct PrivateKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct PrivateJwk {
    kty: String,
    kid: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
}

fn b64(field: &str, v: Option<&String>) -> Result<Vec<u8>> {
    let v = v.ok_or_else(|| Error::Config(format!("the private JWK has no {field:?}")))?;
    URL_SAFE_NO_PAD
        .decode(v.trim_end_matches('='))
        .map_err(|_| Error::Config(format!("the private JWK's {field:?} is not base64url")))
}

impl PrivateKey {
    /// A key given as PEM or as a private JWK (JSON), whichever `text` is.
    ///
    /// # Errors
    /// [`Error::Config`] saying what is wrong with the key (never the key itself).
    pub fn parse(text: &str) -> Result<Self> {
        if text.trim_start().starts_with('{') {
            Self::from_jwk(text)
        } else {
            Self::from_pem(text)
        }
    }

    /// An RSA or EC private key in PEM.
    ///
    /// # Errors
    /// [`Error::Config`] when it is neither.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let (key, alg) = if pem.contains("EC PRIVATE KEY") {
            return Err(Error::Config(
                "EC keys must be PKCS#8 PEM (BEGIN PRIVATE KEY): convert with `openssl pkcs8 -topk8 -nocrypt`".into(),
            ));
        } else if let Ok(k) = EncodingKey::from_rsa_pem(pem.as_bytes()) {
            (k, Algorithm::RS256)
        } else if let Ok(k) = EncodingKey::from_ec_pem(pem.as_bytes()) {
            (k, Algorithm::ES256)
        } else {
            return Err(Error::Config(
                "the private key is not an RSA or P-256 private key in PEM (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)"
                    .into(),
            ));
        };
        Ok(Self { key, alg, kid: None })
    }

    /// A private JWK (`kty` RSA with `n`, `e`, `d`, `p`, `q`; or EC P-256 with `d`); its `kid`
    /// is kept.
    ///
    /// # Errors
    /// [`Error::Config`] naming what the JWK lacks.
    pub fn from_jwk(json: &str) -> Result<Self> {
        let jwk: PrivateJwk =
            serde_json::from_str(json).map_err(|e| Error::Config(format!("the private key is not a JWK: {e}")))?;
        let (key, alg) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => {
                use rsa::BigUint;
                use rsa::pkcs1::EncodeRsaPrivateKey;
                let int = |field: &str, v: Option<&String>| b64(field, v).map(|b| BigUint::from_bytes_be(&b));
                let private = rsa::RsaPrivateKey::from_components(
                    int("n", jwk.n.as_ref())?,
                    int("e", jwk.e.as_ref())?,
                    int("d", jwk.d.as_ref())?,
                    vec![int("p", jwk.p.as_ref())?, int("q", jwk.q.as_ref())?],
                )
                .map_err(|e| Error::Config(format!("the RSA JWK is not a valid key: {e}")))?;
                let der = private
                    .to_pkcs1_der()
                    .map_err(|e| Error::Config(format!("the RSA JWK cannot be encoded: {e}")))?;
                (EncodingKey::from_rsa_der(der.as_bytes()), Algorithm::RS256)
            }
            ("EC", Some("P-256")) => {
                use p256::pkcs8::EncodePrivateKey;
                let d = b64("d", jwk.d.as_ref())?;
                let secret = p256::SecretKey::from_slice(&d)
                    .map_err(|_| Error::Config("the EC JWK's d is not a P-256 private key".into()))?;
                let der = secret
                    .to_pkcs8_der()
                    .map_err(|e| Error::Config(format!("the EC JWK cannot be encoded: {e}")))?;
                (EncodingKey::from_ec_der(der.as_bytes()), Algorithm::ES256)
            }
            (kty, crv) => {
                return Err(Error::Config(format!(
                    "unsupported JWK (kty {kty:?}, crv {crv:?}): use RSA or EC P-256"
                )));
            }
        };
        Ok(Self { key, alg, kid: jwk.kid })
    }

    /// A new P-256 key pair for a service app (`private_key_jwt`, ES256): the private key as
    /// PKCS#8 PEM, and the public JWK to paste into the app's "Public keys" in Okta, named by
    /// its RFC 7638 thumbprint (`kid`).
    ///
    /// # Errors
    /// [`Error::Config`] if the system's random source fails.
    pub fn generate() -> Result<GeneratedKey> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::{EncodePrivateKey, LineEnding};
        let secret = p256::SecretKey::random(&mut rand_core06::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Config(format!("cannot make a key pair: {e}")))?;
        let point = secret.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(Error::Config(
                "cannot make a key pair: the public point is empty".into(),
            ));
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        // RFC 7638: the required members, in lexicographic order, without whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let public_jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256",
        });
        Ok(GeneratedKey {
            private_pem: SecretString::from(pem.to_string()),
            public_jwk,
            key_id: kid,
        })
    }

    /// The public half of the key as a JWK (`kty`, `alg` and the key's numbers; `kid` when it
    /// has one), to register with the app.
    ///
    /// # Errors
    /// [`Error::Config`] if the key cannot be described.
    pub fn public_jwk(&self) -> Result<serde_json::Value> {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg)
            .map_err(|e| Error::Config(format!("cannot describe the public key: {e}")))?;
        jwk.common.key_id.clone_from(&self.kid);
        serde_json::to_value(&jwk).map_err(|e| Error::Config(format!("cannot describe the public key: {e}")))
    }

    /// Names the key (`kid` of the assertions), as registered with the app.
    #[must_use]
    pub fn with_key_id(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }
}

/// A key pair made by [`PrivateKey::generate`].
#[derive(Clone)]
pub struct GeneratedKey {
    /// The private key, PKCS#8 PEM: keep it secret, give it to [`PrivateKey::parse`].
    pub private_pem: SecretString,
    /// The public JWK (`kty`, `crv`, `x`, `y`, `kid`, `use`, `alg`) to register with the app.
    pub public_jwk: serde_json::Value,
    /// Its `kid`: the RFC 7638 thumbprint of the public key.
    pub key_id: String,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The client's own DPoP key.
struct DpopKey {
    key: EncodingKey,
    jwk: Jwk,
}

impl DpopKey {
    fn generate() -> Result<Self> {
        use p256::pkcs8::EncodePrivateKey;
        let secret = p256::SecretKey::random(&mut rand_core06::OsRng);
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| Error::Config(format!("cannot make a DPoP key: {e}")))?;
        let key = EncodingKey::from_ec_der(der.as_bytes());
        let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256)
            .map_err(|e| Error::Config(format!("cannot make a DPoP key: {e}")))?;
        Ok(Self { key, jwk })
    }
}

struct Cached {
    token: SecretString,
    dpop: bool,
    renew_at: Instant,
}

/// A service app's credentials and its cached access token.
pub(crate) struct ServiceAppAuth {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    scopes: String,
    credential: ServiceCredential,
    dpop: Option<DpopKey>,
    renew_before: Duration,
    cached: tokio::sync::Mutex<Option<Cached>>,
    nonce: Mutex<Option<String>>,
}

impl fmt::Debug for ServiceAppAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAppAuth")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("dpop", &self.dpop.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    error_description: Option<String>,
}

fn random_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// How a service app proves who it is at the token endpoint.
#[derive(Clone)]
#[non_exhaustive]
pub enum ServiceCredential {
    /// A client assertion signed with its private key (`private_key_jwt`): Okta's service apps.
    PrivateKey(PrivateKey),
    /// Its client secret in the `Authorization: Basic` header (`client_secret_basic`): an API
    /// service integration from the Okta Integration Network.
    ClientSecret(SecretString),
}

impl fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PrivateKey(k) => f.debug_tuple("PrivateKey").field(k).finish(),
            Self::ClientSecret(_) => f.write_str("ClientSecret([REDACTED])"),
        }
    }
}

/// The settings of a service app (see [`crate::ClientBuilder::service_app`]).
#[derive(Debug, Clone)]
pub struct ServiceApp {
    /// Its client id.
    pub client_id: String,
    /// The `okta.*` scopes to ask for.
    pub scopes: Vec<String>,
    /// How it authenticates: its private key or its client secret.
    pub credential: ServiceCredential,
    /// Whether to bind tokens with DPoP (the app's "Require DPoP" setting).
    pub dpop: bool,
    /// Renew the token when less than this is left of its life (default 5 minutes).
    pub renew_before: Duration,
}

impl ServiceApp {
    /// A service app asking for `scopes`, without DPoP.
    pub fn new(client_id: impl Into<String>, scopes: &[&str], key: PrivateKey) -> Self {
        Self {
            client_id: client_id.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            credential: ServiceCredential::PrivateKey(key),
            dpop: false,
            renew_before: Duration::from_secs(300),
        }
    }
    /// An API service integration asking for `scopes`, authenticating with the client secret
    /// the org showed when its admin installed it (`client_secret_basic`), without DPoP.
    pub fn with_client_secret(client_id: impl Into<String>, scopes: &[&str], secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            credential: ServiceCredential::ClientSecret(SecretString::from(secret.into())),
            dpop: false,
            renew_before: Duration::from_secs(300),
        }
    }
    /// With DPoP-bound tokens.
    #[must_use]
    pub fn with_dpop(mut self) -> Self {
        self.dpop = true;
        self
    }
}

impl ServiceAppAuth {
    pub(crate) fn new(app: ServiceApp, http: reqwest::Client, token_url: Url) -> Result<Self> {
        if app.scopes.is_empty() {
            return Err(Error::Config(
                "a service app needs scopes (e.g. okta.users.read; OKTA_CLIENT_SCOPES)".into(),
            ));
        }
        Ok(Self {
            http,
            token_url,
            client_id: app.client_id,
            scopes: app.scopes.join(" "),
            dpop: if app.dpop { Some(DpopKey::generate()?) } else { None },
            credential: app.credential,
            renew_before: app.renew_before,
            cached: tokio::sync::Mutex::new(None),
            nonce: Mutex::new(None),
        })
    }

    fn assertion(&self, key: &PrivateKey) -> Result<String> {
        let now = now_secs();
        let claims = json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.token_url.as_str(),
            "iat": now, "exp": now + 300, "jti": random_id(),
        });
        let mut header = Header::new(key.alg);
        header.kid.clone_from(&key.kid);
        jsonwebtoken::encode(&header, &claims, &key.key)
            .map_err(|e| Error::Config(format!("cannot sign the client assertion: {e}")))
    }

    /// A DPoP proof for `method url` (RFC 9449), with the token's hash when given.
    pub(crate) fn proof(&self, method: &Method, url: &Url, token: Option<&str>) -> Result<Option<HeaderValue>> {
        let Some(dpop) = &self.dpop else { return Ok(None) };
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut claims = json!({ "htm": method.as_str(), "htu": htu.as_str(), "iat": now_secs(), "jti": random_id() });
        if let Some(n) = self
            .nonce
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            claims["nonce"] = json!(n);
        }
        if let Some(t) = token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes())));
        }
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(dpop.jwk.clone());
        let jwt = jsonwebtoken::encode(&header, &claims, &dpop.key)
            .map_err(|e| Error::Config(format!("cannot sign a DPoP proof: {e}")))?;
        HeaderValue::from_str(&jwt)
            .map(Some)
            .map_err(|_| Error::Config("a DPoP proof is not a header value".into()))
    }

    /// Takes a nonce the server handed out (`DPoP-Nonce`).
    pub(crate) fn set_nonce(&self, nonce: &str) {
        *self.nonce.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(nonce.to_owned());
    }

    /// Forgets the cached token (the server refused it).
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// A valid access token and whether it is DPoP-bound: the cached one, or a new one.
    pub(crate) async fn token(&self) -> Result<(SecretString, bool)> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok((c.token.clone(), c.dpop));
        }
        let fresh = self.request_token().await?;
        let result = (fresh.token.clone(), fresh.dpop);
        *cached = Some(fresh);
        Ok(result)
    }

    async fn request_token(&self) -> Result<Cached> {
        // At most two attempts: the second only to answer `use_dpop_nonce`.
        for attempt in 0..2 {
            let grant = [("grant_type", "client_credentials"), ("scope", self.scopes.as_str())];
            let mut req = match &self.credential {
                ServiceCredential::PrivateKey(key) => {
                    let assertion = self.assertion(key)?;
                    self.http.post(self.token_url.clone()).form(
                        &[
                            &grant[..],
                            &[
                                (
                                    "client_assertion_type",
                                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                ),
                                ("client_assertion", assertion.as_str()),
                            ],
                        ]
                        .concat(),
                    )
                }
                ServiceCredential::ClientSecret(secret) => {
                    // RFC 6749 §2.3.1: id and secret form-encoded, then joined and base64'd.
                    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        enc(&self.client_id),
                        enc(secret.expose_secret())
                    ));
                    let mut value = HeaderValue::from_str(&format!("Basic {basic}"))
                        .map_err(|_| Error::Config("the client secret is not a header value".into()))?;
                    value.set_sensitive(true);
                    self.http
                        .post(self.token_url.clone())
                        .header(reqwest::header::AUTHORIZATION, value)
                        .form(&grant)
                }
            };
            if let Some(proof) = self.proof(&Method::POST, &self.token_url, None)? {
                req = req.header("DPoP", proof);
            }
            let res = req.send().await.map_err(Error::from_reqwest)?;
            let status = res.status();
            let nonce = res
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = crate::body::read_limited(res, crate::body::MAX_SMALL_BYTES)
                .await
                .map_err(Error::from_read)?;
            if status.is_success() {
                let t: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
                    message: e.to_string(),
                    excerpt: "(a token response; not shown)".to_owned(),
                })?;
                return Ok(Cached {
                    token: SecretString::from(t.access_token),
                    dpop: t.token_type.eq_ignore_ascii_case("DPoP"),
                    renew_at: renew_at(Instant::now(), t.expires_in, self.renew_before),
                });
            }
            let body: Option<OAuthErrorBody> = serde_json::from_slice(&bytes).ok();
            match (body, nonce) {
                (Some(b), Some(n)) if b.error == "use_dpop_nonce" && attempt == 0 && self.dpop.is_some() => {
                    self.set_nonce(&n);
                }
                (Some(b), _) => {
                    return Err(Error::OAuth {
                        status,
                        error: b.error,
                        description: b.error_description,
                    });
                }
                (None, _) => {
                    return Err(Error::OAuth {
                        status,
                        error: "invalid_response".to_owned(),
                        description: Some(excerpt(&bytes)),
                    });
                }
            }
        }
        Err(Error::OAuth {
            status: reqwest::StatusCode::BAD_REQUEST,
            error: "use_dpop_nonce".to_owned(),
            description: Some("the server asked for a new DPoP nonce twice".to_owned()),
        })
    }
}

/// The `Authorization` value for `token`.
pub(crate) fn authorization(token: &SecretString, dpop: bool) -> Result<HeaderValue> {
    let scheme = if dpop { "DPoP" } else { "Bearer" };
    let mut v = HeaderValue::from_str(&format!("{scheme} {}", token.expose_secret()))
        .map_err(|_| Error::Config("the access token holds characters not allowed in a header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// The longest token lifetime believed from a response (a day; Okta's are an hour at most):
/// whatever `expires_in` says, a token is renewed within it.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// When a token issued at `now` that expires in `expires_in` seconds (an hour when absent) is
/// renewed: `renew_before` ahead of its end, its lifetime capped to [`MAX_LIFETIME`], with no
/// arithmetic that can overflow, whatever the server sent.
fn renew_at(now: Instant, expires_in: Option<u64>, renew_before: Duration) -> Instant {
    let lifetime = Duration::from_secs(expires_in.unwrap_or(3600)).min(MAX_LIFETIME);
    let ahead = lifetime.saturating_sub(renew_before.min(lifetime));
    now.checked_add(ahead).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_expires_in_gives_a_renewal_within_a_day(expires_in in proptest::option::of(proptest::prelude::any::<u64>())) {
            let now = Instant::now();
            let at = renew_at(now, expires_in, Duration::from_secs(300));
            proptest::prop_assert!(at >= now && at <= now + MAX_LIFETIME);
        }
    }

    #[test]
    fn lifetimes_are_believed_up_to_a_day() {
        let now = Instant::now();
        let five_min = Duration::from_secs(300);
        assert_eq!(renew_at(now, Some(3600), five_min), now + Duration::from_secs(3300));
        assert_eq!(renew_at(now, None, five_min), now + Duration::from_secs(3300));
        assert_eq!(renew_at(now, Some(u64::MAX), five_min), now + MAX_LIFETIME - five_min);
        assert_eq!(
            renew_at(now, Some(60), five_min),
            now,
            "shorter than the margin: renewed at once"
        );
    }

    #[test]
    fn keys_parse_from_pem_and_jwk_and_never_show() {
        let secret = p256::SecretKey::random(&mut rand_core06::OsRng);
        use p256::pkcs8::EncodePrivateKey;
        let pem = secret.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap();
        let k = PrivateKey::parse(&pem).unwrap();
        assert_eq!(k.alg, Algorithm::ES256);
        let d = URL_SAFE_NO_PAD.encode(secret.to_bytes());
        let jwk = format!(r#"{{"kty":"EC","crv":"P-256","kid":"k9","d":"{d}","x":"","y":""}}"#);
        let k = PrivateKey::parse(&jwk).unwrap();
        assert_eq!(k.kid.as_deref(), Some("k9"));
        assert!(!format!("{k:?}").contains(&d));
        for (bad, says) in [
            ("not a key", "not an RSA or P-256"),
            ("{\"kty\":\"oct\",\"k\":\"x\"}", "unsupported JWK"),
            ("{\"kty\":\"RSA\",\"n\":\"AQAB\"}", "no \"e\""),
            (
                "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----",
                "PKCS#8",
            ),
        ] {
            let err = PrivateKey::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
