//! Scenario tests on virtual time: a fake directory hands out identities, the clock is ours.

use super::*;
use crate::ids::{GroupId, PeerId};
use crate::proto::token::claims::Claims;
use crate::proto::token::{AllowPolicy, Pattern};

#[path = "proptests.rs"]
mod proptests;

const T0: i64 = 1_800_000_000;

/// Tokens are "project:gid:pid:exp[:gpat:ppat]" here; kid = "kid_" + project padded.
struct FakeDirectory {
    origins: Vec<(String, String)>,
}

impl Directory for FakeDirectory {
    fn verify(&mut self, token: &str, wall: UnixTime) -> Result<Arc<VerifiedToken>, TokenError> {
        let bad = || TokenError::UnknownKid(token.to_owned());
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
        let kid = Kid::parse(&format!("kid_{:0>16}", parts[0].len())).unwrap();
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

    fn origin_allowed(&self, project: &ProjectId, origin: Option<&str>) -> bool {
        let list: Vec<&str> =
            self.origins.iter().filter(|(p, _)| p == project.as_str()).map(|(_, o)| o.as_str()).collect();
        list.is_empty() || origin.is_none_or(|o| list.contains(&o))
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
}

impl World {
    fn new() -> World {
        World {
            hub: Hub::new(HubConfig::default()),
            dir: FakeDirectory { origins: vec![] },
            mono: Instant::now(),
            wall: T0,
            next: 1,
            grants: Vec::new(),
            turn_kicks: Vec::new(),
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
    /// Every command so far, as (conn, parsed message) for sends and (conn, close code) for closes.
    fn drain(&mut self) -> Vec<(ConnId, Result<Value, u16>)> {
        let mut v = Vec::new();
        while let Some(cmd) = self.hub.poll_command() {
            match cmd {
                Command::Send { conn, text } => v.push((conn, Ok(serde_json::from_str(&text).unwrap()))),
                Command::Close { conn, code } => v.push((conn, Err(code.code()))),
                Command::GrantTurn { username, kid, expiry } => self.grants.push((username, kid, expiry.secs())),
                Command::KickTurn { project, peer } => self.turn_kicks.push((project, peer)),
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
