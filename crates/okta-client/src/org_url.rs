//! The base URL of an Okta org, checked once so nothing else can hold a bad one.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::error::Error;

/// An org URL such as `https://dev-207260.okta.com`: https (plain http only for loopback
/// addresses, e.g. a local okta-sandbox), no path, query, fragment or credentials.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OrgUrl(Url);

impl OrgUrl {
    /// Parses and checks an org URL.
    ///
    /// # Errors
    /// [`Error::Config`] saying what is wrong and how to write it instead.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("org URL {input:?} {why}"));
        let url = Url::parse(input.trim())
            .map_err(|e| bad(&format!("is not a URL ({e}); write it as https://your-org.okta.com")))?;
        let host = url
            .host()
            .ok_or_else(|| bad("has no host; write it as https://your-org.okta.com"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => {
                return Err(bad(
                    "uses http: https is required (plain http is allowed only for loopback addresses such as 127.0.0.1)",
                ));
            }
            other => return Err(bad(&format!("has scheme {other:?}: use https://"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain credentials"));
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(bad(
                "must not have a path: use the org's base URL, e.g. https://your-org.okta.com",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        if let Host::Domain(d) = &host {
            if d.contains("-admin.") {
                return Err(bad("is the Admin Console's address: remove '-admin' from the host"));
            }
            if d.to_ascii_lowercase().contains("youroktadomain") {
                return Err(bad(
                    "still holds the placeholder {yourOktaDomain}: put your org's domain there",
                ));
            }
        }
        Ok(Self(url))
    }

    /// The URL as `Url` (ending in `/`).
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The URL without a trailing slash, e.g. `https://dev-207260.okta.com`.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    /// `path` (starting with `/`) on this org.
    pub fn join(&self, path: &str) -> Url {
        let mut url = self.0.clone();
        url.set_path(path);
        url
    }

    /// Whether `url` points at this org (same scheme, host and port): the only place a
    /// credential may be sent.
    pub fn same_origin(&self, url: &Url) -> bool {
        url.origin() == self.0.origin()
    }

    /// The org's subdomain (`dev-207260` for `https://dev-207260.okta.com`); for an IP address,
    /// the address and port with dashes (`127-0-0-1-8055`).
    pub fn subdomain(&self) -> String {
        match self.0.host() {
            Some(Host::Domain(d)) => d.split('.').next().unwrap_or(d).to_ascii_lowercase(),
            Some(Host::Ipv4(ip)) => format!(
                "{}-{}",
                ip.to_string().replace('.', "-"),
                self.0.port_or_known_default().unwrap_or(0)
            ),
            Some(Host::Ipv6(ip)) => format!(
                "{}-{}",
                ip.to_string().replace(':', "-"),
                self.0.port_or_known_default().unwrap_or(0)
            ),
            None => "org".to_owned(),
        }
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

impl fmt::Display for OrgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for OrgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgUrl({})", self.as_str())
    }
}

impl std::str::FromStr for OrgUrl {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://dev-207260.okta.com",
            "https://dev-207260.okta.com/",
            "http://127.0.0.1:8055",
            "http://localhost:8055/",
            "http://[::1]:9000",
            "http://127.1.2.3",
        ] {
            assert!(OrgUrl::parse(ok).is_ok(), "{ok} should be accepted");
        }
        assert_eq!(
            OrgUrl::parse("https://dev-1.okta.com/").unwrap().as_str(),
            "https://dev-1.okta.com"
        );
    }

    #[test]
    fn rejects_what_would_leak_or_misroute_tokens() {
        for bad in [
            "http://dev-207260.okta.com",
            "http://10.0.0.1",
            "ftp://dev.okta.com",
            "https://dev.okta.com/oauth2/default",
            "https://user:pw@dev.okta.com",
            "https://dev.okta.com/?x=1",
            "https://dev-1-admin.okta.com",
            "https://{yourOktaDomain}",
            "dev.okta.com",
            "",
        ] {
            let err = OrgUrl::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("org URL"), "{err}");
        }
    }

    #[test]
    fn subdomain_names_the_org() {
        assert_eq!(
            OrgUrl::parse("https://dev-207260.okta.com").unwrap().subdomain(),
            "dev-207260"
        );
        assert_eq!(
            OrgUrl::parse("http://127.0.0.1:8055").unwrap().subdomain(),
            "127-0-0-1-8055"
        );
    }

    #[test]
    fn same_origin_is_scheme_host_and_port() {
        let org = OrgUrl::parse("http://127.0.0.1:8055").unwrap();
        assert!(org.same_origin(&Url::parse("http://127.0.0.1:8055/api/v1/users?after=x").unwrap()));
        assert!(!org.same_origin(&Url::parse("http://127.0.0.1:8056/api/v1/users").unwrap()));
        assert!(!org.same_origin(&Url::parse("https://evil.example/api/v1/users").unwrap()));
    }
}
