//! The server's side of the opening handshake (RFC 6455 §4.2.1–§4.2.2), without HTTP types: the
//! shell hands in the request's method and the header values that matter, and gets back the
//! `Sec-WebSocket-Accept` value or the condition that refuses the upgrade.
//!
//! Left out on purpose: subprotocols and extensions (none is ever negotiated, so no
//! permessage-deflate), and versions other than 13.

use base64::Engine;

/// The parts of an upgrade request the handshake judges. `connection` and `upgrade` hold every
/// value of those headers (each may be a comma-separated list).
#[derive(Debug, Clone, Default)]
pub struct UpgradeRequest<'a> {
    pub is_get: bool,
    pub connection: Vec<&'a str>,
    pub upgrade: Vec<&'a str>,
    pub version: Option<&'a [u8]>,
    pub key: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("a WebSocket upgrade must be a GET")]
    NotGet,
    #[error("this endpoint speaks WebSocket only (Upgrade: websocket)")]
    NotWebSocket,
    #[error("Sec-WebSocket-Version must be 13")]
    UnsupportedVersion,
    #[error("Sec-WebSocket-Key is missing")]
    MissingKey,
}

/// Validates an upgrade request; the `Sec-WebSocket-Accept` value, or why not.
pub fn accept_key(req: &UpgradeRequest<'_>) -> Result<String, HandshakeError> {
    if !req.is_get {
        return Err(HandshakeError::NotGet);
    }
    if !has_token(&req.connection, "upgrade") || !has_token(&req.upgrade, "websocket") {
        return Err(HandshakeError::NotWebSocket);
    }
    if req.version != Some(b"13") {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = req.key.ok_or(HandshakeError::MissingKey)?;
    Ok(derive_accept_key(key))
}

fn has_token(values: &[&str], token: &str) -> bool {
    values.iter().any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2): base64 of the SHA-1 of the key and the
/// protocol's GUID. SHA-1 is what the RFC fixes here; it proves nothing beyond "speaks WebSocket".
fn derive_accept_key(key: &[u8]) -> String {
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(ctx.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> UpgradeRequest<'static> {
        UpgradeRequest {
            is_get: true,
            connection: vec!["keep-alive, Upgrade"],
            upgrade: vec!["websocket"],
            version: Some(b"13"),
            key: Some(b"dGhlIHNhbXBsZSBub25jZQ=="),
        }
    }

    #[test]
    fn rfc6455_sample_handshake_is_accepted() {
        assert_eq!(accept_key(&valid()).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        // Header values are case-insensitive tokens, and may come in several header lines.
        let split = UpgradeRequest { connection: vec!["keep-alive", "UPGRADE"], upgrade: vec!["WebSocket"], ..valid() };
        assert!(accept_key(&split).is_ok());
    }

    #[test]
    fn each_missing_part_is_refused_by_name() {
        assert_eq!(accept_key(&UpgradeRequest { is_get: false, ..valid() }), Err(HandshakeError::NotGet));
        assert_eq!(accept_key(&UpgradeRequest { connection: vec![], ..valid() }), Err(HandshakeError::NotWebSocket));
        let h2c = UpgradeRequest { upgrade: vec!["h2c"], ..valid() };
        assert_eq!(accept_key(&h2c), Err(HandshakeError::NotWebSocket));
        let v8 = UpgradeRequest { version: Some(b"8"), ..valid() };
        assert_eq!(accept_key(&v8), Err(HandshakeError::UnsupportedVersion));
        assert_eq!(accept_key(&UpgradeRequest { version: None, ..valid() }), Err(HandshakeError::UnsupportedVersion));
        assert_eq!(accept_key(&UpgradeRequest { key: None, ..valid() }), Err(HandshakeError::MissingKey));
        assert_eq!(accept_key(&UpgradeRequest::default()), Err(HandshakeError::NotGet));
    }
}
