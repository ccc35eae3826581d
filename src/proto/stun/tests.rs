//! Tests for the STUN codec: the RFC 5769 vectors as data, unit tests for every rejection the
//! decoder makes, framing and ChannelData edges, and property tests for round trips and for
//! decoding arbitrary bytes.
//!
//! The vectors were copied from pion/stun `rfc5769_test.go` and checked byte for byte against
//! coturn `src/apps/rfc5769/rfc5769check.c`; their HMAC-SHA1 and CRC-32 values were also
//! recomputed with Python's `hmac` and `zlib`, so a typo in either copy would have shown.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::attr::{self, AttrError, AttrType};
use super::frame::{self, ChannelData, ChannelNumber, Record};
use super::integrity::{IntegrityAlg, LongTermKey};
use super::message::{looks_like_stun, DecodeError, IntegrityError, Message, MessageBuilder, RawAttr};
use super::{message_type, split_message_type, Class, ErrorCode, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE};

/// RFC 5769 §2.1 sample request (short-term credentials, USERNAME padded with spaces).
#[rustfmt::skip]
const SAMPLE_REQUEST: [u8; 108] = [
    0x00, 0x01, 0x00, 0x58, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // Transaction ID
    0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x10, // SOFTWARE attribute header
    0x53, 0x54, 0x55, 0x4e, // "STUN test client"
    0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c,
    0x69, 0x65, 0x6e, 0x74,
    0x00, 0x24, 0x00, 0x04, // PRIORITY attribute header
    0x6e, 0x00, 0x01, 0xff, // ICE priority value
    0x80, 0x29, 0x00, 0x08, // ICE-CONTROLLED attribute header
    0x93, 0x2f, 0xf9, 0xb1, // Pseudo-random tie breaker
    0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, // USERNAME attribute header
    0x65, 0x76, 0x74, 0x6a, // "evtj:h6vY" and three bytes of padding (spaces)
    0x3a, 0x68, 0x36, 0x76,
    0x59, 0x20, 0x20, 0x20,
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x9a, 0xea, 0xa7, 0x0c, // HMAC-SHA1 fingerprint
    0xbf, 0xd8, 0xcb, 0x56,
    0x78, 0x1e, 0xf2, 0xb5,
    0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2,
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xe5, 0x7a, 0x3b, 0xcf, // CRC32 fingerprint
];

/// RFC 5769 §2.2 sample IPv4 response.
#[rustfmt::skip]
const SAMPLE_IPV4_RESPONSE: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, // Response type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // Transaction ID
    0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74, // "test vector" and one byte of padding (a space)
    0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x08, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x01, 0xa1, 0x47, // Address family (IPv4), xor'd port and address
    0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0x2b, 0x91, 0xf5, 0x99, // HMAC-SHA1 fingerprint
    0xfd, 0x9e, 0x90, 0xc3,
    0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53,
    0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xc0, 0x7d, 0x4c, 0x96, // CRC32 fingerprint
];

/// RFC 5769 §2.3 sample IPv6 response.
#[rustfmt::skip]
const SAMPLE_IPV6_RESPONSE: [u8; 92] = [
    0x01, 0x01, 0x00, 0x48, // Response type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01, // Transaction ID
    0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae,
    0x80, 0x22, 0x00, 0x0b, // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74, // "test vector" and one byte of padding (a space)
    0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x14, // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x02, 0xa1, 0x47, // Address family (IPv6) and xor'd port
    0x01, 0x13, 0xa9, 0xfa, // Xor'd IPv6 address
    0xa5, 0xd3, 0xf1, 0x79,
    0xbc, 0x25, 0xf4, 0xb5,
    0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xa3, 0x82, 0x95, 0x4e, // HMAC-SHA1 fingerprint
    0x4b, 0xe6, 0x7b, 0xf1,
    0x17, 0x84, 0xc9, 0x7c,
    0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41,
    0x80, 0x28, 0x00, 0x04, // FINGERPRINT attribute header
    0xc8, 0xfb, 0x0b, 0x4c, // CRC32 fingerprint
];

/// RFC 5769 §2.4 sample request with long-term authentication.
#[rustfmt::skip]
const SAMPLE_LONG_TERM_REQUEST: [u8; 116] = [
    0x00, 0x01, 0x00, 0x60, // Request type and message length
    0x21, 0x12, 0xa4, 0x42, // Magic cookie
    0x78, 0xad, 0x34, 0x33, // Transaction ID
    0xc6, 0xad, 0x72, 0xc0,
    0x29, 0xda, 0x41, 0x2e,
    0x00, 0x06, 0x00, 0x12, // USERNAME attribute header
    0xe3, 0x83, 0x9e, 0xe3, // Username (18 bytes of UTF-8) and two bytes of padding (zeros)
    0x83, 0x88, 0xe3, 0x83,
    0xaa, 0xe3, 0x83, 0x83,
    0xe3, 0x82, 0xaf, 0xe3,
    0x82, 0xb9, 0x00, 0x00,
    0x00, 0x15, 0x00, 0x1c, // NONCE attribute header
    0x66, 0x2f, 0x2f, 0x34, // Nonce
    0x39, 0x39, 0x6b, 0x39,
    0x35, 0x34, 0x64, 0x36,
    0x4f, 0x4c, 0x33, 0x34,
    0x6f, 0x4c, 0x39, 0x46,
    0x53, 0x54, 0x76, 0x79,
    0x36, 0x34, 0x73, 0x41,
    0x00, 0x14, 0x00, 0x0b, // REALM attribute header
    0x65, 0x78, 0x61, 0x6d, // "example.org" and one byte of padding (zero)
    0x70, 0x6c, 0x65, 0x2e,
    0x6f, 0x72, 0x67, 0x00,
    0x00, 0x08, 0x00, 0x14, // MESSAGE-INTEGRITY attribute header
    0xf6, 0x70, 0x24, 0x65, // HMAC-SHA1 fingerprint
    0x6d, 0xd6, 0x4a, 0x3e,
    0x02, 0xb8, 0xe0, 0x71,
    0x2e, 0x85, 0xc9, 0xa2,
    0x8c, 0xa8, 0x96, 0x66,
];

/// The short-term password of §2.1–2.3.
const SHORT_TERM_PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";
/// §2.4: "マトリックス" (U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9).
const LONG_TERM_USERNAME: &str = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
/// §2.4's password after SASLprep (the RFC gives "The\u{AD}M\u{AA}tr\u{2168}").
const LONG_TERM_PASSWORD: &str = "TheMatrIX";
const LONG_TERM_REALM: &str = "example.org";
const LONG_TERM_NONCE: &str = "f//499k954d6OL34oL9FSTvy64sA";

const ALL_CLASSES: [Class; 4] = [Class::Request, Class::Indication, Class::Success, Class::Error];
const TURN_METHODS: [Method; 7] = [
    Method::BINDING,
    Method::ALLOCATE,
    Method::REFRESH,
    Method::SEND,
    Method::DATA,
    Method::CREATE_PERMISSION,
    Method::CHANNEL_BIND,
];
const ALL_ERROR_CODES: [ErrorCode; 13] = [
    ErrorCode::BadRequest,
    ErrorCode::Unauthenticated,
    ErrorCode::Forbidden,
    ErrorCode::UnknownAttribute,
    ErrorCode::AllocationMismatch,
    ErrorCode::StaleNonce,
    ErrorCode::AddressFamilyNotSupported,
    ErrorCode::WrongCredentials,
    ErrorCode::UnsupportedTransport,
    ErrorCode::PeerAddressFamilyMismatch,
    ErrorCode::AllocationQuotaReached,
    ErrorCode::ServerError,
    ErrorCode::InsufficientCapacity,
];

// ---------------------------------------------------------------------------------------------
// Helpers that build messages by hand, independently of MessageBuilder.

fn tid_of(bytes: &[u8]) -> TransactionId {
    TransactionId(bytes[8..20].try_into().unwrap())
}

