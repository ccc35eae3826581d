//! What a per-source limit counts (SPEC "Clients without credentials": "A source is an IPv4
//! address or an IPv6 /64"). One host commonly holds a whole IPv6 /64, so counting IPv6 per
//! address would let it take every slot of a limit meant for one source.

use std::net::{IpAddr, Ipv6Addr};

/// A source: an IPv4 address, or the /64 prefix of an IPv6 address. An IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4 clients) is its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceKey(IpAddr);

impl SourceKey {
    pub fn of(ip: IpAddr) -> SourceKey {
        match crate::proto::addr_policy::canonical(ip) {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                SourceKey(IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)))
            }
            v4 => SourceKey(v4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SourceKey {
        SourceKey::of(s.parse().unwrap())
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_are_one_source() {
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn ipv4_addresses_are_sources_of_their_own() {
        assert_ne!(key("10.0.0.1"), key("10.0.0.2"));
    }

    #[test]
    fn an_ipv4_mapped_address_is_its_ipv4_address() {
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
        // Not the /64 of ::ffff:0:0, which every mapped address would share.
        assert_ne!(key("::ffff:10.0.0.1"), key("::ffff:10.0.0.2"));
    }
}
