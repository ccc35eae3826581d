//! The signaling protocol over a real WebSocket (TLS, tungstenite client): every close code and
//! error code of SPEC "Signaling".

#![allow(clippy::unwrap_used, reason = "a test's panic is its failure report")]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::edgebeam_ok as ok;
use common::ws::{Got, Ws};
use common::Server;
use edgebeam::ids::{GroupId, Kid, PeerId};
use edgebeam::proto::token::mint::{mint, signing_key_from_pem, MintRequest};
use edgebeam::proto::token::{AllowPolicy, Pattern};
use edgebeam::unixtime::UnixTime;
use serde_json::json;

struct Box {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    server: Server,
    kid: String,
    pem: String,
}

fn boot(extra: &[&str]) -> Box {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap().to_owned();
    let project = ok(&["project", "create", "--data-dir", &d, "calls"]);
    let pem_path = tmp.path().join("k.pem");
    let kid = ok(&["key", "create", "--data-dir", &d, "--project", &project, "--out", pem_path.to_str().unwrap()]);
    let server = Server::start(&data, extra);
    let pem = std::fs::read_to_string(pem_path).unwrap();
    Box { _tmp: tmp, data, server, kid, pem }
}

impl Box {
    fn token_with(&self, gid: &str, pid: &str, ap: Option<(&str, &str)>, ttl: i64) -> String {
        let key = signing_key_from_pem(&self.pem).unwrap();
        let policy =
            ap.map(|(g, p)| AllowPolicy { group_id: Pattern::parse(g).unwrap(), peer_id: Pattern::parse(p).unwrap() });
        mint(
            &key,
            &MintRequest {
                kid: &Kid::parse(&self.kid).unwrap(),
                gid: &GroupId::parse(gid).unwrap(),
                pid: &PeerId::parse(pid).unwrap(),
                policy: policy.as_ref(),
                iat: UnixTime::now(),
                ttl_secs: ttl,
            },
        )
        .unwrap()
    }

    fn token(&self, gid: &str, pid: &str) -> String {
        self.token_with(gid, pid, None, 600)
    }

    fn ws(&self) -> Ws {
        Ws::connect(self.server.signal, None)
    }

    fn joined(&self, gid: &str, pid: &str) -> Ws {
        let mut ws = self.ws();
        let welcome = ws.auth(&self.token(gid, pid));
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        ws
    }

    fn data_dir(&self) -> &Path {
        &self.data
    }
}

