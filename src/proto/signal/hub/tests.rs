//! Scenario tests on virtual time: a fake directory hands out identities, the clock is ours.

use super::*;
use crate::ids::{GroupId, PeerId};
use crate::proto::token::claims::Claims;
use crate::proto::token::lookup::KidLookups;
use crate::proto::token::{AllowPolicy, Pattern};
use std::collections::HashSet;

#[path = "proptests.rs"]
mod proptests;

#[path = "admin_tests.rs"]
mod admin_tests;

const T0: i64 = 1_800_000_000;

/// Tokens are "project:gid:pid:exp[:gpat:ppat]" here; kid = "kid_" + project padded. A token
/// "KID/project:gid:pid:exp" names KID instead, a key the verifier knows once it is in
/// `installed` (as a store lookup would put it there).
struct FakeDirectory {
    origins: Vec<(String, String)>,
    /// Projects' own session caps.
    caps: Vec<(String, usize)>,
    installed: HashSet<String>,
    /// The real budget and miss memory, as the server's token service keeps them.
    lookups: KidLookups,
}

impl Directory for FakeDirectory {
    fn verify(&mut self, token: &str, wall: UnixTime) -> Result<Arc<VerifiedToken>, TokenError> {
        let bad = || TokenError::UnknownKid(token.to_owned());
        let (named_kid, token) = match token.split_once('/') {
            Some((kid, rest)) if self.installed.contains(kid) => (Some(kid), rest),
            Some((kid, _)) => return Err(TokenError::UnknownKid(kid.to_owned())),
            None => (None, token),
        };
        let parts: Vec<&str> = token.split(':').collect();
        if parts.len() != 4 && parts.len() != 6 {
            return Err(bad());
        }
        let exp: i64 = parts[3].parse().map_err(|_| bad())?;
        if wall.secs() >= exp + 30 {
            return Err(TokenError::Claims(crate::proto::token::claims::ClaimsError::Expired(exp)));
        }
        let gid = GroupId::parse(parts[1]).unwrap();
        let policy = if parts.len() == 6 {
            AllowPolicy { group_id: Pattern::parse(parts[4]).unwrap(), peer_id: Pattern::parse(parts[5]).unwrap() }
        } else {
            AllowPolicy::default_for(&gid)
        };
        let kid = Kid::parse(&named_kid.map_or_else(|| format!("kid_{:0>16}", parts[0].len()), str::to_owned)).unwrap();
        Ok(Arc::new(VerifiedToken {
            kid,
            project: ProjectId::parse(parts[0]).unwrap(),
            claims: Claims {
                gid,
                pid: PeerId::parse(parts[2]).unwrap(),
                policy,
                exp: UnixTime(exp),
                nbf: None,
                iat: None,
            },
            max_ttl_secs: 86_400,
            payload: "{}".into(),
        }))
    }

    /// Tokens of a group named `slow…` need the signature math, as an uncached token does.
    fn verify_cached(&mut self, token: &str, wall: UnixTime) -> Option<Result<Arc<VerifiedToken>, TokenError>> {
        (!token.split(':').nth(1).is_some_and(|g| g.starts_with("slow"))).then(|| self.verify(token, wall))
    }

    fn admit_kid_lookup(&mut self, kid: &Kid, now: Instant) -> bool {
        self.lookups.admit(kid, now)
    }

    fn origin_allowed(&self, project: &ProjectId, origin: Option<&str>) -> bool {
        let list: Vec<&str> =
            self.origins.iter().filter(|(p, _)| p == project.as_str()).map(|(_, o)| o.as_str()).collect();
        list.is_empty() || origin.is_none_or(|o| list.contains(&o))
    }

    fn max_connections(&self, project: &ProjectId) -> Option<usize> {
        self.caps.iter().find(|(p, _)| p == project.as_str()).map(|(_, n)| *n)
    }

    fn ice_servers(&self, token: &VerifiedToken, _host: Option<&str>) -> Value {
        serde_json::json!([{"urls": "stun:box", "exp": token.claims.exp.secs()}])
    }
}

struct World {
    hub: Hub,
    dir: FakeDirectory,
    mono: Instant,
    wall: i64,
    next: u64,
    /// Every `GrantTurn` so far: (username, kid, expiry).
    grants: Vec<(String, Kid, i64)>,
    /// Every `KickTurn` so far.
    turn_kicks: Vec<(ProjectId, PeerAddr)>,
    /// Every `LookupKid` so far.
    lookups: Vec<Kid>,
    /// Every `Verify` so far: the connection and its token.
    verifies: Vec<(ConnId, String)>,
    /// Every `Peer` event so far: (pid, event).
    peer_events: Vec<(String, PeerEvent)>,
}

