//! Validated domain types: once constructed, always valid.

use std::fmt;

use crate::error::Error;

/// The name a connection is stored under, e.g. `dev-207260`: 1–63 characters of lower-case
/// letters, digits, `-`, `_` and `.`, starting with a letter or digit (safe in URLs and paths).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AccountName(String);

impl AccountName {
    /// Checks `name`.
    ///
    /// # Errors
    /// [`Error::Invalid`] saying which characters are allowed.
    pub fn parse(name: &str) -> Result<Self, Error> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::Invalid(format!(
                "account name {name:?} is not valid: use 1-63 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit"
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A space-separated set of OAuth scopes, each a non-empty run of printable ASCII without
/// spaces, quotes or backslashes (RFC 6749 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses `okta.users.read offline_access`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty list or a character RFC 6749 does not allow.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let scopes: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        if scopes.is_empty() {
            return Err(Error::Invalid(
                "the scope list is empty: give at least one scope, e.g. okta.users.read".into(),
            ));
        }
        if let Some(bad) = scopes
            .iter()
            .find(|t| t.chars().any(|c| !('!'..='~').contains(&c) || c == '"' || c == '\\'))
        {
            return Err(Error::Invalid(format!(
                "scope {bad:?} holds a character OAuth does not allow"
            )));
        }
        Ok(Self(scopes))
    }

    /// Each scope.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether `scope` is included.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names() {
        for ok in ["dev-207260", "acme", "a", "127-0-0-1-8055", "x.y_z"] {
            assert!(AccountName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Dev", "-x", "a b", "a/b", "é", &"a".repeat(64)] {
            assert!(AccountName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes() {
        let s = Scopes::parse(" okta.users.read  offline_access ").unwrap();
        assert_eq!(s.to_string(), "okta.users.read offline_access");
        assert!(s.contains("offline_access"));
        assert!(Scopes::parse("   ").is_err());
        assert!(Scopes::parse("a\"b").is_err());
    }
}

/// Whether `ip` is somewhere no Okta org lives: loopback, private, link-local (cloud metadata
/// services), carrier-grade NAT, unspecified or broadcast, in IPv4 or IPv6 (mapped included).
fn is_private(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// What a resolved org name says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// Every address is public (or the development switch is on, or the URL holds an address).
    Public,
    /// The name could not be resolved; the message says why.
    Unresolved(String),
}

/// Resolves the org's host name and refuses it when any of its addresses is loopback,
/// private or link-local: a public-looking name must not lead okta-bridge into its own
/// network. Names are checked when an account is added and when the server starts; a name that
/// changes its addresses later is not caught (DNS rebinding), see docs.
///
/// # Errors
/// [`crate::Error::Config`] naming the address and the development switch.
pub async fn check_org_resolves(url: &okta_client::OrgUrl, allow_private: bool) -> crate::Result<Resolution> {
    if allow_private {
        return Ok(Resolution::Public);
    }
    let u = url::Url::parse(url.as_str()).map_err(|e| crate::Error::Config(format!("org URL: {e}")))?;
    let Some(url::Host::Domain(name)) = u.host() else {
        return Ok(Resolution::Public);
    };
    let port = u.port_or_known_default().unwrap_or(443);
    let looked_up =
        tokio::time::timeout(std::time::Duration::from_secs(5), tokio::net::lookup_host((name, port))).await;
    let addrs = match looked_up {
        Err(_) => return Ok(Resolution::Unresolved(format!("resolving {name} timed out"))),
        Ok(Err(e)) => return Ok(Resolution::Unresolved(format!("{name} does not resolve: {e}"))),
        Ok(Ok(a)) => a,
    };
    for addr in addrs {
        if is_private(addr.ip()) {
            return Err(crate::Error::Config(format!(
                "the org URL {url} resolves to {}, a loopback, private or link-local address, where no Okta org lives (set OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS=true only for local development)",
                addr.ip()
            )));
        }
    }
    Ok(Resolution::Public)
}

/// A DNS resolver that refuses names with a loopback, private or link-local address, for every
/// connection okta-bridge makes to an org: a name checked when it was added may resolve
/// elsewhere later (DNS rebinding), so the check is made again where it counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| is_private(a.ip())) {
                return Err(format!(
                    "{host} resolves to {}, a loopback, private or link-local address, where no Okta org lives: refusing to connect (OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS=true allows it, for local development only)",
                    bad.ip()
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The resolver for connections to orgs: [`PublicAddressesOnly`] unless `allow_private`.
pub fn org_resolver(allow_private: bool) -> Option<crate::connect::Resolver> {
    (!allow_private).then(|| std::sync::Arc::new(PublicAddressesOnly) as crate::connect::Resolver)
}

/// Checks that okta-bridge may talk to the org at `url`: an Okta org is reached over https at a
/// public address. Loopback, private, link-local (cloud metadata services live there) and
/// unspecified addresses, and `localhost` names, are refused, so that an org URL cannot turn
/// the server into a way into its own network; `allow_private` (the development switch
/// `OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS`, which the built-in sandbox sets) lifts that, and
/// allows plain http, for local orgs such as okta-sandbox.
///
/// Names are checked as written here; [`check_org_resolves`] checks what they resolve to.
///
/// # Errors
/// [`crate::Error::Config`] saying why and what to do.
pub fn check_org_url(url: &okta_client::OrgUrl, allow_private: bool) -> crate::Result<()> {
    use std::net::IpAddr;
    if allow_private {
        return Ok(());
    }
    let u = url::Url::parse(url.as_str()).map_err(|e| crate::Error::Config(format!("org URL: {e}")))?;
    let switch = "set OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS=true only for local development";
    if u.scheme() != "https" {
        return Err(crate::Error::Config(format!(
            "the org URL {url} is not https: Okta orgs are reached over https ({switch})"
        )));
    }
    let refused = match u.host() {
        Some(url::Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => true,
    };
    if refused {
        return Err(crate::Error::Config(format!(
            "the org URL {url} points at a loopback, private or link-local address, where no Okta org lives ({switch})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod org_url_tests {
    use super::check_org_url;
    use okta_client::OrgUrl;

    #[test]
    fn only_public_https_orgs_unless_the_dev_switch_says_so() {
        let ok = OrgUrl::parse("https://dev-207260.okta.com").unwrap();
        assert!(check_org_url(&ok, false).is_ok());
        for bad in [
            "http://127.0.0.1:8055",
            "https://127.0.0.1",
            "https://10.0.0.7",
            "https://172.20.1.1",
            "https://192.168.1.10",
            "https://169.254.169.254",
            "https://100.64.0.1",
            "https://0.0.0.0",
            "https://[::1]",
            "https://[fd00::1]",
            "https://[fe80::1]",
            "https://[::ffff:10.0.0.1]",
            "https://localhost",
            "https://api.localhost",
        ] {
            let Ok(url) = OrgUrl::parse(bad) else { continue };
            let err = check_org_url(&url, false).unwrap_err().to_string();
            assert!(err.contains("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS"), "{bad}: {err}");
            assert!(check_org_url(&url, true).is_ok(), "{bad} with the switch");
        }
        assert!(OrgUrl::parse("https://user:pw@dev.okta.com").is_err(), "no userinfo");
    }
}