#[test]
fn welcome_carries_identity_expiry_ice_servers_and_peers() {
    let b = boot(&["--public-ip", "192.0.2.10"]);
    let mut alice = b.joined("room", "alice");
    let mut bob = b.ws();
    let w = bob.auth(&b.token("room", "bob"));
    assert_eq!(w["self"], json!({"gid": "room", "pid": "bob"}));
    assert!(w["expires_at"].as_i64().unwrap() > UnixTime::now().secs());
    assert_eq!(w["peers"], json!([{"gid": "room", "pid": "alice"}]));
    let ice = &w["ice_servers"];
    assert!(ice[0]["urls"][0].as_str().unwrap().starts_with("stun:192.0.2.10:"));
    let turn = &ice[1];
    let user = turn["username"].as_str().unwrap();
    let parts: Vec<&str> = user.split(':').collect();
    assert_eq!(parts[0], w["expires_at"].to_string());
    assert_eq!(&parts[2..], ["room", "bob"]);
    assert_eq!(turn["credential"].as_str().unwrap().len(), 28, "base64 of a 20-byte HMAC-SHA1");
    let urls: Vec<&str> = turn["urls"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    assert!(urls.iter().any(|u| u.starts_with("turn:") && u.ends_with("transport=udp")));
    assert!(urls.iter().any(|u| u.starts_with("turn:") && u.ends_with("transport=tcp")));
    // The box serves its self-signed certificate: browsers could not use TURN over TLS with it.
    assert!(!urls.iter().any(|u| u.starts_with("turns:")), "{urls:?}");
    let join = alice.json();
    assert_eq!(join, json!({"type": "presence", "event": "join", "peer": {"gid": "room", "pid": "bob"}}));
}

#[test]
fn turns_advertise_always_offers_turns_with_a_self_signed_certificate() {
    let b = boot(&["--public-ip", "192.0.2.10", "--turns-advertise", "always"]);
    let w = b.ws().auth(&b.token("room", "bob"));
    let urls = w["ice_servers"][1]["urls"].as_array().unwrap();
    assert!(urls.iter().any(|u| u.as_str().unwrap().starts_with("turns:192.0.2.10:")), "{urls:?}");
}

#[test]
fn signals_are_relayed_and_acked_and_unreachable_peers_are_unavailable() {
    let b = boot(&[]);
    let mut alice = b.joined("room", "alice");
    let mut bob = b.joined("room", "bob");
    alice.json(); // bob's join
    alice.send(json!({"type": "signal", "to": {"gid": "room", "pid": "bob"}, "data": {"sdp": "v=0"}, "id": 1}));
    assert_eq!(bob.json(), json!({"type": "signal", "from": {"gid": "room", "pid": "alice"}, "data": {"sdp": "v=0"}}));
    assert_eq!(alice.json(), json!({"type": "ack", "id": 1}));
    alice.send(json!({"type": "signal", "to": {"gid": "room", "pid": "nobody"}, "data": 1, "id": 2}));
    let e = alice.json();
    assert_eq!((e["code"].as_str(), e["id"].as_u64()), (Some("peer_unavailable"), Some(2)));
    alice.send(json!({"type": "ping", "id": 3}));
    assert_eq!(alice.json(), json!({"type": "pong", "id": 3}));
    drop(bob);
    assert_eq!(alice.json()["event"], "leave");
}

#[test]
fn no_auth_in_time_closes_4001_and_a_non_auth_first_message_too() {
    let b = boot(&["--signal-auth-timeout-secs", "1"]);
    let mut idle = b.ws();
    let start = Instant::now();
    assert_eq!(idle.close_code(Duration::from_secs(5)), 4001);
    assert!(start.elapsed() >= Duration::from_millis(900));
    let mut rude = b.ws();
    rude.send(json!({"type": "ping", "id": 1}));
    assert_eq!(rude.close_code(Duration::from_secs(5)), 4001);
}

#[test]
fn a_bad_token_closes_4002() {
    let b = boot(&[]);
    for token in
        ["garbage".to_owned(), b.token("room", "a").replace('.', "x"), b.token_with("room", "a", None, 600) + "x"]
    {
        let mut ws = b.ws();
        ws.send(json!({"type": "auth", "token": token}));
        assert_eq!(ws.close_code(Duration::from_secs(5)), 4002);
    }
}

#[test]
fn deleting_the_key_closes_live_sessions_4003_within_2_seconds() {
    let b = boot(&[]);
    let mut alice = b.joined("room", "alice");
    let start = Instant::now();
    ok(&["key", "delete", "--data-dir", b.data_dir().to_str().unwrap(), &b.kid]);
    assert_eq!(alice.close_code(Duration::from_secs(3)), 4003);
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    let mut again = b.ws();
    again.send(json!({"type": "auth", "token": b.token("room", "alice")}));
    assert_eq!(again.close_code(Duration::from_secs(3)), 4002);
}

#[test]
fn expiry_closes_4004_and_a_refresh_avoids_it() {
    let b = boot(&["--token-leeway-secs", "0"]);
    let mut short = b.ws();
    let w = short.auth(&b.token_with("room", "short", None, 2));
    assert_eq!(w["type"], "welcome");
    // exp is 2 s away: the "expiring" notice (60 s before) comes at once, then the close.
    assert_eq!(short.json()["type"], "expiring");
    assert_eq!(short.close_code(Duration::from_secs(5)), 4004);

    let mut kept = b.ws();
    kept.auth(&b.token_with("room", "kept", None, 2));
    assert_eq!(kept.json()["type"], "expiring");
    kept.send(json!({"type": "refresh", "token": b.token_with("room", "kept", None, 600)}));
    let r = kept.json();
    assert_eq!(r["type"], "refreshed", "{r}");
    assert!(r["ice_servers"].is_array());
    assert_eq!(kept.recv_within(Duration::from_secs(3)), Got::Timeout, "still open after the first exp");
    // A refresh for another identity is refused and the session keeps its token.
    kept.send(json!({"type": "refresh", "token": b.token_with("room", "someone-else", None, 600)}));
    assert_eq!(kept.json()["code"], "token_invalid");
}

#[test]
fn a_second_connection_of_the_same_peer_replaces_the_first_with_4005() {
    let b = boot(&[]);
    let mut watcher = b.joined("room", "w");
    let mut first = b.joined("room", "alice");
    assert_eq!(watcher.json()["event"], "join");
    let _second = b.joined("room", "alice");
    assert_eq!(first.close_code(Duration::from_secs(3)), 4005);
    assert_eq!(watcher.recv_within(Duration::from_millis(500)), Got::Timeout, "no leave or join");
}

#[test]
fn flooding_gets_rate_limited_then_closed_4008() {
    let b = boot(&[]);
    let mut ws = b.joined("room", "flood");
    for i in 0..130 {
        ws.send(json!({"type": "ping", "id": i}));
    }
    let mut limited = 0;
    let code = loop {
        match ws.recv() {
            Got::Json(m) if m["code"] == "rate_limited" => limited += 1,
            Got::Json(_) => {}
            Got::Closed(c) => break c,
            Got::Timeout => panic!("no close"),
        }
    };
    assert!(limited >= 1);
    assert_eq!(code, 4008);
}

#[test]
fn an_oversize_message_closes_1009() {
    let b = boot(&[]);
    let mut ws = b.joined("room", "big");
    ws.send_frame_header_claiming(70 * 1024);
    assert_eq!(ws.close_code(Duration::from_secs(3)), 1009);
    // The whole oversize frame, unread by the server when it closes: the close frame must still
    // arrive (read bytes are drained, not left to turn the close into a reset).
    let mut ws = b.joined("room", "bigger");
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(200u64 * 1024).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + 200 * 1024, 0);
    ws.send_raw(&frame);
    assert_eq!(ws.close_code(Duration::from_secs(3)), 1009);
}