impl World {
    fn new() -> World {
        World {
            hub: Hub::new(HubConfig::default()),
            dir: FakeDirectory {
                origins: vec![],
                caps: vec![],
                installed: HashSet::new(),
                lookups: KidLookups::default(),
            },
            mono: Instant::now(),
            wall: T0,
            next: 1,
            grants: Vec::new(),
            turn_kicks: Vec::new(),
            peer_events: Vec::new(),
            lookups: Vec::new(),
            verifies: Vec::new(),
        }
    }
    fn now(&self) -> Now {
        Now { mono: self.mono, wall: UnixTime(self.wall) }
    }
    fn advance(&mut self, secs: u64) {
        self.mono += Duration::from_secs(secs);
        self.wall += secs as i64;
        let now = self.now();
        self.hub.handle_timeout(now);
    }
    fn open(&mut self) -> ConnId {
        self.open_from(None)
    }
    fn open_from(&mut self, origin: Option<&str>) -> ConnId {
        let c = ConnId(self.next);
        self.next += 1;
        let now = self.now();
        self.hub.handle_open(c, ConnInfo { origin: origin.map(str::to_owned), host: None }, now);
        c
    }
    fn text(&mut self, c: ConnId, text: &str) {
        let now = self.now();
        self.hub.handle_text(c, text, now, &mut self.dir);
    }
    fn auth(&mut self, token: &str) -> ConnId {
        let c = self.open();
        self.text(c, &serde_json::json!({"type": "auth", "token": token}).to_string());
        c
    }
    /// Answers a `LookupKid` as the shell does: the store had the key (now installed) or not.
    fn resolve(&mut self, kid: &str, found: bool) {
        if found {
            self.dir.installed.insert(kid.to_owned());
        } else {
            self.dir.lookups.missed(&Kid::parse(kid).unwrap(), self.mono);
        }
        let now = self.now();
        self.hub.handle_kid_resolved(&Kid::parse(kid).unwrap(), found, now, &mut self.dir);
    }
    /// Every command so far, as (conn, parsed message) for sends and (conn, close code) for closes.
    fn drain(&mut self) -> Vec<(ConnId, Result<Value, u16>)> {
        let mut v = Vec::new();
        while let Some(cmd) = self.hub.poll_command() {
            match cmd {
                Command::Send { conn, text } => v.push((conn, Ok(serde_json::from_str(&text).unwrap()))),
                Command::Close { conn, code } => v.push((conn, Err(code.code()))),
                Command::GrantTurn { username, kid, expiry } => self.grants.push((username, kid, expiry.secs())),
                Command::KickTurn { project, peer } => self.turn_kicks.push((project, peer)),
                Command::LookupKid { kid } => self.lookups.push(kid),
                Command::Verify { conn, token } => self.verifies.push((conn, token.into())),
                Command::Peer { peer, event, .. } => self.peer_events.push((peer.pid.as_str().to_owned(), event)),
            }
        }
        v
    }
}

fn sent_to(out: &[(ConnId, Result<Value, u16>)], c: ConnId) -> Vec<Value> {
    out.iter().filter(|(k, _)| *k == c).filter_map(|(_, m)| m.clone().ok()).collect()
}

fn closed(out: &[(ConnId, Result<Value, u16>)], c: ConnId) -> Option<u16> {
    out.iter().find_map(|(k, m)| if *k == c { m.clone().err() } else { None })
}

fn exp(secs: i64) -> i64 {
    T0 + secs
}

#[test]
fn auth_welcomes_with_present_peers_and_announces_the_joiner() {
    let mut w = World::new();
    let alice = w.auth(&format!("p1:room:alice:{}", exp(600)));
    let out = w.drain();
    let welcome = &sent_to(&out, alice)[0];
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["self"]["pid"], "alice");
    assert_eq!(welcome["expires_at"], exp(600));
    assert_eq!(welcome["peers"], serde_json::json!([]));
    assert_eq!(welcome["ice_servers"][0]["urls"], "stun:box");

    let bob = w.auth(&format!("p1:room:bob:{}", exp(600)));
    let out = w.drain();
    assert_eq!(sent_to(&out, bob)[0]["peers"], serde_json::json!([{"gid": "room", "pid": "alice"}]));
    let note = &sent_to(&out, alice)[0];
    assert_eq!((note["type"].as_str(), note["event"].as_str()), (Some("presence"), Some("join")));
    assert_eq!(note["peer"]["pid"], "bob");
}