fn set_length(m: &mut [u8]) {
    let len = u16::try_from(m.len() - HEADER_LEN).unwrap();
    m[2..4].copy_from_slice(&len.to_be_bytes());
}

/// Appends an attribute with zero padding and fixes the header length.
fn append_attr(m: &mut Vec<u8>, typ: u16, value: &[u8]) {
    m.extend_from_slice(&typ.to_be_bytes());
    m.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    m.extend_from_slice(value);
    while m.len() % 4 != 0 {
        m.push(0);
    }
    set_length(m);
}

/// A message of type `typ` with these attributes, for inputs MessageBuilder cannot make.
fn raw_message(typ: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&typ.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(&[0x5A; 12]);
    for (t, v) in attrs {
        append_attr(&mut m, *t, v);
    }
    m
}

/// HMAC of RFC 8489 §14.5/§14.6 computed with ring directly: over the message so far, with the
/// header length counting up to the end of an integrity attribute carrying `tag_len` bytes.
fn reference_hmac(alg: IntegrityAlg, key: &[u8], covered: &[u8], tag_len: usize) -> Vec<u8> {
    let mut c = covered.to_vec();
    let len = u16::try_from(covered.len() - HEADER_LEN + 4 + tag_len).unwrap();
    c[2..4].copy_from_slice(&len.to_be_bytes());
    let algorithm = match alg {
        IntegrityAlg::Sha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        IntegrityAlg::Sha256 => ring::hmac::HMAC_SHA256,
    };
    ring::hmac::sign(&ring::hmac::Key::new(algorithm, key), &c).as_ref()[..tag_len].to_vec()
}

fn append_integrity(m: &mut Vec<u8>, alg: IntegrityAlg, key: &[u8], tag_len: usize) {
    let tag = reference_hmac(alg, key, m, tag_len);
    let typ = match alg {
        IntegrityAlg::Sha1 => AttrType::MESSAGE_INTEGRITY,
        IntegrityAlg::Sha256 => AttrType::MESSAGE_INTEGRITY_SHA256,
    };
    append_attr(m, typ.0, &tag);
}

/// FINGERPRINT of RFC 8489 §14.7: CRC-32 of the message before it, XORed with 0x5354554e.
fn reference_fingerprint(covered: &[u8]) -> u32 {
    crc32fast::hash(covered) ^ 0x5354_554E
}

fn append_fingerprint(m: &mut Vec<u8>) {
    let at = m.len();
    append_attr(m, AttrType::FINGERPRINT.0, &[0; 4]);
    let crc = reference_fingerprint(&m[..at]);
    m[at + 4..].copy_from_slice(&crc.to_be_bytes());
}

fn types(m: &Message<'_>) -> Vec<AttrType> {
    m.attributes().iter().map(|a| a.typ).collect()
}

// ---------------------------------------------------------------------------------------------
// RFC 5769.

/// Every change of one byte (each single-bit flip, and inverting the whole byte) must make the
/// message undecodable or unverifiable. The one exception is FINGERPRINT's own type: it is not
/// covered by MESSAGE-INTEGRITY, and an attribute after MESSAGE-INTEGRITY that is not
/// FINGERPRINT is ignored (RFC 8489 §14.5), so the change leaves an authentic message that
/// carries no FINGERPRINT, which a receiver requiring FINGERPRINT (ICE) refuses.
fn assert_every_byte_is_protected(bytes: &[u8], key: &[u8]) {
    let original = Message::decode(bytes).unwrap();
    let fingerprint_type =
        original.attributes().iter().find(|a| a.typ == AttrType::FINGERPRINT).map(|a| a.offset..a.offset + 2);
    let mut unnoticed_by_hmac = 0;
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF] {
            let mut tampered = bytes.to_vec();
            tampered[i] ^= mask;
            let Ok(m) = Message::decode(&tampered) else { continue };
            if m.verify_integrity_with(key).is_err() {
                continue;
            }
            assert!(
                fingerprint_type.as_ref().is_some_and(|r| r.contains(&i)) && !m.has(AttrType::FINGERPRINT),
                "byte {i} ^ {mask:#04x} went unnoticed"
            );
            unnoticed_by_hmac += 1;
        }
    }
    // With a FINGERPRINT, all 18 changes of its two type bytes take that path; without, none.
    assert_eq!(unnoticed_by_hmac, if fingerprint_type.is_some() { 18 } else { 0 });
}

/// Compares MessageBuilder's output with a vector. The builder pads with zeros; RFC 5769 pads
/// some attributes with spaces, and padding is covered by MESSAGE-INTEGRITY and FINGERPRINT. So:
/// byte for byte when the vector pads with zeros only; otherwise the same bytes everywhere but
/// the padding (zeros in the built message) and the integrity and fingerprint values. Returns
/// whether the comparison was byte for byte.
fn compare_with_vector(built: &[u8], vector: &[u8]) -> bool {
    assert_eq!(built.len(), vector.len());
    let m = Message::decode(vector).unwrap();
    let mut padding = Vec::new();
    let mut checksums = Vec::new();
    for a in m.attributes() {
        let end = a.offset + 4 + a.value.len();
        padding.extend(end..end.next_multiple_of(4));
        if matches!(a.typ, AttrType::MESSAGE_INTEGRITY | AttrType::MESSAGE_INTEGRITY_SHA256 | AttrType::FINGERPRINT) {
            checksums.extend(a.offset + 4..end);
        }
    }
    if padding.iter().all(|&i| vector[i] == 0) {
        assert_eq!(built, vector);
        return true;
    }
    for i in 0..vector.len() {
        if padding.contains(&i) {
            assert_eq!(built[i], 0, "padding byte {i}");
        } else if !checksums.contains(&i) {
            assert_eq!(built[i], vector[i], "byte {i}");
        }
    }
    false
}

/// The checks every vector gets: the integrity and fingerprint values are the ones an independent
/// computation gives, verification succeeds only with the right key, and every byte matters.
fn check_vector(bytes: &[u8], key: &[u8]) {
    let m = Message::decode(bytes).unwrap();
    let mi = m.attributes().iter().find(|a| a.typ == AttrType::MESSAGE_INTEGRITY).unwrap();
    assert_eq!(mi.value, &reference_hmac(IntegrityAlg::Sha1, key, &bytes[..mi.offset], 20)[..]);
    if let Some(fp) = m.attributes().iter().find(|a| a.typ == AttrType::FINGERPRINT) {
        assert_eq!(fp.offset, bytes.len() - 8, "FINGERPRINT is last");
        assert_eq!(m.u32(AttrType::FINGERPRINT), Some(Ok(reference_fingerprint(&bytes[..fp.offset]))));
        let mut bad = bytes.to_vec();
        bad[bytes.len() - 1] ^= 1;
        assert_eq!(Message::decode(&bad), Err(DecodeError::BadFingerprint));
    }
    assert_eq!(m.integrity_alg(), Some(IntegrityAlg::Sha1));
    assert_eq!(m.verify_integrity_with(key), Ok(IntegrityAlg::Sha1));
    let mut wrong = key.to_vec();
    wrong[0] ^= 1;
    assert_eq!(m.verify_integrity_with(&wrong), Err(IntegrityError::Mismatch));
    assert_eq!(m.verify_integrity_with(b""), Err(IntegrityError::Mismatch));
    assert!(m.unknown_required().is_empty());
    assert!(looks_like_stun(bytes));
    assert_eq!(frame::next_record(bytes, 1500), Record::Complete(bytes.len()));
    assert_every_byte_is_protected(bytes, key);
}

