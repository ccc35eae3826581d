//! Which peer addresses the TURN relay may send to (SPEC "TURN / Peer addresses"), meant to be
//! checked before a permission is installed (CreatePermission, ChannelBind). A relay that
//! forwards anywhere is a bridge from the internet into the box and its LAN, so the
//! special-purpose ranges of RFC 6890 (and the IANA registries that extend it) are closed by
//! default, for IPv4 and IPv6 alike (RFC 6156, now part of RFC 8656), and an IPv4-mapped address
//! (`::ffff:a.b.c.d`) is judged as the IPv4 address it names. Private LAN ranges stay open: the
//! box serves a LAN.
//!
//! The order of the rules is the contract, see [`PeerPolicy::check`]. Left out on purpose: host
//! names (peers are addresses on the wire), IPv6 zone ids, and per-project policies.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::str::FromStr;

/// An address block such as `10.0.0.0/8` or `fe80::/10`. Host bits are cleared on parse, and an
/// IPv4-mapped block (`::ffff:10.0.0.0/104`) is stored as the IPv4 block it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR/PREFIX`, or a bare address (`/32` or `/128`).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| format!("{addr_text:?} is not an IPv4 or IPv6 address"))?;
        let max = max_prefix(addr);
        let prefix = match prefix_text {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                let n: u16 = p.parse().map_err(|_| format!("/{p} is not a prefix length"))?;
                if n > u16::from(max) {
                    let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                    return Err(format!("prefix /{n} is longer than the {max} bits of an {family} address"));
                }
                n as u8
            }
            Some(p) => return Err(format!("/{p} is not a prefix length (expected 0 to {max})")),
        };
        Ok(Cidr::masked(addr, prefix))
    }

    /// Clears host bits and folds an IPv4-mapped block into IPv4.
    fn masked(addr: IpAddr, prefix: u8) -> Cidr {
        match addr {
            IpAddr::V4(a) => Cidr { addr: IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(prefix))), prefix },
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => Cidr::masked(IpAddr::V4(v4), prefix - 96),
                _ => Cidr { addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(prefix))), prefix },
            },
        }
    }

    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
        Cidr { addr: IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Cidr {
        let [a, b, c, d, e, f, g, h] = segments;
        Cidr { addr: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)), prefix }
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip`, after [`canonical`], lies in this block. An IPv4 block never contains an
    /// IPv6 address, nor an IPv6 block an IPv4 one (so `::/0` does not cover IPv4-mapped peers).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => u32::from(ip) & mask_v4(self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => u128::from(ip) & mask_v6(self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        Cidr::parse(s)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) becomes the IPv4 address; anything else is
/// returned unchanged. The deprecated IPv4-compatible form (`::a.b.c.d`) is deliberately not
/// mapped: it is reserved, and denied as such.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why a peer address is refused; the TURN core answers 403 (Forbidden) to all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeerDenied {
    #[error("the address is in the operator's deny list")]
    OperatorDenyList,
    #[error("ports below 1024 are not relayed to")]
    LowPort,
    #[error("loopback address")]
    Loopback,
    #[error("unspecified or this-network address")]
    Unspecified,
    #[error("link-local address")]
    LinkLocal,
    #[error("multicast address")]
    Multicast,
    #[error("broadcast address: the limited one, or a directed one of the box's own subnets")]
    Broadcast,
    #[error("reserved or special-purpose address")]
    Reserved,
    #[error("documentation address")]
    Documentation,
    #[error("address in a NAT64, 6to4 or Teredo translation prefix")]
    TranslationPrefix,
    #[error("an address of this box outside its relay ports")]
    OwnAddress,
}

/// Default-denied blocks, first match wins (so `::` is Unspecified before `::/96` is Reserved).
/// Sources: RFC 6890 and the IANA IPv4/IPv6 Special-Purpose Address Registries.
const DEFAULT_DENIED: &[(Cidr, PeerDenied)] = {
    use PeerDenied::*;
    &[
        (Cidr::v4(0, 0, 0, 0, 8), Unspecified),            // "this network", RFC 791
        (Cidr::v4(127, 0, 0, 0, 8), Loopback),             // RFC 1122
        (Cidr::v4(169, 254, 0, 0, 16), LinkLocal),         // RFC 3927
        (Cidr::v4(224, 0, 0, 0, 4), Multicast),            // RFC 5771
        (Cidr::v4(255, 255, 255, 255, 32), Broadcast),     // RFC 919
        (Cidr::v4(240, 0, 0, 0, 4), Reserved),             // RFC 1112
        (Cidr::v4(192, 0, 0, 0, 24), Reserved),            // IETF protocol assignments, RFC 6890
        (Cidr::v4(198, 18, 0, 0, 15), Reserved),           // benchmarking, RFC 2544
        (Cidr::v4(192, 0, 2, 0, 24), Documentation),       // TEST-NET-1, RFC 5737
        (Cidr::v4(198, 51, 100, 0, 24), Documentation),    // TEST-NET-2
        (Cidr::v4(203, 0, 113, 0, 24), Documentation),     // TEST-NET-3
        (Cidr::v4(192, 88, 99, 0, 24), TranslationPrefix), // 6to4 relay anycast, RFC 7526
        (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), Unspecified),
        (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), Loopback),
        (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 96), Reserved), // IPv4-compatible, RFC 4291 2.5.5.1
        (Cidr::v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), TranslationPrefix), // NAT64, RFC 6052
        (Cidr::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), TranslationPrefix), // local NAT64, RFC 8215
        (Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), Reserved), // discard-only, RFC 6666
        (Cidr::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), TranslationPrefix), // Teredo, RFC 4380
        (Cidr::v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28), Reserved), // ORCHIDv2, RFC 7343
        (Cidr::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), Reserved), // IETF protocol assignments, RFC 2928
        (Cidr::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), Documentation), // RFC 3849
        (Cidr::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), Documentation), // RFC 9637
        (Cidr::v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), TranslationPrefix), // 6to4, RFC 3056
        (Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), LinkLocal), // RFC 4291
        (Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), Reserved), // site-local, RFC 3879
        (Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), Multicast), // RFC 4291
    ]
};

/// IPv6 space that is ever handed out as unicast: global unicast and unique local. The rest is
/// "Reserved by IETF" in the IANA IPv6 Address Space registry (the link-local, site-local and
/// multicast parts of it are named more precisely by [`DEFAULT_DENIED`]).
const ASSIGNABLE_V6: [Cidr; 2] = [
    Cidr::v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3), // RFC 4291
    Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // RFC 4193
];

/// Why `ip` (already canonical) is closed by default, if it is.
fn default_denial(ip: IpAddr) -> Option<PeerDenied> {
    if let Some((_, reason)) = DEFAULT_DENIED.iter().find(|(block, _)| block.contains(ip)) {
        return Some(*reason);
    }
    if ip.is_ipv6() && !ASSIGNABLE_V6.iter().any(|block| block.contains(ip)) {
        return Some(PeerDenied::Reserved);
    }
    None
}

/// One of the box's own addresses: an interface's, with what makes its IPv4 subnet's broadcast
/// addresses known, or one known only as an address (`public_ip`, or a plain `IpAddr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddress {
    ip: IpAddr,
    /// The interface's prefix length, when the address is an interface's.
    prefix: Option<u8>,
    /// The broadcast address the interface reports (`ip addr ... brd`), if any.
    broadcast: Option<Ipv4Addr>,
}