#[test]
fn websocket_violations_close_1002_and_broken_utf8_closes_1007() {
    let b = boot(&[]);
    // An unmasked text frame "Hello" (RFC 6455 §5.7): only a server may send one.
    let mut ws = b.joined("room", "unmasked");
    ws.send_raw(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
    assert_eq!(ws.close_code(Duration::from_secs(3)), 1002);
    // A reserved bit without a negotiated extension (what permessage-deflate would set).
    let mut ws = b.joined("room", "rsv");
    ws.send_raw(&[0xC1, 0x80, 1, 2, 3, 4]);
    assert_eq!(ws.close_code(Duration::from_secs(3)), 1002);
    // A masked text frame whose payload (0xFF 0xFE) is not UTF-8.
    let mut ws = b.joined("room", "latin1");
    ws.send_raw(&[0x81, 0x82, 0, 0, 0, 0, 0xFF, 0xFE]);
    assert_eq!(ws.close_code(Duration::from_secs(3)), 1007);
}

#[test]
fn a_client_ping_is_ponged_and_a_client_close_is_answered_with_its_code() {
    use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use async_tungstenite::tungstenite::protocol::CloseFrame;
    use async_tungstenite::tungstenite::Message;
    let b = boot(&[]);
    let mut ws = b.joined("room", "polite");
    ws.inner.send(Message::Ping(b"are you there".to_vec().into())).unwrap();
    loop {
        match ws.inner.read().unwrap() {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"are you there");
                break;
            }
            Message::Text(_) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    let frame = CloseFrame { code: CloseCode::from(4321), reason: "bye".into() };
    ws.inner.close(Some(frame)).unwrap();
    assert_eq!(ws.close_code(Duration::from_secs(3)), 4321);
}

#[test]
fn malformed_messages_get_bad_request_without_closing_until_the_abuse_threshold() {
    let b = boot(&[]);
    let mut ws = b.joined("room", "messy");
    let bad = [
        "{not json",
        r#"{"type":"signal","to":{"gid":"room","pid":"x"},"id":"seven"}"#,
        r#"{"type":"signal","to":"bob","id":7}"#,
        r#"{"type":"teleport","id":8}"#,
        r#"{"type":"auth","token":"again"}"#,
    ];
    for text in bad {
        ws.send_text(text);
        let e = ws.json();
        assert_eq!(e["code"], "bad_request", "{text}: {e}");
    }
    ws.send_binary(b"\x00\x01");
    assert_eq!(ws.json()["code"], "bad_request");
    ws.send(json!({"type": "ping", "id": 1}));
    assert_eq!(ws.json()["type"], "pong", "still open after 6 errors");
    for _ in 0..5 {
        ws.send_text("[]");
    }
    assert_eq!(ws.close_code(Duration::from_secs(3)), 4008);
}

#[test]
fn policies_that_do_not_match_hide_peers_from_each_other() {
    let b = boot(&[]);
    let mut agent = b.ws();
    agent.auth(&b.token_with("support", "agent", Some(("*", "*")), 600));
    let mut alice = b.ws();
    let w = alice.auth(&b.token("room", "alice"));
    assert_eq!(w["peers"], json!([]));
    alice.send(json!({"type": "signal", "to": {"gid": "support", "pid": "agent"}, "data": 1, "id": 5}));
    assert_eq!(alice.json()["code"], "peer_unavailable");
    assert_eq!(agent.recv_within(Duration::from_millis(300)), Got::Timeout);
}

#[test]
fn shutdown_closes_1001_and_exits_zero_promptly() {
    let b = boot(&[]);
    let mut ws = b.joined("room", "alice");
    let Box { server, _tmp, .. } = b;
    // This client answers nothing while the server shuts down: the server's close handshake
    // times out and it still exits 0 within the 5 s budget.
    let (status, took) = server.terminate(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(ws.close_code(Duration::from_secs(5)), 1001);
}

#[test]
fn plain_http_to_the_signal_endpoint_is_refused_clearly() {
    let b = boot(&[]);
    let r = common::https::request(b.server.signal, "GET", "/v1/signal").unwrap();
    assert_eq!(r.status, 400);
    assert!(r.body.contains("WebSocket"));
}

#[test]
fn a_reader_that_falls_too_far_behind_is_closed_4007() {
    let b = boot(&["--signal-max-queued-bytes", "262144"]);
    let mut slow = b.joined("room", "slow");
    let payload = "y".repeat(60 * 1024);
    // Three senders within their bursts push ~17 MiB at a reader that reads nothing, more than
    // the loopback socket buffers hold, so the server's queue for it must grow past the limit.
    let mut senders: Vec<Ws> = (0..3).map(|i| b.joined("room", &format!("s{i}"))).collect();
    for s in senders.iter_mut() {
        for _ in 0..95 {
            s.send_text_lossy(
                &json!({"type": "signal", "to": {"gid": "room", "pid": "slow"}, "data": payload}).to_string(),
            );
        }
    }
    assert_eq!(slow.close_code(Duration::from_secs(20)), 4007);
}
