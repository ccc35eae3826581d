use super::*;
use crate::proto::token::keyset::{generate_key_pair, KeyEntry};
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;

const NOW: i64 = 1_800_000_000;

struct Fixture {
    signing: p256::ecdsa::SigningKey,
    kid: Kid,
    keys: Arc<KeySet>,
}

fn fixture(seed: u8) -> Fixture {
    let (pem, public) = generate_key_pair([seed; 32]).unwrap();
    let signing = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let kid = Kid::from_random([seed; 8]);
    let entry = KeyEntry {
        kid: kid.clone(),
        project: ProjectId::parse("prj_a").unwrap(),
        point: public.point,
        max_ttl_secs: 86_400,
    };
    Fixture { signing, kid, keys: Arc::new(KeySet::new([entry])) }
}

fn mint(f: &Fixture, payload: serde_json::Value) -> String {
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": f.kid.as_str()});
    jws::assemble(&header, &payload, |input| {
        let sig: p256::ecdsa::Signature = f.signing.sign(input);
        sig.to_bytes().to_vec()
    })
}

#[test]
fn a_fresh_token_verifies_and_names_its_project() {
    let f = fixture(1);
    let token = mint(&f, serde_json::json!({"exp": NOW + 60, "gid": "room", "pid": "alice", "custom": [1, 2]}));
    let v = verify_token(&token, &f.keys, UnixTime(NOW), 30).unwrap();
    assert_eq!(v.project.as_str(), "prj_a");
    assert_eq!(v.kid, f.kid);
    assert_eq!(v.claims.pid.as_str(), "alice");
    assert_eq!(v.payload_json()["custom"], serde_json::json!([1, 2]));
}

#[test]
fn cache_hits_skip_the_signature_but_not_the_clock() {
    let f = fixture(2);
    let mut verifier = Verifier::new(f.keys.clone(), 30, 100);
    let token = mint(&f, serde_json::json!({"exp": NOW + 60, "gid": "g", "pid": "p"}));
    let first = verifier.verify(&token, UnixTime(NOW)).unwrap();
    assert_eq!(verifier.cached(), 1);
    let second = verifier.verify(&token, UnixTime(NOW + 89)).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "served from the cache");
    let e = verifier.verify(&token, UnixTime(NOW + 90)).unwrap_err();
    assert!(matches!(e, TokenError::Claims(ClaimsError::Expired(_))), "{e}");
    assert_eq!(verifier.cached(), 0);
}

#[test]
fn deleting_a_key_invalidates_cached_tokens_at_once() {
    let f = fixture(3);
    let mut verifier = Verifier::new(f.keys.clone(), 30, 100);
    let token = mint(&f, serde_json::json!({"exp": NOW + 60, "gid": "g", "pid": "p"}));
    verifier.verify(&token, UnixTime(NOW)).unwrap();
    let removed = verifier.replace_keys(Arc::new(KeySet::default()));
    assert_eq!(removed, vec![f.kid.clone()]);
    assert_eq!(verifier.cached(), 0);
    assert!(matches!(verifier.verify(&token, UnixTime(NOW)), Err(TokenError::UnknownKid(_))));
}

#[test]
fn cache_is_bounded_oldest_first() {
    let f = fixture(4);
    let mut verifier = Verifier::new(f.keys.clone(), 30, 3);
    let tokens: Vec<String> =
        (0..5).map(|i| mint(&f, serde_json::json!({"exp": NOW + 60, "gid": "g", "pid": format!("p{i}")}))).collect();
    for t in &tokens {
        verifier.verify(t, UnixTime(NOW)).unwrap();
    }
    assert_eq!(verifier.cached(), 3);
    let first = verifier.verify(&tokens[0], UnixTime(NOW)).unwrap();
    let again = verifier.verify(&tokens[0], UnixTime(NOW)).unwrap();
    assert!(Arc::ptr_eq(&first, &again));
}

#[test]
fn a_changed_max_ttl_drops_cached_tokens_of_that_project() {
    let f = fixture(5);
    let mut verifier = Verifier::new(f.keys.clone(), 30, 100);
    let token = mint(&f, serde_json::json!({"exp": NOW + 3600, "iat": NOW, "gid": "g", "pid": "p"}));
    verifier.verify(&token, UnixTime(NOW)).unwrap();
    let mut entry = f.keys.get(f.kid.as_str()).unwrap().clone();
    entry.max_ttl_secs = 600;
    assert!(verifier.replace_keys(Arc::new(KeySet::new([entry]))).is_empty());
    assert!(matches!(
        verifier.verify(&token, UnixTime(NOW)),
        Err(TokenError::Claims(ClaimsError::LifetimeTooLong { .. }))
    ));
}

/// The same token with s replaced by n − s: a second valid signature over the same input.
fn twin(token: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
    let flipped = p256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(flipped.to_bytes()))
}

#[test]
fn both_ecdsa_twins_of_a_token_verify_and_share_one_cache_entry() {
    let f = fixture(6);
    let mut verifier = Verifier::new(f.keys.clone(), 30, 100);
    let token = mint(&f, serde_json::json!({"exp": NOW + 60, "gid": "g", "pid": "p"}));
    let other = twin(&token);
    assert_ne!(token, other);
    assert!(verify_token(&other, &f.keys, UnixTime(NOW), 30).is_ok(), "high-S and low-S both verify");
    let first = verifier.verify(&token, UnixTime(NOW)).unwrap();
    let second = verifier.verify(&other, UnixTime(NOW)).unwrap();
    assert_eq!(verifier.cached(), 1, "the twins are one token to the cache");
    assert!(Arc::ptr_eq(&first, &second), "the twin is served from the first one's entry");
    verifier.replace_keys(Arc::new(KeySet::default()));
    assert!(matches!(verifier.verify(&other, UnixTime(NOW)), Err(TokenError::UnknownKid(_))));
}
