//! Which of the box's addresses a wildcard TURN listener announces for relays: the one on the
//! interface of the default route, read from `/proc/net/route` and `/proc/net/ipv6_route`.

use std::net::IpAddr;

/// The interface holding the default route of the family, if any.
pub fn default_route_interface(v4: bool) -> Option<String> {
    if v4 {
        parse_route_v4(&std::fs::read_to_string("/proc/net/route").ok()?)
    } else {
        parse_route_v6(&std::fs::read_to_string("/proc/net/ipv6_route").ok()?)
    }
}

/// `/proc/net/route`: `Iface Destination Gateway Flags …`, destination 00000000 is the default.
fn parse_route_v4(text: &str) -> Option<String> {
    text.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        let iface = cols.next()?;
        (cols.next()? == "00000000").then(|| iface.to_owned())
    })
}

/// `/proc/net/ipv6_route`: destination, prefix length, …, interface last; `::/0` is the default.
fn parse_route_v6(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let default = cols.len() >= 10 && cols[0].bytes().all(|b| b == b'0') && cols[1] == "00";
        (default && cols[9] != "lo").then(|| cols[9].to_owned())
    })
}

fn usable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
        IpAddr::V6(v6) => !v6.is_loopback() && v6.segments()[0] & 0xffc0 != 0xfe80 && !v6.is_unspecified(),
    }
}

/// The address to announce: one on the default route's interface, else the first usable one.
pub fn choose(interfaces: &[(String, IpAddr)], default_iface: Option<&str>, v4: bool) -> Option<IpAddr> {
    let candidates = || interfaces.iter().filter(|(_, ip)| ip.is_ipv4() == v4 && usable(ip));
    default_iface
        .and_then(|name| candidates().find(|(n, _)| n == name))
        .or_else(|| candidates().next())
        .map(|(_, ip)| *ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_interface_wins_over_docker_and_vpn_addresses() {
        let route = "Iface\tDestination\tGateway\tFlags\n\
                     docker0\t000011AC\t00000000\t0001\n\
                     enp3s0\t00000000\t0101A8C0\t0003\n";
        assert_eq!(parse_route_v4(route).as_deref(), Some("enp3s0"));
        let v6 = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 wg0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 enp3s0\n";
        assert_eq!(parse_route_v6(v6).as_deref(), Some("enp3s0"));
        let ifaces: Vec<(String, IpAddr)> = vec![
            ("lo".into(), "127.0.0.1".parse().unwrap()),
            ("docker0".into(), "172.17.0.1".parse().unwrap()),
            ("enp3s0".into(), "192.168.1.20".parse().unwrap()),
            ("enp3s0".into(), "fe80::1".parse().unwrap()),
            ("enp3s0".into(), "fd00::20".parse().unwrap()),
        ];
        assert_eq!(choose(&ifaces, Some("enp3s0"), true), Some("192.168.1.20".parse().unwrap()));
        assert_eq!(choose(&ifaces, None, true), Some("172.17.0.1".parse().unwrap()));
        assert_eq!(choose(&ifaces, Some("enp3s0"), false), Some("fd00::20".parse().unwrap()));
        assert_eq!(choose(&ifaces[..1], Some("lo"), true), None);
    }
}