#[test]
fn rfc5769_sample_request_decodes_and_verifies_with_the_short_term_password() {
    let m = Message::decode(&SAMPLE_REQUEST).unwrap();
    assert_eq!((m.class, m.method, m.tid), (Class::Request, Method::BINDING, tid_of(&SAMPLE_REQUEST)));
    assert_eq!(
        types(&m),
        [
            AttrType::SOFTWARE,
            AttrType::PRIORITY,
            AttrType::ICE_CONTROLLED,
            AttrType::USERNAME,
            AttrType::MESSAGE_INTEGRITY,
            AttrType::FINGERPRINT
        ]
    );
    assert_eq!(m.text(AttrType::SOFTWARE), Some(Ok("STUN test client")));
    assert_eq!(m.u32(AttrType::PRIORITY), Some(Ok(0x6E00_01FF)));
    assert_eq!(m.get(AttrType::ICE_CONTROLLED), Some(&0x932F_F9B1_5126_3B36u64.to_be_bytes()[..]));
    // Nine bytes: the three spaces after it are padding.
    assert_eq!(m.text(AttrType::USERNAME), Some(Ok("evtj:h6vY")));
    check_vector(&SAMPLE_REQUEST, SHORT_TERM_PASSWORD.as_bytes());
}

#[test]
fn rfc5769_sample_request_re_encodes_except_for_its_space_padding() {
    let mut b = MessageBuilder::new(Class::Request, Method::BINDING, tid_of(&SAMPLE_REQUEST));
    b.text(AttrType::SOFTWARE, "STUN test client")
        .u32(AttrType::PRIORITY, 0x6E00_01FF)
        .bytes(AttrType::ICE_CONTROLLED, &0x932F_F9B1_5126_3B36u64.to_be_bytes())
        .text(AttrType::USERNAME, "evtj:h6vY");
    let built = b.finish_with(Some((IntegrityAlg::Sha1, SHORT_TERM_PASSWORD.as_bytes())), true);
    // USERNAME is padded with spaces in the vector, with zeros here.
    assert!(!compare_with_vector(&built, &SAMPLE_REQUEST));
    let m = Message::decode(&built).unwrap();
    assert_eq!(m.verify_integrity_with(SHORT_TERM_PASSWORD.as_bytes()), Ok(IntegrityAlg::Sha1));
    assert_eq!(m.attributes().last().unwrap().typ, AttrType::FINGERPRINT);
}

#[test]
fn rfc5769_ipv4_response_decodes_and_verifies() {
    let m = Message::decode(&SAMPLE_IPV4_RESPONSE).unwrap();
    assert_eq!((m.class, m.method, m.tid), (Class::Success, Method::BINDING, tid_of(&SAMPLE_IPV4_RESPONSE)));
    assert_eq!(
        types(&m),
        [AttrType::SOFTWARE, AttrType::XOR_MAPPED_ADDRESS, AttrType::MESSAGE_INTEGRITY, AttrType::FINGERPRINT]
    );
    // Eleven bytes ("test vector"); the space after it is padding.
    assert_eq!(m.text(AttrType::SOFTWARE), Some(Ok("test vector")));
    let mapped = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 32853);
    assert_eq!(m.xor_address(AttrType::XOR_MAPPED_ADDRESS), Some(Ok(mapped)));
    check_vector(&SAMPLE_IPV4_RESPONSE, SHORT_TERM_PASSWORD.as_bytes());
}

#[test]
fn rfc5769_ipv4_response_re_encodes_except_for_its_space_padding() {
    let mapped = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 32853);
    let mut b = MessageBuilder::new(Class::Success, Method::BINDING, tid_of(&SAMPLE_IPV4_RESPONSE));
    b.text(AttrType::SOFTWARE, "test vector").xor_address(AttrType::XOR_MAPPED_ADDRESS, mapped);
    let built = b.finish_with(Some((IntegrityAlg::Sha1, SHORT_TERM_PASSWORD.as_bytes())), true);
    // SOFTWARE is 11 bytes, padded with a space in the vector and a zero here.
    assert!(!compare_with_vector(&built, &SAMPLE_IPV4_RESPONSE));
    assert_eq!(built[20..24], SAMPLE_IPV4_RESPONSE[20..24]);
    let m = Message::decode(&built).unwrap();
    assert_eq!(m.verify_integrity_with(SHORT_TERM_PASSWORD.as_bytes()), Ok(IntegrityAlg::Sha1));
}

#[test]
fn rfc5769_ipv6_response_decodes_and_verifies() {
    let m = Message::decode(&SAMPLE_IPV6_RESPONSE).unwrap();
    assert_eq!((m.class, m.method, m.tid), (Class::Success, Method::BINDING, tid_of(&SAMPLE_IPV6_RESPONSE)));
    assert_eq!(
        types(&m),
        [AttrType::SOFTWARE, AttrType::XOR_MAPPED_ADDRESS, AttrType::MESSAGE_INTEGRITY, AttrType::FINGERPRINT]
    );
    assert_eq!(m.text(AttrType::SOFTWARE), Some(Ok("test vector")));
    let ip = Ipv6Addr::new(0x2001, 0xdb8, 0x1234, 0x5678, 0x11, 0x2233, 0x4455, 0x6677);
    assert_eq!(m.xor_address(AttrType::XOR_MAPPED_ADDRESS), Some(Ok(SocketAddr::new(IpAddr::V6(ip), 32853))));
    check_vector(&SAMPLE_IPV6_RESPONSE, SHORT_TERM_PASSWORD.as_bytes());
}

#[test]
fn rfc5769_ipv6_response_re_encodes_except_for_its_space_padding() {
    let ip = Ipv6Addr::new(0x2001, 0xdb8, 0x1234, 0x5678, 0x11, 0x2233, 0x4455, 0x6677);
    let mut b = MessageBuilder::new(Class::Success, Method::BINDING, tid_of(&SAMPLE_IPV6_RESPONSE));
    b.text(AttrType::SOFTWARE, "test vector")
        .xor_address(AttrType::XOR_MAPPED_ADDRESS, SocketAddr::new(ip.into(), 32853));
    let built = b.finish_with(Some((IntegrityAlg::Sha1, SHORT_TERM_PASSWORD.as_bytes())), true);
    assert!(!compare_with_vector(&built, &SAMPLE_IPV6_RESPONSE));
    let m = Message::decode(&built).unwrap();
    assert_eq!(m.verify_integrity_with(SHORT_TERM_PASSWORD.as_bytes()), Ok(IntegrityAlg::Sha1));
}

#[test]
fn rfc5769_long_term_request_decodes_and_verifies_with_the_md5_key() {
    let m = Message::decode(&SAMPLE_LONG_TERM_REQUEST).unwrap();
    assert_eq!((m.class, m.method, m.tid), (Class::Request, Method::BINDING, tid_of(&SAMPLE_LONG_TERM_REQUEST)));
    assert_eq!(types(&m), [AttrType::USERNAME, AttrType::NONCE, AttrType::REALM, AttrType::MESSAGE_INTEGRITY]);
    assert_eq!(m.text(AttrType::USERNAME), Some(Ok(LONG_TERM_USERNAME)));
    assert_eq!(m.text(AttrType::NONCE), Some(Ok(LONG_TERM_NONCE)));
    assert_eq!(m.text(AttrType::REALM), Some(Ok(LONG_TERM_REALM)));
    let key = LongTermKey::new(LONG_TERM_USERNAME, LONG_TERM_REALM, LONG_TERM_PASSWORD);
    assert_eq!(m.verify_integrity(&key), Ok(IntegrityAlg::Sha1));
    let wrong = LongTermKey::new(LONG_TERM_USERNAME, LONG_TERM_REALM, "TheMatrix");
    assert_eq!(m.verify_integrity(&wrong), Err(IntegrityError::Mismatch));
    check_vector(&SAMPLE_LONG_TERM_REQUEST, key.as_bytes());
}

#[test]
fn rfc5769_long_term_request_re_encodes_byte_for_byte() {
    let key = LongTermKey::new(LONG_TERM_USERNAME, LONG_TERM_REALM, LONG_TERM_PASSWORD);
    let mut b = MessageBuilder::new(Class::Request, Method::BINDING, tid_of(&SAMPLE_LONG_TERM_REQUEST));
    b.text(AttrType::USERNAME, LONG_TERM_USERNAME)
        .text(AttrType::NONCE, LONG_TERM_NONCE)
        .text(AttrType::REALM, LONG_TERM_REALM);
    // Zero padding throughout and no FINGERPRINT: the builder must reproduce it exactly.
    assert!(compare_with_vector(&b.finish(Some((IntegrityAlg::Sha1, &key)), false), &SAMPLE_LONG_TERM_REQUEST));
}

