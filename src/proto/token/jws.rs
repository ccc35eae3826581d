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

/// The signing input and the decoded signature, without reading the header or the payload: the
/// cache's key, taken before it knows whether the rest needs reading. A cache hit means the
/// same signing input already passed [`parse`]. A signature of other than 64 bytes comes back
/// as its length alone (the caller refuses it by that).
pub fn split_signed(token: &str) -> Result<(&str, Result<[u8; 64], usize>), JwsError> {
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return Err(JwsError::SegmentCount(1));
    };
    let dots = signing_input.bytes().filter(|b| *b == b'.').count();
    if dots != 1 {
        return Err(JwsError::SegmentCount(dots + 2));
    }
    // On the stack: this runs on every cache hit.
    let mut out = [0u8; 64];
    match URL_SAFE_NO_PAD.decode_slice(signature, &mut out) {
        Ok(64) => Ok((signing_input, Ok(out))),
        Ok(short) => Ok((signing_input, Err(short))),
        Err(_) => decode(signature, Segment::Signature).map(|long| (signing_input, Err(long.len()))),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> String {
        let header = serde_json::json!({"alg": "ES256", "kid": "kid_0011223344556677"});
        // 64 bytes of signature are 86 base64url characters: the last one carries 4 unused bits.
        assemble(&header, &serde_json::json!({"exp": 1}), |_| vec![0x5a; 64])
    }

    /// Sets unused low bits in a segment's last character: the same bytes, another text.
    fn with_trailing_bits(segment: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = segment.as_bytes()[segment.len() - 1];
        let value = ALPHABET.iter().position(|c| *c == last).unwrap();
        let unused = match segment.len() % 4 {
            2 => 0b1111,
            3 => 0b11,
            _ => panic!("segment {segment:?} has no unused bits"),
        };
        assert_eq!(value & unused, 0, "the encoder left the unused bits clear");
        format!("{}{}", &segment[..segment.len() - 1], ALPHABET[value | 1] as char)
    }

    #[test]
    fn only_canonical_base64url_is_accepted_so_one_token_has_one_text() {
        let t = token();
        assert!(parse(&t).is_ok());
        let parts: Vec<&str> = t.split('.').collect();
        for (i, which) in [(0, Segment::Header), (1, Segment::Payload), (2, Segment::Signature)] {
            let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
            if p[i].len() % 4 == 0 {
                // No unused bits here: a padded or one-longer form is the only other spelling.
                p[i].push_str("==");
            } else {
                p[i] = with_trailing_bits(&p[i]);
            }
            assert_eq!(parse(&p.join(".")), Err(JwsError::BadBase64(which)), "{which}: {}", p[i]);
            let mut padded: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
            padded[i].push('=');
            assert_eq!(parse(&padded.join(".")), Err(JwsError::BadBase64(which)), "{which} with '='");
        }
        // The signature segment always has unused bits, so this case is always exercised.
        assert_eq!(parts[2].len() % 4, 2);
    }

    #[test]
    fn split_signed_agrees_with_parse_and_counts_segments_the_same_way() {
        let t = token();
        let parsed = parse(&t).unwrap();
        let (input, signature) = split_signed(&t).unwrap();
        assert_eq!(input, parsed.signing_input);
        assert_eq!(signature.map(|s| s.to_vec()), Ok(parsed.signature));
        for bad in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e"] {
            let want = parse(bad).unwrap_err();
            assert!(matches!(want, JwsError::SegmentCount(_)), "{bad}");
            assert_eq!(split_signed(bad).unwrap_err(), want, "{bad:?}");
        }
        let der = assemble(&serde_json::json!({"alg": "ES256"}), &serde_json::json!({}), |_| vec![0x30; 71]);
        assert_eq!(split_signed(&der).unwrap().1, Err(71), "a DER signature is reported by its length");
        let short = assemble(&serde_json::json!({"alg": "ES256"}), &serde_json::json!({}), |_| vec![1; 63]);
        assert_eq!(split_signed(&short).unwrap().1, Err(63));
        assert_eq!(split_signed("a.b.c=").unwrap_err(), JwsError::BadBase64(Segment::Signature));
    }
}
