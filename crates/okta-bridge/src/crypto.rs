//! Encryption at rest: every token in the database is sealed with XChaCha20-Poly1305 under the
//! master key, with the account and column as associated data so a ciphertext copied to
//! another row or column does not decrypt.
//!
//! The master key comes from `OKTA_BRIDGE_MASTER_KEY` (32 bytes, base64) or from a key file
//! created once with mode 0600 and reused (like Rails' `master.key`).
//!
//! Every ciphertext names the key it was sealed with (an 8-byte key id derived from the key),
//! so keys can be rotated: a [`MasterKey`] is a key ring whose first key seals and whose others
//! (`OKTA_BRIDGE_OLD_MASTER_KEYS`) only open; `okta-bridge keys rotate` re-seals everything
//! under the first. Format: `2 | key id (8) | nonce (24) | ciphertext`; `1 | nonce | ciphertext`
//! is the format before key ids, opened with the first key.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::error::Error;

const LEGACY: u8 = 1;
const VERSION: u8 = 2;
const NONCE_LEN: usize = 24;
const KID_LEN: usize = 8;

/// A key's id: the first 8 bytes of SHA-256 over a label and the key (not the key itself).
pub type KeyId = [u8; KID_LEN];

fn key_id(bytes: &[u8; 32]) -> KeyId {
    use sha2::{Digest, Sha256};
    let d = Sha256::new_with_prefix(b"okta-bridge master key id\0")
        .chain_update(bytes)
        .finalize();
    let mut id = [0u8; KID_LEN];
    id.copy_from_slice(&d[..KID_LEN]);
    id
}

/// SHA-256, hex: states, bindings and session ids are stored only as hashes.
pub fn hash(value: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What binds an admin session to the admin token it was signed in with: a hash of the session
/// id and the token. Stored with the session, so that a session taken with another token (before
/// the token changed) does not match, and ends. Neither value can be read back from it.
pub fn session_binding(session_id: &str, admin_token: &str) -> String {
    hash(&format!("okta-bridge admin session\n{session_id}\n{admin_token}"))
}

/// 32 random bytes, base64url: states, bindings, session ids, generated admin tokens.
pub fn random_secret() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex of a key id, for messages.
pub fn key_id_hex(id: &KeyId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key ring all secrets in the store are encrypted with: the first key seals, every key
/// opens what it sealed. `Debug` shows key ids only.
#[derive(Clone)]
pub struct MasterKey(Vec<(KeyId, XChaCha20Poly1305)>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.0.iter().map(|(id, _)| key_id_hex(id)).collect();
        write!(f, "MasterKey(ids {ids:?}, keys [REDACTED])")
    }
}

fn single(bytes: &[u8; 32]) -> MasterKey {
    MasterKey(vec![(key_id(bytes), XChaCha20Poly1305::new(bytes.into()))])
}

impl MasterKey {
    /// A fresh random key and its base64 form.
    pub fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let encoded = STANDARD.encode(bytes);
        (single(&bytes), encoded)
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> KeyId {
        self.0[0].0
    }

    /// Whether the ring holds the key `id`.
    pub fn has(&self, id: &KeyId) -> bool {
        self.0.iter().any(|(k, _)| k == id)
    }

    /// This ring plus `old` keys, which open but never seal.
    #[must_use]
    pub fn with_old(mut self, old: MasterKey) -> Self {
        for (id, key) in old.0 {
            if !self.has(&id) {
                self.0.push((id, key));
            }
        }
        self
    }

    /// Parses `OKTA_BRIDGE_OLD_MASTER_KEYS`: base64 keys separated by commas or spaces.
    ///
    /// # Errors
    /// [`Error::Config`] as for [`from_base64`](Self::from_base64).
    pub fn old_keys(list: &str, source: &str) -> Result<Option<Self>, Error> {
        let mut ring: Option<Self> = None;
        for (i, k) in list
            .split([',', ' ', '\n'])
            .filter(|k| !k.trim().is_empty())
            .enumerate()
        {
            let key = Self::from_base64(k, &format!("{source} (key {})", i + 1))?;
            ring = Some(match ring {
                Some(r) => r.with_old(key),
                None => key,
            });
        }
        Ok(ring)
    }

    /// The key id a ciphertext names (`None` for the format before key ids).
    pub fn sealed_with(sealed: &[u8]) -> Option<KeyId> {
        (sealed.len() > 1 + KID_LEN && sealed[0] == VERSION).then(|| {
            let mut id = [0u8; KID_LEN];
            id.copy_from_slice(&sealed[1..=KID_LEN]);
            id
        })
    }

    /// Parses a base64 key of 32 bytes.
    ///
    /// # Errors
    /// [`Error::Config`] saying what a key must look like; never echoes the input.
    pub fn from_base64(encoded: &str, source: &str) -> Result<Self, Error> {
        let bytes = STANDARD.decode(encoded.trim()).map_err(|_| {
            Error::config(source, "the master key is not base64; generate one with `openssl rand -base64 32` or let okta-bridge create a key file")
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::config(
                source,
                format!("the master key must be 32 bytes, this one is {} bytes", b.len()),
            )
        })?;
        Ok(single(&bytes))
    }

    /// Reads the key file at `path`, creating it (mode 0600) with a new key if it does not exist.
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read, created, or holds no valid key.
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        let shown = path.display();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text, &format!("key file {shown}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, encoded) = Self::generate();
                write_new_private_file(path, format!("{encoded}\n").as_bytes()).map_err(|e| {
                    Error::config(
                        "OKTA_BRIDGE_MASTER_KEY",
                        format!("cannot create the master key file {shown}: {e}"),
                    )
                })?;
                tracing::info!(path = %shown, "created a new master key file; back it up: without it stored tokens cannot be read");
                Ok(key)
            }
            Err(e) => Err(Error::config(
                "OKTA_BRIDGE_MASTER_KEY",
                format!("cannot read the master key file {shown}: {e}"),
            )),
        }
    }

    /// Encrypts `plaintext`; `context` (account and column) must be the same to decrypt.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let (id, key) = &self.0[0];
        let ct = key
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer does not fail");
        let mut out = Vec::with_capacity(1 + KID_LEN + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`seal`](Self::seal) produced with the same `context`.
    ///
    /// # Errors
    /// [`Error::Decrypt`] when the key, context or data are wrong.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let refused = || Error::Decrypt {
            context: context.to_owned(),
        };
        let decrypt = |key: &XChaCha20Poly1305, rest: &[u8]| {
            let (nonce, ct) = rest.split_at(NONCE_LEN);
            key.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
        };
        match sealed.first() {
            Some(&VERSION) if sealed.len() >= 1 + KID_LEN + NONCE_LEN + 16 => {
                let id = Self::sealed_with(sealed).unwrap_or_default();
                let key = self
                    .0
                    .iter()
                    .find(|(k, _)| *k == id)
                    .map(|(_, key)| key)
                    .ok_or_else(|| Error::UnknownKey(key_id_hex(&id)))?;
                decrypt(key, &sealed[1 + KID_LEN..]).map_err(|_| refused())
            }
            // Before key ids: any key of the ring may have sealed it (the key that did may be an
            // old one by now), and the AEAD tag says which one did.
            Some(&LEGACY) if sealed.len() >= 1 + NONCE_LEN + 16 => self
                .0
                .iter()
                .find_map(|(_, key)| decrypt(key, &sealed[1..]).ok())
                .ok_or_else(refused),
            _ => Err(refused()),
        }
    }
}

fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `1 | nonce | ciphertext`, as values were sealed before key ids.
    fn seal_legacy(k: &MasterKey, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let sealed = k.seal(context, plaintext);
        let mut legacy = vec![LEGACY];
        legacy.extend_from_slice(&sealed[1 + KID_LEN..]);
        legacy
    }

    #[test]
    fn legacy_values_open_with_any_key_of_the_ring() {
        let (old, _) = MasterKey::generate();
        let (new, _) = MasterKey::generate();
        let sealed = seal_legacy(&old, "connections/acme/access_token", b"secret");
        assert_eq!(old.open("connections/acme/access_token", &sealed).unwrap(), b"secret");
        // After a rotation the key that sealed it is an old one: it still opens, so it can be
        // re-sealed under the new key.
        let ring = new.clone().with_old(old);
        assert_eq!(ring.open("connections/acme/access_token", &sealed).unwrap(), b"secret");
        assert!(
            ring.open("connections/acme/refresh_token", &sealed).is_err(),
            "bound to its context"
        );
        assert!(
            new.open("connections/acme/access_token", &sealed).is_err(),
            "not without its key"
        );
    }

    #[test]
    fn wrong_context_or_key_does_not_open() {
        let (k, _) = MasterKey::generate();
        let (other, _) = MasterKey::generate();
        let sealed = k.seal("acme/access_token", b"secret");
        assert_eq!(k.open("acme/access_token", &sealed).unwrap(), b"secret");
        assert!(k.open("acme/refresh_token", &sealed).is_err());
        assert!(other.open("acme/access_token", &sealed).is_err());
        assert!(k.open("acme/access_token", &sealed[..10]).is_err());
    }

    #[test]
    fn key_file_is_created_once_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("okta-bridge.master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let sealed = a.seal("c", b"x");
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(b.open("c", &sealed).unwrap(), b"x", "the second load reuses the key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn bad_keys_are_explained_without_echo() {
        let e = MasterKey::from_base64("not base64 secretvalue!", "OKTA_BRIDGE_MASTER_KEY")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OKTA_BRIDGE_MASTER_KEY") && !e.contains("secretvalue"),
            "{e}"
        );
        let e = MasterKey::from_base64(&STANDARD.encode([1u8; 16]), "env")
            .unwrap_err()
            .to_string();
        assert!(e.contains("32 bytes"), "{e}");
    }

    #[test]
    fn ciphertexts_name_their_key_and_old_keys_still_open() {
        let (old, _) = MasterKey::generate();
        let (new, _) = MasterKey::generate();
        let sealed_old = old.seal("c", b"x");
        assert_eq!(MasterKey::sealed_with(&sealed_old), Some(old.current_id()));
        let e = new.open("c", &sealed_old).unwrap_err();
        assert!(
            matches!(&e, Error::UnknownKey(id) if *id == key_id_hex(&old.current_id())),
            "{e}"
        );
        let ring = new.clone().with_old(old.clone());
        assert_eq!(ring.open("c", &sealed_old).unwrap(), b"x");
        let sealed_new = ring.seal("c", b"y");
        assert_eq!(
            MasterKey::sealed_with(&sealed_new),
            Some(new.current_id()),
            "the first key seals"
        );
        assert!(
            !format!("{ring:?}").contains("REDACTED") || format!("{ring:?}").contains(&key_id_hex(&new.current_id()))
        );
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(data in proptest::collection::vec(any::<u8>(), 0..512), ctx in ".{0,40}") {
            let (k, _) = MasterKey::generate();
            let sealed = k.seal(&ctx, &data);
            prop_assert_eq!(k.open(&ctx, &sealed).unwrap(), data);
        }
    }
}
