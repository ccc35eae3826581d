//! A catalogue of hostile tokens; each must be refused, and for the right reason.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use edgebeam::ids::{Kid, ProjectId};
use edgebeam::proto::token::claims::ClaimsError;
use edgebeam::proto::token::es256::SignatureError;
use edgebeam::proto::token::jws::{JwsError, Segment};
use edgebeam::proto::token::keyset::{generate_key_pair, KeyEntry, PublicKeyMaterial};
use edgebeam::proto::token::verify::verify_token;
use edgebeam::proto::token::{KeySet, TokenError};
use edgebeam::unixtime::UnixTime;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;

const NOW: i64 = 1_800_000_000;
/// The order n of the P-256 group.
const N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

struct Box {
    key: p256::ecdsa::SigningKey,
    other: p256::ecdsa::SigningKey,
    public: PublicKeyMaterial,
    kid: Kid,
    keys: Arc<KeySet>,
}

fn setup() -> Box {
    let (pem, public) = generate_key_pair([11; 32]).unwrap();
    let (other_pem, _) = generate_key_pair([12; 32]).unwrap();
    let kid = Kid::parse("kid_00112233445566aa").unwrap();
    let entry = KeyEntry {
        kid: kid.clone(),
        project: ProjectId::parse("prj_test").unwrap(),
        point: public.point.clone(),
        max_ttl_secs: 86_400,
    };
    Box {
        key: p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap(),
        other: p256::ecdsa::SigningKey::from_pkcs8_pem(&other_pem).unwrap(),
        public,
        kid,
        keys: Arc::new(KeySet::new([entry])),
    }
}

fn b64(v: &serde_json::Value) -> String {
    B64.encode(v.to_string())
}

fn es256(key: &p256::ecdsa::SigningKey, input: &str) -> Vec<u8> {
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    sig.to_bytes().to_vec()
}

fn sign_raw(key: &p256::ecdsa::SigningKey, header: &str, payload: &str) -> String {
    let input = format!("{header}.{payload}");
    let sig = es256(key, &input);
    format!("{input}.{}", B64.encode(sig))
}

fn hs256(secret: &[u8], input: &str) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
}

fn good_payload() -> serde_json::Value {
    serde_json::json!({"exp": NOW + 600, "iat": NOW, "gid": "room", "pid": "alice"})
}

fn with_signature(unsigned: &str, sig: &[u8]) -> String {
    format!("{unsigned}.{}", B64.encode(sig))
}

type Check = fn(&TokenError) -> bool;

