//! Encryption at rest: every token in the database is sealed with XChaCha20-Poly1305 under the
//! master key, with the account and column as associated data so a ciphertext copied to
//! another row or column does not decrypt.
//!
//! The master key comes from `OKTA_BRIDGE_MASTER_KEY` (32 bytes, base64) or from a key file
//! created once with mode 0600 and reused (like Rails' `master.key`).

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::error::Error;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The 32-byte key all secrets in the store are encrypted with. `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// A fresh random key and its base64 form.
    pub fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let encoded = STANDARD.encode(bytes);
        (Self(XChaCha20Poly1305::new((&bytes).into())), encoded)
    }

    /// Parses a base64 key of 32 bytes.
    ///
    /// # Errors
    /// [`Error::Config`] saying what a key must look like; never echoes the input.
    pub fn from_base64(encoded: &str, source: &str) -> Result<Self, Error> {
        let bytes = STANDARD.decode(encoded.trim()).map_err(|_| {
            Error::Config(format!("{source}: the master key is not base64; generate one with `openssl rand -base64 32` or let okta-bridge create a key file"))
        })?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::Config(format!(
                "{source}: the master key must be 32 bytes, this one is {} bytes",
                b.len()
            ))
        })?;
        Ok(Self(XChaCha20Poly1305::new((&bytes).into())))
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
                write_new_private_file(path, format!("{encoded}\n").as_bytes())
                    .map_err(|e| Error::Config(format!("cannot create the master key file {shown}: {e}")))?;
                tracing::info!(path = %shown, "created a new master key file; back it up: without it stored tokens cannot be read");
                Ok(key)
            }
            Err(e) => Err(Error::Config(format!("cannot read the master key file {shown}: {e}"))),
        }
    }

    /// Encrypts `plaintext`; `context` (account and column) must be the same to decrypt.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer does not fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`seal`](Self::seal) produced with the same `context`.
    ///
    /// # Errors
    /// [`Error::Decrypt`] when the key, context or data are wrong.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(Error::Decrypt(context.to_owned()));
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Decrypt(context.to_owned()))
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

    proptest! {
        #[test]
        fn seal_open_round_trip(data in proptest::collection::vec(any::<u8>(), 0..512), ctx in ".{0,40}") {
            let (k, _) = MasterKey::generate();
            let sealed = k.seal(&ctx, &data);
            prop_assert_eq!(k.open(&ctx, &sealed).unwrap(), data);
        }
    }
}