#[test]
fn signals_reach_allowed_peers_with_ack_and_others_get_peer_unavailable() {
    let mut w = World::new();
    let alice = w.auth(&format!("p1:room:alice:{}", exp(600)));
    let bob = w.auth(&format!("p1:room:bob:{}", exp(600)));
    let carol = w.auth(&format!("p1:hall:carol:{}", exp(600)));
    let dave = w.auth(&format!("p2:room:dave:{}", exp(600)));
    w.drain();
    w.text(alice, r#"{"type":"signal","to":{"gid":"room","pid":"bob"},"data":{"sdp":"offer"},"id":1}"#);
    let out = w.drain();
    let got = &sent_to(&out, bob)[0];
    assert_eq!(got["type"], "signal");
    assert_eq!(got["from"], serde_json::json!({"gid": "room", "pid": "alice"}));
    assert_eq!(got["data"]["sdp"], "offer");
    assert_eq!(sent_to(&out, alice)[0], serde_json::json!({"type": "ack", "id": 1}));

    // Another group, another project, nobody: all the same answer.
    for to in [r#"{"gid":"hall","pid":"carol"}"#, r#"{"gid":"room","pid":"dave"}"#, r#"{"gid":"room","pid":"zed"}"#] {
        w.text(alice, &format!(r#"{{"type":"signal","to":{to},"data":1,"id":9}}"#));
        let out = w.drain();
        let e = &sent_to(&out, alice)[0];
        assert_eq!((e["code"].as_str(), e["id"].as_u64()), (Some("peer_unavailable"), Some(9)), "{to}");
        assert!(sent_to(&out, carol).is_empty() && sent_to(&out, dave).is_empty());
    }
}

#[test]
fn mismatched_policies_hide_presence_both_ways() {
    let mut w = World::new();
    // The agent allows everyone, but alice's default policy only allows her own group.
    let agent = w.auth(&format!("p1:support:agent:{}:*:*", exp(600)));
    let alice = w.auth(&format!("p1:room:alice:{}", exp(600)));
    let out = w.drain();
    assert_eq!(sent_to(&out, alice)[0]["peers"], serde_json::json!([]));
    assert!(sent_to(&out, agent).len() == 1, "only the agent's own welcome");
    // A customer allowing the support group sees the agent, and the agent sees the customer.
    let cust = w.auth(&format!("p1:room:cust:{}:support:agent", exp(600)));
    let out = w.drain();
    assert_eq!(sent_to(&out, cust)[0]["peers"], serde_json::json!([{"gid": "support", "pid": "agent"}]));
    assert_eq!(sent_to(&out, agent)[0]["peer"]["pid"], "cust");
    assert!(sent_to(&out, alice).is_empty(), "alice and cust share a group but cust's policy excludes her");
}

#[test]
fn no_auth_within_the_deadline_closes_4001() {
    let mut w = World::new();
    let c = w.open();
    w.advance(9);
    assert!(w.drain().is_empty());
    w.advance(1);
    assert_eq!(closed(&w.drain(), c), Some(4001));
}

#[test]
fn a_first_message_that_is_not_auth_closes_4001_and_a_bad_token_4002() {
    let mut w = World::new();
    let c = w.open();
    w.text(c, r#"{"type":"ping","id":1}"#);
    assert_eq!(closed(&w.drain(), c), Some(4001));
    let c = w.open();
    w.text(c, "garbage");
    assert_eq!(closed(&w.drain(), c), Some(4001));
    let c = w.auth("not-a-token");
    assert_eq!(closed(&w.drain(), c), Some(4002));
    let c = w.auth(&format!("p1:room:alice:{}", exp(-31)));
    assert_eq!(closed(&w.drain(), c), Some(4002), "expired at auth is 4002");
}

#[test]
fn origin_not_on_the_projects_list_closes_4002() {
    let mut w = World::new();
    w.dir.origins = vec![("p1".into(), "https://app.example".into())];
    let token = serde_json::json!({"type": "auth", "token": format!("p1:room:a:{}", exp(600))}).to_string();
    let bad = w.open_from(Some("https://evil.example"));
    w.text(bad, &token);
    assert_eq!(closed(&w.drain(), bad), Some(4002));
    let good = w.open_from(Some("https://app.example"));
    w.text(good, &token);
    assert_eq!(sent_to(&w.drain(), good)[0]["type"], "welcome");
}

#[test]
fn a_newer_connection_replaces_the_older_without_presence_churn() {
    let mut w = World::new();
    let bob = w.auth(&format!("p1:room:bob:{}", exp(600)));
    let a1 = w.auth(&format!("p1:room:alice:{}", exp(600)));
    w.drain();
    let a2 = w.auth(&format!("p1:room:alice:{}", exp(600)));
    let out = w.drain();
    assert_eq!(closed(&out, a1), Some(4005));
    assert_eq!(sent_to(&out, a2)[0]["type"], "welcome");
    assert!(sent_to(&out, bob).is_empty(), "no leave and no join for bob");
    w.hub.handle_closed(a1);
    assert!(w.drain().is_empty());
    w.text(bob, r#"{"type":"signal","to":{"gid":"room","pid":"alice"},"data":1}"#);
    assert_eq!(sent_to(&w.drain(), a2)[0]["type"], "signal", "signals go to the newer connection");
    w.hub.handle_closed(a2);
    let out = w.drain();
    assert_eq!(sent_to(&out, bob)[0]["event"], "leave");
}

/// The shell's part of a `Verify`: the check, done elsewhere, and its answer.
fn answer_verify(w: &mut World, conn: ConnId) {
    let (c, token) = w.verifies.iter().find(|(c, _)| *c == conn).cloned().expect("a Verify for the connection");
    let now = w.now();
    let verified = w.dir.verify(&token, now.wall);
    w.hub.handle_verified(c, verified, now, &mut w.dir);
}

#[test]
fn an_uncached_token_is_checked_off_the_hub_and_welcomed_when_the_answer_comes() {
    let mut w = World::new();
    let bob = w.auth(&format!("p1:slowroom:bob:{}", exp(600)));
    assert!(w.drain().is_empty(), "nothing is decided on the hub's thread");
    assert_eq!(w.verifies.len(), 1);
    // A message before the answer is refused, not queued (the SDK waits for welcome).
    w.text(bob, &serde_json::json!({"type": "ping", "id": 1}).to_string());
    assert_eq!(sent_to(&w.drain(), bob)[0]["code"], "bad_request");
    answer_verify(&mut w, bob);
    let out = w.drain();
    assert_eq!(sent_to(&out, bob)[0]["type"], "welcome");
    // A cached token (any other group here) is welcomed at once, as before.
    let carol = w.auth(&format!("p1:slowroom2:carol:{}", exp(600)));
    assert!(w.drain().is_empty());
    let dave = w.auth(&format!("p1:room:dave:{}", exp(600)));
    assert_eq!(sent_to(&w.drain(), dave)[0]["type"], "welcome");
    assert_eq!(w.verifies.len(), 2);
    let _ = carol;
}

#[test]
fn a_refused_check_closes_4002_and_an_answer_for_a_gone_connection_is_dropped() {
    let mut w = World::new();
    let expired = w.auth(&format!("p1:slowroom:bob:{}", T0 - 100));
    let gone = w.auth(&format!("p1:slowroom:carol:{}", exp(600)));
    let late = w.auth(&format!("p1:slowroom:dave:{}", exp(600)));
    w.drain();
    answer_verify(&mut w, expired);
    assert_eq!(closed(&w.drain(), expired), Some(4002));
    w.hub.handle_closed(gone);
    answer_verify(&mut w, gone);
    assert!(w.drain().is_empty(), "no welcome for a connection that went away");
    // The auth deadline runs while the check is out: past it, 4001, and the answer is dropped.
    w.advance(10);
    assert_eq!(closed(&w.drain(), late), Some(4001));
    answer_verify(&mut w, late);
    assert!(w.drain().is_empty());
    assert_eq!(w.hub.sessions(), 0);
}

#[test]
fn expiry_warns_60_s_before_and_closes_4004_at_exp_plus_leeway() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(120)));
    w.drain();
    w.advance(59);
    assert!(w.drain().is_empty());
    w.advance(1);
    let out = w.drain();
    assert_eq!(sent_to(&out, c)[0], serde_json::json!({"type": "expiring", "expires_at": exp(120)}));
    w.advance(89);
    assert!(w.drain().is_empty(), "exp + 29 s: still open (30 s leeway)");
    w.advance(1);
    assert_eq!(closed(&w.drain(), c), Some(4004));
}

#[test]
fn refresh_extends_the_session_and_a_mismatched_token_is_refused() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(120)));
    w.drain();
    w.advance(100);
    w.drain();
    w.text(c, &serde_json::json!({"type": "refresh", "token": format!("p1:room:alice:{}", exp(1000))}).to_string());
    let out = w.drain();
    assert_eq!(sent_to(&out, c)[0]["type"], "refreshed");
    assert_eq!(sent_to(&out, c)[0]["expires_at"], exp(1000));
    w.advance(200);
    assert!(closed(&w.drain(), c).is_none(), "the old expiry no longer applies");
    for other in [
        format!("p1:room:bob:{}", exp(2000)),
        format!("p2:room:alice:{}", exp(2000)),
        format!("p1:room:alice:{}:*:*", exp(2000)),
        "junk".into(),
    ] {
        w.text(c, &serde_json::json!({"type": "refresh", "token": other}).to_string());
        let out = w.drain();
        assert_eq!(sent_to(&out, c)[0]["code"], "token_invalid", "{other}");
    }
    w.advance(1000 - 300 + 29);
    assert!(closed(&w.drain(), c).is_none());
    w.advance(1);
    assert_eq!(closed(&w.drain(), c), Some(4004), "the refreshed expiry applies");
}