impl LocalAddress {
    /// An interface address with its subnet's prefix length and reported broadcast address.
    pub fn interface(ip: IpAddr, prefix: u8, broadcast: Option<Ipv4Addr>) -> LocalAddress {
        LocalAddress { ip, prefix: Some(prefix), broadcast }
    }

    /// The broadcast addresses of this address's IPv4 subnet: the one the interface reports,
    /// the all-ones host (RFC 919 directed broadcast) and the all-zeros host (the old BSD
    /// broadcast, which Linux before 5.x still installs as a broadcast route). A /31 or /32 has
    /// none (RFC 3021), nor has IPv6 (RFC 4291 has no broadcast).
    fn broadcasts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let subnet = match (canonical(self.ip), self.prefix) {
            (IpAddr::V4(v4), Some(prefix)) if prefix <= 30 => {
                let net = u32::from(v4) & mask_v4(prefix);
                Some([Ipv4Addr::from(net | !mask_v4(prefix)), Ipv4Addr::from(net)])
            }
            _ => None,
        };
        subnet.into_iter().flatten().chain(self.broadcast)
    }
}

impl From<IpAddr> for LocalAddress {
    fn from(ip: IpAddr) -> LocalAddress {
        LocalAddress { ip, prefix: None, broadcast: None }
    }
}

