use super::*;

fn material(seed: u8) -> (String, PublicKeyMaterial) {
    generate_key_pair([seed; 32]).unwrap()
}

#[test]
fn generated_pairs_round_trip_through_pem_and_der() {
    let (private_pem, public) = material(7);
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(public.point.len(), 65);
    assert_eq!(public.point[0], 4);
    let again = parse_public_key(&public.spki_pem()).unwrap();
    assert_eq!(again, public);
    assert_eq!(PublicKeyMaterial::from_spki_der(&public.spki_der).unwrap(), public);
}

#[test]
fn jwk_public_keys_are_accepted_and_checked() {
    // RFC 7515 A.3's key, public part.
    let jwk = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    let m = parse_public_key(jwk).unwrap();
    assert_eq!(m.point.len(), 65);
    // y changed by one bit: off the curve.
    let off = jwk.replace("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1");
    assert!(matches!(parse_public_key(&off), Err(KeyError::BadJwk(_))));
    let wrong_crv = jwk.replace("P-256", "P-384");
    assert!(matches!(parse_public_key(&wrong_crv), Err(KeyError::BadJwk(_))));
    let rsa = r#"{"kty":"RSA","n":"abc","e":"AQAB"}"#;
    assert!(matches!(parse_public_key(rsa), Err(KeyError::BadJwk(_))));
    let with_d = jwk.replace("}", r#","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#);
    assert_eq!(parse_public_key(&with_d), Err(KeyError::PrivateKeyGiven));
}

#[test]
fn other_inputs_are_refused_with_a_reason() {
    let (private_pem, _) = material(9);
    assert_eq!(parse_public_key(&private_pem), Err(KeyError::PrivateKeyGiven));
    assert_eq!(parse_public_key("hello"), Err(KeyError::UnknownFormat));
    assert!(matches!(
        parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
        Err(KeyError::BadPem(_))
    ));
}

#[test]
fn removed_since_lists_deleted_kids() {
    let entry = |kid: &str| KeyEntry {
        kid: Kid::parse(kid).unwrap(),
        project: ProjectId::parse("p").unwrap(),
        point: vec![4; 65],
        max_ttl_secs: 60,
    };
    let old = KeySet::new([entry("kid_0000000000000001"), entry("kid_0000000000000002")]);
    let new = KeySet::new([entry("kid_0000000000000002"), entry("kid_0000000000000003")]);
    assert_eq!(new.removed_since(&old), vec![Kid::parse("kid_0000000000000001").unwrap()]);
    assert!(new.get("kid_0000000000000003").is_some());
    assert!(new.get("kid_0000000000000001").is_none());
}
