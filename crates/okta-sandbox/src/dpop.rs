//! DPoP (RFC 9449) as Okta implements it: proofs on token requests must carry a server nonce
//! (`use_dpop_nonce` otherwise, with a `DPoP-Nonce` header); DPoP-bound access tokens carry
//! `cnf.jkt` and must be presented as `Authorization: DPoP …` with a proof whose `ath` is the
//! token's hash.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::util::{now, random_token};

/// How far a proof's `iat` may be from now.
const IAT_WINDOW: i64 = 300;
/// How long a nonce stays current.
const NONCE_TTL: time::Duration = time::Duration::minutes(5);

/// Nonces handed out and proof `jti`s seen.
#[derive(Debug, Default)]
pub(crate) struct DpopState {
    nonces: Vec<(String, OffsetDateTime)>,
    seen: HashMap<String, i64>,
}

impl DpopState {
    /// The current nonce (a new one every few minutes; the previous one stays accepted).
    pub fn nonce(&mut self) -> String {
        let now = now();
        self.nonces.retain(|(_, at)| now - *at < NONCE_TTL * 2);
        match self.nonces.last() {
            Some((n, at)) if now - *at < NONCE_TTL => n.clone(),
            _ => {
                let n = random_token(32);
                self.nonces.push((n.clone(), now));
                n
            }
        }
    }

    fn nonce_ok(&mut self, nonce: &str) -> bool {
        let now = now();
        self.nonces
            .iter()
            .any(|(n, at)| n == nonce && now - *at < NONCE_TTL * 2)
    }
}

#[derive(Deserialize)]
struct ProofClaims {
    htm: String,
    htu: String,
    iat: i64,
    jti: String,
    nonce: Option<String>,
    ath: Option<String>,
}

/// A verified proof: the thumbprint of its key.
pub(crate) struct Proof {
    pub jkt: String,
}

/// Why a proof was refused: `use_dpop_nonce` or `invalid_dpop_proof`.
pub(crate) enum ProofError {
    Nonce,
    Invalid(String),
}

/// The hash a proof's `ath` must carry for `token`.
pub(crate) fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Verifies `proof` for a request `method url`; `require_nonce` on token requests, `token` on
/// resource requests (its hash must be the proof's `ath`).
pub(crate) fn verify(
    state: &mut DpopState,
    proof: &str,
    method: &str,
    url: &str,
    require_nonce: bool,
    token: Option<&str>,
) -> Result<Proof, ProofError> {
    let bad = |why: &str| ProofError::Invalid(why.to_owned());
    let header = jsonwebtoken::decode_header(proof).map_err(|_| bad("The DPoP proof is not a JWT."))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(bad("The DPoP proof's typ must be dpop+jwt."));
    }
    let jwk = header
        .jwk
        .as_ref()
        .ok_or_else(|| bad("The DPoP proof's header has no jwk."))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| bad("The DPoP proof's jwk is not a usable public key."))?;
    let mut v = Validation::new(header.alg);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims: ProofClaims = jsonwebtoken::decode(proof, &key, &v)
        .map_err(|e| bad(&format!("The DPoP proof is not valid: {e}.")))?
        .claims;
    let strip = |u: &str| {
        u.split(['?', '#'])
            .next()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned()
    };
    if !claims.htm.eq_ignore_ascii_case(method) || strip(&claims.htu) != strip(url) {
        return Err(bad("The DPoP proof's htm and htu must match the request."));
    }
    let now_ts = now().unix_timestamp();
    if !iat_within(claims.iat, now_ts, IAT_WINDOW) {
        return Err(bad("The DPoP proof's iat is too far from the current time."));
    }
    if let Some(token) = token
        && claims.ath.as_deref() != Some(ath(token).as_str())
    {
        return Err(bad("The DPoP proof's ath does not match the access token."));
    }
    if require_nonce && !claims.nonce.as_deref().is_some_and(|n| state.nonce_ok(n)) {
        return Err(ProofError::Nonce);
    }
    state.seen.retain(|_, at| now_ts - *at <= IAT_WINDOW * 2);
    if state.seen.insert(claims.jti, now_ts).is_some() {
        return Err(bad("The DPoP proof's jti was already used."));
    }
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| bad("The DPoP proof's jwk has no thumbprint."))?;
    Ok(Proof { jkt })
}

/// Whether `iat` is within `window` seconds of `now`, for any `iat` a proof may carry (checked
/// arithmetic: an extreme value is refused, never a panic under the DPoP lock).
pub(crate) fn iat_within(iat: i64, now: i64, window: i64) -> bool {
    iat.checked_sub(now)
        .and_then(i64::checked_abs)
        .is_some_and(|d| d <= window)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::iat_within;

    proptest! {
        #[test]
        fn extreme_iats_are_refused_never_a_panic(iat in any::<i64>(), now in any::<i64>(), window in 0i64..=3600) {
            let exact = (i128::from(iat) - i128::from(now)).abs() <= i128::from(window);
            prop_assert_eq!(iat_within(iat, now, window), exact);
        }
    }

    #[test]
    fn the_edges() {
        assert!(!iat_within(i64::MIN, 0, 300));
        assert!(!iat_within(i64::MAX, -1, 300));
        assert!(!iat_within(0, i64::MIN, 300));
        assert!(iat_within(1_000, 1_300, 300));
        assert!(!iat_within(1_000, 1_301, 300));
    }
}