// ---------------------------------------------------------------------------------------------
// Message type.

#[test]
fn message_type_matches_the_well_known_values() {
    let cases = [
        (Class::Request, Method::BINDING, 0x0001),
        (Class::Success, Method::BINDING, 0x0101),
        (Class::Error, Method::BINDING, 0x0111),
        (Class::Indication, Method::BINDING, 0x0011),
        (Class::Request, Method::ALLOCATE, 0x0003),
        (Class::Success, Method::ALLOCATE, 0x0103),
        (Class::Error, Method::ALLOCATE, 0x0113),
        (Class::Request, Method::REFRESH, 0x0004),
        (Class::Success, Method::REFRESH, 0x0104),
        (Class::Indication, Method::SEND, 0x0016),
        (Class::Indication, Method::DATA, 0x0017),
        (Class::Request, Method::CREATE_PERMISSION, 0x0008),
        (Class::Success, Method::CREATE_PERMISSION, 0x0108),
        (Class::Request, Method::CHANNEL_BIND, 0x0009),
        (Class::Error, Method::CHANNEL_BIND, 0x0119),
        // Every method bit set: M0–M3, M4–M6 and M7–M11 around the class bits C0 (bit 4) and C1 (bit 8).
        (Class::Request, Method(0xFFF), 0x3EEF),
        (Class::Indication, Method(0xFFF), 0x3EFF),
        (Class::Success, Method(0xFFF), 0x3FEF),
        (Class::Error, Method(0xFFF), 0x3FFF),
    ];
    for (class, method, t) in cases {
        assert_eq!(message_type(class, method), t, "{class:?} {method:?}");
        assert_eq!(split_message_type(t), (class, method), "{t:#06x}");
    }
}

#[test]
fn message_type_round_trips_every_class_and_turn_method() {
    for class in ALL_CLASSES {
        for method in TURN_METHODS {
            let t = message_type(class, method);
            assert_eq!(split_message_type(t), (class, method));
            let built = MessageBuilder::new(class, method, TransactionId([1; 12])).finish_with(None, false);
            assert_eq!(u16::from_be_bytes([built[0], built[1]]), t);
            let m = Message::decode(&built).unwrap();
            assert_eq!((m.class, m.method), (class, method));
        }
    }
}

