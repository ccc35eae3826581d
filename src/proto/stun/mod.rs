//! STUN message codec (RFC 8489) with the TURN attributes of RFC 8656 and RFC 6156.
//!
//! Implemented: the header and class/method encoding (§5), attributes with padding (§14),
//! XOR-mapped addresses for IPv4 and IPv6, MESSAGE-INTEGRITY (HMAC-SHA1) and
//! MESSAGE-INTEGRITY-SHA256 with the long-term key `MD5(username:realm:password)` (§9.2.2),
//! FINGERPRINT (§14.7), ERROR-CODE and UNKNOWN-ATTRIBUTES, and the list of comprehension-required
//! attributes this server understands (anything else in 0x0000–0x7FFF earns a 420), plus TURN's
//! ChannelData framing (RFC 8656 §12.4) and stream framing over TCP/TLS (§12.5).
//!
//! Left out on purpose: PASSWORD-ALGORITHMS negotiation and USERHASH (this server never
//! advertises PASSWORD-ALGORITHMS, so clients keep to MD5 keys per §9.2.3), SASLprep of
//! passwords (credentials here are base64 text, already ASCII), ALTERNATE-SERVER.

pub mod attr;
pub mod frame;
pub mod integrity;
pub mod message;

#[cfg(test)]
mod tests;

pub use attr::AttrType;
pub use integrity::{IntegrityAlg, LongTermKey};
pub use message::{DecodeError, Message, MessageBuilder};

/// The fixed magic cookie of every RFC 5389/8489 message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Size of the STUN header.
pub const HEADER_LEN: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId(pub [u8; 12]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

/// A STUN method (12 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Method(pub u16);

impl Method {
    pub const BINDING: Method = Method(0x001);
    pub const ALLOCATE: Method = Method(0x003);
    pub const REFRESH: Method = Method(0x004);
    pub const SEND: Method = Method(0x006);
    pub const DATA: Method = Method(0x007);
    pub const CREATE_PERMISSION: Method = Method(0x008);
    pub const CHANNEL_BIND: Method = Method(0x009);
}

/// Packs class and method into the 14-bit message type (RFC 8489 §5, figure 3).
pub fn message_type(class: Class, method: Method) -> u16 {
    let m = method.0 & 0x0FFF;
    let c = match class {
        Class::Request => 0b00,
        Class::Indication => 0b01,
        Class::Success => 0b10,
        Class::Error => 0b11,
    };
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
}

/// Splits a 14-bit message type into class and method.
pub fn split_message_type(t: u16) -> (Class, Method) {
    let class = match ((t >> 7) & 0b10) | ((t >> 4) & 0b01) {
        0b00 => Class::Request,
        0b01 => Class::Indication,
        0b10 => Class::Success,
        _ => Class::Error,
    };
    let method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    (class, Method(method))
}

/// An address family as carried by REQUESTED-ADDRESS-FAMILY (RFC 6156 §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &std::net::SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// STUN/TURN error codes used by this server (RFC 8489 §14.8, RFC 8656 §18, RFC 6156 §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    Unauthenticated,
    Forbidden,
    UnknownAttribute,
    AllocationMismatch,
    StaleNonce,
    AddressFamilyNotSupported,
    WrongCredentials,
    UnsupportedTransport,
    PeerAddressFamilyMismatch,
    AllocationQuotaReached,
    ServerError,
    InsufficientCapacity,
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::UnknownAttribute => 420,
            ErrorCode::AllocationMismatch => 437,
            ErrorCode::StaleNonce => 438,
            ErrorCode::AddressFamilyNotSupported => 440,
            ErrorCode::WrongCredentials => 441,
            ErrorCode::UnsupportedTransport => 442,
            ErrorCode::PeerAddressFamilyMismatch => 443,
            ErrorCode::AllocationQuotaReached => 486,
            ErrorCode::ServerError => 500,
            ErrorCode::InsufficientCapacity => 508,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "Bad Request",
            ErrorCode::Unauthenticated => "Unauthenticated",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnknownAttribute => "Unknown Attribute",
            ErrorCode::AllocationMismatch => "Allocation Mismatch",
            ErrorCode::StaleNonce => "Stale Nonce",
            ErrorCode::AddressFamilyNotSupported => "Address Family not Supported",
            ErrorCode::WrongCredentials => "Wrong Credentials",
            ErrorCode::UnsupportedTransport => "Unsupported Transport Protocol",
            ErrorCode::PeerAddressFamilyMismatch => "Peer Address Family Mismatch",
            ErrorCode::AllocationQuotaReached => "Allocation Quota Reached",
            ErrorCode::ServerError => "Server Error",
            ErrorCode::InsufficientCapacity => "Insufficient Capacity",
        }
    }
}
