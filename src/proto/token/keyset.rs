//! A snapshot of every project's public keys, as the verifier needs them: the kid, the owning
//! project, the project's max token lifetime and the uncompressed P-256 point. Also the parsing
//! of public keys that operators register (SPKI PEM or a JWK) and the making of new key pairs.

use std::collections::HashMap;

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::ids::{Kid, ProjectId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub kid: Kid,
    pub project: ProjectId,
    /// Uncompressed SEC1 point, 65 bytes.
    pub point: Vec<u8>,
    pub max_ttl_secs: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    entries: HashMap<String, KeyEntry>,
}

impl KeySet {
    pub fn new(entries: impl IntoIterator<Item = KeyEntry>) -> KeySet {
        KeySet { entries: entries.into_iter().map(|e| (e.kid.as_str().to_owned(), e)).collect() }
    }

    pub fn get(&self, kid: &str) -> Option<&KeyEntry> {
        self.entries.get(kid)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// This set plus `entry` (a key learned of alone, by its kid).
    pub fn with(&self, entry: KeyEntry) -> KeySet {
        let mut entries = self.entries.clone();
        entries.insert(entry.kid.as_str().to_owned(), entry);
        KeySet { entries }
    }

    /// Kids present in `older` but not here: the keys that were deleted.
    pub fn removed_since(&self, older: &KeySet) -> Vec<Kid> {
        let mut gone: Vec<Kid> = older
            .entries
            .values()
            .filter(|e| !self.entries.contains_key(e.kid.as_str()))
            .map(|e| e.kid.clone())
            .collect();
        gone.sort();
        gone
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "not a P-256 public key: expected an SPKI PEM (-----BEGIN PUBLIC KEY-----) or a JWK with kty EC and crv P-256"
    )]
    UnknownFormat,
    #[error("JWK is not a P-256 public key: {0}")]
    BadJwk(String),
    #[error("PEM is not a P-256 public key: {0}")]
    BadPem(String),
    #[error("a private key was given; register only the public key")]
    PrivateKeyGiven,
    #[error("stored key for {0} is unreadable")]
    CorruptStoredKey(String),
}

/// A public key in both forms edgebeam uses: SPKI DER (stored) and the SEC1 point (verified with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyMaterial {
    pub spki_der: Vec<u8>,
    pub point: Vec<u8>,
}

impl PublicKeyMaterial {
    fn from_key(key: &p256::PublicKey) -> PublicKeyMaterial {
        let spki_der = key.to_public_key_der().expect("a valid P-256 point always encodes as SPKI").as_bytes().to_vec();
        PublicKeyMaterial { spki_der, point: key.to_encoded_point(false).as_bytes().to_vec() }
    }

    /// Reads a stored SPKI DER key.
    pub fn from_spki_der(der: &[u8]) -> Option<PublicKeyMaterial> {
        p256::PublicKey::from_public_key_der(der).ok().map(|k| PublicKeyMaterial::from_key(&k))
    }

    pub fn spki_pem(&self) -> String {
        let key = p256::PublicKey::from_public_key_der(&self.spki_der).expect("material was built from a valid key");
        key.to_public_key_pem(LineEnding::LF).expect("a valid key encodes as PEM")
    }
}

/// Parses an SPKI PEM or a JWK (`kty` EC, `crv` P-256, `x`, `y`); a point off the curve is refused.
pub fn parse_public_key(text: &str) -> Result<PublicKeyMaterial, KeyError> {
    let trimmed = text.trim();
    if trimmed.contains("PRIVATE KEY") || (trimmed.starts_with('{') && trimmed.contains("\"d\"")) {
        return Err(KeyError::PrivateKeyGiven);
    }
    if trimmed.starts_with('{') {
        let jwk: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| KeyError::BadJwk(e.to_string()))?;
        if jwk.get("kty").and_then(|v| v.as_str()) != Some("EC") {
            return Err(KeyError::BadJwk("kty must be EC".into()));
        }
        if jwk.get("crv").and_then(|v| v.as_str()) != Some("P-256") {
            return Err(KeyError::BadJwk("crv must be P-256".into()));
        }
        let key = p256::PublicKey::from_jwk_str(trimmed)
            .map_err(|_| KeyError::BadJwk("x and y do not name a point on P-256".into()))?;
        return Ok(PublicKeyMaterial::from_key(&key));
    }
    if trimmed.starts_with("-----BEGIN PUBLIC KEY-----") {
        let key = p256::PublicKey::from_public_key_pem(trimmed).map_err(|e| KeyError::BadPem(e.to_string()))?;
        return Ok(PublicKeyMaterial::from_key(&key));
    }
    Err(KeyError::UnknownFormat)
}

/// A new P-256 key pair from 32 injected random bytes: the private key as PKCS#8 PEM (for the
/// app, never stored) and the public material. `None` if the bytes are not a valid scalar
/// (probability about 2^-32); draw again.
pub fn generate_key_pair(random: [u8; 32]) -> Option<(String, PublicKeyMaterial)> {
    let secret = p256::SecretKey::from_slice(&random).ok()?;
    let pem = secret.to_pkcs8_pem(LineEnding::LF).ok()?.to_string();
    Some((pem, PublicKeyMaterial::from_key(&secret.public_key())))
}

#[cfg(test)]
mod tests;