#[test]
fn hostile_token_catalogue_is_refused_for_the_right_reasons() {
    let b = setup();
    let kid = b.kid.as_str();
    let h = |v: serde_json::Value| b64(&v);
    let es_header = h(serde_json::json!({"alg": "ES256", "kid": kid}));
    let good_p = b64(&good_payload());
    let good = sign_raw(&b.key, &es_header, &good_p);
    assert!(verify_token(&good, &b.keys, UnixTime(NOW), 30).is_ok(), "the baseline token is valid");
    // Its ECDSA twin (s replaced by n − s) is valid too: JWT libraries emit high S half the time.
    let twin = {
        let (input, sig) = good.rsplit_once('.').unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
        let flipped = p256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
        format!("{input}.{}", B64.encode(flipped.to_bytes()))
    };
    assert!(verify_token(&twin, &b.keys, UnixTime(NOW), 30).is_ok(), "the high-S twin is valid");
    let unsigned = format!("{es_header}.{good_p}");
    let claims = |p: serde_json::Value| sign_raw(&b.key, &es_header, &b64(&p));
    let alg = |name: &str| {
        let header = h(serde_json::json!({"alg": name, "kid": kid}));
        let input = format!("{header}.{good_p}");
        let sig = es256(&b.key, &input);
        with_signature(&input, &sig)
    };
    let hs = |secret: &[u8]| {
        let input = format!("{}.{good_p}", h(serde_json::json!({"alg": "HS256", "kid": kid})));
        let sig = hs256(secret, &input);
        with_signature(&input, &sig)
    };
    let n = hex(N);
    let zeros = [0u8; 32];
    let real_sig = es256(&b.key, &unsigned);
    let segments: Vec<&str> = good.split('.').collect();

    let cases: Vec<(&str, String, Check)> = vec![
        (
            "alg none, empty signature",
            format!("{}.{good_p}.", h(serde_json::json!({"alg": "none", "kid": kid}))),
            |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(a)) if a == "none"),
        ),
        ("alg None", alg("None"), |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(_)))),
        ("alg NONE", alg("NONE"), |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(_)))),
        (
            "HS256 keyed with the public key PEM",
            hs(b.public.spki_pem().as_bytes()),
            |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(a)) if a == "HS256"),
        ),
        (
            "HS256 keyed with the public point",
            hs(&b.public.point),
            |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(a)) if a == "HS256"),
        ),
        ("RS256", alg("RS256"), |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(a)) if a == "RS256")),
        ("ES384", alg("ES384"), |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(a)) if a == "ES384")),
        ("ES256K", alg("ES256K"), |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(a)) if a == "ES256K")),
        ("EdDSA", alg("EdDSA"), |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(_)))),
        ("es256 lower case", alg("es256"), |e| matches!(e, TokenError::Jws(JwsError::UnsupportedAlg(_)))),
        ("no alg", sign_raw(&b.key, &h(serde_json::json!({"kid": kid})), &good_p), |e| {
            matches!(e, TokenError::Jws(JwsError::HeaderNotJson(_)))
        }),
        ("alg is a number", sign_raw(&b.key, &h(serde_json::json!({"alg": 256, "kid": kid})), &good_p), |e| {
            matches!(e, TokenError::Jws(JwsError::HeaderNotJson(_)))
        }),
        ("no kid", sign_raw(&b.key, &h(serde_json::json!({"alg": "ES256"})), &good_p), |e| {
            matches!(e, TokenError::Jws(JwsError::MissingKid))
        }),
        (
            "unknown kid",
            sign_raw(&b.key, &h(serde_json::json!({"alg": "ES256", "kid": "kid_ffffffffffffffff"})), &good_p),
            |e| matches!(e, TokenError::UnknownKid(_)),
        ),
        (
            "kid that is not a kid",
            sign_raw(&b.key, &h(serde_json::json!({"alg": "ES256", "kid": "../../etc/passwd"})), &good_p),
            |e| matches!(e, TokenError::UnknownKid(_)),
        ),
        (
            "DER-encoded signature",
            {
                let sig: p256::ecdsa::Signature = b.key.sign(unsigned.as_bytes());
                with_signature(&unsigned, sig.to_der().as_bytes())
            },
            |e| matches!(e, TokenError::Signature(SignatureError::BadLength(n)) if *n != 64),
        ),
        ("signed by another key", sign_raw(&b.other, &es_header, &good_p), |e| {
            matches!(e, TokenError::Signature(SignatureError::Mismatch))
        }),
        (
            "payload changed after signing",
            {
                let mut p = good_payload();
                p["pid"] = "mallory".into();
                format!("{es_header}.{}.{}", b64(&p), segments[2])
            },
            |e| matches!(e, TokenError::Signature(SignatureError::Mismatch)),
        ),
        (
            "header changed after signing",
            {
                let header = h(serde_json::json!({"alg": "ES256", "kid": kid, "typ": "JWT"}));
                format!("{header}.{good_p}.{}", segments[2])
            },
            |e| matches!(e, TokenError::Signature(SignatureError::Mismatch)),
        ),
        ("r = s = 0 (psychic signature)", with_signature(&unsigned, &[0u8; 64]), |e| {
            matches!(e, TokenError::Signature(SignatureError::ScalarOutOfRange))
        }),
        ("r = 0 with a real s", with_signature(&unsigned, &[&zeros[..], &real_sig[32..]].concat()), |e| {
            matches!(e, TokenError::Signature(SignatureError::ScalarOutOfRange))
        }),
        ("s = 0 with a real r", with_signature(&unsigned, &[&real_sig[..32], &zeros[..]].concat()), |e| {
            matches!(e, TokenError::Signature(SignatureError::ScalarOutOfRange))
        }),
        ("r = s = n (the group order)", with_signature(&unsigned, &[&n[..], &n[..]].concat()), |e| {
            matches!(e, TokenError::Signature(SignatureError::ScalarOutOfRange))
        }),
        ("s = n with a real r", with_signature(&unsigned, &[&real_sig[..32], &n[..]].concat()), |e| {
            matches!(e, TokenError::Signature(SignatureError::ScalarOutOfRange))
        }),
        ("r, s all ones (above n)", with_signature(&unsigned, &[0xffu8; 64]), |e| {
            matches!(e, TokenError::Signature(SignatureError::ScalarOutOfRange))
        }),
        ("r = n with a real s", with_signature(&unsigned, &[&n[..], &real_sig[32..]].concat()), |e| {
            matches!(e, TokenError::Signature(SignatureError::ScalarOutOfRange))
        }),
        (
            "unused trailing bits set in the signature (same bytes, another text)",
            format!("{}.{}.{}", segments[0], segments[1], with_trailing_bit(segments[2])),
            |e| matches!(e, TokenError::Jws(JwsError::BadBase64(Segment::Signature))),
        ),
        ("signature truncated to 63 bytes", with_signature(&unsigned, &real_sig[..63]), |e| {
            matches!(e, TokenError::Signature(SignatureError::BadLength(63)))
        }),
        (
            "expired beyond the leeway",
            claims(serde_json::json!({"exp": NOW - 31, "gid": "room", "pid": "alice"})),
            |e| matches!(e, TokenError::Claims(ClaimsError::Expired(_))),
        ),
        (
            "not yet valid beyond the leeway",
            claims(serde_json::json!({"exp": NOW + 600, "nbf": NOW + 31, "gid": "room", "pid": "alice"})),
            |e| matches!(e, TokenError::Claims(ClaimsError::NotYetValid(_))),
        ),
        (
            "issued in the future",
            claims(serde_json::json!({"exp": NOW + 600, "iat": NOW + 120, "gid": "room", "pid": "alice"})),
            |e| matches!(e, TokenError::Claims(ClaimsError::IssuedInFuture(_))),
        ),
        (
            "lifetime over the max TTL",
            claims(serde_json::json!({"exp": NOW + 86_401, "iat": NOW, "gid": "room", "pid": "alice"})),
            |e| matches!(e, TokenError::Claims(ClaimsError::LifetimeTooLong { .. })),
        ),
        ("no exp", claims(serde_json::json!({"gid": "room", "pid": "alice"})), |e| {
            matches!(e, TokenError::Claims(ClaimsError::Missing("exp")))
        }),
        ("gid with a space", claims(serde_json::json!({"exp": NOW + 60, "gid": "my room", "pid": "alice"})), |e| {
            matches!(e, TokenError::Claims(ClaimsError::BadGroupId(_)))
        }),
        (
            "gid of 65 characters",
            claims(serde_json::json!({"exp": NOW + 60, "gid": "g".repeat(65), "pid": "alice"})),
            |e| matches!(e, TokenError::Claims(ClaimsError::BadGroupId(_))),
        ),
        ("pid with a slash", claims(serde_json::json!({"exp": NOW + 60, "gid": "room", "pid": "a/b"})), |e| {
            matches!(e, TokenError::Claims(ClaimsError::BadPeerId(_)))
        }),
        ("empty pid", claims(serde_json::json!({"exp": NOW + 60, "gid": "room", "pid": ""})), |e| {
            matches!(e, TokenError::Claims(ClaimsError::BadPeerId(_)))
        }),
        (
            "two stars in a pattern",
            claims(
                serde_json::json!({"exp": NOW + 60, "gid": "room", "pid": "alice", "ap": {"group_id": "*a*", "peer_id": "*"}}),
            ),
            |e| matches!(e, TokenError::Claims(ClaimsError::BadPattern { field: "group_id", .. })),
        ),
        (
            "policy with an extra key",
            claims(
                serde_json::json!({"exp": NOW + 60, "gid": "room", "pid": "alice", "ap": {"group_id": "*", "peer_id": "*", "project": "*"}}),
            ),
            |e| matches!(e, TokenError::Claims(ClaimsError::NotJson(_))),
        ),
        ("two segments", format!("{es_header}.{good_p}"), |e| matches!(e, TokenError::Jws(JwsError::SegmentCount(2)))),
        ("four segments", format!("{good}.{}", segments[2]), |e| {
            matches!(e, TokenError::Jws(JwsError::SegmentCount(4)))
        }),
        ("empty string", String::new(), |e| matches!(e, TokenError::Jws(JwsError::SegmentCount(1)))),
        ("padding in the header", format!("{}=.{}.{}", segments[0], segments[1], segments[2]), |e| {
            matches!(e, TokenError::Jws(JwsError::BadBase64(Segment::Header)))
        }),
        ("'+' in the signature", format!("{}.{}.+{}", segments[0], segments[1], &segments[2][1..]), |e| {
            matches!(e, TokenError::Jws(JwsError::BadBase64(Segment::Signature)))
        }),
        ("'/' in the payload", format!("{}./{}.{}", segments[0], &segments[1][1..], segments[2]), |e| {
            matches!(e, TokenError::Jws(JwsError::BadBase64(Segment::Payload)))
        }),
        ("header that is not JSON", sign_raw(&b.key, &B64.encode("alg=ES256"), &good_p), |e| {
            matches!(e, TokenError::Jws(JwsError::HeaderNotJson(_)))
        }),
        (
            "header that is a JSON array",
            sign_raw(&b.key, &B64.encode(format!("[\"ES256\", \"{kid}\"]")), &good_p),
            |e| matches!(e, TokenError::Jws(JwsError::HeaderNotJson(_))),
        ),
        (
            "duplicated alg in the header",
            sign_raw(&b.key, &B64.encode(format!("{{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"{kid}\"}}")), &good_p),
            |e| matches!(e, TokenError::Jws(JwsError::HeaderNotJson(_))),
        ),
        (
            "crit header",
            sign_raw(&b.key, &h(serde_json::json!({"alg": "ES256", "kid": kid, "crit": ["exp"]})), &good_p),
            |e| matches!(e, TokenError::Jws(JwsError::CriticalHeader)),
        ),
        (
            "embedded jwk of the attacker's own key",
            {
                let header = h(
                    serde_json::json!({"alg": "ES256", "kid": kid, "jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}),
                );
                sign_raw(&b.other, &header, &good_p)
            },
            |e| matches!(e, TokenError::Signature(SignatureError::Mismatch)),
        ),
        (
            "5 KiB token",
            {
                let mut p = good_payload();
                p["pad"] = "x".repeat(5 * 1024).into();
                claims(p)
            },
            |e| matches!(e, TokenError::Jws(JwsError::TooLarge(n)) if *n > 4096),
        ),
    ];

    assert!(cases.len() >= 30, "catalogue has {} entries", cases.len());
    let mut failures = Vec::new();
    for (name, token, check) in &cases {
        match verify_token(token, &b.keys, UnixTime(NOW), 30) {
            Ok(_) => failures.push(format!("{name}: ACCEPTED")),
            Err(e) if check(&e) => {}
            Err(e) => failures.push(format!("{name}: refused for the wrong reason: {e:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The deleted-key case: the same valid token once its key is gone.
    let empty = KeySet::default();
    assert!(matches!(verify_token(&good, &empty, UnixTime(NOW), 30), Err(TokenError::UnknownKid(_))));
}

/// Sets the lowest of the 4 unused bits in the last character of a 64-byte base64url segment.
fn with_trailing_bit(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_eq!(segment.len(), 86);
    let last = segment.as_bytes()[85];
    let value = ALPHABET.iter().position(|c| *c == last).unwrap();
    assert_eq!(value & 0b1111, 0, "a canonical encoder leaves them clear");
    format!("{}{}", &segment[..85], ALPHABET[value | 1] as char)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
