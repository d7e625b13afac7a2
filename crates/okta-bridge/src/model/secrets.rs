//! One type per secret, as oauth2-rs does: `Debug` shows only the type's name, the value is
//! read through [`ExposeSecret`], and the PKCE verifier is not `Clone`, so it is used once.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        pub struct $name(SecretString);

        impl $name {
            /// Wraps `value`.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }

        impl ExposeSecret<str> for $name {
            fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<SecretString> for $name {
            fn from(value: SecretString) -> Self {
                Self(value)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self::new)
            }
        }
    };
}

secret_type!(
    /// A webhook endpoint's signing secret (`whsec_…`): shown once, when made.
    #[derive(Clone)]
    WebhookSecret
);
secret_type!(
    /// The secret an org sends with each event hook call (`Authorization`), one per connection.
    #[derive(Clone)]
    HookSecret
);
secret_type!(
    /// An okta-bridge API key (`okb_…`): shown once, when made; stored as a hash.
    ApiKeySecret
);
secret_type!(
    /// An OAuth access token (or, for a service-app connection, nothing: an empty one).
    #[derive(Clone)]
    AccessToken
);
secret_type!(
    /// An OAuth refresh token.
    #[derive(Clone)]
    RefreshToken
);
secret_type!(
    /// An OAuth web app's client secret.
    #[derive(Clone)]
    ClientSecret
);
secret_type!(
    /// A service app's private key, PEM or private JWK, as given.
    #[derive(Clone)]
    PrivateKeyPem
);
secret_type!(
    /// An Okta API token (`Authorization: SSWS …`).
    #[derive(Clone)]
    ApiToken
);
secret_type!(
    /// A setup link's token (`stl_…`): the part of the link that lets its holder in; only its
    /// hash is stored.
    #[derive(Clone)]
    SetupToken
);
secret_type!(
    /// The bearer token an org's Okta pushes an account's directory with by SCIM (`scim_…`,
    /// 256 random bits): shown once, when made or rotated; only its hash is stored.
    #[derive(Clone)]
    ScimToken
);
secret_type!(
    /// The cookie of the browser that opened a setup link; only its hash is stored.
    #[derive(Clone)]
    SetupSession
);
secret_type!(
    /// A PKCE code verifier: not `Clone`, so one authorization uses it once.
    PkceVerifier
);

/// Deserializes an optional secret straight into its type; blank counts as absent.
///
/// # Errors
/// When the value is not a string.
pub fn secret_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: From<String>,
{
    let s: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).map(T::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = AccessToken::new("eyJ-secret");
        assert_eq!(format!("{t:?}"), "AccessToken([REDACTED])");
        assert_eq!(t.expose_secret(), "eyJ-secret");
        assert_eq!(format!("{:?}", PkceVerifier::new("v")), "PkceVerifier([REDACTED])");
    }
}
