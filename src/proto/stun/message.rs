//! Decoding and encoding whole STUN messages (RFC 8489 §5, §14).
//!
//! Decoding borrows the input: attributes are kept as (type, value, offset) slices and read on
//! demand, so a Send indication's DATA is never copied. Attributes after MESSAGE-INTEGRITY other
//! than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are ignored (§14.5), and FINGERPRINT must be last.

use std::net::SocketAddr;

use super::attr::{self, AttrError, AttrType};
use super::integrity::{self, IntegrityAlg, LongTermKey};
use super::{message_type, split_message_type, Class, ErrorCode, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE};

/// Why bytes are not a STUN message. Any of these means "drop silently" on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("shorter than a STUN header")]
    TooShort,
    #[error("the two leading bits are not zero")]
    NotStun,
    #[error("wrong magic cookie")]
    BadCookie,
    #[error("length is not a multiple of 4 or does not match the bytes")]
    BadLength,
    #[error("an attribute runs past the end of the message")]
    TruncatedAttribute,
    #[error("an attribute follows FINGERPRINT")]
    FingerprintNotLast,
    #[error("FINGERPRINT does not match")]
    BadFingerprint,
}

/// Why MESSAGE-INTEGRITY(-SHA256) did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IntegrityError {
    #[error("no MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256")]
    Missing,
    #[error("MESSAGE-INTEGRITY-SHA256 has a bad length")]
    BadLength,
    #[error("the HMAC does not match")]
    Mismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttr<'a> {
    pub typ: AttrType,
    pub value: &'a [u8],
    /// Offset of the attribute header in the message.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub class: Class,
    pub method: Method,
    pub tid: TransactionId,
    bytes: &'a [u8],
    attrs: Vec<RawAttr<'a>>,
}

/// True if `bytes` starts like a STUN message (top bits 00 and the magic cookie).
pub fn looks_like_stun(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN && bytes[0] & 0xC0 == 0 && bytes[4..8] == MAGIC_COOKIE.to_be_bytes()
}