/// The whole space is 4 classes × 4096 methods, so it is covered exhaustively rather than sampled:
/// packing is a bijection onto the 14-bit types and never sets the two leading bits.
#[test]
fn message_type_is_a_bijection_for_all_12_bit_methods() {
    let mut seen = vec![false; 1 << 14];
    for class in ALL_CLASSES {
        for m in 0..0x1000u16 {
            let t = message_type(class, Method(m));
            assert_eq!(t & 0xC000, 0);
            assert!(!std::mem::replace(&mut seen[usize::from(t)], true), "{t:#06x} twice");
            assert_eq!(split_message_type(t), (class, Method(m)));
        }
    }
    assert!(seen.iter().all(|&s| s));
    for t in 0..0x4000u16 {
        let (class, method) = split_message_type(t);
        assert_eq!(message_type(class, method), t);
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding: what is refused, what is ignored.

fn small_message() -> Vec<u8> {
    let mut b = MessageBuilder::new(Class::Request, Method::ALLOCATE, TransactionId([9; 12]));
    b.text(AttrType::USERNAME, "alice").u32(AttrType::LIFETIME, 600);
    b.finish_with(None, false)
}

#[test]
fn decode_refuses_fewer_than_20_bytes() {
    let m = small_message();
    for n in 0..HEADER_LEN {
        assert_eq!(Message::decode(&m[..n]), Err(DecodeError::TooShort), "{n} bytes");
    }
    let header_only =
        MessageBuilder::new(Class::Request, Method::BINDING, TransactionId([0; 12])).finish_with(None, false);
    assert_eq!(header_only.len(), HEADER_LEN);
    assert!(Message::decode(&header_only).unwrap().attributes().is_empty());
}

#[test]
fn decode_refuses_leading_bits_that_are_not_zero() {
    for bits in [0x40, 0x80, 0xC0] {
        let mut m = small_message();
        m[0] |= bits;
        assert_eq!(Message::decode(&m), Err(DecodeError::NotStun), "{bits:#04x}");
        assert!(!looks_like_stun(&m));
    }
}

#[test]
fn decode_refuses_a_wrong_magic_cookie() {
    for i in 4..8 {
        let mut m = small_message();
        m[i] ^= 0x01;
        assert_eq!(Message::decode(&m), Err(DecodeError::BadCookie), "byte {i}");
        assert!(!looks_like_stun(&m));
    }
    // An RFC 3489 message has no cookie there.
    let mut old = small_message();
    old[4..8].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    assert_eq!(Message::decode(&old), Err(DecodeError::BadCookie));
}

#[test]
fn decode_refuses_a_length_that_is_not_a_multiple_of_4() {
    for extra in 1..4 {
        let mut m = small_message();
        m.extend(std::iter::repeat_n(0, extra));
        set_length(&mut m);
        assert_eq!(Message::decode(&m), Err(DecodeError::BadLength), "+{extra}");
    }
}

#[test]
fn decode_refuses_a_length_that_does_not_match_the_bytes() {
    let m = small_message();
    let mut longer = m.clone();
    longer.extend_from_slice(&[0; 4]);
    assert_eq!(Message::decode(&longer), Err(DecodeError::BadLength));
    assert_eq!(Message::decode(&m[..m.len() - 4]), Err(DecodeError::BadLength));
    let mut claims_more = m.clone();
    claims_more[3] += 4;
    assert_eq!(Message::decode(&claims_more), Err(DecodeError::BadLength));
}

#[test]
fn decode_refuses_an_attribute_that_runs_past_the_end() {
    // USERNAME claims 8 bytes, 4 follow.
    let mut m = raw_message(0x0001, &[]);
    m.extend_from_slice(&[0x00, 0x06, 0x00, 0x08, b'a', b'b', b'c', b'd']);
    set_length(&mut m);
    assert_eq!(Message::decode(&m), Err(DecodeError::TruncatedAttribute));
    // 5 bytes claimed, 4 follow.
    let mut m = raw_message(0x0001, &[(0x0006, b"abcd")]);
    m[23] = 5;
    assert_eq!(Message::decode(&m), Err(DecodeError::TruncatedAttribute));
    // Length 0xFFFF on the last attribute.
    let mut m = raw_message(0x0001, &[(0x0006, b"abcd")]);
    m[22..24].copy_from_slice(&[0xFF, 0xFF]);
    assert_eq!(Message::decode(&m), Err(DecodeError::TruncatedAttribute));
}

#[test]
fn decode_refuses_an_attribute_after_fingerprint() {
    let mut m = small_message();
    append_fingerprint(&mut m);
    let fp_at = m.len() - 8;
    append_attr(&mut m, AttrType::SOFTWARE.0, b"late");
    // As is, the CRC no longer matches the header length.
    assert_eq!(Message::decode(&m), Err(DecodeError::BadFingerprint));
    // With a CRC that matches, FINGERPRINT is still not last.
    let crc = reference_fingerprint(&m[..fp_at]);
    m[fp_at + 4..fp_at + 8].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(Message::decode(&m), Err(DecodeError::FingerprintNotLast));
}

#[test]
fn decode_refuses_a_bad_fingerprint() {
    let mut m = small_message();
    append_fingerprint(&mut m);
    assert!(Message::decode(&m).is_ok());
    for i in m.len() - 4..m.len() {
        let mut bad = m.clone();
        bad[i] ^= 0x80;
        assert_eq!(Message::decode(&bad), Err(DecodeError::BadFingerprint));
    }
    // The CRC without the XOR with 0x5354554e.
    let mut plain = m.clone();
    let crc = crc32fast::hash(&m[..m.len() - 8]);
    let at = m.len() - 4;
    plain[at..].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(Message::decode(&plain), Err(DecodeError::BadFingerprint));
    // A FINGERPRINT of the wrong size.
    for value in [&[][..], &[0; 2], &[0; 8]] {
        let mut m = small_message();
        append_attr(&mut m, AttrType::FINGERPRINT.0, value);
        assert_eq!(Message::decode(&m), Err(DecodeError::BadFingerprint), "{} bytes", value.len());
    }
}

#[test]
fn attributes_after_message_integrity_are_ignored_except_sha256_and_fingerprint() {
    let key = b"key";
    let mut m = raw_message(0x0003, &[(AttrType::USERNAME.0, b"alice")]);
    append_integrity(&mut m, IntegrityAlg::Sha1, key, 20);
    append_attr(&mut m, 0x7FFF, b"unknown, required");
    append_attr(&mut m, AttrType::SOFTWARE.0, b"late");
    append_attr(&mut m, AttrType::USERNAME.0, b"mallory");
    append_integrity(&mut m, IntegrityAlg::Sha256, key, 32);
    append_attr(&mut m, AttrType::LIFETIME.0, &[0, 0, 0, 1]);
    append_fingerprint(&mut m);
    let d = Message::decode(&m).unwrap();
    assert_eq!(
        types(&d),
        [AttrType::USERNAME, AttrType::MESSAGE_INTEGRITY, AttrType::MESSAGE_INTEGRITY_SHA256, AttrType::FINGERPRINT]
    );
    assert_eq!(d.text(AttrType::USERNAME), Some(Ok("alice")));
    assert!(!d.has(AttrType::SOFTWARE) && !d.has(AttrType::LIFETIME));
    assert!(d.unknown_required().is_empty());
    assert_eq!(d.verify_integrity_with(key), Ok(IntegrityAlg::Sha256));
    // Offsets point at the attribute headers in the original bytes.
    for a in d.attributes() {
        assert_eq!(u16::from_be_bytes([m[a.offset], m[a.offset + 1]]), a.typ.0);
        assert_eq!(&m[a.offset + 4..a.offset + 4 + a.value.len()], a.value);
    }
}

#[test]
fn unknown_required_lists_unknown_comprehension_required_types_only() {
    let attrs: [(u16, &[u8]); 11] = [
        (0x0000, b""),
        (AttrType::USERNAME.0, b"alice"),
        (0x0003, &[0; 4]),
        (0x7FFF, b"x"),
        (0x8000, &[1, 0, 0, 0]),
        (0x4000, b""),
        (0x8001, b"optional"),
        (0xC001, b""),
        (0xFFFF, b"y"),
        (0x0030, b"z"),
        (AttrType::SOFTWARE.0, b"sw"),
    ];
    let m = raw_message(0x0001, &attrs);
    assert_eq!(Message::decode(&m).unwrap().unknown_required(), [0x0000, 0x0003, 0x7FFF, 0x4000, 0x0030]);
}

#[test]
fn unknown_required_agrees_with_understood_for_every_type() {
    for t in 0..=u16::MAX {
        if t == AttrType::FINGERPRINT.0 {
            continue;
        }
        let m = raw_message(0x0001, &[(t, b"")]);
        let unknown = Message::decode(&m).unwrap().unknown_required();
        let expected = if t < 0x8000 && !AttrType(t).understood() { vec![t] } else { vec![] };
        assert_eq!(unknown, expected, "{t:#06x}");
    }
}

// ---------------------------------------------------------------------------------------------
// Integrity.

#[test]
fn message_integrity_sha256_round_trips() {
    let key = LongTermKey::new("alice", "example.org", "secret");
    let mut b = MessageBuilder::new(Class::Request, Method::ALLOCATE, TransactionId([3; 12]));
    b.text(AttrType::USERNAME, "alice").u32(AttrType::REQUESTED_TRANSPORT, 17 << 24);
    let built = b.finish(Some((IntegrityAlg::Sha256, &key)), true);
    let m = Message::decode(&built).unwrap();
    let mi = m.attributes().iter().find(|a| a.typ == AttrType::MESSAGE_INTEGRITY_SHA256).unwrap();
    assert_eq!(mi.value.len(), 32);
    assert_eq!(mi.value, &reference_hmac(IntegrityAlg::Sha256, key.as_bytes(), &built[..mi.offset], 32)[..]);
    assert_eq!(m.integrity_alg(), Some(IntegrityAlg::Sha256));
    assert_eq!(m.verify_integrity(&key), Ok(IntegrityAlg::Sha256));
    let other = LongTermKey::new("alice", "example.org", "Secret");
    assert_eq!(m.verify_integrity(&other), Err(IntegrityError::Mismatch));
}

#[test]
fn message_integrity_sha1_from_the_builder_matches_the_reference() {
    let key = b"short-term password";
    let mut b = MessageBuilder::new(Class::Success, Method::BINDING, TransactionId([4; 12]));
    b.xor_address(AttrType::XOR_MAPPED_ADDRESS, "[2001:db8::1]:3478".parse().unwrap());
    let built = b.finish_with(Some((IntegrityAlg::Sha1, key)), false);
    let mut expected = built[..built.len() - 24].to_vec();
    append_integrity(&mut expected, IntegrityAlg::Sha1, key, 20);
    assert_eq!(built, expected);
}

#[test]
fn truncated_message_integrity_sha256_verifies() {
    let key = b"k";
    for tag_len in [16, 20, 24, 28, 32] {
        let mut m = raw_message(0x0003, &[(AttrType::USERNAME.0, b"bob")]);
        append_integrity(&mut m, IntegrityAlg::Sha256, key, tag_len);
        append_fingerprint(&mut m);
        let d = Message::decode(&m).unwrap();
        assert_eq!(d.verify_integrity_with(key), Ok(IntegrityAlg::Sha256), "{tag_len} bytes");
        assert_eq!(d.verify_integrity_with(b"K"), Err(IntegrityError::Mismatch), "{tag_len} bytes");
        // A changed tag byte is noticed.
        let mi_end = m.len() - 8;
        m[mi_end - 1] ^= 1;
        append_fingerprint_again(&mut m);
        assert_eq!(Message::decode(&m).unwrap().verify_integrity_with(key), Err(IntegrityError::Mismatch));
    }
}

/// Rewrites the CRC of the FINGERPRINT that ends `m`.
fn append_fingerprint_again(m: &mut [u8]) {
    let at = m.len() - 8;
    let crc = reference_fingerprint(&m[..at]);
    m[at + 4..].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn integrity_attributes_of_the_wrong_size_do_not_verify() {
    let key = b"k";
    // MESSAGE-INTEGRITY-SHA256: 16 to 32 bytes in steps of 4.
    for len in [0, 4, 12, 18, 30, 36, 64] {
        let mut m = raw_message(0x0001, &[]);
        let tag = reference_hmac(IntegrityAlg::Sha256, key, &m, 32);
        let value: Vec<u8> = tag.iter().copied().cycle().take(len).collect();
        append_attr(&mut m, AttrType::MESSAGE_INTEGRITY_SHA256.0, &value);
        let d = Message::decode(&m).unwrap();
        assert_eq!(d.verify_integrity_with(key), Err(IntegrityError::BadLength), "{len} bytes");
    }
    // MESSAGE-INTEGRITY: exactly 20.
    for len in [0, 16, 19, 21, 32] {
        let m = raw_message(0x0001, &[(AttrType::MESSAGE_INTEGRITY.0, &vec![0; len])]);
        let d = Message::decode(&m).unwrap();
        assert_eq!(d.verify_integrity_with(key), Err(IntegrityError::BadLength), "{len} bytes");
    }
    let none = raw_message(0x0001, &[(AttrType::USERNAME.0, b"x")]);
    assert_eq!(Message::decode(&none).unwrap().verify_integrity_with(key), Err(IntegrityError::Missing));
    assert_eq!(Message::decode(&none).unwrap().integrity_alg(), None);
}

#[test]
fn sha256_is_checked_when_both_are_present_so_sha1_cannot_stand_in() {
    let key = b"k";
    let mut m = raw_message(0x0003, &[(AttrType::USERNAME.0, b"bob")]);
    append_integrity(&mut m, IntegrityAlg::Sha1, key, 20);
    append_integrity(&mut m, IntegrityAlg::Sha256, b"not the key", 32);
    let d = Message::decode(&m).unwrap();
    assert_eq!(d.integrity_alg(), Some(IntegrityAlg::Sha256));
    assert_eq!(d.verify_integrity_with(key), Err(IntegrityError::Mismatch));
    assert_eq!(d.verify_integrity_with(b"not the key"), Ok(IntegrityAlg::Sha256));
}

#[test]
fn attributes_after_integrity_do_not_disturb_it() {
    // What a middlebox might append after MESSAGE-INTEGRITY is ignored and not covered.
    let key = b"k";
    let mut m = raw_message(0x0001, &[(AttrType::USERNAME.0, b"bob")]);
    append_integrity(&mut m, IntegrityAlg::Sha1, key, 20);
    append_attr(&mut m, AttrType::SOFTWARE.0, b"appended");
    let d = Message::decode(&m).unwrap();
    assert_eq!(d.verify_integrity_with(key), Ok(IntegrityAlg::Sha1));
    assert!(!d.has(AttrType::SOFTWARE));
}

// ---------------------------------------------------------------------------------------------
// Attribute values.

#[test]
fn error_codes_encode_and_decode() {
    let req_bytes = small_message();
    let req = Message::decode(&req_bytes).unwrap();
    for code in ALL_ERROR_CODES {
        let built = MessageBuilder::error(&req, code).finish_with(None, true);
        let m = Message::decode(&built).unwrap();
        assert_eq!((m.class, m.method, m.tid), (Class::Error, req.method, req.tid));
        let value = m.get(AttrType::ERROR_CODE).unwrap();
        assert_eq!(value[..4], [0, 0, (code.code() / 100) as u8, (code.code() % 100) as u8]);
        assert_eq!(attr::decode_error_code(value), Ok((code.code(), code.reason())));
        assert!((300..700).contains(&code.code()));
    }
}

#[test]
fn error_code_values_are_checked() {
    assert_eq!(attr::decode_error_code(&[0, 0, 4, 20]), Ok((420, "")));
    assert_eq!(attr::decode_error_code(b"\0\0\x06\x63Global Failure"), Ok((699, "Global Failure")));
    // The 21 reserved bits are ignored.
    assert_eq!(attr::decode_error_code(&[0xFF, 0xFF, 0xFC, 1]), Ok((401, "")));
    assert_eq!(attr::decode_error_code(&[0, 0, 4]), Err(AttrError::BadLength));
    assert_eq!(attr::decode_error_code(&[0, 0, 2, 0]), Err(AttrError::OutOfRange));
    assert_eq!(attr::decode_error_code(&[0, 0, 7, 0]), Err(AttrError::OutOfRange));
    assert_eq!(attr::decode_error_code(&[0, 0, 4, 100]), Err(AttrError::OutOfRange));
    assert_eq!(attr::decode_error_code(&[0, 0, 4, 0, 0xFF]), Err(AttrError::NotUtf8));
    let mut out = Vec::new();
    attr::encode_error_code(&mut out, 508, "Insufficient Capacity");
    assert_eq!(attr::decode_error_code(&out), Ok((508, "Insufficient Capacity")));
}

#[test]
fn addresses_reject_bad_families_and_lengths() {
    let tid = TransactionId([0xAB; 12]);
    assert_eq!(attr::decode_address(&[0, 1, 0], Some(&tid)), Err(AttrError::BadLength));
    assert_eq!(attr::decode_address(&[0, 3, 0, 0, 1, 2, 3, 4], Some(&tid)), Err(AttrError::BadFamily));
    assert_eq!(attr::decode_address(&[0, 1, 0, 0, 1, 2, 3], Some(&tid)), Err(AttrError::BadLength));
    assert_eq!(attr::decode_address(&[0, 1, 0, 0, 1, 2, 3, 4, 5], Some(&tid)), Err(AttrError::BadLength));
    assert_eq!(attr::decode_address(&[0; 20], None), Err(AttrError::BadFamily));
    let mut v6_as_v4 = vec![0, 1, 0, 0];
    v6_as_v4.extend_from_slice(&[0; 16]);
    assert_eq!(attr::decode_address(&v6_as_v4, None), Err(AttrError::BadLength));
}

#[test]
fn plain_and_xor_addresses_round_trip() {
    let tid = TransactionId([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC]);
    for addr in ["192.0.2.1:32853", "0.0.0.0:0", "255.255.255.255:65535", "[::1]:1", "[2001:db8::ffff]:443"] {
        let addr: SocketAddr = addr.parse().unwrap();
        for t in [None, Some(&tid)] {
            let mut out = Vec::new();
            attr::encode_address(&mut out, addr, t);
            assert_eq!(out.len(), if addr.is_ipv4() { 8 } else { 20 });
            assert_eq!(attr::decode_address(&out, t), Ok(addr));
        }
    }
    // The plain form is the address in the clear; the XOR form of port 32853 is 0xA147 (RFC 5769).
    let mut plain = Vec::new();
    attr::encode_address(&mut plain, "192.0.2.1:32853".parse().unwrap(), None);
    assert_eq!(plain, [0, 1, 0x80, 0x55, 192, 0, 2, 1]);
    let mut b = MessageBuilder::new(Class::Success, Method::BINDING, tid);
    b.address(AttrType::MAPPED_ADDRESS, "192.0.2.1:32853".parse().unwrap());
    let built = b.finish_with(None, false);
    assert_eq!(built[24..], plain);
}

#[test]
fn small_fixed_size_attributes_are_checked() {
    assert_eq!(attr::decode_u32(&[0, 0, 2, 0x58]), Ok(600));
    assert_eq!(attr::decode_u32(&[0, 0, 2]), Err(AttrError::BadLength));
    assert_eq!(attr::decode_u32(&[0; 8]), Err(AttrError::BadLength));
    assert_eq!(attr::decode_channel_number(&[0x40, 0x01, 0, 0]), Ok(0x4001));
    assert_eq!(attr::decode_channel_number(&[0x40, 0x01]), Err(AttrError::BadLength));
    assert_eq!(attr::decode_requested_transport(&[17, 0, 0, 0]), Ok(17));
    assert_eq!(attr::decode_requested_transport(&[17]), Err(AttrError::BadLength));
    for f in [super::Family::V4, super::Family::V6] {
        assert_eq!(attr::decode_family_attr(&attr::encode_family_attr(f)), Ok(f));
    }
    assert_eq!(attr::decode_family_attr(&[3, 0, 0, 0]), Err(AttrError::BadFamily));
    assert_eq!(attr::decode_family_attr(&[1, 0, 0]), Err(AttrError::BadLength));
    assert_eq!(attr::decode_text(b"\xC3\xA9"), Ok("\u{e9}"));
    assert_eq!(attr::decode_text(b"\xC3"), Err(AttrError::NotUtf8));
}

// ---------------------------------------------------------------------------------------------
// Framing and ChannelData.

#[test]
fn next_record_frames_stun_messages() {
    let m = small_message();
    for n in 0..4 {
        assert_eq!(frame::next_record(&m[..n], 1500), Record::NeedMore, "{n} bytes");
    }
    for n in 4..m.len() {
        assert_eq!(frame::next_record(&m[..n], 1500), Record::Partial(m.len()), "{n} bytes");
    }
    assert_eq!(frame::next_record(&m, 1500), Record::Complete(m.len()));
    let mut two = m.clone();
    two.extend_from_slice(&m);
    assert_eq!(frame::next_record(&two, 1500), Record::Complete(m.len()));
    // A STUN length that is not a multiple of 4 cannot be a STUN message.
    let mut odd = m.clone();
    odd[3] += 1;
    assert_eq!(frame::next_record(&odd, 1500), Record::Invalid);
}

#[test]
fn next_record_frames_channel_data_with_its_padding() {
    let ch = ChannelNumber::new(0x4001).unwrap();
    for len in 0..=9usize {
        let pad = frame::stream_padding(len);
        assert_eq!((len + pad) % 4, 0);
        assert!(pad < 4);
        let mut rec = frame::channel_header(ch, len).to_vec();
        rec.extend(std::iter::repeat_n(0xEE, len));
        rec.extend(std::iter::repeat_n(0, pad));
        let total = 4 + len + pad;
        assert_eq!(frame::next_record(&rec, 1500), Record::Complete(total), "payload {len}");
        let cut = if total > 4 { Record::Partial(total) } else { Record::NeedMore };
        assert_eq!(frame::next_record(&rec[..total - 1], 1500), cut, "payload {len}");
        rec.extend_from_slice(&[0x40, 0x02]);
        assert_eq!(frame::next_record(&rec, 1500), Record::Complete(total), "payload {len}");
    }
    assert_eq!(frame::channel_header(ch, 0x1234), [0x40, 0x01, 0x12, 0x34]);
}

#[test]
fn next_record_refuses_other_leading_bits_and_oversize_records() {
    for lead in [0x80, 0xC0, 0xBF, 0xFF] {
        assert_eq!(frame::next_record(&[lead, 0, 0, 4, 0, 0, 0, 0], 1500), Record::Invalid, "{lead:#04x}");
    }
    // STUN: 20 + 100 bytes.
    let stun = [0x00, 0x01, 0x00, 100];
    assert_eq!(frame::next_record(&stun, 120), Record::Partial(120));
    assert_eq!(frame::next_record(&stun, 119), Record::Invalid);
    // ChannelData: 4 + 101 + 3 bytes of padding.
    let cd = [0x40, 0x00, 0x00, 101];
    assert_eq!(frame::next_record(&cd, 108), Record::Partial(108));
    assert_eq!(frame::next_record(&cd, 107), Record::Invalid);
    assert_eq!(frame::next_record(&[0x4F, 0xFF, 0xFF, 0xFF], 65_535), Record::Invalid);
    for n in 0..4 {
        assert_eq!(frame::next_record(&[0xFF; 4][..n], 0), Record::NeedMore);
    }
}

#[test]
fn channel_data_accepts_up_to_three_bytes_of_padding() {
    let payload = b"hello";
    for pad in 0..=4 {
        let mut rec = vec![0x40, 0x07, 0x00, 0x05];
        rec.extend_from_slice(payload);
        rec.extend(std::iter::repeat_n(0, pad));
        let got = ChannelData::decode(&rec);
        if pad <= 3 {
            assert_eq!(got, Some(ChannelData { channel: 0x4007, payload }), "{pad} bytes of padding");
        } else {
            assert_eq!(got, None, "{pad} bytes of padding");
        }
    }
}

#[test]
fn channel_data_refuses_short_or_foreign_records() {
    assert_eq!(ChannelData::decode(&[]), None);
    assert_eq!(ChannelData::decode(&[0x40, 0x00, 0x00]), None);
    assert_eq!(ChannelData::decode(&[0x40, 0x00, 0x00, 0x00]), Some(ChannelData { channel: 0x4000, payload: b"" }));
    // Length says 5, 4 bytes follow.
    assert_eq!(ChannelData::decode(&[0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4]), None);
    for lead in [0x00, 0x3F, 0x80, 0xC0] {
        assert_eq!(ChannelData::decode(&[lead, 0x00, 0x00, 0x00]), None, "{lead:#04x}");
    }
}

#[test]
fn channel_numbers_are_bounded() {
    // RFC 8656 §12 allows 0x4000–0x4FFF; this server also takes RFC 5766's 0x5000–0x7FFF (see
    // ChannelNumber). Either way a number must start with the ChannelData bits 01.
    for (n, ok) in [
        (0x0000, false),
        (0x3FFF, false),
        (0x4000, true),
        (0x4ABC, true),
        (0x4FFF, true),
        (0x5000, true),
        (0x7FFF, true),
        (0x8000, false),
        (0xC000, false),
        (0xFFFF, false),
    ] {
        assert_eq!(ChannelNumber::new(n).map(ChannelNumber::get), ok.then_some(n), "{n:#06x}");
    }
    assert_eq!((ChannelNumber::MIN, ChannelNumber::MAX), (0x4000, 0x7FFF));
    // Every accepted number frames as ChannelData.
    for n in [ChannelNumber::MIN, ChannelNumber::MAX] {
        let header = frame::channel_header(ChannelNumber::new(n).unwrap(), 0);
        assert_eq!(frame::next_record(&header, 4), Record::Complete(4));
        assert_eq!(ChannelData::decode(&header), Some(ChannelData { channel: n, payload: b"" }));
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests.

/// An attribute as the tests see it, decoded back from its raw form.
#[derive(Debug, Clone, PartialEq)]
enum Attr {
    Username(String),
    XorPeer(SocketAddr),
    Data(Vec<u8>),
    Lifetime(u32),
    Error(u16, String),
    Unknown(Vec<u16>),
}

impl Attr {
    fn encode(&self, b: &mut MessageBuilder) {
        match self {
            Attr::Username(s) => b.text(AttrType::USERNAME, s),
            Attr::XorPeer(a) => b.xor_address(AttrType::XOR_PEER_ADDRESS, *a),
            Attr::Data(d) => b.bytes(AttrType::DATA, d),
            Attr::Lifetime(v) => b.u32(AttrType::LIFETIME, *v),
            Attr::Error(code, reason) => b.error_code(*code, reason),
            Attr::Unknown(types) => b.unknown_attributes(types),
        };
    }

    fn decode(raw: &RawAttr<'_>, tid: &TransactionId) -> Attr {
        match raw.typ {
            AttrType::USERNAME => Attr::Username(attr::decode_text(raw.value).unwrap().to_owned()),
            AttrType::XOR_PEER_ADDRESS => Attr::XorPeer(attr::decode_address(raw.value, Some(tid)).unwrap()),
            AttrType::DATA => Attr::Data(raw.value.to_vec()),
            AttrType::LIFETIME => Attr::Lifetime(attr::decode_u32(raw.value).unwrap()),
            AttrType::ERROR_CODE => {
                let (code, reason) = attr::decode_error_code(raw.value).unwrap();
                Attr::Error(code, reason.to_owned())
            }
            AttrType::UNKNOWN_ATTRIBUTES => {
                assert_eq!(raw.value.len() % 2, 0);
                Attr::Unknown(raw.value.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
            }
            other => panic!("unexpected attribute {other:?}"),
        }
    }
}

fn arb_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(ip.into()), port)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(ip.into()), port)),
    ]
}

fn arb_attr() -> impl Strategy<Value = Attr> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..40).prop_map(|c| Attr::Username(c.into_iter().collect())),
        arb_addr().prop_map(Attr::XorPeer),
        proptest::collection::vec(any::<u8>(), 0..=1500).prop_map(Attr::Data),
        any::<u32>().prop_map(Attr::Lifetime),
        (300u16..700, "[ -~]{0,60}").prop_map(|(code, reason)| Attr::Error(code, reason)),
        proptest::collection::vec(any::<u16>(), 0..8).prop_map(Attr::Unknown),
    ]
}

