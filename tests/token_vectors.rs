//! Standard vectors for the token layers.

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

use edgebeam::proto::token::{es256, jws, keyset};

#[test]
fn rfc7515_a3_es256_example_verifies() {
    let data: serde_json::Value = serde_json::from_str(include_str!("data/rfc7515_a3.json")).unwrap();
    let key = keyset::parse_public_key(&data["jwk"].to_string()).unwrap();
    let token = data["jws"].as_str().unwrap();
    let parsed = jws::parse(token).unwrap();
    assert_eq!(parsed.kid, None, "the RFC example has no kid; the full verifier would require one");
    es256::verify(&key.point, parsed.signing_input.as_bytes(), &parsed.signature).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&parsed.payload).unwrap();
    assert_eq!(payload["iss"], "joe");
    assert_eq!(payload["exp"], 1300819380);

    // One flipped bit anywhere in the signed input or the signature breaks it.
    let mut tampered = parsed.signature.clone();
    tampered[10] ^= 1;
    assert!(es256::verify(&key.point, parsed.signing_input.as_bytes(), &tampered).is_err());
    let mut input = parsed.signing_input.as_bytes().to_vec();
    input[5] ^= 1;
    assert!(es256::verify(&key.point, &input, &parsed.signature).is_err());
}