/// The operator's peer lists plus what the box knows about itself.
#[derive(Debug, Clone)]
pub struct PeerPolicy {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    own_addrs: Vec<IpAddr>,
    /// Directed broadcast addresses of the box's own IPv4 subnets.
    own_broadcasts: Vec<Ipv4Addr>,
    relay_ports: RangeInclusive<u16>,
}

impl PeerPolicy {
    /// `own` are the box's interface and public addresses; `relay_ports` its relay range.
    pub fn new<A: Into<LocalAddress>>(
        allow: Vec<Cidr>,
        deny: Vec<Cidr>,
        own: impl IntoIterator<Item = A>,
        relay_ports: RangeInclusive<u16>,
    ) -> PeerPolicy {
        let own: Vec<LocalAddress> = own.into_iter().map(Into::into).collect();
        let own_addrs = own.iter().map(|a| canonical(a.ip)).collect();
        let mut own_broadcasts: Vec<Ipv4Addr> = own.iter().flat_map(LocalAddress::broadcasts).collect();
        own_broadcasts.sort();
        own_broadcasts.dedup();
        PeerPolicy { allow, deny, own_addrs, own_broadcasts, relay_ports }
    }

    /// True when `peer` passes only as one of this box's own addresses on a relay port (not
    /// through the allow list): the caller must also check that a relay is bound at exactly that
    /// address and port.
    pub fn is_own_relay_target(&self, peer: SocketAddr) -> bool {
        let ip = canonical(peer.ip());
        self.own_addrs.contains(&ip)
            && self.relay_ports.contains(&peer.port())
            && !self.allow.iter().any(|block| block.contains(ip))
    }

