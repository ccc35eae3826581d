//! Making tokens, for `edgebeam token mint`, the tests and the benchmarks. Apps mint with any
//! JWT library; this is the same format.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;

use super::jws;
use super::pattern::AllowPolicy;
use crate::ids::{GroupId, Kid, PeerId};
use crate::unixtime::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("not a P-256 private key (expected PKCS#8 \"BEGIN PRIVATE KEY\" or SEC1 \"BEGIN EC PRIVATE KEY\" PEM)")]
    BadPrivateKey,
    #[error("ttl must be at least 1 second")]
    BadTtl,
}

/// Reads a P-256 private key from PKCS#8 or SEC1 PEM.
pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, MintError> {
    if let Ok(k) = SigningKey::from_pkcs8_pem(pem.trim()) {
        return Ok(k);
    }
    p256::SecretKey::from_sec1_pem(pem.trim()).map(SigningKey::from).map_err(|_| MintError::BadPrivateKey)
}

pub struct MintRequest<'a> {
    pub kid: &'a Kid,
    pub gid: &'a GroupId,
    pub pid: &'a PeerId,
    pub policy: Option<&'a AllowPolicy>,
    pub iat: UnixTime,
    pub ttl_secs: i64,
}

pub fn mint(key: &SigningKey, req: &MintRequest<'_>) -> Result<String, MintError> {
    if req.ttl_secs < 1 {
        return Err(MintError::BadTtl);
    }
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": req.kid.as_str()});
    let mut payload = serde_json::json!({
        "gid": req.gid.as_str(),
        "pid": req.pid.as_str(),
        "iat": req.iat.secs(),
        "exp": req.iat.secs().saturating_add(req.ttl_secs),
    });
    if let Some(ap) = req.policy {
        payload["ap"] = serde_json::json!({"group_id": ap.group_id.as_str(), "peer_id": ap.peer_id.as_str()});
    }
    Ok(jws::assemble(&header, &payload, |input| {
        let sig: Signature = key.sign(input);
        sig.to_bytes().to_vec()
    }))
}