impl<'a> Message<'a> {
    /// Decodes one whole message; `bytes` must be exactly the message (a datagram or a framed
    /// stream record). A present FINGERPRINT is checked.
    pub fn decode(bytes: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::TooShort);
        }
        if bytes[0] & 0xC0 != 0 {
            return Err(DecodeError::NotStun);
        }
        if bytes[4..8] != MAGIC_COOKIE.to_be_bytes() {
            return Err(DecodeError::BadCookie);
        }
        let length = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if length % 4 != 0 || HEADER_LEN + length != bytes.len() {
            return Err(DecodeError::BadLength);
        }
        let (class, method) = split_message_type(u16::from_be_bytes([bytes[0], bytes[1]]));
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&bytes[8..20]);
        let mut attrs = Vec::with_capacity(8);
        let mut pos = HEADER_LEN;
        let mut after_integrity = false;
        let mut seen_fingerprint = false;
        while pos < bytes.len() {
            if seen_fingerprint {
                return Err(DecodeError::FingerprintNotLast);
            }
            if pos + 4 > bytes.len() {
                return Err(DecodeError::TruncatedAttribute);
            }
            let typ = AttrType(u16::from_be_bytes([bytes[pos], bytes[pos + 1]]));
            let len = usize::from(u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]));
            let end = pos + 4 + len;
            if end > bytes.len() {
                return Err(DecodeError::TruncatedAttribute);
            }
            let value = &bytes[pos + 4..end];
            match typ {
                AttrType::FINGERPRINT => {
                    let got = attr::decode_u32(value).map_err(|_| DecodeError::BadFingerprint)?;
                    if got != integrity::fingerprint(&bytes[..pos]) {
                        return Err(DecodeError::BadFingerprint);
                    }
                    seen_fingerprint = true;
                    attrs.push(RawAttr { typ, value, offset: pos });
                }
                AttrType::MESSAGE_INTEGRITY | AttrType::MESSAGE_INTEGRITY_SHA256 => {
                    attrs.push(RawAttr { typ, value, offset: pos });
                    after_integrity = true;
                }
                _ if !after_integrity => attrs.push(RawAttr { typ, value, offset: pos }),
                _ => {}
            }
            pos = end + (4 - len % 4) % 4;
        }
        if pos != bytes.len() {
            return Err(DecodeError::TruncatedAttribute);
        }
        Ok(Message { class, method, tid: TransactionId(tid), bytes, attrs })
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn attributes(&self) -> &[RawAttr<'a>] {
        &self.attrs
    }

    /// The first attribute of this type.
    pub fn get(&self, typ: AttrType) -> Option<&'a [u8]> {
        self.attrs.iter().find(|a| a.typ == typ).map(|a| a.value)
    }

    pub fn has(&self, typ: AttrType) -> bool {
        self.get(typ).is_some()
    }

    /// Comprehension-required attributes this codec does not understand (for a 420).
    pub fn unknown_required(&self) -> Vec<u16> {
        self.attrs.iter().filter(|a| a.typ.comprehension_required() && !a.typ.understood()).map(|a| a.typ.0).collect()
    }

    pub fn text(&self, typ: AttrType) -> Option<Result<&'a str, AttrError>> {
        self.get(typ).map(attr::decode_text)
    }

    pub fn xor_address(&self, typ: AttrType) -> Option<Result<SocketAddr, AttrError>> {
        self.get(typ).map(|v| attr::decode_address(v, Some(&self.tid)))
    }

    /// Every XOR-PEER-ADDRESS (CreatePermission may carry several).
    pub fn xor_addresses(&self, typ: AttrType) -> impl Iterator<Item = Result<SocketAddr, AttrError>> + '_ {
        self.attrs.iter().filter(move |a| a.typ == typ).map(|a| attr::decode_address(a.value, Some(&self.tid)))
    }

    pub fn u32(&self, typ: AttrType) -> Option<Result<u32, AttrError>> {
        self.get(typ).map(attr::decode_u32)
    }

    /// Which integrity attribute the message carries; SHA-256 wins when both are present.
    pub fn integrity_alg(&self) -> Option<IntegrityAlg> {
        if self.has(AttrType::MESSAGE_INTEGRITY_SHA256) {
            Some(IntegrityAlg::Sha256)
        } else if self.has(AttrType::MESSAGE_INTEGRITY) {
            Some(IntegrityAlg::Sha1)
        } else {
            None
        }
    }

    /// Checks MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY, with `key`.
    pub fn verify_integrity(&self, key: &LongTermKey) -> Result<IntegrityAlg, IntegrityError> {
        self.verify_integrity_with(key.as_bytes())
    }

    /// As [`Message::verify_integrity`] with raw key bytes (a short-term password, say).
    pub fn verify_integrity_with(&self, key: &[u8]) -> Result<IntegrityAlg, IntegrityError> {
        let alg = self.integrity_alg().ok_or(IntegrityError::Missing)?;
        let typ = match alg {
            IntegrityAlg::Sha1 => AttrType::MESSAGE_INTEGRITY,
            IntegrityAlg::Sha256 => AttrType::MESSAGE_INTEGRITY_SHA256,
        };
        let a = self.attrs.iter().find(|a| a.typ == typ).ok_or(IntegrityError::Missing)?;
        let valid_len = match alg {
            IntegrityAlg::Sha1 => a.value.len() == 20,
            IntegrityAlg::Sha256 => (16..=32).contains(&a.value.len()) && a.value.len() % 4 == 0,
        };
        if !valid_len {
            return Err(IntegrityError::BadLength);
        }
        let tag = integrity::hmac(alg, key, &self.bytes[..a.offset], a.offset - HEADER_LEN + 4 + a.value.len());
        if integrity::constant_time_eq(&tag[..a.value.len()], a.value) {
            Ok(alg)
        } else {
            Err(IntegrityError::Mismatch)
        }
    }
}

/// Builds a message; `finish` appends integrity and fingerprint and fixes the length.
pub struct MessageBuilder {
    buf: Vec<u8>,
    tid: TransactionId,
}