    /// Checks an address for a permission, which covers every port of the address (RFC 8656
    /// §9): the address must be usable on at least the relay ports; the exact port is checked
    /// when data is sent.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), PeerDenied> {
        self.check(SocketAddr::new(ip, *self.relay_ports.start()))
    }

    /// Rules, in order, on the canonical address: the deny list refuses; a port below 1024 is
    /// refused; the allow list admits (re-opening any default-denied range, the box's own
    /// addresses and subnet broadcasts included); default-denied ranges and the broadcast
    /// addresses of the box's own subnets refuse; the box's own addresses refuse unless the port
    /// is a relay port (two peers relayed by this box reach each other); the rest, private LAN
    /// ranges included, is admitted.
    pub fn check(&self, peer: SocketAddr) -> Result<(), PeerDenied> {
        let ip = canonical(peer.ip());
        if self.deny.iter().any(|block| block.contains(ip)) {
            return Err(PeerDenied::OperatorDenyList);
        }
        if peer.port() < 1024 {
            return Err(PeerDenied::LowPort);
        }
        if self.allow.iter().any(|block| block.contains(ip)) {
            return Ok(());
        }
        if let Some(reason) = default_denial(ip) {
            return Err(reason);
        }
        // One datagram sent there reaches every host of the LAN segment.
        if matches!(ip, IpAddr::V4(v4) if self.own_broadcasts.contains(&v4)) {
            return Err(PeerDenied::Broadcast);
        }
        if self.own_addrs.contains(&ip) && !self.relay_ports.contains(&peer.port()) {
            return Err(PeerDenied::OwnAddress);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::PeerDenied::*;
    use super::*;
    use proptest::prelude::*;

    const RELAY: RangeInclusive<u16> = 49152..=65535;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| Cidr::parse(s).unwrap()).collect()
    }

    fn own() -> Vec<IpAddr> {
        vec!["192.168.1.20".parse().unwrap(), "fd00::20".parse().unwrap(), "2a01:4f8::20".parse().unwrap()]
    }

    fn policy(allow: &[&str], deny: &[&str]) -> PeerPolicy {
        PeerPolicy::new(cidrs(allow), cidrs(deny), own(), RELAY)
    }

    fn peer(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port)
    }

    fn mapped(v4: &str) -> String {
        format!("::ffff:{v4}")
    }

    const V4_TABLE: &[(&str, Result<(), PeerDenied>)] = &[
        ("0.0.0.0", Err(Unspecified)),
        ("0.1.2.3", Err(Unspecified)),
        ("127.0.0.1", Err(Loopback)),
        ("127.255.255.254", Err(Loopback)),
        ("169.254.169.254", Err(LinkLocal)),
        ("224.0.0.251", Err(Multicast)),
        ("239.255.255.250", Err(Multicast)),
        ("255.255.255.255", Err(Broadcast)),
        ("240.0.0.1", Err(Reserved)),
        ("255.255.255.254", Err(Reserved)),
        ("192.0.0.10", Err(Reserved)),
        ("198.18.0.1", Err(Reserved)),
        ("198.19.255.255", Err(Reserved)),
        ("192.0.2.1", Err(Documentation)),
        ("198.51.100.7", Err(Documentation)),
        ("203.0.113.9", Err(Documentation)),
        ("192.88.99.1", Err(TranslationPrefix)),
        ("192.168.1.20", Err(OwnAddress)),
        ("10.1.2.3", Ok(())),
        ("172.16.0.1", Ok(())),
        ("172.31.255.255", Ok(())),
        ("192.168.1.21", Ok(())),
        ("100.64.0.1", Ok(())),
        ("100.127.255.255", Ok(())),
        ("8.8.8.8", Ok(())),
        ("198.20.0.1", Ok(())),
        ("1.1.1.1", Ok(())),
    ];

    const V6_TABLE: &[(&str, Result<(), PeerDenied>)] = &[
        ("::", Err(Unspecified)),
        ("::1", Err(Loopback)),
        ("::127.0.0.1", Err(Reserved)),
        ("::8.8.8.8", Err(Reserved)),
        ("fe80::1", Err(LinkLocal)),
        ("febf::1", Err(LinkLocal)),
        ("ff02::1", Err(Multicast)),
        ("ff0e::1", Err(Multicast)),
        ("fec0::1", Err(Reserved)),
        ("100::1", Err(Reserved)),
        ("100:0:0:1::1", Err(Reserved)),
        ("2001:20::1", Err(Reserved)),
        ("2001:2f:ffff::1", Err(Reserved)),
        ("2001:1::2", Err(Reserved)),
        ("4000::1", Err(Reserved)),
        ("1::1", Err(Reserved)),
        ("2001:db8::1", Err(Documentation)),
        ("3fff::1", Err(Documentation)),
        ("64:ff9b::8.8.8.8", Err(TranslationPrefix)),
        ("64:ff9b:1::1", Err(TranslationPrefix)),
        ("2002:c000:0204::1", Err(TranslationPrefix)),
        ("2001:0:4136:e378::1", Err(TranslationPrefix)),
        ("fd00::20", Err(OwnAddress)),
        ("2a01:4f8::20", Err(OwnAddress)),
        ("fd00::21", Ok(())),
        ("fc00::1", Ok(())),
        ("2a01:4f8::21", Ok(())),
        ("2606:4700::1111", Ok(())),
        ("2001:200::1", Ok(())),
    ];

    #[test]
    fn every_category_is_judged_alike_for_ipv4_ipv6_and_ipv4_mapped_forms() {
        let p = policy(&[], &[]);
        for (ip, want) in V4_TABLE {
            assert_eq!(p.check(peer(ip, 5000)), *want, "{ip}");
            assert_eq!(p.check(peer(&mapped(ip), 5000)), *want, "{}", mapped(ip));
        }
        for (ip, want) in V6_TABLE {
            assert_eq!(p.check(peer(ip, 5000)), *want, "{ip}");
        }
    }

    #[test]
    fn ipv4_mapped_metadata_address_is_link_local() {
        let p = policy(&[], &[]);
        assert_eq!(p.check(peer("::ffff:169.254.169.254", 8080)), Err(LinkLocal));
        assert_eq!(p.check(peer("::ffff:127.0.0.1", 8080)), Err(Loopback));
        assert_eq!(p.check(peer("::ffff:a9fe:a9fe", 8080)), Err(LinkLocal));
    }

    #[test]
    fn allow_list_reopens_a_default_denied_range() {
        let p = policy(&["127.0.0.0/8"], &[]);
        assert_eq!(p.check(peer("127.0.0.1", 5000)), Ok(()));
        assert_eq!(p.check(peer("::ffff:127.0.0.1", 5000)), Ok(()));
        assert_eq!(p.check(peer("::1", 5000)), Err(Loopback));
        assert_eq!(p.check(peer("169.254.1.1", 5000)), Err(LinkLocal));
        let p = policy(&["::ffff:127.0.0.1"], &[]);
        assert_eq!(p.check(peer("127.0.0.1", 5000)), Ok(()));
    }

    #[test]
    fn allow_list_reopens_own_addresses() {
        let p = policy(&["192.168.1.20"], &[]);
        assert_eq!(p.check(peer("192.168.1.20", 8443)), Ok(()));
    }

    #[test]
    fn deny_list_beats_allow_list() {
        let p = policy(&["10.0.0.0/8", "127.0.0.0/8"], &["10.9.0.0/16", "127.0.0.53"]);
        assert_eq!(p.check(peer("10.8.1.1", 5000)), Ok(()));
        assert_eq!(p.check(peer("10.9.1.1", 5000)), Err(OperatorDenyList));
        assert_eq!(p.check(peer("::ffff:10.9.1.1", 5000)), Err(OperatorDenyList));
        assert_eq!(p.check(peer("127.0.0.53", 5000)), Err(OperatorDenyList));
        assert_eq!(p.check(peer("127.0.0.1", 5000)), Ok(()));
        // The deny list also closes what is open by default, and wins over the low-port reason.
        let p = policy(&[], &["192.168.0.0/16", "fd00::/8"]);
        assert_eq!(p.check(peer("192.168.7.7", 5000)), Err(OperatorDenyList));
        assert_eq!(p.check(peer("192.168.7.7", 80)), Err(OperatorDenyList));
        assert_eq!(p.check(peer("fd12::1", 5000)), Err(OperatorDenyList));
    }

    #[test]
    fn low_ports_are_denied_even_when_allow_listed() {
        let p = policy(&["0.0.0.0/0", "::/0"], &[]);
        for ip in ["8.8.8.8", "10.0.0.1", "127.0.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert_eq!(p.check(peer(ip, 0)), Err(LowPort), "{ip}");
            assert_eq!(p.check(peer(ip, 53)), Err(LowPort), "{ip}");
            assert_eq!(p.check(peer(ip, 1023)), Err(LowPort), "{ip}");
            assert_eq!(p.check(peer(ip, 1024)), Ok(()), "{ip}");
        }
    }

    #[test]
    fn own_address_is_denied_except_on_relay_ports() {
        let p = policy(&[], &[]);
        for ip in ["192.168.1.20", "::ffff:192.168.1.20", "fd00::20"] {
            assert_eq!(p.check(peer(ip, 3478)), Err(OwnAddress), "{ip}");
            assert_eq!(p.check(peer(ip, 8443)), Err(OwnAddress), "{ip}");
            assert_eq!(p.check(peer(ip, 49151)), Err(OwnAddress), "{ip}");
            assert_eq!(p.check(peer(ip, 49152)), Ok(()), "{ip}");
            assert_eq!(p.check(peer(ip, 65535)), Ok(()), "{ip}");
        }
        // An own address given in mapped form is canonicalised too.
        let p = PeerPolicy::new(vec![], vec![], ["::ffff:10.0.0.5".parse::<IpAddr>().unwrap()], RELAY);
        assert_eq!(p.check(peer("10.0.0.5", 9443)), Err(OwnAddress));
        // A relay port does not reopen a default-denied range.
        let p = PeerPolicy::new(vec![], vec![], [IpAddr::V4(Ipv4Addr::LOCALHOST)], RELAY);
        assert_eq!(p.check(peer("127.0.0.1", 50000)), Err(Loopback));
    }

    #[test]
    fn own_subnet_broadcasts_are_denied_on_every_port_unless_allow_listed() {
        let own = [
            LocalAddress::interface("192.168.1.20".parse().unwrap(), 24, Some(Ipv4Addr::new(192, 168, 1, 255))),
            LocalAddress::interface("10.1.1.1".parse().unwrap(), 30, None),
            LocalAddress::interface("10.2.2.2".parse().unwrap(), 31, None),
            LocalAddress::interface("fd00::20".parse().unwrap(), 64, None),
            LocalAddress::from("10.3.3.3".parse::<IpAddr>().unwrap()),
        ];
        let p = PeerPolicy::new(vec![], vec![], own, RELAY);
        for ip in ["192.168.1.255", "192.168.1.0", "::ffff:192.168.1.255", "10.1.1.3", "10.1.1.0"] {
            assert_eq!(p.check(peer(ip, 5000)), Err(Broadcast), "{ip}");
            assert_eq!(p.check(peer(ip, 50000)), Err(Broadcast), "{ip} on a relay port");
        }
        // A /31 (RFC 3021), an address without a subnet and IPv6 have no broadcast address.
        for ip in ["10.2.2.3", "10.2.2.2", "10.3.3.255", "fd00::ffff:ffff:ffff:ffff", "10.1.1.2"] {
            assert_ne!(p.check(peer(ip, 50000)), Err(Broadcast), "{ip}");
        }
        let p = PeerPolicy::new(cidrs(&["192.168.1.255"]), vec![], own, RELAY);
        assert_eq!(p.check(peer("192.168.1.255", 5000)), Ok(()));
    }

    #[test]
    fn lan_ranges_are_allowed() {
        let p = policy(&[], &[]);
        for ip in ["10.0.0.1", "172.16.5.4", "192.168.0.1", "100.64.0.1", "fc00::1", "fdff::1"] {
            assert_eq!(p.check(peer(ip, 40000)), Ok(()), "{ip}");
        }
    }

    #[test]
    fn cidr_parsing() {
        for (input, shown) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("192.168.1.20", "192.168.1.20/32"),
            (" 0.0.0.0/0 ", "0.0.0.0/0"),
            ("fe80::/10", "fe80::/10"),
            ("fe80::1234/10", "fe80::/10"),
            ("::1", "::1/128"),
            ("::/0", "::/0"),
            ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
            ("::ffff:127.0.0.1", "127.0.0.1/32"),
            ("::ffff:0:0/96", "0.0.0.0/0"),
            ("2001:db8::/32", "2001:db8::/32"),
        ] {
            assert_eq!(Cidr::parse(input).unwrap().to_string(), shown, "{input}");
        }
        for bad in
            ["", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0/8", "fe80::1%eth0", "x/8"]
        {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
        let e = Cidr::parse("10.0.0.0/33").unwrap_err();
        assert!(e.contains("/33") && e.contains("32"), "{e}");
        let e = Cidr::parse("::/200").unwrap_err();
        assert!(e.contains("/200") && e.contains("128"), "{e}");
    }

    #[test]
    fn cidr_contains_by_family() {
        let v4 = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(v4.contains("10.255.0.1".parse().unwrap()));
        assert!(v4.contains("::ffff:10.255.0.1".parse().unwrap()));
        assert!(!v4.contains("11.0.0.1".parse().unwrap()));
        assert!(!v4.contains("::10.0.0.1".parse().unwrap()));
        let all_v6 = Cidr::parse("::/0").unwrap();
        assert!(all_v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!all_v6.contains("10.0.0.1".parse().unwrap()));
        assert!(!all_v6.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("255.255.255.255".parse().unwrap()));
    }

    #[test]
    fn canonical_maps_only_ipv4_mapped() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(canonical(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
        for unchanged in ["::1.2.3.4", "64:ff9b::1.2.3.4", "::ffff:0:1.2.3.4", "1.2.3.4", "::1"] {
            assert_eq!(canonical(ip(unchanged)), ip(unchanged), "{unchanged}");
        }
    }

    proptest! {
        #[test]
        fn ipv4_and_its_mapped_form_get_the_same_verdict(a in any::<u32>(), port in any::<u16>()) {
            let policies = [
                policy(&[], &[]),
                policy(&["127.0.0.0/8", "169.254.0.0/16", "192.168.1.20/32"], &["10.0.0.0/8", "8.0.0.0/7"]),
            ];
            let v4 = Ipv4Addr::from(a);
            for p in &policies {
                let plain = p.check(SocketAddr::new(IpAddr::V4(v4), port));
                let mapped = p.check(SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port));
                prop_assert_eq!(plain, mapped, "{}", v4);
            }
        }
    }
}
