//! Reaching orgs: which addresses okta-bridge may talk to, the resolver that enforces it on
//! every connection, and the HTTP clients built with it.
//!
//! An Okta org is reached over https at a public address. Loopback, private, link-local (cloud
//! metadata services live there) and unspecified addresses, and `localhost` names, are refused,
//! so that an org URL cannot turn the server into a way into its own network. Names are checked
//! when an account is added and when the server starts, and again by the resolver on every
//! connection (a name may resolve elsewhere later: DNS rebinding). The development switch
//! (`OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS`) lifts all of it, and allows plain http, for local orgs
//! such as okta-sandbox; only [`Egress::allow_private_for_development`] turns it on.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use okta_client::OrgUrl;
use url::Url;

use crate::error::{EgressRefusal, Error, Result};

/// A DNS resolver for connections to orgs and authorization servers.
pub type Resolver = Arc<dyn reqwest::dns::Resolve>;

/// IPv4 ranges of IANA's special-purpose registry that are not globally reachable (RFC 6890
/// and its updates), and multicast: `(network, prefix length)`.
const V4_NOT_GLOBAL: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // carrier-grade NAT (shared address space)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local: cloud metadata services
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments (but .9 and .10: see below)
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and the limited broadcast address
];

/// IPv6 ranges of IANA's special-purpose registry that are not globally reachable, among
/// global unicast (`2000::/3`, the only space with orgs in it): `(network, prefix length)`.
const V6_NOT_GLOBAL: &[([u16; 8], u8)] = &[
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments: Teredo (2001::/32), benchmarking, ORCHID…
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
];

/// Globally reachable exceptions inside [`V6_NOT_GLOBAL`]'s `2001::/23` (IANA's registry says
/// so for each): `(network, prefix length)`.
const V6_GLOBAL_EXCEPTIONS: &[([u16; 8], u8)] = &[
    ([0x2001, 0x1, 0, 0, 0, 0, 0, 0x1], 128),  // port control protocol anycast
    ([0x2001, 0x1, 0, 0, 0, 0, 0, 0x2], 128),  // TURN anycast
    ([0x2001, 0x1, 0, 0, 0, 0, 0, 0x3], 128),  // DNS-SD service registration anycast
    ([0x2001, 0x3, 0, 0, 0, 0, 0, 0], 32),     // AMT
    ([0x2001, 0x4, 0x112, 0, 0, 0, 0, 0], 48), // AS112-v6
    ([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28),    // ORCHIDv2
    ([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28),    // drone remote ID
];

fn in_v4(ip: std::net::Ipv4Addr, (net, len): ([u8; 4], u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from_be_bytes(net) & mask
}

fn in_v6(ip: std::net::Ipv6Addr, (net, len): ([u16; 8], u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(std::net::Ipv6Addr::from(net)) & mask
}

/// Whether `ip` is somewhere no Okta org lives: any address that is not globally reachable.
///
/// IPv4: every special-purpose range of IANA's registry that is not globally reachable —
/// "this network", private, carrier-grade NAT, loopback, link-local (cloud metadata services),
/// IETF protocol assignments (192.0.0.0/24, but for its two anycast addresses), documentation,
/// the deprecated 6to4 relay, benchmarking (198.18.0.0/15), reserved and broadcast — and
/// multicast.
///
/// IPv6: everything outside global unicast (`2000::/3`: loopback, unspecified, IPv4-mapped and
/// IPv4-translated `::ffff:…`, IPv4-compatible `::/96`, discard-only `100::/64`, the local-use
/// NAT64 prefix `64:ff9b:1::/48`, unique-local, link-local, the deprecated site-local
/// `fec0::/10`, multicast, and the rest of the unassigned space), except the well-known NAT64
/// prefix `64:ff9b::/96` with a public IPv4 address in it; inside `2000::/3`, IANA's ranges that
/// are not globally reachable (`2001::/23` — Teredo, benchmarking, ORCHID — with its globally
/// reachable exceptions, documentation), and 6to4 (`2002::/16`) when its IPv4 address is not
/// public.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let anycast = v4.octets()[..3] == [192, 0, 0] && matches!(v4.octets()[3], 9 | 10);
            !anycast && V4_NOT_GLOBAL.iter().any(|&r| in_v4(v4, r))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [h1, h2] = hi.to_be_bytes();
                let [l1, l2] = lo.to_be_bytes();
                is_private(IpAddr::V4(std::net::Ipv4Addr::new(h1, h2, l1, l2)))
            };
            // NAT64 64:ff9b::a.b.c.d reaches a.b.c.d.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return embedded(s[6], s[7]);
            }
            let global_unicast = (s[0] & 0xe000) == 0x2000;
            if !global_unicast {
                return true;
            }
            // 6to4 2002:a.b.c.d:: reaches a.b.c.d.
            if s[0] == 0x2002 {
                return embedded(s[1], s[2]);
            }
            V6_NOT_GLOBAL.iter().any(|&r| in_v6(v6, r)) && !V6_GLOBAL_EXCEPTIONS.iter().any(|&r| in_v6(v6, r))
        }
    }
}