impl MessageBuilder {
    pub fn new(class: Class, method: Method, tid: TransactionId) -> MessageBuilder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&message_type(class, method).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&tid.0);
        MessageBuilder { buf, tid }
    }

    /// A success or error response to `req`.
    pub fn response(req: &Message<'_>, class: Class) -> MessageBuilder {
        MessageBuilder::new(class, req.method, req.tid)
    }

    pub fn error(req: &Message<'_>, code: ErrorCode) -> MessageBuilder {
        let mut b = MessageBuilder::response(req, Class::Error);
        b.error_code(code.code(), code.reason());
        b
    }

    fn begin(&mut self, typ: AttrType, len: usize) {
        self.buf.extend_from_slice(&typ.0.to_be_bytes());
        self.buf.extend_from_slice(&(len as u16).to_be_bytes());
    }

    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }

    pub fn bytes(&mut self, typ: AttrType, value: &[u8]) -> &mut Self {
        self.begin(typ, value.len());
        self.buf.extend_from_slice(value);
        self.pad();
        self
    }

    pub fn text(&mut self, typ: AttrType, value: &str) -> &mut Self {
        self.bytes(typ, value.as_bytes())
    }

    pub fn u32(&mut self, typ: AttrType, value: u32) -> &mut Self {
        self.bytes(typ, &value.to_be_bytes())
    }

    pub fn xor_address(&mut self, typ: AttrType, addr: SocketAddr) -> &mut Self {
        self.begin(typ, if addr.is_ipv4() { 8 } else { 20 });
        attr::encode_address(&mut self.buf, addr, Some(&self.tid));
        self
    }

    pub fn address(&mut self, typ: AttrType, addr: SocketAddr) -> &mut Self {
        self.begin(typ, if addr.is_ipv4() { 8 } else { 20 });
        attr::encode_address(&mut self.buf, addr, None);
        self
    }

    pub fn error_code(&mut self, code: u16, reason: &str) -> &mut Self {
        self.begin(AttrType::ERROR_CODE, 4 + reason.len());
        attr::encode_error_code(&mut self.buf, code, reason);
        self.pad();
        self
    }

    pub fn unknown_attributes(&mut self, types: &[u16]) -> &mut Self {
        self.begin(AttrType::UNKNOWN_ATTRIBUTES, types.len() * 2);
        for t in types {
            self.buf.extend_from_slice(&t.to_be_bytes());
        }
        self.pad();
        self
    }

    fn set_length(&mut self, len: usize) {
        let len = (len - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Appends MESSAGE-INTEGRITY(-SHA256) with `key` when given, then FINGERPRINT when asked.
    pub fn finish(self, integrity: Option<(IntegrityAlg, &LongTermKey)>, fingerprint: bool) -> Vec<u8> {
        self.finish_with(integrity.map(|(alg, key)| (alg, key.as_bytes())), fingerprint)
    }

    /// As [`MessageBuilder::finish`] with raw key bytes.
    pub fn finish_with(mut self, integrity: Option<(IntegrityAlg, &[u8])>, fingerprint: bool) -> Vec<u8> {
        if let Some((alg, key)) = integrity {
            let (typ, tag_len) = match alg {
                IntegrityAlg::Sha1 => (AttrType::MESSAGE_INTEGRITY, 20),
                IntegrityAlg::Sha256 => (AttrType::MESSAGE_INTEGRITY_SHA256, 32),
            };
            let covered = self.buf.len();
            let tag = integrity::hmac(alg, key, &self.buf, covered - HEADER_LEN + 4 + tag_len);
            self.begin(typ, tag_len);
            self.buf.extend_from_slice(&tag[..tag_len]);
        }
        if fingerprint {
            let before = self.buf.len();
            self.set_length(before + 8);
            let crc = integrity::fingerprint(&self.buf);
            self.begin(AttrType::FINGERPRINT, 4);
            self.buf.extend_from_slice(&crc.to_be_bytes());
        }
        let len = self.buf.len();
        self.set_length(len);
        self.buf
    }
}
