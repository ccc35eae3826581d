//! The ES256 signature check (RFC 7518 §3.4) with ring: the signature is the 64-byte JOSE form
//! `r || s`; anything else (a DER encoding, say) is refused before the curve math.
//!
//! `r` and `s` must be in [1, n−1] (FIPS 186-4 §6.4.2). ring checks that too, but the "psychic
//! signature" class (CVE-2022-21449: r = s = 0 accepted by a verifier that skipped it) is too
//! costly to leave to a dependency's silence, so [`verify`] checks it first and names it.
//!
//! ECDSA is malleable: if (r, s) verifies, so does (r, n−s), and JWT libraries emit either
//! (PyJWT and Node about half the time the high one). Both are accepted; [`canonical`] gives the
//! form both twins share, for whatever must remember a token.

use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature is {0} bytes; ES256 needs the 64-byte r||s form (DER is not accepted)")]
    BadLength(usize),
    #[error("signature r or s is 0 or not below the group order n")]
    ScalarOutOfRange,
    #[error("signature does not verify with the key")]
    Mismatch,
}

/// The order n of the P-256 group (SEC 2 §2.4.2), big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// (n − 1) / 2: an `s` above it is "high" (its twin n − s is the low one).
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0x73, 0x7d,
    0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// A 32-byte big-endian scalar in [1, n−1]. Equal-length big-endian byte strings compare as
/// the numbers they spell.
fn in_range(x: &[u8]) -> bool {
    x.iter().any(|b| *b != 0) && x < &N[..]
}

/// The signature's length and range, the checks that need no key.
fn check_form(signature: &[u8]) -> Result<(), SignatureError> {
    if signature.len() != 64 {
        return Err(SignatureError::BadLength(signature.len()));
    }
    if !in_range(&signature[..32]) || !in_range(&signature[32..]) {
        return Err(SignatureError::ScalarOutOfRange);
    }
    Ok(())
}

/// Verifies `signature` over `message` with an uncompressed SEC1 P-256 point (65 bytes).
pub fn verify(public_point: &[u8], message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    check_form(signature)?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_point)
        .verify(message, signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// `r || min(s, n−s)`: the same bytes for both twins of a signature, as p256's `normalize_s`
/// gives (a test holds them equal). Refuses what [`verify`] would refuse without a key, so a
/// malformed signature never reaches a cache. Done on bytes: through p256's scalars a cached
/// verify took 1.0 µs instead of 0.7 (best of 5, benches/tokens.rs). Signatures are public, so
/// nothing here needs constant time.
pub fn canonical(signature: &[u8]) -> Result<[u8; 64], SignatureError> {
    check_form(signature)?;
    let mut out = [0u8; 64];
    out.copy_from_slice(signature);
    if out[32..] > HALF_N[..] {
        // n − s, big-endian, with borrow; s < n, so no borrow leaves the top byte.
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(N[i]) - i16::from(signature[32 + i]) - borrow;
            borrow = i16::from(d < 0);
            out[32 + i] = d.rem_euclid(256) as u8;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::token::keyset::generate_key_pair;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::DecodePrivateKey;

    fn signed(message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (pem, public) = generate_key_pair([7; 32]).unwrap();
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
        let sig: p256::ecdsa::Signature = key.sign(message);
        (public.point, sig.to_bytes().to_vec())
    }

    #[test]
    fn r_or_s_of_zero_or_at_least_n_is_refused_by_name_before_the_curve_math() {
        let (point, real) = signed(b"input");
        let (r, s) = (&real[..32], &real[32..]);
        let zero = [0u8; 32];
        let mut n_plus_1 = N;
        n_plus_1[31] += 1;
        let cases: [(&str, Vec<u8>); 9] = [
            ("r = 0", [&zero[..], s].concat()),
            ("s = 0", [r, &zero[..]].concat()),
            ("r = n", [&N[..], s].concat()),
            ("s = n", [r, &N[..]].concat()),
            ("r = n + 1", [&n_plus_1[..], s].concat()),
            ("s = n + 1", [r, &n_plus_1[..]].concat()),
            ("all zero (psychic signature)", vec![0; 64]),
            ("all 0xFF", vec![0xff; 64]),
            ("r = s = n", [&N[..], &N[..]].concat()),
        ];
        for (name, sig) in cases {
            assert_eq!(verify(&point, b"input", &sig), Err(SignatureError::ScalarOutOfRange), "{name}");
        }
        assert_eq!(verify(&point, b"input", &real), Ok(()));
    }

    #[test]
    fn both_ecdsa_twins_verify_and_share_one_canonical_form() {
        let (point, real) = signed(b"input");
        let parsed = p256::ecdsa::Signature::from_slice(&real).unwrap();
        let twin = p256::ecdsa::Signature::from_scalars(parsed.r(), -*parsed.s()).unwrap().to_bytes().to_vec();
        assert_ne!(real, twin);
        assert_eq!(verify(&point, b"input", &real), Ok(()));
        assert_eq!(verify(&point, b"input", &twin), Ok(()), "high-S and low-S are both accepted");
        let (a, b) = (canonical(&real).unwrap(), canonical(&twin).unwrap());
        assert_eq!(a, b);
        assert_eq!(&a[..32], &real[..32], "r is kept as is");
        assert_eq!(a[..], parsed.normalize_s().unwrap_or(parsed).to_bytes()[..], "r and the low s");
        assert_eq!(canonical(&real[..63]), Err(SignatureError::BadLength(63)));
        assert_eq!(canonical(&[0; 64]), Err(SignatureError::ScalarOutOfRange));
    }

    proptest::proptest! {
        #[test]
        fn canonical_agrees_with_p256_normalize_s(r in proptest::array::uniform32(0u8..), s in proptest::array::uniform32(0u8..)) {
            let sig = [r, s].concat();
            match p256::ecdsa::Signature::from_slice(&sig) {
                Ok(parsed) => {
                    let low = parsed.normalize_s().unwrap_or(parsed).to_bytes();
                    proptest::prop_assert_eq!(canonical(&sig).map(|c| c.to_vec()), Ok(low.to_vec()));
                }
                Err(_) => proptest::prop_assert_eq!(canonical(&sig), Err(SignatureError::ScalarOutOfRange)),
            }
        }
    }

    #[test]
    fn canonical_at_the_edges_of_the_range() {
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut n_minus_1 = N;
        n_minus_1[31] -= 1;
        let mut half_plus_1 = HALF_N;
        half_plus_1[31] += 1;
        let low = |s: [u8; 32]| canonical(&[one, s].concat()).unwrap()[32..].to_vec();
        assert_eq!(low(one), one.to_vec());
        assert_eq!(low(n_minus_1), one.to_vec(), "n − 1 is the twin of 1");
        assert_eq!(low(HALF_N), HALF_N.to_vec(), "(n − 1) / 2 is low");
        assert_eq!(low(half_plus_1), HALF_N.to_vec(), "(n + 1) / 2 is the twin of (n − 1) / 2");
    }
}