#[test]
fn welcome_and_refreshed_each_grant_their_turn_username_to_the_tokens_key() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(120)));
    w.drain();
    let kid = Kid::parse("kid_0000000000000002").unwrap();
    assert_eq!(w.grants, vec![(format!("{}:p1:room:alice", exp(120)), kid.clone(), exp(120))]);
    w.text(c, &serde_json::json!({"type": "refresh", "token": format!("p1:room:alice:{}", exp(900))}).to_string());
    w.drain();
    assert_eq!(w.grants[1], (format!("{}:p1:room:alice", exp(900)), kid, exp(900)));
    // A refused refresh hands out no credentials, so it grants nothing.
    w.text(c, &serde_json::json!({"type": "refresh", "token": "junk"}).to_string());
    w.drain();
    assert_eq!(w.grants.len(), 2);
}

#[test]
fn bad_requests_do_not_close_until_the_abuse_threshold() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(600)));
    w.drain();
    for (i, text) in
        ["{", r#"{"type":"dance"}"#, r#"{"type":"signal","to":5}"#, r#"[]"#, r#"{"type":"auth","token":"x"}"#]
            .iter()
            .enumerate()
    {
        w.text(c, text);
        let out = w.drain();
        assert_eq!(sent_to(&out, c)[0]["code"], "bad_request", "case {i}");
        assert!(closed(&out, c).is_none());
    }
    let now = w.now();
    w.hub.handle_binary(c, now);
    assert_eq!(sent_to(&w.drain(), c)[0]["code"], "bad_request");
    for _ in 0..4 {
        w.text(c, "{");
    }
    assert!(closed(&w.drain(), c).is_none(), "10 errors in 10 s are tolerated");
    w.text(c, "{");
    assert_eq!(closed(&w.drain(), c), Some(4008), "the 11th closes");
}

