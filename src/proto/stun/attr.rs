//! Attribute types and the value codecs that need more than bytes: (XOR-)addresses, ERROR-CODE,
//! UNKNOWN-ATTRIBUTES, and the small fixed-size TURN attributes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Family, TransactionId, MAGIC_COOKIE};

/// A 16-bit attribute type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrType(pub u16);

impl AttrType {
    pub const MAPPED_ADDRESS: AttrType = AttrType(0x0001);
    pub const USERNAME: AttrType = AttrType(0x0006);
    pub const MESSAGE_INTEGRITY: AttrType = AttrType(0x0008);
    pub const ERROR_CODE: AttrType = AttrType(0x0009);
    pub const UNKNOWN_ATTRIBUTES: AttrType = AttrType(0x000A);
    pub const CHANNEL_NUMBER: AttrType = AttrType(0x000C);
    pub const LIFETIME: AttrType = AttrType(0x000D);
    pub const XOR_PEER_ADDRESS: AttrType = AttrType(0x0012);
    pub const DATA: AttrType = AttrType(0x0013);
    pub const REALM: AttrType = AttrType(0x0014);
    pub const NONCE: AttrType = AttrType(0x0015);
    pub const XOR_RELAYED_ADDRESS: AttrType = AttrType(0x0016);
    pub const REQUESTED_ADDRESS_FAMILY: AttrType = AttrType(0x0017);
    pub const EVEN_PORT: AttrType = AttrType(0x0018);
    pub const REQUESTED_TRANSPORT: AttrType = AttrType(0x0019);
    pub const DONT_FRAGMENT: AttrType = AttrType(0x001A);
    pub const MESSAGE_INTEGRITY_SHA256: AttrType = AttrType(0x001C);
    pub const PASSWORD_ALGORITHM: AttrType = AttrType(0x001D);
    pub const USERHASH: AttrType = AttrType(0x001E);
    pub const XOR_MAPPED_ADDRESS: AttrType = AttrType(0x0020);
    pub const RESERVATION_TOKEN: AttrType = AttrType(0x0022);
    pub const PRIORITY: AttrType = AttrType(0x0024);
    pub const USE_CANDIDATE: AttrType = AttrType(0x0025);
    pub const ADDITIONAL_ADDRESS_FAMILY: AttrType = AttrType(0x8000);
    pub const SOFTWARE: AttrType = AttrType(0x8022);
    pub const FINGERPRINT: AttrType = AttrType(0x8028);
    pub const ICE_CONTROLLED: AttrType = AttrType(0x8029);
    pub const ICE_CONTROLLING: AttrType = AttrType(0x802A);

    /// Types 0x0000–0x7FFF must be understood or the request is refused with 420.
    pub fn comprehension_required(self) -> bool {
        self.0 < 0x8000
    }

    /// The comprehension-required attributes this codec understands.
    pub fn understood(self) -> bool {
        matches!(
            self,
            AttrType::MAPPED_ADDRESS
                | AttrType::USERNAME
                | AttrType::MESSAGE_INTEGRITY
                | AttrType::ERROR_CODE
                | AttrType::UNKNOWN_ATTRIBUTES
                | AttrType::CHANNEL_NUMBER
                | AttrType::LIFETIME
                | AttrType::XOR_PEER_ADDRESS
                | AttrType::DATA
                | AttrType::REALM
                | AttrType::NONCE
                | AttrType::XOR_RELAYED_ADDRESS
                | AttrType::REQUESTED_ADDRESS_FAMILY
                | AttrType::EVEN_PORT
                | AttrType::REQUESTED_TRANSPORT
                | AttrType::DONT_FRAGMENT
                | AttrType::MESSAGE_INTEGRITY_SHA256
                | AttrType::XOR_MAPPED_ADDRESS
                | AttrType::RESERVATION_TOKEN
                | AttrType::PRIORITY
                | AttrType::USE_CANDIDATE
        )
    }
}

/// Why one attribute's value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    #[error("attribute value has the wrong length")]
    BadLength,
    #[error("unknown address family")]
    BadFamily,
    #[error("attribute text is not UTF-8")]
    NotUtf8,
    #[error("attribute value out of range")]
    OutOfRange,
}

fn family_byte(f: Family) -> u8 {
    match f {
        Family::V4 => 0x01,
        Family::V6 => 0x02,
    }
}

pub fn parse_family(byte: u8) -> Result<Family, AttrError> {
    match byte {
        0x01 => Ok(Family::V4),
        0x02 => Ok(Family::V6),
        _ => Err(AttrError::BadFamily),
    }
}

