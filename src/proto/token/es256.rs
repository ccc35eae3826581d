//! The ES256 signature check (RFC 7518 §3.4) with ring: the signature is the 64-byte JOSE form
//! `r || s`; anything else (a DER encoding, say) is refused before the curve math. ring checks
//! that `r` and `s` are in [1, n-1], which rules out the "psychic signature" class (r = s = 0).

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature is {0} bytes; ES256 needs the 64-byte r||s form (DER is not accepted)")]
    BadLength(usize),
    #[error("signature does not verify with the key")]
    Mismatch,
}

/// Verifies `signature` over `message` with an uncompressed SEC1 P-256 point (65 bytes).
pub fn verify(public_point: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    if signature.len() != 64 {
        return Err(SignatureError::BadLength(signature.len()));
    }
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_point)
        .verify(message, signature)
        .map_err(|_| SignatureError::Mismatch)
}
