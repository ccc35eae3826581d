use super::*;

fn ids(rows: &[AuditRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

#[test]
fn pages_run_newest_first_and_filter_by_before_actor_and_action() {
    let (_tmp, mut store) = open_temp();
    let amy = Actor { name: "amy", source: "192.0.2.1" };
    let bob = Actor { name: "bob", source: "192.0.2.2" };
    store.record(amy, "session.login", None, None, UnixTime(1)).unwrap();
    store.record(bob, "session.login", None, None, UnixTime(2)).unwrap();
    store.record(amy, "peer.kick", Some("p/g/x"), Some("why"), UnixTime(3)).unwrap();
    store
        .record(Actor { name: "mallory", source: "198.51.100.9" }, "session.login_failed", None, None, UnixTime(4))
        .unwrap();
    store.record(amy, "session.logout", None, None, UnixTime(5)).unwrap();

    let q = |limit, before, actor: Option<&str>, action: Option<&str>| AuditQuery {
        limit,
        before,
        actor: actor.map(Into::into),
        action: action.map(Into::into),
    };
    let all = store.audit_page(&q(100, None, None, None)).unwrap();
    assert_eq!(ids(&all), [5, 4, 3, 2, 1]);
    assert_eq!(
        all[2],
        AuditRow {
            id: 3,
            at: UnixTime(3),
            actor: "amy".into(),
            source: "192.0.2.1".into(),
            action: "peer.kick".into(),
            target: Some("p/g/x".into()),
            detail: Some("why".into()),
        }
    );
    assert_eq!(ids(&store.audit_page(&q(2, None, None, None)).unwrap()), [5, 4]);
    assert_eq!(ids(&store.audit_page(&q(2, Some(4), None, None)).unwrap()), [3, 2]);
    assert_eq!(ids(&store.audit_page(&q(100, None, Some("amy"), None)).unwrap()), [5, 3, 1]);
    assert_eq!(ids(&store.audit_page(&q(100, Some(5), Some("amy"), None)).unwrap()), [3, 1]);
    assert_eq!(ids(&store.audit_page(&q(100, None, None, Some("session.login"))).unwrap()), [2, 1]);
    assert_eq!(ids(&store.audit_page(&q(100, Some(2), Some("amy"), Some("session.login"))).unwrap()), [1]);
    assert!(store.audit_page(&q(100, None, Some("nobody"), None)).unwrap().is_empty());
    assert_eq!(store.recent_audit(1).unwrap()[0].action, "session.logout");
}
