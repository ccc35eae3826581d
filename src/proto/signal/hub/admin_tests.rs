//! The admin API's view of the hub: peers, counts, usage, and projects' own session caps.

use super::*;

fn p(id: &str) -> ProjectId {
    ProjectId::parse(id).unwrap()
}

fn listed(w: &World, project: &str) -> Vec<(String, i64, i64)> {
    w.hub
        .peers(&p(project))
        .into_iter()
        .map(|v| (format!("{}/{}", v.gid, v.pid), v.connected_at.secs(), v.expires_at.secs()))
        .collect()
}

#[test]
fn peers_lists_a_projects_live_sessions_by_gid_and_pid_with_their_times() {
    let mut w = World::new();
    w.auth(&format!("p1:room:zed:{}", exp(600)));
    w.advance(5);
    let alice = w.auth(&format!("p1:room:alice:{}", exp(900)));
    w.auth(&format!("p1:hall:bob:{}", exp(600)));
    w.auth(&format!("p2:room:carol:{}", exp(600)));
    w.open();
    w.drain();
    assert_eq!(
        listed(&w, "p1"),
        [
            ("hall/bob".to_owned(), exp(5), exp(600)),
            ("room/alice".to_owned(), exp(5), exp(900)),
            ("room/zed".to_owned(), exp(0), exp(600))
        ]
    );
    assert!(listed(&w, "p3").is_empty());
    // A refresh moves expires_at; a replacing connection starts connected_at afresh.
    w.advance(10);
    w.text(alice, &refresh_text(&format!("p1:room:alice:{}", exp(1800))));
    w.drain();
    assert_eq!(listed(&w, "p1")[1], ("room/alice".to_owned(), exp(5), exp(1800)));
    w.auth(&format!("p1:room:alice:{}", exp(1800)));
    w.drain();
    assert_eq!(listed(&w, "p1")[1], ("room/alice".to_owned(), exp(15), exp(1800)));
    w.hub.handle_kick(&p("p1"), &PeerAddr { gid: GroupId::parse("room").unwrap(), pid: PeerId::parse("zed").unwrap() });
    assert_eq!(listed(&w, "p1").len(), 2, "a kicked peer is gone at once");
}

#[test]
fn stats_count_every_connection_but_only_live_sessions_per_project() {
    let mut w = World::new();
    assert_eq!(w.hub.stats(), HubStats::default());
    w.auth(&format!("p1:room:a:{}", exp(600)));
    w.auth(&format!("p1:room:b:{}", exp(600)));
    w.auth(&format!("p2:room:a:{}", exp(600)));
    w.open();
    w.auth("not-a-token");
    w.drain();
    let stats = w.hub.stats();
    assert_eq!((stats.connections, stats.sessions), (4, 3), "the pending one counts, the refused one is gone");
    assert_eq!(stats.sessions_per_project.into_iter().collect::<Vec<_>>(), [(p("p1"), 2), (p("p2"), 1)]);
}

#[test]
fn usage_counts_routed_signals_and_the_peak_of_sessions_since_the_last_take() {
    let mut w = World::new();
    let a = w.auth(&format!("p1:room:a:{}", exp(600)));
    let b = w.auth(&format!("p1:room:b:{}", exp(600)));
    let c = w.auth(&format!("p1:room:c:{}", exp(600)));
    w.auth(&format!("p2:room:a:{}", exp(600)));
    w.drain();
    let to_b = r#"{"type":"signal","to":{"gid":"room","pid":"b"},"data":1}"#;
    w.text(a, to_b);
    w.text(a, to_b);
    w.text(a, r#"{"type":"signal","to":{"gid":"room","pid":"nobody"},"data":1}"#);
    w.text(b, r#"{"type":"signal","to":{"gid":"room","pid":"a"},"data":1,"id":7}"#);
    w.hub.handle_closed(c);
    w.drain();
    let usage = w.hub.take_usage();
    assert_eq!(usage.get(&p("p1")), Some(&(3, 3)), "3 live at the peak; the refused signal does not count");
    assert_eq!(usage.get(&p("p2")), Some(&(1, 0)));
    assert_eq!(usage.len(), 2);
    // The peak starts again from the sessions live at the take.
    w.hub.handle_closed(b);
    let usage = w.hub.take_usage();
    assert_eq!(usage.get(&p("p1")), Some(&(2, 0)));
    w.hub.handle_closed(a);
    w.hub.handle_kick(&p("p2"), &PeerAddr { gid: GroupId::parse("room").unwrap(), pid: PeerId::parse("a").unwrap() });
    let usage = w.hub.take_usage();
    assert_eq!((usage.get(&p("p1")), usage.get(&p("p2"))), (Some(&(1, 0)), Some(&(1, 0))));
    assert!(w.hub.take_usage().is_empty(), "nobody live and nothing routed: nothing to report");
}

#[test]
fn a_projects_own_cap_refuses_the_session_past_it_as_the_server_cap_does() {
    let mut w = World::new();
    w.hub = Hub::new(HubConfig { max_conns_per_project: 2, ..HubConfig::default() });
    w.dir.caps = vec![("p1".into(), 1), ("p2".into(), 5)];
    w.auth(&format!("p1:g:a:{}", exp(600)));
    w.drain();
    let b = w.auth(&format!("p1:g:b:{}", exp(600)));
    assert_eq!(closed(&w.drain(), b), Some(1013));
    let a2 = w.auth(&format!("p1:g:a:{}", exp(600)));
    assert_eq!(sent_to(&w.drain(), a2)[0]["type"], "welcome", "a replacement is not a new session");
    // A project's cap above the server's does not lift the server's.
    w.auth(&format!("p2:g:a:{}", exp(600)));
    w.auth(&format!("p2:g:b:{}", exp(600)));
    w.drain();
    let c = w.auth(&format!("p2:g:c:{}", exp(600)));
    assert_eq!(closed(&w.drain(), c), Some(1013));
    assert_eq!(w.hub.stats().sessions, 3);
}