fn arb_class() -> impl Strategy<Value = Class> {
    proptest::sample::select(ALL_CLASSES.to_vec())
}

fn arb_alg() -> impl Strategy<Value = IntegrityAlg> {
    prop_oneof![Just(IntegrityAlg::Sha1), Just(IntegrityAlg::Sha256)]
}

/// A key, raw (short-term, any length, including longer than the HMAC block) or long-term.
#[derive(Debug, Clone)]
enum Key {
    Raw(Vec<u8>),
    LongTerm(String, String, String),
}

impl Key {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Key::Raw(k) => k.clone(),
            Key::LongTerm(u, r, p) => LongTermKey::new(u, r, p).as_bytes().to_vec(),
        }
    }

    /// A different key. HMAC pads short keys with zeros, so appending a zero would not do.
    fn other(&self) -> Key {
        match self {
            Key::Raw(k) if k.is_empty() => Key::Raw(vec![1]),
            Key::Raw(k) => {
                let mut k = k.clone();
                *k.last_mut().unwrap() ^= 1;
                Key::Raw(k)
            }
            Key::LongTerm(u, r, p) => Key::LongTerm(u.clone(), r.clone(), format!("{p}x")),
        }
    }
}

fn arb_key() -> impl Strategy<Value = Key> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..100).prop_map(Key::Raw),
        ("\\PC{0,12}", "\\PC{0,12}", "\\PC{0,12}").prop_map(|(u, r, p)| Key::LongTerm(u, r, p)),
    ]
}