/// A DNS resolver that refuses names with a loopback, private or link-local address.
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

/// The policy for reaching orgs: public addresses only, or (development) anything; and the
/// CA certificates trusted besides the system's (`OKTA_BRIDGE_CA_FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    allow_private: bool,
    extra_ca: Option<ExtraCa>,
    /// The one https origin on a loopback address allowed besides public ones: the sandbox
    /// `serve --sandbox` started (an IP address, so no resolver is involved).
    own_sandbox: Option<String>,
    /// The connection pool and TLS setup every org client of this policy shares: one, not one
    /// per connection (a root store and TLS configuration each, with a thousand connections).
    transport: SharedTransport,
}

/// Made on first use; a changed policy starts a new one.
#[derive(Clone, Default)]
struct SharedTransport(Arc<std::sync::OnceLock<okta_client::Transport>>);

impl std::fmt::Debug for SharedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedTransport")
    }
}

impl PartialEq for SharedTransport {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SharedTransport {}

/// CA certificates trusted for org traffic besides the system's: a TLS-inspecting proxy's, or a
/// local sandbox's.
#[derive(Clone)]
struct ExtraCa {
    pem: Arc<str>,
    certs: Vec<reqwest::Certificate>,
}

impl std::fmt::Debug for ExtraCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtraCa({} certificates)", self.certs.len())
    }
}

impl PartialEq for ExtraCa {
    fn eq(&self, other: &Self) -> bool {
        self.pem == other.pem
    }
}

impl Eq for ExtraCa {}

impl Egress {
    /// Orgs on public addresses over https only: the policy of every deployment.
    pub fn public_only() -> Self {
        Self {
            allow_private: false,
            extra_ca: None,
            own_sandbox: None,
            transport: SharedTransport::default(),
        }
    }

    /// Orgs anywhere, over http too: local development with orgs such as okta-sandbox
    /// (`OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS`).
    pub fn allow_private_for_development() -> Self {
        Self {
            allow_private: true,
            extra_ca: None,
            own_sandbox: None,
            transport: SharedTransport::default(),
        }
    }

    /// This policy with orgs anywhere allowed (its trusted CAs kept): a sandbox this process
    /// started on loopback.
    #[must_use]
    pub fn allowing_private_for_development(mut self) -> Self {
        self.allow_private = true;
        self.transport = SharedTransport::default();
        self
    }

    /// This policy, also allowing the https origin of `org`: the sandbox this process started
    /// on loopback (only that origin; every other private address stays refused).
    #[must_use]
    pub fn allowing_own_sandbox(mut self, org: &OrgUrl) -> Self {
        self.own_sandbox = Some(org.as_url().origin().ascii_serialization());
        self.transport = SharedTransport::default();
        self
    }

    fn is_own_sandbox(&self, url: &OrgUrl) -> bool {
        let u = url.as_url();
        u.scheme() == "https" && self.own_sandbox.as_deref() == Some(u.origin().ascii_serialization().as_str())
    }