#[test]
fn the_rate_limit_answers_rate_limited_then_closes_for_abuse() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(600)));
    w.drain();
    for i in 0..100 {
        w.text(c, &format!(r#"{{"type":"ping","id":{i}}}"#));
    }
    let out = w.drain();
    assert!(sent_to(&out, c).iter().all(|m| m["type"] == "pong"), "the burst of 100 passes");
    w.text(c, r#"{"type":"ping","id":100}"#);
    let out = w.drain();
    assert_eq!(
        sent_to(&out, c)[0],
        serde_json::json!({"type":"error","id":100,"code":"rate_limited","message":"slow down"})
    );
    for _ in 0..10 {
        w.text(c, r#"{"type":"ping"}"#);
    }
    assert_eq!(closed(&w.drain(), c), Some(4008));
}

#[test]
fn deleting_a_key_closes_its_sessions_4003_and_others_see_them_leave() {
    let mut w = World::new();
    let a = w.auth(&format!("p1:room:alice:{}", exp(600)));
    let b = w.auth(&format!("p22:room:bob:{}", exp(600)));
    let b2 = w.auth(&format!("p22:room:bob2:{}", exp(600)));
    w.drain();
    let kid_of_p22 = Kid::parse(&format!("kid_{:0>16}", 3)).unwrap();
    w.hub.handle_keys_deleted(&[kid_of_p22]);
    let out = w.drain();
    assert_eq!(closed(&out, b), Some(4003));
    assert_eq!(closed(&out, b2), Some(4003));
    assert!(closed(&out, a).is_none());
    assert_eq!(w.hub.sessions(), 1);
}

#[test]
fn kick_and_shutdown() {
    let mut w = World::new();
    let a = w.auth(&format!("p1:room:alice:{}", exp(600)));
    let b = w.auth(&format!("p1:room:bob:{}", exp(600)));
    w.drain();
    let addr = PeerAddr { gid: GroupId::parse("room").unwrap(), pid: PeerId::parse("alice").unwrap() };
    assert!(w.hub.handle_kick(&ProjectId::parse("p1").unwrap(), &addr));
    let out = w.drain();
    assert_eq!(closed(&out, a), Some(4003));
    assert_eq!(sent_to(&out, b)[0]["event"], "leave");
    // TURN is told either way: an identity with allocations but no session is kicked as well.
    let ghost = PeerAddr { gid: GroupId::parse("room").unwrap(), pid: PeerId::parse("ghost").unwrap() };
    assert!(!w.hub.handle_kick(&ProjectId::parse("p1").unwrap(), &ghost));
    w.drain();
    let p1 = ProjectId::parse("p1").unwrap();
    assert_eq!(w.turn_kicks, vec![(p1.clone(), addr), (p1, ghost)]);
    let pending = w.open();
    w.hub.handle_shutdown();
    let out = w.drain();
    assert_eq!(closed(&out, b), Some(1001));
    assert_eq!(closed(&out, pending), Some(1001));
    assert_eq!(w.hub.connections(), 0);
}

#[test]
fn the_project_connection_cap_refuses_new_peers_but_allows_replacement() {
    let mut w = World::new();
    w.hub = Hub::new(HubConfig { max_conns_per_project: 2, ..HubConfig::default() });
    w.auth(&format!("p1:g:a:{}", exp(600)));
    w.auth(&format!("p1:g:b:{}", exp(600)));
    w.drain();
    let c = w.auth(&format!("p1:g:c:{}", exp(600)));
    assert_eq!(closed(&w.drain(), c), Some(1013));
    let a2 = w.auth(&format!("p1:g:a:{}", exp(600)));
    assert_eq!(sent_to(&w.drain(), a2)[0]["type"], "welcome");
    let other = w.auth(&format!("p2:g:c:{}", exp(600)));
    assert_eq!(sent_to(&w.drain(), other)[0]["type"], "welcome", "the cap is per project");
}

fn refresh_text(token: &str) -> String {
    serde_json::json!({"type": "refresh", "token": token}).to_string()
}

#[test]
fn refreshes_and_closes_leave_the_timer_heap_bounded() {
    let mut w = World::new();
    let peers = 200;
    let conns: Vec<ConnId> = (0..peers).map(|i| w.auth(&format!("p1:room:peer{i}:{}", exp(80_000)))).collect();
    w.drain();
    for round in 0..100 {
        // Under the refresh limit; exp moves later and earlier in turn.
        w.advance(5);
        let e = exp(80_000 + 1000 * (round % 2));
        for (i, c) in conns.iter().enumerate() {
            w.text(*c, &refresh_text(&format!("p1:room:peer{i}:{e}")));
        }
        let out = w.drain();
        assert!(out.iter().all(|(_, m)| m.as_ref().is_ok_and(|m| m["type"] == "refreshed")), "round {round}");
        assert!(w.hub.pending_timers() <= 2 * peers + 64, "{} timers after round {round}", w.hub.pending_timers());
    }
    for c in conns {
        w.hub.handle_closed(c);
    }
    assert_eq!(w.hub.connections(), 0);
    assert!(w.hub.pending_timers() <= 64, "{} timers outlive every connection", w.hub.pending_timers());
}

#[test]
fn refresh_is_limited_to_5_at_once_then_one_per_5_s_each_refusal_a_strike() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(600)));
    w.drain();
    let token = format!("p1:room:alice:{}", exp(900));
    for i in 0..5 {
        w.text(c, &refresh_text(&token));
        assert_eq!(sent_to(&w.drain(), c)[0]["type"], "refreshed", "refresh {i} of the burst");
    }
    w.text(c, &refresh_text(&token));
    let out = w.drain();
    assert_eq!(sent_to(&out, c)[0]["code"], "rate_limited");
    assert!(closed(&out, c).is_none());
    w.advance(4);
    w.text(c, &refresh_text(&token));
    assert_eq!(sent_to(&w.drain(), c)[0]["code"], "rate_limited", "4 s later: still limited");
    w.advance(1);
    w.text(c, &refresh_text(&token));
    assert_eq!(sent_to(&w.drain(), c)[0]["type"], "refreshed", "5 s refill one");
    // Other messages are not held back by the refresh limit.
    w.text(c, r#"{"type":"ping","id":1}"#);
    assert_eq!(sent_to(&w.drain(), c)[0]["type"], "pong");
    // Two strikes so far; nine more within 10 s make eleven: 4008.
    for _ in 0..8 {
        w.text(c, &refresh_text(&token));
    }
    assert!(closed(&w.drain(), c).is_none(), "10 strikes in 10 s are tolerated");
    w.text(c, &refresh_text(&token));
    assert_eq!(closed(&w.drain(), c), Some(4008));
}

#[test]
fn a_refresh_to_an_earlier_exp_moves_the_notice_and_the_close_to_the_second() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(1000)));
    w.drain();
    w.advance(10);
    w.text(c, &refresh_text(&format!("p1:room:alice:{}", exp(200))));
    w.drain();
    w.advance(129);
    assert!(w.drain().is_empty(), "t = 139");
    w.advance(1);
    assert_eq!(sent_to(&w.drain(), c), vec![serde_json::json!({"type": "expiring", "expires_at": exp(200)})]);
    w.advance(89);
    assert!(closed(&w.drain(), c).is_none(), "t = 229");
    w.advance(1);
    assert_eq!(closed(&w.drain(), c), Some(4004), "t = 230 = exp + leeway");
    // The first token's deadline is left queued, and skipped when it comes up.
    w.advance(1000);
    assert!(w.drain().is_empty());
    assert_eq!(w.hub.pending_timers(), 0);
}