/// The XOR mask of an address: the cookie, then (IPv6) the transaction id.
fn xor_mask(tid: &TransactionId) -> [u8; 16] {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    mask[4..].copy_from_slice(&tid.0);
    mask
}

/// Encodes a (XOR-)address value; `tid` is `None` for the plain MAPPED-ADDRESS form.
pub fn encode_address(out: &mut Vec<u8>, addr: SocketAddr, tid: Option<&TransactionId>) {
    let mask = tid.map(xor_mask).unwrap_or([0; 16]);
    let port_mask = if tid.is_some() { (MAGIC_COOKIE >> 16) as u16 } else { 0 };
    out.push(0);
    out.push(family_byte(Family::of(&addr)));
    out.extend_from_slice(&(addr.port() ^ port_mask).to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => out.extend(ip.octets().iter().zip(&mask[..4]).map(|(a, m)| a ^ m)),
        IpAddr::V6(ip) => out.extend(ip.octets().iter().zip(&mask).map(|(a, m)| a ^ m)),
    }
}

/// Decodes a (XOR-)address value; `tid` is `None` for the plain form.
pub fn decode_address(value: &[u8], tid: Option<&TransactionId>) -> Result<SocketAddr, AttrError> {
    if value.len() < 4 {
        return Err(AttrError::BadLength);
    }
    let mask = tid.map(xor_mask).unwrap_or([0; 16]);
    let port_mask = if tid.is_some() { (MAGIC_COOKIE >> 16) as u16 } else { 0 };
    let port = u16::from_be_bytes([value[2], value[3]]) ^ port_mask;
    let ip = match (parse_family(value[1])?, &value[4..]) {
        (Family::V4, raw) if raw.len() == 4 => {
            let mut o = [0u8; 4];
            for (i, b) in o.iter_mut().enumerate() {
                *b = raw[i] ^ mask[i];
            }
            IpAddr::V4(Ipv4Addr::from(o))
        }
        (Family::V6, raw) if raw.len() == 16 => {
            let mut o = [0u8; 16];
            for (i, b) in o.iter_mut().enumerate() {
                *b = raw[i] ^ mask[i];
            }
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return Err(AttrError::BadLength),
    };
    Ok(SocketAddr::new(ip, port))
}

pub fn encode_error_code(out: &mut Vec<u8>, code: u16, reason: &str) {
    out.extend_from_slice(&[0, 0, (code / 100) as u8, (code % 100) as u8]);
    out.extend_from_slice(reason.as_bytes());
}

pub fn decode_error_code(value: &[u8]) -> Result<(u16, &str), AttrError> {
    if value.len() < 4 {
        return Err(AttrError::BadLength);
    }
    let class = u16::from(value[2] & 0x07);
    let number = u16::from(value[3]);
    if !(3..=6).contains(&class) || number > 99 {
        return Err(AttrError::OutOfRange);
    }
    let reason = std::str::from_utf8(&value[4..]).map_err(|_| AttrError::NotUtf8)?;
    Ok((class * 100 + number, reason))
}

pub fn decode_u32(value: &[u8]) -> Result<u32, AttrError> {
    let raw: [u8; 4] = value.try_into().map_err(|_| AttrError::BadLength)?;
    Ok(u32::from_be_bytes(raw))
}

/// CHANNEL-NUMBER: the number then two reserved bytes (RFC 8656 §18.1).
pub fn decode_channel_number(value: &[u8]) -> Result<u16, AttrError> {
    if value.len() != 4 {
        return Err(AttrError::BadLength);
    }
    Ok(u16::from_be_bytes([value[0], value[1]]))
}

/// REQUESTED-TRANSPORT: the IANA protocol number then three reserved bytes (RFC 8656 §18.7).
pub fn decode_requested_transport(value: &[u8]) -> Result<u8, AttrError> {
    if value.len() != 4 {
        return Err(AttrError::BadLength);
    }
    Ok(value[0])
}

/// REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY: the family byte then three reserved.
pub fn decode_family_attr(value: &[u8]) -> Result<Family, AttrError> {
    if value.len() != 4 {
        return Err(AttrError::BadLength);
    }
    parse_family(value[0])
}

pub fn encode_family_attr(f: Family) -> [u8; 4] {
    [family_byte(f), 0, 0, 0]
}

pub fn decode_text(value: &[u8]) -> Result<&str, AttrError> {
    std::str::from_utf8(value).map_err(|_| AttrError::NotUtf8)
}
