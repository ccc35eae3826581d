//! Compact JWS parsing (RFC 7515 §7.1): exactly three base64url segments without padding, a
//! JSON header whose `alg` is `ES256`. Nothing here trusts the payload; see `es256` and `claims`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use super::MAX_TOKEN_BYTES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("token is {0} bytes, over the {MAX_TOKEN_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("token must have exactly three dot-separated segments, found {0}")]
    SegmentCount(usize),
    #[error("{0} segment is not unpadded base64url")]
    BadBase64(Segment),
    #[error("header is not a JSON object: {0}")]
    HeaderNotJson(String),
    #[error("alg {0:?} is not allowed (only ES256)")]
    UnsupportedAlg(String),
    #[error("header has no kid")]
    MissingKid,
    #[error("header has crit extensions, which are not supported")]
    CriticalHeader,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Header,
    Payload,
    Signature,
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Segment::Header => "header",
            Segment::Payload => "payload",
            Segment::Signature => "signature",
        })
    }
}

/// The header fields edgebeam reads. serde refuses a duplicated field, so `{"alg":"ES256",
/// "alg":"none"}` fails as invalid JSON for our purposes rather than picking one of the two.
#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// A syntactically valid ES256 JWS whose signature is not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedJws<'a> {
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the signed bytes.
    pub signing_input: &'a str,
    pub kid: Option<String>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

fn decode(segment: &str, which: Segment) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| JwsError::BadBase64(which))
}

/// Parses `token`; requires `alg` ES256 but not `kid` (see [`UnverifiedJws::kid`]).
pub fn parse(token: &str) -> Result<UnverifiedJws<'_>, JwsError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwsError::TooLarge(token.len()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JwsError::SegmentCount(parts.len()));
    }
    let header_bytes = decode(parts[0], Segment::Header)?;
    let payload = decode(parts[1], Segment::Payload)?;
    let signature = decode(parts[2], Segment::Signature)?;
    if !starts_object(&header_bytes) {
        return Err(JwsError::HeaderNotJson("expected a JSON object".into()));
    }
    let header: Header = serde_json::from_slice(&header_bytes).map_err(|e| JwsError::HeaderNotJson(e.to_string()))?;
    if header.alg != "ES256" {
        return Err(JwsError::UnsupportedAlg(header.alg));
    }
    if header.crit.is_some() {
        return Err(JwsError::CriticalHeader);
    }
    let signing_input = &token[..parts[0].len() + 1 + parts[1].len()];
    Ok(UnverifiedJws { signing_input, kid: header.kid, payload, signature })
}

/// serde would also read a struct from a JSON array; JOSE headers and claims must be objects.
pub(super) fn starts_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Builds a compact JWS from a header, a payload and a signing function (for `token mint`).
pub fn assemble(
    header: &serde_json::Value,
    payload: &serde_json::Value,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload.to_string()));
    let signature = sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    token
}