    /// Also trusts the CA certificates of `pem` (read from `source`, named in errors).
    ///
    /// # Errors
    /// [`Error::Config`] naming `source` when `pem` holds no certificate.
    pub fn trusting(mut self, pem: &str, source: &'static str) -> Result<Self> {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| Error::config(source, format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Error::config(
                source,
                "holds no certificate: give one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
            ));
        }
        self.extra_ca = Some(ExtraCa {
            pem: Arc::from(pem),
            certs,
        });
        self.transport = SharedTransport::default();
        Ok(self)
    }

    /// The extra CA certificates trusted (PEM), if any.
    pub fn extra_ca_pem(&self) -> Option<&str> {
        self.extra_ca.as_ref().map(|c| &*c.pem)
    }

    /// The policy the development switch says.
    pub fn from_switch(dev_allow_private_orgs: bool) -> Self {
        if dev_allow_private_orgs {
            Self::allow_private_for_development()
        } else {
            Self::public_only()
        }
    }

    /// Whether orgs on private addresses are allowed.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// The resolver for connections to orgs: [`PublicAddressesOnly`] unless private orgs are
    /// allowed (`None`: the system's).
    pub fn resolver(&self) -> Option<Resolver> {
        (!self.allow_private).then(|| Arc::new(PublicAddressesOnly) as Resolver)
    }

    /// An okta-client builder for `org` that resolves its name as this policy says.
    pub fn client_builder(&self, org: OrgUrl) -> okta_client::ClientBuilder {
        let mut builder = okta_client::Client::builder_for(org);
        if let Some(ca) = &self.extra_ca {
            builder = builder.trust_certificates(ca.certs.clone());
        }
        if let Some(r) = self.resolver() {
            builder = builder.dns_resolver(r);
        }
        let shared = &self.transport.0;
        if let Some(t) = shared.get() {
            return builder.transport(t.clone());
        }
        // (Not made: the builder makes its own, and says why it cannot when built.)
        match builder.build_transport() {
            Ok(t) => {
                let t = shared.get_or_init(|| t).clone();
                builder.transport(t)
            }
            Err(_) => builder,
        }
    }

    /// Our HTTP client for authorization servers: never follows redirects, gives up after
    /// `timeout`, resolves names as this policy says.
    ///
    /// # Errors
    /// [`Error::Config`] when the TLS stack cannot be set up.
    pub fn http_client(&self, timeout: Duration) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("okta-bridge/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &self.extra_ca {
            builder = builder.tls_certs_merge(ca.certs.clone());
        }
        if let Some(r) = self.resolver() {
            // A proxy would resolve the name itself, past the guard: none for org traffic.
            builder = builder.dns_resolver(r).no_proxy();
        }
        builder.build().map_err(|e| Error::config("HTTP client", e.to_string()))
    }

    /// Checks the org URL as written: https, and not a loopback, private or link-local address
    /// or a `localhost` name. [`check_resolves`](Self::check_resolves) checks what it resolves to.
    ///
    /// # Errors
    /// [`EgressRefusal`] saying why and what to do.
    pub fn check_url(&self, url: &OrgUrl) -> Result<(), EgressRefusal> {
        if self.allow_private || self.is_own_sandbox(url) {
            return Ok(());
        }
        let u = url.as_url();
        if u.scheme() != "https" {
            return Err(EgressRefusal::NotHttps { url: url.to_string() });
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
            return Err(EgressRefusal::PrivateUrl { url: url.to_string() });
        }
        Ok(())
    }

    /// Checks a webhook endpoint's URL: https, on a public address (the name resolved, as for
    /// org URLs), unless private addresses are allowed for development (then http too). Answers
    /// what is wrong and what to do.
    ///
    /// # Errors
    /// The reason, in words.
    pub async fn check_webhook_url(&self, url: &Url) -> Result<(), String> {
        let switch = "set OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS=true only for local development";
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(format!("{url} is not an http(s) URL with a host"));
        }
        if self.allow_private {
            return Ok(());
        }
        if url.scheme() != "https" {
            return Err(format!(
                "{url} is not https: webhooks are delivered over https ({switch})"
            ));
        }
        let private = match url.host() {
            Some(url::Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if d == "localhost" || d.ends_with(".localhost") {
                    true
                } else {
                    let port = url.port_or_known_default().unwrap_or(443);
                    let addrs =
                        match tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((d.as_str(), port)))
                            .await
                        {
                            Err(_) => return Err(format!("resolving {d} timed out: check the URL {url}")),
                            Ok(Err(e)) => return Err(format!("{d} does not resolve ({e}): check the URL {url}")),
                            Ok(Ok(a)) => a,
                        };
                    addrs.into_iter().any(|a| is_private(a.ip()))
                }
            }
            None => true,
        };
        if private {
            return Err(format!(
                "{url} is on a loopback, private or link-local address: webhooks go to public addresses ({switch})"
            ));
        }
        Ok(())
    }

    /// Resolves the org's host name and refuses it when any of its addresses is loopback,
    /// private or link-local, or when it does not resolve at all (a mistyped org URL).
    ///
    /// # Errors
    /// [`EgressRefusal::PrivateAddress`], [`EgressRefusal::Unresolved`].
    pub async fn check_resolves(&self, url: &OrgUrl) -> Result<(), EgressRefusal> {
        if self.allow_private || self.is_own_sandbox(url) {
            return Ok(());
        }
        let u = url.as_url();
        let Some(url::Host::Domain(name)) = u.host() else {
            return Ok(());
        };
        let port = u.port_or_known_default().unwrap_or(443);
        let unresolved = |why: String| EgressRefusal::Unresolved {
            url: url.to_string(),
            why,
        };
        let addrs = match tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((name, port))).await {
            Err(_) => return Err(unresolved(format!("resolving {name} timed out"))),
            Ok(Err(e)) => return Err(unresolved(format!("{name} does not resolve: {e}"))),
            Ok(Ok(a)) => a,
        };
        for addr in addrs {
            if is_private(addr.ip()) {
                return Err(EgressRefusal::PrivateAddress {
                    url: url.to_string(),
                    address: addr.ip(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_orgs_unless_the_dev_switch_says_so() {
        let strict = Egress::public_only();
        let ok = OrgUrl::parse("https://dev-207260.okta.com").unwrap();
        assert!(strict.check_url(&ok).is_ok());
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
            let err = strict.check_url(&url).unwrap_err().to_string();
            assert!(err.contains("OKTA_BRIDGE_DEV_ALLOW_PRIVATE_ORGS"), "{bad}: {err}");
            assert!(
                Egress::allow_private_for_development().check_url(&url).is_ok(),
                "{bad} with the switch"
            );
        }
        for public in [
            "https://[2606:4700::1]",
            "https://[64:ff9b::808:808]",
            "https://[2002:808:808::]",
            "https://8.8.8.8",
        ] {
            let url = OrgUrl::parse(public).unwrap();
            assert!(strict.check_url(&url).is_ok(), "{public} is public");
        }
        assert!(OrgUrl::parse("https://user:pw@dev.okta.com").is_err(), "no userinfo");
    }

    /// Issue 25, finding 9: every special-purpose range of IANA's registries that is not
    /// globally reachable is refused, at its first and last address; the globally reachable
    /// neighbours are not.
    #[test]
    fn every_range_that_is_not_globally_reachable_is_refused() {
        let refused = [
            "0.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.255",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            // IPv6
            "::",
            "::1",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "::8.8.8.8",
            "100::1",
            "64:ff9b:1::808:808",
            "64:ff9b::a00:1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "feff::1",
            "ff02::1",
            "ff0e::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:10::1",
            "2001:1ff:ffff::1",
            "2001:db8::1",
            "2002:a00:1::",
            "2002:c0a8:101::",
            "3fff::1",
            "4000::1",
            "5f00::1",
            "1234::1",
        ];
        for ip in refused {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_private(ip), "{ip} is not globally reachable");
        }
        let reachable = [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.0.9",
            "192.0.0.10",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1",
            "2001:4860:4860::8888",
            "2001:1::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:30::1",
            "2002:808:808::",
            "64:ff9b::808:808",
            "2620:4f:8000::1",
        ];
        for ip in reachable {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_private(ip), "{ip} is globally reachable");
        }
        for url in [
            "https://198.18.0.1",
            "https://[64:ff9b:1::1]",
            "https://[2001::1]",
            "https://[ff02::1]",
        ] {
            let url = OrgUrl::parse(url).unwrap();
            assert!(
                Egress::public_only().check_url(&url).is_err(),
                "{url} refused as an org"
            );
        }
    }
}
