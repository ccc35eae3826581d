use super::*;

const NOW: i64 = 1_800_000_000;
const RULES: TimeRules = TimeRules { leeway_secs: 30, max_ttl_secs: 86_400 };

fn at(payload: serde_json::Value, now: i64) -> Result<Claims, ClaimsError> {
    check(payload.to_string().as_bytes(), UnixTime(now), RULES)
}

fn ok(payload: serde_json::Value) -> Result<Claims, ClaimsError> {
    at(payload, NOW)
}

#[test]
fn minimal_claims_get_the_default_policy() {
    let c = ok(serde_json::json!({"exp": NOW + 60, "gid": "room", "pid": "alice"})).unwrap();
    assert_eq!(c.gid.as_str(), "room");
    assert_eq!(c.policy.group_id.as_str(), "room");
    assert_eq!(c.policy.peer_id.as_str(), "*");
    assert_eq!(c.exp, UnixTime(NOW + 60));
}

#[test]
fn expiry_is_checked_to_the_second_with_leeway() {
    let p = serde_json::json!({"exp": NOW, "gid": "g", "pid": "p"});
    assert!(at(p.clone(), NOW + 29).is_ok());
    assert_eq!(at(p.clone(), NOW + 30), Err(ClaimsError::Expired(NOW)));
    assert_eq!(at(p, NOW + 31), Err(ClaimsError::Expired(NOW)));
}

#[test]
fn not_before_and_issued_at_get_leeway() {
    let nbf = serde_json::json!({"exp": NOW + 600, "nbf": NOW + 30, "gid": "g", "pid": "p"});
    assert!(at(nbf.clone(), NOW).is_ok());
    assert_eq!(at(nbf, NOW - 1), Err(ClaimsError::NotYetValid(NOW + 30)));
    let iat = serde_json::json!({"exp": NOW + 600, "iat": NOW + 30, "gid": "g", "pid": "p"});
    assert!(at(iat.clone(), NOW).is_ok());
    assert_eq!(at(iat, NOW - 1), Err(ClaimsError::IssuedInFuture(NOW + 30)));
}

#[test]
fn lifetime_is_measured_from_iat_or_now_without_leeway() {
    let exact = serde_json::json!({"exp": NOW + 86_400, "iat": NOW, "gid": "g", "pid": "p"});
    assert!(ok(exact).is_ok());
    let over = serde_json::json!({"exp": NOW + 86_401, "iat": NOW, "gid": "g", "pid": "p"});
    assert_eq!(ok(over), Err(ClaimsError::LifetimeTooLong { lifetime: 86_401, max: 86_400 }));
    let no_iat = serde_json::json!({"exp": NOW + 86_401, "gid": "g", "pid": "p"});
    assert!(matches!(ok(no_iat), Err(ClaimsError::LifetimeTooLong { .. })));
    // An old iat makes a long lifetime even if little of it remains.
    let old = serde_json::json!({"exp": NOW + 10, "iat": NOW - 86_400, "gid": "g", "pid": "p"});
    assert!(matches!(ok(old), Err(ClaimsError::LifetimeTooLong { .. })));
}

#[test]
fn fractional_times_are_floored_and_junk_times_refused() {
    let c = ok(serde_json::json!({"exp": (NOW + 60) as f64 + 0.9, "gid": "g", "pid": "p"})).unwrap();
    assert_eq!(c.exp, UnixTime(NOW + 60));
    assert!(matches!(ok(serde_json::json!({"exp": "soon", "gid": "g", "pid": "p"})), Err(ClaimsError::NotJson(_))));
    assert!(matches!(ok(serde_json::json!({"exp": 1e300, "gid": "g", "pid": "p"})), Err(ClaimsError::BadTime("exp"))));
}

#[test]
fn required_claims_and_id_syntax() {
    assert_eq!(ok(serde_json::json!({"gid": "g", "pid": "p"})), Err(ClaimsError::Missing("exp")));
    assert_eq!(ok(serde_json::json!({"exp": NOW + 1, "pid": "p"})), Err(ClaimsError::Missing("gid")));
    assert_eq!(ok(serde_json::json!({"exp": NOW + 1, "gid": "g"})), Err(ClaimsError::Missing("pid")));
    assert!(matches!(
        ok(serde_json::json!({"exp": NOW + 1, "gid": "a b", "pid": "p"})),
        Err(ClaimsError::BadGroupId(_))
    ));
    assert!(matches!(
        ok(serde_json::json!({"exp": NOW + 1, "gid": "g", "pid": "x".repeat(65)})),
        Err(ClaimsError::BadPeerId(_))
    ));
    assert!(matches!(ok(serde_json::json!({"exp": NOW + 1, "gid": "", "pid": "p"})), Err(ClaimsError::BadGroupId(_))));
}

#[test]
fn allow_policy_needs_exactly_two_valid_patterns() {
    let base = |ap: serde_json::Value| serde_json::json!({"exp": NOW + 1, "gid": "g", "pid": "p", "ap": ap});
    let c = ok(base(serde_json::json!({"group_id": "room-*", "peer_id": "*-bot"}))).unwrap();
    assert_eq!(c.policy.group_id.as_str(), "room-*");
    assert!(matches!(
        ok(base(serde_json::json!({"group_id": "**", "peer_id": "*"}))),
        Err(ClaimsError::BadPattern { field: "group_id", .. })
    ));
    assert!(matches!(ok(base(serde_json::json!({"group_id": "*"}))), Err(ClaimsError::NotJson(_))));
    assert!(matches!(
        ok(base(serde_json::json!({"group_id": "*", "peer_id": "*", "x": 1}))),
        Err(ClaimsError::NotJson(_))
    ));
    assert!(matches!(ok(base(serde_json::json!("*:*"))), Err(ClaimsError::NotJson(_))));
}

#[test]
fn payload_must_be_one_object_without_duplicates() {
    for bad in [
        "[]".to_owned(),
        "null".to_owned(),
        format!("[{}, \"g\", \"p\"]", NOW + 60),
        format!("{{\"exp\": {}, \"gid\": \"g\", \"gid\": \"h\", \"pid\": \"p\"}}", NOW + 60),
        "not json".to_owned(),
    ] {
        assert!(matches!(check(bad.as_bytes(), UnixTime(NOW), RULES), Err(ClaimsError::NotJson(_))), "{bad}");
    }
}
