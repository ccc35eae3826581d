use super::*;
use proptest::prelude::*;

fn p(s: &str) -> Pattern {
    Pattern::parse(s).unwrap()
}

#[test]
fn parse_accepts_the_contract_examples() {
    for s in ["*", "room-*", "*-bot", "a*z", "alice", "a.b@c_d-e", &"x".repeat(64), &format!("{}*", "x".repeat(63))] {
        assert!(Pattern::parse(s).is_ok(), "{s}");
    }
}

#[test]
fn parse_rejects_edge_cases() {
    assert_eq!(Pattern::parse(""), Err(PatternError::BadLength));
    assert_eq!(Pattern::parse(&"x".repeat(65)), Err(PatternError::BadLength));
    assert_eq!(Pattern::parse("**"), Err(PatternError::TwoStars));
    assert_eq!(Pattern::parse("a*b*"), Err(PatternError::TwoStars));
    assert_eq!(Pattern::parse("*a*"), Err(PatternError::TwoStars));
    for bad in ["a b", "a?", "a:b", "é", "a/b", "a\n", "%", "a+b", "[a]"] {
        assert_eq!(Pattern::parse(bad), Err(PatternError::BadCharacter), "{bad:?}");
    }
}

#[test]
fn star_matches_any_run_including_the_empty_one() {
    assert!(p("*").matches("x"));
    assert!(p("*").matches(&"x".repeat(64)));
    assert!(p("room-*").matches("room-"));
    assert!(p("room-*").matches("room-1"));
    assert!(!p("room-*").matches("room"));
    assert!(!p("room-*").matches("xroom-1"));
    assert!(p("*-bot").matches("-bot"));
    assert!(p("*-bot").matches("help-bot"));
    assert!(!p("*-bot").matches("help-bots"));
    assert!(p("a*z").matches("az"));
    assert!(p("a*z").matches("abcz"));
    assert!(!p("a*z").matches("a"));
    assert!(!p("a*z").matches("z"));
    // Prefix and suffix must not overlap: "aza" has prefix "a" and suffix "a" sharing no byte.
    assert!(p("a*a").matches("aa"));
    assert!(!p("a*a").matches("a"));
    assert!(p("alice").matches("alice"));
    assert!(!p("alice").matches("alice2"));
    assert!(!p("alice").matches("Alice"));
}

#[test]
fn reachability_needs_both_policies_and_one_project() {
    let id = |project: &str, gid: &str, pid: &str, ap: Option<(&str, &str)>| {
        let gid = GroupId::parse(gid).unwrap();
        let policy = match ap {
            Some((g, q)) => AllowPolicy { group_id: p(g), peer_id: p(q) },
            None => AllowPolicy::default_for(&gid),
        };
        Identity { project: ProjectId::parse(project).unwrap(), gid, pid: PeerId::parse(pid).unwrap(), policy }
    };
    let alice = id("p1", "room", "alice", None);
    let bob = id("p1", "room", "bob", None);
    let other_room = id("p1", "hall", "carol", None);
    let other_project = id("p2", "room", "dave", None);
    assert!(alice.may_reach(&bob) && bob.may_reach(&alice));
    assert!(!alice.may_reach(&other_room));
    assert!(!alice.may_reach(&other_project));
    // One-sided permission is not enough.
    let support = id("p1", "support", "agent", Some(("*", "*")));
    assert!(!support.may_reach(&alice), "alice's default policy does not allow the support group");
    let customer = id("p1", "room", "cust", Some(("support", "agent")));
    assert!(!customer.may_reach(&alice), "customer only allows support/agent");
    assert!(customer.may_reach(&support) && support.may_reach(&customer));
}

fn id_string() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.@-]{1,64}"
}

proptest! {
    #[test]
    fn exact_pattern_matches_only_itself(a in id_string(), b in id_string()) {
        prop_assert_eq!(Pattern::parse(&a).unwrap().matches(&b), a == b);
    }

    #[test]
    fn star_pattern_agrees_with_a_reference(prefix in "[a-c]{0,3}", suffix in "[a-c]{0,3}", id in "[a-c]{1,8}") {
        let text = format!("{prefix}*{suffix}");
        let reference = id.len() >= prefix.len() + suffix.len() && id.starts_with(&prefix) && id.ends_with(&suffix);
        prop_assert_eq!(Pattern::parse(&text).unwrap().matches(&id), reference);
        // Every split of the id into prefix + middle + suffix is found.
        let split = id.len() >= prefix.len() + suffix.len() && (0..=id.len()).any(|i| {
            (i..=id.len()).any(|j| id[..i] == prefix && id[j..] == suffix && i <= j)
        });
        prop_assert_eq!(reference, split);
    }

    #[test]
    fn parse_never_panics(s in ".{0,80}") {
        let _ = Pattern::parse(&s);
    }
}