/// Calls every accessor a server would, on whatever decoded.
fn exercise(m: &Message<'_>) {
    let _ = m.unknown_required();
    for a in m.attributes() {
        assert!(a.offset >= HEADER_LEN && a.offset + 4 + a.value.len() <= m.bytes().len());
        let _ = attr::decode_address(a.value, Some(&m.tid));
        let _ = attr::decode_address(a.value, None);
        let _ = attr::decode_error_code(a.value);
    }
    for t in [AttrType::XOR_MAPPED_ADDRESS, AttrType::XOR_PEER_ADDRESS, AttrType::XOR_RELAYED_ADDRESS] {
        let _ = m.xor_address(t);
        let _ = m.xor_addresses(t).count();
    }
    for t in [AttrType::LIFETIME, AttrType::PRIORITY, AttrType::REQUESTED_TRANSPORT, AttrType::FINGERPRINT] {
        let _ = m.u32(t);
    }
    for t in [AttrType::USERNAME, AttrType::REALM, AttrType::NONCE, AttrType::SOFTWARE] {
        let _ = m.text(t);
    }
    let _ = m.verify_integrity(&LongTermKey::new("u", "r", "p"));
}

proptest! {
    #[test]
    fn messages_round_trip(
        class in arb_class(),
        method in 0u16..0x1000,
        tid in any::<[u8; 12]>(),
        attrs in proptest::collection::vec(arb_attr(), 0..8),
        integrity in proptest::option::of((arb_alg(), arb_key())),
        fingerprint in any::<bool>(),
    ) {
        let tid = TransactionId(tid);
        let mut b = MessageBuilder::new(class, Method(method), tid);
        for a in &attrs {
            a.encode(&mut b);
        }
        let key_bytes = integrity.as_ref().map(|(alg, key)| (*alg, key.bytes()));
        let built = b.finish_with(key_bytes.as_ref().map(|(alg, k)| (*alg, &k[..])), fingerprint);
        prop_assert_eq!(built.len() % 4, 0);
        prop_assert_eq!(usize::from(u16::from_be_bytes([built[2], built[3]])), built.len() - HEADER_LEN);
        prop_assert_eq!(frame::next_record(&built, 65_535 + HEADER_LEN), Record::Complete(built.len()));

        let m = Message::decode(&built).unwrap();
        prop_assert_eq!((m.class, m.method, m.tid), (class, Method(method), tid));
        let n = attrs.len();
        let decoded: Vec<Attr> = m.attributes()[..n].iter().map(|a| Attr::decode(a, &tid)).collect();
        prop_assert_eq!(&decoded, &attrs);
        let mut trailer = Vec::new();
        if let Some((alg, _)) = &integrity {
            trailer.push(match alg {
                IntegrityAlg::Sha1 => AttrType::MESSAGE_INTEGRITY,
                IntegrityAlg::Sha256 => AttrType::MESSAGE_INTEGRITY_SHA256,
            });
        }
        if fingerprint {
            trailer.push(AttrType::FINGERPRINT);
        }
        prop_assert_eq!(&types(&m)[n..], &trailer[..]);

        match &integrity {
            Some((alg, key)) => {
                prop_assert_eq!(m.verify_integrity_with(&key.bytes()), Ok(*alg));
                prop_assert_eq!(m.verify_integrity_with(&key.other().bytes()), Err(IntegrityError::Mismatch));
                if let Key::LongTerm(u, r, p) = key {
                    prop_assert_eq!(m.verify_integrity(&LongTermKey::new(u, r, p)), Ok(*alg));
                    prop_assert_eq!(
                        m.verify_integrity(&LongTermKey::new(u, r, &format!("{p}x"))),
                        Err(IntegrityError::Mismatch)
                    );
                }
            }
            None => prop_assert_eq!(m.verify_integrity_with(b"any"), Err(IntegrityError::Missing)),
        }
    }

    #[test]
    fn changing_a_byte_of_a_protected_message_is_noticed(
        attrs in proptest::collection::vec(arb_attr(), 0..4),
        alg in arb_alg(),
        key in proptest::collection::vec(any::<u8>(), 1..40),
        at in any::<proptest::sample::Index>(),
        mask in 1u8..,
    ) {
        let mut b = MessageBuilder::new(Class::Request, Method::SEND, TransactionId([6; 12]));
        for a in &attrs {
            a.encode(&mut b);
        }
        let mut msg = b.finish_with(Some((alg, &key)), true);
        let i = at.index(msg.len());
        msg[i] ^= mask;
        let fingerprint_type = msg.len() - 8..msg.len() - 6;
        if let Ok(m) = Message::decode(&msg) {
            prop_assert!(
                m.verify_integrity_with(&key).is_err()
                    || (fingerprint_type.contains(&i) && !m.has(AttrType::FINGERPRINT))
            );
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Message::decode(&bytes) {
            exercise(&m);
            prop_assert_eq!(frame::next_record(&bytes, 65_535 + HEADER_LEN), Record::Complete(bytes.len()));
        }
        if let Record::Complete(n) = frame::next_record(&bytes, 1500) {
            prop_assert!((4..=bytes.len()).contains(&n));
        }
        if let Some(cd) = ChannelData::decode(&bytes) {
            prop_assert!(bytes.len() - 4 - cd.payload.len() <= 3);
        }
    }

    /// Arbitrary attribute bytes behind a valid header reach much deeper than arbitrary bytes.
    #[test]
    fn decoding_arbitrary_attributes_never_panics(
        typ in 0u16..0x4000,
        body in proptest::collection::vec(any::<u8>(), 0..50).prop_map(|mut b| { b.truncate(b.len() / 4 * 4); b }),
        fingerprint in any::<bool>(),
    ) {
        let mut msg = raw_message(typ, &[]);
        msg.extend_from_slice(&body);
        set_length(&mut msg);
        if fingerprint {
            append_fingerprint(&mut msg);
        }
        if let Ok(m) = Message::decode(&msg) {
            exercise(&m);
        }
    }

    #[test]
    fn channel_data_round_trips(
        channel in ChannelNumber::MIN..=ChannelNumber::MAX,
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        pad in 0usize..4,
    ) {
        let ch = ChannelNumber::new(channel).unwrap();
        let mut rec = frame::channel_header(ch, payload.len()).to_vec();
        rec.extend_from_slice(&payload);
        rec.extend(std::iter::repeat_n(0, pad));
        prop_assert_eq!(ChannelData::decode(&rec), Some(ChannelData { channel, payload: &payload }));
        let mut stream = frame::channel_header(ch, payload.len()).to_vec();
        stream.extend_from_slice(&payload);
        stream.extend(std::iter::repeat_n(0, frame::stream_padding(payload.len())));
        prop_assert_eq!(frame::next_record(&stream, 1500), Record::Complete(stream.len()));
        prop_assert_eq!(ChannelData::decode(&stream), Some(ChannelData { channel, payload: &payload }));
    }
}