#[test]
fn a_refresh_after_the_notice_arms_a_new_notice_for_the_new_token() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(120)));
    w.drain();
    w.advance(60);
    assert_eq!(sent_to(&w.drain(), c)[0]["type"], "expiring");
    w.text(c, &refresh_text(&format!("p1:room:alice:{}", exp(300))));
    w.drain();
    w.advance(179);
    assert!(w.drain().is_empty(), "t = 239");
    w.advance(1);
    assert_eq!(sent_to(&w.drain(), c), vec![serde_json::json!({"type": "expiring", "expires_at": exp(300)})]);
    w.advance(89);
    assert!(w.drain().is_empty(), "t = 329");
    w.advance(1);
    assert_eq!(closed(&w.drain(), c), Some(4004));
}

#[test]
fn a_clock_jump_past_notice_and_close_sends_the_notice_then_closes() {
    let mut w = World::new();
    let c = w.auth(&format!("p1:room:alice:{}", exp(120)));
    w.drain();
    w.advance(500);
    let out = w.drain();
    assert_eq!(sent_to(&out, c)[0]["type"], "expiring");
    assert_eq!(closed(&out, c), Some(4004));
}

const NEW_KID: &str = "kid_00000000000000aa";

#[test]
fn a_token_of_a_key_made_a_moment_ago_waits_for_its_lookup_then_is_welcomed() {
    let mut w = World::new();
    let bob = w.auth(&format!("p1:room:bob:{}", exp(600)));
    w.drain();
    let alice = w.auth(&format!("{NEW_KID}/p1:room:alice:{}", exp(600)));
    assert!(w.drain().is_empty(), "no answer while the store is asked");
    assert_eq!(w.lookups, vec![Kid::parse(NEW_KID).unwrap()]);
    assert_eq!(w.hub.sessions(), 1);
    w.resolve(NEW_KID, true);
    let out = w.drain();
    let welcome = &sent_to(&out, alice)[0];
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["peers"], serde_json::json!([{"gid": "room", "pid": "bob"}]));
    assert_eq!(sent_to(&out, bob)[0]["event"], "join");
    assert_eq!(w.grants.last().map(|g| g.1.as_str()), Some(NEW_KID));
    // The key is known now: the next token of it goes straight through.
    let carol = w.auth(&format!("{NEW_KID}/p1:room:carol:{}", exp(600)));
    assert_eq!(sent_to(&w.drain(), carol)[0]["type"], "welcome");
    assert_eq!(w.lookups.len(), 1);
}

