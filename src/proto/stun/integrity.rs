//! MESSAGE-INTEGRITY (HMAC-SHA1), MESSAGE-INTEGRITY-SHA256 and FINGERPRINT (RFC 8489 §14.5–14.7).

use md5::{Digest, Md5};

use super::HEADER_LEN;

/// The long-term credential key `MD5(username ":" realm ":" password)` (RFC 8489 §9.2.2, the MD5
/// password algorithm, which is also what MESSAGE-INTEGRITY-SHA256 is keyed with when no
/// PASSWORD-ALGORITHM was negotiated).
#[derive(Clone, PartialEq, Eq)]
pub struct LongTermKey([u8; 16]);

impl std::fmt::Debug for LongTermKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LongTermKey(..)")
    }
}

impl LongTermKey {
    pub fn new(username: &str, realm: &str, password: &str) -> LongTermKey {
        let mut h = Md5::new();
        h.update(username.as_bytes());
        h.update(b":");
        h.update(realm.as_bytes());
        h.update(b":");
        h.update(password.as_bytes());
        LongTermKey(h.finalize().into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityAlg {
    Sha1,
    Sha256,
}

/// HMAC over `covered` (the message up to the integrity attribute) with the header's length field
/// replaced by `length` (which counts up to the end of the integrity attribute).
pub fn hmac(alg: IntegrityAlg, key: &[u8], covered: &[u8], length: usize) -> Vec<u8> {
    let algorithm = match alg {
        IntegrityAlg::Sha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        IntegrityAlg::Sha256 => ring::hmac::HMAC_SHA256,
    };
    let key = ring::hmac::Key::new(algorithm, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(&covered[..2]);
    ctx.update(&(length as u16).to_be_bytes());
    ctx.update(&covered[4..]);
    ctx.sign().as_ref().to_vec()
}

/// CRC-32 of everything before FINGERPRINT, XORed with 0x5354554e. The caller has already set the
/// header length to include the FINGERPRINT attribute.
pub fn fingerprint(covered: &[u8]) -> u32 {
    debug_assert!(covered.len() >= HEADER_LEN);
    crc32fast::hash(covered) ^ 0x5354_554E
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
