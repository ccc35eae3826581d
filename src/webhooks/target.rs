//! Where a webhook may go: the endpoint URL, and the rule on the address it resolves to. A
//! target on loopback, link-local (169.254.169.254, the cloud metadata address, among them),
//! the unspecified address, multicast or broadcast, or one of this box's own addresses is
//! refused unless `webhook_allow` lists the address (a CIDR) or the URL's host name. The name
//! is resolved once per connection and the connection goes to the address that was checked,
//! so a name that resolves elsewhere a moment later (DNS rebinding) cannot reach a denied one.
//! Pure: the shell resolves and lists its own addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::proto::addr_policy::{canonical, Cidr};

/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// An entry of `webhook_allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    Net(Cidr),
    /// A host name as written in endpoint URLs, lowercase.
    Host(String),
}

impl AllowEntry {
    pub fn parse(s: &str) -> Result<AllowEntry, String> {
        let s = s.trim();
        if let Ok(net) = Cidr::parse(s) {
            return Ok(AllowEntry::Net(net));
        }
        let host_ok = !s.is_empty()
            && s.len() <= 253
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && s.bytes().any(|b| b.is_ascii_alphabetic());
        if host_ok {
            Ok(AllowEntry::Host(s.to_ascii_lowercase()))
        } else {
            Err("expected a CIDR (127.0.0.0/8), an address, or a host name".into())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A parsed endpoint URL: `http(s)://host[:port]/path?query`, without user info or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub scheme: Scheme,
    /// Lowercase; an IPv6 literal without its brackets.
    pub host: String,
    pub port: u16,
    /// What goes in the request line: the path and the query.
    pub path: String,
    /// The URL as given (shown by the API).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the url must be an absolute http:// or https:// URL of at most {MAX_URL_LEN} characters")]
    NotHttp,
    #[error("the url must not carry a user name, a password or a fragment")]
    Credentials,
}

impl WebhookUrl {
    pub fn parse(text: &str) -> Result<WebhookUrl, UrlError> {
        if text.len() > MAX_URL_LEN || text.contains('#') || text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(UrlError::NotHttp);
        }
        let uri: hyper::Uri = text.parse().map_err(|_| UrlError::NotHttp)?;
        let scheme = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => return Err(UrlError::NotHttp),
        };
        let authority = uri.authority().ok_or(UrlError::NotHttp)?;
        if authority.as_str().contains('@') {
            return Err(UrlError::Credentials);
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if host.is_empty() {
            return Err(UrlError::NotHttp);
        }
        let port = uri.port_u16().unwrap_or(if scheme == Scheme::Https { 443 } else { 80 });
        if port == 0 {
            return Err(UrlError::NotHttp);
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
        Ok(WebhookUrl { scheme, host, port, path, text: text.to_owned() })
    }

    /// The host as an address, when the URL names one.
    pub fn literal(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// The `Host` header: the host, bracketed if IPv6, and the port if not the scheme's own.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default = if self.scheme == Scheme::Https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why a target address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("a loopback address")]
    Loopback,
    #[error("a link-local address")]
    LinkLocal,
    #[error("the unspecified address or \"this network\"")]
    Unspecified,
    #[error("a multicast or broadcast address")]
    Multicast,
    #[error("an address of this box")]
    OwnAddress,
}

/// Why `ip` is denied by default, if it is.
pub fn default_denial(ip: IpAddr, own: &[IpAddr]) -> Option<Denied> {
    let ip = canonical(ip);
    let denied = match ip {
        IpAddr::V4(v4) => {
            if v4.is_loopback() {
                Some(Denied::Loopback)
            } else if v4.is_link_local() {
                Some(Denied::LinkLocal)
            } else if v4.octets()[0] == 0 {
                Some(Denied::Unspecified)
            } else if v4.is_multicast() || v4 == Ipv4Addr::BROADCAST {
                Some(Denied::Multicast)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_loopback() {
                Some(Denied::Loopback)
            } else if v6.is_unspecified() {
                Some(Denied::Unspecified)
            } else if v6.segments()[0] & 0xffc0 == 0xfe80 {
                Some(Denied::LinkLocal)
            } else if v6.is_multicast() {
                Some(Denied::Multicast)
            } else {
                None
            }
        }
    };
    denied.or_else(|| own.iter().any(|o| canonical(*o) == ip).then_some(Denied::OwnAddress))
}

/// The rule with the operator's allow list and this box's addresses.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    pub allow: Vec<AllowEntry>,
    pub own: Vec<IpAddr>,
}

impl TargetPolicy {
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Denied> {
        let Some(why) = default_denial(ip, &self.own) else { return Ok(()) };
        let allowed = self.allow.iter().any(|a| match a {
            AllowEntry::Net(net) => net.contains(ip),
            AllowEntry::Host(h) => h == host,
        });
        if allowed {
            Ok(())
        } else {
            Err(why)
        }
    }

    /// The first resolved address that may be reached, or why the first one may not.
    pub fn pick(&self, host: &str, resolved: &[SocketAddr]) -> Result<Option<SocketAddr>, Denied> {
        let mut first_denial = None;
        for addr in resolved {
            match self.check(host, addr.ip()) {
                Ok(()) => return Ok(Some(*addr)),
                Err(why) => {
                    first_denial.get_or_insert(why);
                }
            }
        }
        first_denial.map_or(Ok(None), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn urls_are_http_or_https_without_credentials() {
        let u = WebhookUrl::parse("https://Hooks.Example.com/edgebeam?x=1").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Https, "hooks.example.com", 443, "/edgebeam?x=1")
        );
        assert_eq!(u.host_header(), "hooks.example.com");
        let u = WebhookUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("::1", 8080, "/"));
        assert_eq!(u.host_header(), "[::1]:8080");
        assert_eq!(u.literal(), Some(ip("::1")));
        for bad in ["ftp://x/", "/relative", "https://", "http://x:0/", "http://a b/", "http://x/#frag"] {
            assert_eq!(WebhookUrl::parse(bad), Err(UrlError::NotHttp), "{bad}");
        }
        assert_eq!(WebhookUrl::parse("https://u:p@x/"), Err(UrlError::Credentials));
        assert!(WebhookUrl::parse(&format!("https://x/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn loopback_link_local_metadata_and_own_addresses_are_denied_by_default() {
        let own = [ip("192.168.1.20")];
        for (addr, why) in [
            ("127.0.0.1", Denied::Loopback),
            ("::1", Denied::Loopback),
            ("::ffff:127.0.0.1", Denied::Loopback),
            ("169.254.169.254", Denied::LinkLocal),
            ("fe80::1", Denied::LinkLocal),
            ("0.0.0.0", Denied::Unspecified),
            ("::", Denied::Unspecified),
            ("224.0.0.1", Denied::Multicast),
            ("192.168.1.20", Denied::OwnAddress),
            ("::ffff:192.168.1.20", Denied::OwnAddress),
        ] {
            assert_eq!(default_denial(ip(addr), &own), Some(why), "{addr}");
        }
        for addr in ["192.168.1.21", "10.0.0.5", "8.8.8.8", "2001:db8::1", "fd00::1"] {
            assert_eq!(default_denial(ip(addr), &own), None, "{addr}");
        }
    }

    #[test]
    fn the_allow_list_reopens_by_address_or_by_host_name() {
        let policy = TargetPolicy {
            allow: vec![AllowEntry::parse("127.0.0.1").unwrap(), AllowEntry::parse("Hooks.LAN").unwrap()],
            own: vec![],
        };
        assert_eq!(policy.check("x", ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check("x", ip("127.0.0.2")), Err(Denied::Loopback));
        assert_eq!(policy.check("hooks.lan", ip("169.254.1.1")), Ok(()));
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(policy.pick("x", &[a("127.0.0.2:80"), a("10.0.0.1:80")]), Ok(Some(a("10.0.0.1:80"))));
        assert_eq!(policy.pick("x", &[a("169.254.169.254:80")]), Err(Denied::LinkLocal));
        assert_eq!(policy.pick("x", &[]), Ok(None));
        assert!(AllowEntry::parse("10.0.0.0/33").is_err() && AllowEntry::parse("a b").is_err());
    }
}