#[test]
fn a_kid_the_store_lacks_closes_4002_after_its_lookup_and_at_once_for_2_s() {
    let mut w = World::new();
    let c = w.auth(&format!("{NEW_KID}/p1:room:alice:{}", exp(600)));
    assert!(w.drain().is_empty());
    w.resolve(NEW_KID, false);
    assert_eq!(closed(&w.drain(), c), Some(4002));
    // Missed a moment ago: refused without asking the store again.
    let again = w.auth(&format!("{NEW_KID}/p1:room:alice:{}", exp(600)));
    assert_eq!(closed(&w.drain(), again), Some(4002));
    w.advance(1);
    let again = w.auth(&format!("{NEW_KID}/p1:room:alice:{}", exp(600)));
    assert_eq!(closed(&w.drain(), again), Some(4002));
    assert_eq!(w.lookups.len(), 1, "1 s after the miss: no second lookup");
    w.advance(1);
    let later = w.auth(&format!("{NEW_KID}/p1:room:alice:{}", exp(600)));
    assert!(w.drain().is_empty(), "2 s after the miss the store is asked again");
    assert_eq!(w.lookups.len(), 2);
    w.resolve(NEW_KID, true);
    assert_eq!(sent_to(&w.drain(), later)[0]["type"], "welcome");
}

#[test]
fn auths_waiting_on_one_kid_share_one_lookup_and_all_get_the_answer() {
    let mut w = World::new();
    let conns: Vec<ConnId> = (0..5).map(|i| w.auth(&format!("{NEW_KID}/p1:room:peer{i}:{}", exp(600)))).collect();
    assert!(w.drain().is_empty());
    assert_eq!(w.lookups.len(), 1, "one lookup in flight per kid");
    w.hub.handle_closed(conns[0]);
    w.resolve(NEW_KID, true);
    let out = w.drain();
    assert!(sent_to(&out, conns[0]).is_empty(), "gone before the answer");
    for c in &conns[1..] {
        assert_eq!(sent_to(&out, *c)[0]["type"], "welcome");
    }
    assert_eq!(w.hub.sessions(), 4);
    // An answer nobody waits for any more is ignored.
    w.resolve(NEW_KID, true);
    assert!(w.drain().is_empty());
}

