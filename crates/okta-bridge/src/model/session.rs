//! Console sessions: how each was granted, so that it is checked against the sign-in lists in
//! force on every request, and ended with its person.

/// How a console session was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionGrant {
    /// The admin token (the session ends when the token changes).
    AdminToken,
    /// An OpenID Connect sign-in: let in by the email the provider verified or by a group.
    Oidc {
        /// The ID token's `sub`.
        subject: String,
        /// The verified email, lower-case, if any.
        email: Option<String>,
        /// The ID token's `groups`.
        groups: Vec<String>,
    },
}

impl SessionGrant {
    /// Who: the email, else the subject; `admin token` for the token.
    pub fn person(&self) -> &str {
        match self {
            Self::AdminToken => "admin token",
            Self::Oidc { email: Some(e), .. } => e,
            Self::Oidc { subject, .. } => subject,
        }
    }
}

/// A console session as listed (never its cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// How it was granted.
    pub grant: SessionGrant,
    /// When it ends (unix seconds).
    pub expires_at: i64,
}

impl serde::Serialize for ConsoleSession {
    /// `{"person", "grantedBy" ("admin_token" | "openid_connect"), "subject", "email",
    /// "groups", "expiresAt" (RFC 3339)}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (granted_by, subject, email, groups): (_, Option<&str>, Option<&str>, &[String]) = match &self.grant {
            SessionGrant::AdminToken => ("admin_token", None, None, &[]),
            SessionGrant::Oidc { subject, email, groups } => {
                ("openid_connect", Some(subject), email.as_deref(), groups)
            }
        };
        let expires_at = super::rfc3339(self.expires_at);
        let mut out = s.serialize_struct("ConsoleSession", 6)?;
        out.serialize_field("person", self.grant.person())?;
        out.serialize_field("grantedBy", granted_by)?;
        out.serialize_field("subject", &subject)?;
        out.serialize_field("email", &email)?;
        out.serialize_field("groups", groups)?;
        out.serialize_field("expiresAt", &expires_at)?;
        out.end()
    }
}
