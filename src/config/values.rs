//! Typed configuration values with parsers that reject bad input.

use std::fmt;

/// An inclusive UDP port range for relayed transport addresses, e.g. `49152-65535`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || "expected LO-HI with 1024 <= LO <= HI <= 65535".to_owned();
        let (lo, hi) = s.split_once('-').ok_or_else(err)?;
        let low: u16 = lo.trim().parse().map_err(|_| err())?;
        let high: u16 = hi.trim().parse().map_err(|_| err())?;
        if low < 1024 || low > high {
            return Err(err());
        }
        Ok(PortRange { low, high })
    }

    pub fn len(&self) -> u32 {
        u32::from(self.high) - u32::from(self.low) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

/// A DNS host name (RFC 1123 labels), stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsName(String);

impl DnsName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let lower = s.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if lower.is_empty() || lower.len() > 253 || !lower.split('.').all(label_ok) {
            return Err("not a valid DNS host name".into());
        }
        if lower.parse::<std::net::IpAddr>().is_ok() || lower.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err("an IP address is not a host name (use public_ip)".into());
        }
        Ok(DnsName(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `*.NAME`, for ACME orders only.
    pub fn wildcard(name: &DnsName) -> DnsName {
        DnsName(format!("*.{}", name.0))
    }

    /// The name without a leading `*.`: where a wildcard's dns-01 record lives.
    pub fn base(&self) -> &str {
        self.0.strip_prefix("*.").unwrap_or(&self.0)
    }
}