#[test]
fn a_flood_of_random_kids_costs_at_most_the_lookup_budget() {
    let mut w = World::new();
    let mut refused_at_once = 0;
    for i in 0..1000u64 {
        let kid = Kid::from_random(i.to_be_bytes());
        let c = w.auth(&format!("{kid}/p1:room:x{i}:{}", exp(600)));
        refused_at_once += usize::from(closed(&w.drain(), c) == Some(4002));
    }
    assert_eq!(w.lookups.len(), 20, "one second's budget");
    assert_eq!(refused_at_once, 980, "over the budget: 4002 at once, as for any unknown kid");
    for kid in std::mem::take(&mut w.lookups) {
        w.resolve(kid.as_str(), false);
    }
    assert_eq!(w.drain().iter().filter(|(_, m)| *m == Err(4002)).count(), 20);
    // Half a second refills half the budget.
    w.mono += Duration::from_millis(500);
    for i in 1000..2000u64 {
        w.auth(&format!("{}/p1:room:x{i}:{}", Kid::from_random(i.to_be_bytes()), exp(600)));
    }
    w.drain();
    assert_eq!(w.lookups.len(), 10);
    // Malformed kids never reach the store, whatever the budget.
    w.advance(10);
    for bad in ["kid_XYZ", "../../etc/passwd", "kid_00000000000000AA", "kid_0"] {
        let c = w.auth(&format!("{bad}/p1:room:m:{}", exp(600)));
        assert_eq!(closed(&w.drain(), c), Some(4002), "{bad}");
    }
    assert_eq!(w.lookups.len(), 10);
}

#[test]
fn the_auth_deadline_applies_while_a_lookup_is_in_flight() {
    let mut w = World::new();
    let c = w.open();
    w.advance(3);
    w.text(c, &serde_json::json!({"type": "auth", "token": format!("{NEW_KID}/p1:room:a:{}", exp(600))}).to_string());
    w.advance(6);
    assert!(w.drain().is_empty());
    w.advance(1);
    assert_eq!(closed(&w.drain(), c), Some(4001), "10 s after the open, as for any auth");
    w.resolve(NEW_KID, true);
    assert!(w.drain().is_empty());
    assert_eq!(w.hub.connections(), 0);
}

#[test]
fn messages_before_the_welcome_get_bad_request_and_count_as_strikes() {
    let mut w = World::new();
    let c = w.auth(&format!("{NEW_KID}/p1:room:a:{}", exp(600)));
    w.text(c, r#"{"type":"ping","id":7}"#);
    let out = w.drain();
    assert_eq!(sent_to(&out, c)[0]["code"], "bad_request");
    assert_eq!(sent_to(&out, c)[0]["id"], 7);
    for _ in 0..10 {
        w.text(c, r#"{"type":"ping"}"#);
    }
    assert_eq!(closed(&w.drain(), c), Some(4008));
}

#[test]
fn webhook_events_report_joins_and_each_leave_with_its_reason() {
    use LeaveReason::*;
    let mut w = World::new();
    let a = w.auth(&format!("p1:room:alice:{}", exp(600)));
    w.auth(&format!("p1:room:bob:{}", exp(600)));
    w.auth(&format!("p1:room:carol:{}", exp(60)));
    w.drain();
    // A second connection of alice replaces the first: a leave (replaced), then a join.
    let a2 = w.auth(&format!("p1:room:alice:{}", exp(600)));
    w.drain();
    let p1 = ProjectId::parse("p1").unwrap();
    let bob = PeerAddr { gid: GroupId::parse("room").unwrap(), pid: PeerId::parse("bob").unwrap() };
    w.hub.handle_kick(&p1, &bob);
    w.mono += Duration::from_secs(60 + 31);
    w.wall += 60 + 31;
    let now = w.now();
    w.hub.handle_timeout(now);
    w.hub.handle_closed(a2);
    w.hub.handle_closed(a);
    w.drain();
    let ev = |pid: &str, e: PeerEvent| (pid.to_owned(), e);
    assert_eq!(
        w.peer_events,
        vec![
            ev("alice", PeerEvent::Joined),
            ev("bob", PeerEvent::Joined),
            ev("carol", PeerEvent::Joined),
            ev("alice", PeerEvent::Left(Replaced)),
            ev("alice", PeerEvent::Joined),
            ev("bob", PeerEvent::Kicked),
            ev("bob", PeerEvent::Left(Kicked)),
            ev("carol", PeerEvent::Left(Expired)),
            ev("alice", PeerEvent::Left(Closed)),
        ]
    );
}
