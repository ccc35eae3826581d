//! Scenario tests of the TURN core on virtual time: authentication, lifetimes to the second,
//! quotas, the peer policy, the data path and revocation.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::proto::addr_policy::{Cidr, PeerPolicy};
use crate::proto::ice::{turn_credential, turn_username};
use crate::proto::stun::attr::{self, AttrType};
use crate::proto::stun::{Class, ErrorCode, IntegrityAlg, LongTermKey, Message, MessageBuilder, Method, TransactionId};
use crate::unixtime::UnixTime;

#[path = "proptests.rs"]
mod proptests;

const SECRET: &[u8] = b"test-secret-text";
const REALM: &str = "edgebeam";
const T0: i64 = 1_800_000_000;

fn config() -> TurnConfig {
    TurnConfig {
        realm: REALM.into(),
        software: "edgebeam-test".into(),
        default_lifetime: Duration::from_secs(600),
        max_lifetime: Duration::from_secs(3600),
        nonce_lifetime: Duration::from_secs(600),
        max_allocations_per_peer: 64,
        max_allocations_per_project: 1000,
        max_permissions_per_allocation: 4,
        max_channels_per_allocation: 4,
        bandwidth_bytes_per_sec: 1_000_000,
        auth_failures_per_minute: 5,
        stream_auth_deadline: Duration::from_secs(30),
        relay_v4: true,
        relay_v6: false,
    }
}

fn policy() -> PeerPolicy {
    // The box: a LAN address its relays are announced on, and a docker bridge's.
    let own: [std::net::IpAddr; 2] = ["192.168.1.10".parse().unwrap(), "172.17.0.1".parse().unwrap()];
    PeerPolicy::new(vec![], vec![Cidr::parse("10.9.0.0/16").unwrap()], own, 49152..=65535)
}

struct World {
    server: Server,
    start: Instant,
    elapsed: Duration,
    next_tid: u32,
    /// Commands other than `BindRelay` that `settle` drained, in order.
    commands: Vec<Command>,
}

struct Creds {
    username: String,
    key: LongTermKey,
    nonce: String,
}

fn udp(addr: &str) -> Client {
    Client { transport: Transport::Udp, conn: 0, addr: addr.parse().unwrap() }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl World {
    fn new() -> World {
        let secrets = Secrets { current: SECRET.to_vec(), previous: None };
        World {
            server: Server::new(config(), policy(), secrets, b"nonce-key"),
            start: Instant::now(),
            elapsed: Duration::ZERO,
            next_tid: 0,
            commands: Vec::new(),
        }
    }

    fn now(&self) -> Now {
        Now { mono: self.start + self.elapsed, wall: UnixTime(T0 + self.elapsed.as_secs() as i64) }
    }

    fn advance(&mut self, secs: u64) {
        self.elapsed += Duration::from_secs(secs);
        let now = self.now();
        self.server.handle_timeout(now);
    }

    fn tid(&mut self) -> TransactionId {
        self.next_tid += 1;
        let mut t = [7u8; 12];
        t[..4].copy_from_slice(&self.next_tid.to_be_bytes());
        TransactionId(t)
    }

    fn creds(&self, exp_in: i64, pid: &str) -> Creds {
        let username = turn_username(T0 + self.elapsed.as_secs() as i64 + exp_in, "prj_a", "room", pid);
        let password = turn_credential(SECRET, &username);
        Creds { key: LongTermKey::new(&username, REALM, &password), username, nonce: String::new() }
    }

    /// Sends `bytes` from `client`, binds relays as the shell would, and returns the replies.
    fn send(&mut self, client: Client, bytes: &[u8]) -> Vec<Vec<u8>> {
        let now = self.now();
        let _ = self.server.handle_client(client, bytes, now);
        self.settle()
    }

    fn settle(&mut self) -> Vec<Vec<u8>> {
        let now = self.now();
        while let Some(cmd) = self.server.poll_command() {
            if let Command::BindRelay { alloc, .. } = cmd {
                let port = 50000 + alloc.0 as u16;
                self.server.handle_relay_bound(
                    alloc,
                    Some(SocketAddr::new("192.168.1.10".parse().unwrap(), port)),
                    now,
                );
            } else {
                self.commands.push(cmd);
            }
        }
        let mut out = Vec::new();
        while let Some(t) = self.server.poll_transmit() {
            out.push(t.bytes);
        }
        out
    }

    /// Builds an authenticated request; `fill` adds the method's attributes.
    fn request(&mut self, method: Method, creds: &Creds, fill: impl FnOnce(&mut MessageBuilder)) -> Vec<u8> {
        let mut b = MessageBuilder::new(Class::Request, method, self.tid());
        fill(&mut b);
        b.text(AttrType::USERNAME, &creds.username);
        b.text(AttrType::REALM, REALM);
        b.text(AttrType::NONCE, &creds.nonce);
        b.finish(Some((IntegrityAlg::Sha1, &creds.key)), true)
    }

    /// Runs the 401 challenge to obtain a nonce, then allocates; returns the decoded reply.
    fn allocate(&mut self, client: Client, creds: &mut Creds) -> (Class, Option<u16>, Vec<u8>) {
        let tid = self.tid();
        let mut b = MessageBuilder::new(Class::Request, Method::ALLOCATE, tid);
        b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        let replies = self.send(client, &b.finish(None, true));
        let challenge = Message::decode(&replies[0]).unwrap();
        assert_eq!(code(&challenge), Some(401));
        creds.nonce = challenge.text(AttrType::NONCE).unwrap().unwrap().to_owned();
        let req = self.request(Method::ALLOCATE, creds, |b| {
            b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        });
        let reply = self.send(client, &req).remove(0);
        let m = Message::decode(&reply).unwrap();
        (m.class, code(&m), reply.clone())
    }
}

fn code(m: &Message<'_>) -> Option<u16> {
    m.get(AttrType::ERROR_CODE).map(|v| attr::decode_error_code(v).unwrap().0)
}

fn reply_code(bytes: &[u8]) -> Option<u16> {
    code(&Message::decode(bytes).unwrap())
}

fn lifetime(bytes: &[u8]) -> u32 {
    Message::decode(bytes).unwrap().u32(AttrType::LIFETIME).unwrap().unwrap()
}

#[test]
fn binding_request_returns_the_clients_address() {
    let mut w = World::new();
    let req = MessageBuilder::new(Class::Request, Method::BINDING, TransactionId([1; 12])).finish(None, true);
    let reply = w.send(udp("198.51.100.7:4000"), &req).remove(0);
    let m = Message::decode(&reply).unwrap();
    assert_eq!(m.class, Class::Success);
    assert_eq!(m.xor_address(AttrType::XOR_MAPPED_ADDRESS).unwrap().unwrap(), sa("198.51.100.7:4000"));
}

#[test]
fn a_dual_stack_listener_reports_ipv4_clients_in_ipv4_form() {
    let mut w = World::new();
    let req = MessageBuilder::new(Class::Request, Method::BINDING, TransactionId([1; 12])).finish(None, false);
    let reply = w.send(udp("[::ffff:198.51.100.7]:4000"), &req).remove(0);
    let m = Message::decode(&reply).unwrap();
    assert_eq!(m.xor_address(AttrType::XOR_MAPPED_ADDRESS).unwrap().unwrap(), sa("198.51.100.7:4000"));
}

#[test]
fn allocate_succeeds_with_rest_credentials_and_default_lifetime() {
    let mut w = World::new();
    let mut c = w.creds(3600, "alice");
    let (class, err, reply) = w.allocate(udp("10.0.0.2:5000"), &mut c);
    assert_eq!((class, err), (Class::Success, None));
    let m = Message::decode(&reply).unwrap();
    assert!(m.verify_integrity(&c.key).is_ok());
    assert_eq!(m.xor_address(AttrType::XOR_RELAYED_ADDRESS).unwrap().unwrap(), sa("192.168.1.10:50001"));
    assert_eq!(m.xor_address(AttrType::XOR_MAPPED_ADDRESS).unwrap().unwrap(), sa("10.0.0.2:5000"));
    assert_eq!(lifetime(&reply), 600);
    assert_eq!(w.server.totals().allocations, 1);
}

#[test]
fn wrong_password_expired_username_and_wrong_realm_get_401() {
    let mut w = World::new();
    let mut c = w.creds(3600, "alice");
    c.key = LongTermKey::new(&c.username, REALM, "not-the-password");
    assert_eq!(w.allocate(udp("10.0.0.2:5000"), &mut c).1, Some(401));
    let mut expired = w.creds(-1, "alice");
    assert_eq!(w.allocate(udp("10.0.0.2:5001"), &mut expired).1, Some(401));
    let mut c = w.creds(3600, "alice");
    c.key = LongTermKey::new(&c.username, "other", &turn_credential(SECRET, &c.username));
    let tid_req = {
        let mut b = MessageBuilder::new(Class::Request, Method::ALLOCATE, TransactionId([9; 12]));
        b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        b.finish(None, false)
    };
    let nonce_reply = w.send(udp("10.0.0.2:5002"), &tid_req).remove(0);
    let nonce = Message::decode(&nonce_reply).unwrap().text(AttrType::NONCE).unwrap().unwrap().to_owned();
    let mut b = MessageBuilder::new(Class::Request, Method::ALLOCATE, TransactionId([8; 12]));
    b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    b.text(AttrType::USERNAME, &c.username).text(AttrType::REALM, "other").text(AttrType::NONCE, &nonce);
    let reply = w.send(udp("10.0.0.2:5002"), &b.finish(Some((IntegrityAlg::Sha1, &c.key)), false)).remove(0);
    assert_eq!(reply_code(&reply), Some(401));
    assert_eq!(w.server.totals().allocations, 0);
}

#[test]
fn a_nonce_goes_stale_after_its_lifetime_and_earns_438() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(7200, "alice");
    assert_eq!(w.allocate(client, &mut c).1, None);
    w.advance(599);
    let req = w.request(Method::REFRESH, &c, |_| {});
    assert_eq!(reply_code(&w.send(client, &req)[0]), None);
    w.advance(1);
    let req = w.request(Method::REFRESH, &c, |_| {});
    let reply = w.send(client, &req).remove(0);
    let m = Message::decode(&reply).unwrap();
    assert_eq!(code(&m), Some(438));
    c.nonce = m.text(AttrType::NONCE).unwrap().unwrap().to_owned();
    let req = w.request(Method::REFRESH, &c, |_| {});
    assert_eq!(reply_code(&w.send(client, &req)[0]), None);
}

#[test]
fn an_allocation_expires_to_the_second_and_its_relay_is_closed() {
    let mut w = World::new();
    let mut c = w.creds(7200, "alice");
    w.allocate(udp("10.0.0.2:5000"), &mut c);
    w.advance(599);
    assert_eq!(w.server.totals().allocations, 1);
    w.advance(1);
    assert_eq!(w.server.totals().allocations, 0);
    assert_eq!(w.server.poll_command(), Some(Command::CloseRelay { alloc: AllocId(1) }));
}

#[test]
fn no_lifetime_outlives_the_credentials_expiry() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(100, "alice");
    let (_, _, reply) = w.allocate(client, &mut c);
    assert_eq!(lifetime(&reply), 100);
    w.advance(50);
    let req = w.request(Method::REFRESH, &c, |b| {
        b.u32(AttrType::LIFETIME, 3600);
    });
    assert_eq!(lifetime(&w.send(client, &req)[0]), 50);
    w.advance(49);
    assert_eq!(w.server.totals().allocations, 1);
    w.advance(1);
    assert_eq!(w.server.totals().allocations, 0);
}

#[test]
fn refreshing_in_a_loop_does_not_grow_the_timer_queue_and_expiry_still_follows() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(7200, "alice");
    w.allocate(client, &mut c);
    for _ in 0..1000 {
        let req = w.request(Method::REFRESH, &c, |b| {
            b.u32(AttrType::LIFETIME, 900);
        });
        assert_eq!(reply_code(&w.send(client, &req)[0]), None);
    }
    assert!(w.server.expiries.len() <= 2, "{} queued", w.server.expiries.len());
    // Shortening the lifetime is honoured to the second, as is the extension before it.
    w.advance(100);
    let req = w.request(Method::REFRESH, &c, |_| {});
    assert_eq!(lifetime(&w.send(client, &req)[0]), 600);
    w.advance(599);
    assert_eq!(w.server.totals().allocations, 1);
    w.advance(1);
    assert_eq!(w.server.totals().allocations, 0);
}

#[test]
fn refresh_with_lifetime_zero_deletes_and_a_second_allocate_is_a_mismatch() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    let req = w.request(Method::ALLOCATE, &c, |b| {
        b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    });
    assert_eq!(reply_code(&w.send(client, &req)[0]), Some(437));
    let req = w.request(Method::REFRESH, &c, |b| {
        b.u32(AttrType::LIFETIME, 0);
    });
    let reply = w.send(client, &req).remove(0);
    assert_eq!((reply_code(&reply), lifetime(&reply)), (None, 0));
    assert_eq!(w.server.totals().allocations, 0);
    let req = w.request(Method::REFRESH, &c, |_| {});
    assert_eq!(reply_code(&w.send(client, &req)[0]), Some(437));
}

#[test]
fn a_retransmitted_allocate_gets_the_same_success() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    let (_, _, first) = w.allocate(client, &mut c);
    let tid = Message::decode(&first).unwrap().tid;
    let mut b = MessageBuilder::new(Class::Request, Method::ALLOCATE, tid);
    b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    b.text(AttrType::USERNAME, &c.username).text(AttrType::REALM, REALM).text(AttrType::NONCE, &c.nonce);
    let again = w.send(client, &b.finish(Some((IntegrityAlg::Sha1, &c.key)), true)).remove(0);
    let m = Message::decode(&again).unwrap();
    assert_eq!((m.class, m.tid), (Class::Success, tid));
    assert_eq!(m.xor_address(AttrType::XOR_RELAYED_ADDRESS).unwrap().unwrap(), sa("192.168.1.10:50001"));
}

#[test]
fn the_65th_allocation_of_one_peer_hits_the_quota() {
    let mut w = World::new();
    for port in 0..64 {
        let mut c = w.creds(3600, "alice");
        assert_eq!(w.allocate(udp(&format!("10.0.0.2:{}", 6000 + port)), &mut c).1, None);
    }
    let mut c = w.creds(3600, "alice");
    assert_eq!(w.allocate(udp("10.0.0.2:7000"), &mut c).1, Some(486));
    let mut bob = w.creds(3600, "bob");
    assert_eq!(w.allocate(udp("10.0.0.2:7001"), &mut bob).1, None);
}

#[test]
fn forbidden_peers_get_403_and_lan_peers_are_allowed() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    let forbidden = ["127.0.0.1:5000", "169.254.169.254:8080", "10.0.0.3:80", "10.9.1.1:5000", "192.168.1.10:3478"];
    for (i, peer) in forbidden.iter().enumerate() {
        let req = w.request(Method::CHANNEL_BIND, &c, |b| {
            b.bytes(AttrType::CHANNEL_NUMBER, &[0x40, i as u8, 0, 0]);
            b.xor_address(AttrType::XOR_PEER_ADDRESS, sa(peer));
        });
        assert_eq!(reply_code(&w.send(client, &req)[0]), Some(403), "{peer}");
        // A permission covers every port of an address, so only the address is judged.
        let by_address = i < 2 || peer.starts_with("10.9.");
        let req = w.request(Method::CREATE_PERMISSION, &c, |b| {
            b.xor_address(AttrType::XOR_PEER_ADDRESS, sa(peer));
        });
        let expected = if by_address { Some(403) } else { None };
        assert_eq!(reply_code(&w.send(client, &req)[0]), expected, "{peer}");
    }
    // ... and a Send indication to a forbidden port of a permitted address is dropped.
    let send = {
        let mut b = MessageBuilder::new(Class::Indication, Method::SEND, TransactionId([3; 12]));
        b.xor_address(AttrType::XOR_PEER_ADDRESS, sa("10.0.0.3:80")).bytes(AttrType::DATA, b"x");
        b.finish(None, false)
    };
    assert!(w.server.handle_client(client, &send, w.now()).is_none());
    for peer in ["10.0.0.3:5000", "192.168.1.10:50009", "[::ffff:10.0.0.4]:5000"] {
        let req = w.request(Method::CREATE_PERMISSION, &c, |b| {
            b.xor_address(AttrType::XOR_PEER_ADDRESS, sa(peer));
        });
        let code = reply_code(&w.send(client, &req)[0]);
        // The IPv4-mapped form is the IPv4 peer, not an IPv6 one.
        assert_eq!(code, None, "{peer}");
    }
    // On its own address, the box is reachable only on ports where a relay is bound now.
    for (i, (peer, expected)) in
        [("192.168.1.10:50009", Some(403)), ("192.168.1.10:50001", None)].into_iter().enumerate()
    {
        let req = w.request(Method::CHANNEL_BIND, &c, |b| {
            b.bytes(AttrType::CHANNEL_NUMBER, &[0x41, i as u8, 0, 0]);
            b.xor_address(AttrType::XOR_PEER_ADDRESS, sa(peer));
        });
        assert_eq!(reply_code(&w.send(client, &req)[0]), expected, "{peer}");
    }
}

fn send_indication(peer: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut b = MessageBuilder::new(Class::Indication, Method::SEND, TransactionId([3; 12]));
    b.xor_address(AttrType::XOR_PEER_ADDRESS, peer).bytes(AttrType::DATA, data);
    b.finish(None, false)
}

fn channel_bind(w: &mut World, client: Client, c: &Creds, number: u16, peer: SocketAddr) -> Option<u16> {
    let req = w.request(Method::CHANNEL_BIND, c, |b| {
        b.bytes(AttrType::CHANNEL_NUMBER, &[(number >> 8) as u8, number as u8, 0, 0]);
        b.xor_address(AttrType::XOR_PEER_ADDRESS, peer);
    });
    reply_code(&w.send(client, &req)[0])
}

#[test]
fn another_own_address_on_a_live_relays_port_is_not_that_relay() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    // The relay is 192.168.1.10:50001; the docker bridge's address on that port is some other
    // socket of the box (or none), not the relay.
    let elsewhere = sa("172.17.0.1:50001");
    assert_eq!(channel_bind(&mut w, client, &c, 0x4000, elsewhere), Some(403));
    let req = w.request(Method::CREATE_PERMISSION, &c, |b| {
        b.xor_address(AttrType::XOR_PEER_ADDRESS, elsewhere);
    });
    assert_eq!(reply_code(&w.send(client, &req)[0]), None, "a permission judges the address alone");
    assert!(w.server.handle_client(client, &send_indication(elsewhere, b"x"), w.now()).is_none());
    let mapped = sa("[::ffff:172.17.0.1]:50001");
    assert!(w.server.handle_client(client, &send_indication(mapped, b"x"), w.now()).is_none());
    // The relay itself, at its own address, is reachable.
    assert_eq!(channel_bind(&mut w, client, &c, 0x4001, sa("192.168.1.10:50001")), None);
}

#[test]
fn a_channel_to_a_relay_of_this_box_ends_when_that_relay_closes() {
    let mut w = World::new();
    let (alice, bob) = (udp("10.0.0.2:5000"), udp("10.0.0.3:5000"));
    let (mut a, mut b) = (w.creds(3600, "alice"), w.creds(3600, "bob"));
    w.allocate(alice, &mut a);
    w.allocate(bob, &mut b);
    let bobs_relay = sa("192.168.1.10:50002");
    assert_eq!(channel_bind(&mut w, alice, &a, 0x4000, bobs_relay), None);
    let data = [0x40, 0x00, 0x00, 0x02, b'h', b'i'];
    let fwd = w.server.handle_client(alice, &data, w.now()).map(|f| (f.alloc, f.peer));
    assert_eq!(fwd, Some((AllocId(1), bobs_relay)));
    // Bob leaves: his port may now be bound by any socket of the box.
    let req = w.request(Method::REFRESH, &b, |m| {
        m.u32(AttrType::LIFETIME, 0);
    });
    w.send(bob, &req);
    assert!(w.server.handle_client(alice, &data, w.now()).is_none(), "ChannelData to a closed relay");
    assert!(w.server.handle_client(alice, &send_indication(bobs_relay, b"hi"), w.now()).is_none());
    assert_eq!(channel_bind(&mut w, alice, &a, 0x4000, bobs_relay), Some(403));
    // Channels to peers that are not this box's relays are untouched.
    let lan = sa("10.0.0.9:7000");
    assert_eq!(channel_bind(&mut w, alice, &a, 0x4001, lan), None);
    let mut carol = w.creds(3600, "carol");
    w.allocate(udp("10.0.0.4:5000"), &mut carol);
    w.server.handle_client_closed(udp("10.0.0.4:5000"));
    let data = [0x40, 0x01, 0x00, 0x02, b'h', b'i'];
    assert!(w.server.handle_client(alice, &data, w.now()).is_some());
    assert!(w.server.channels_to_relays.is_empty(), "{:?}", w.server.channels_to_relays);
}

#[test]
fn channel_data_flows_both_ways_once_bound_and_not_before() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    let peer = sa("10.0.0.3:6000");
    let data = [0x40, 0x00, 0x00, 0x03, b'a', b'b', b'c'];
    assert!(w.server.handle_client(client, &data, w.now()).is_none());
    let mut out = Vec::new();
    assert!(w.server.handle_peer(AllocId(1), peer, b"xyz", w.now(), &mut out).is_none());
    let req = w.request(Method::CHANNEL_BIND, &c, |b| {
        b.bytes(AttrType::CHANNEL_NUMBER, &[0x40, 0x00, 0, 0]);
        b.xor_address(AttrType::XOR_PEER_ADDRESS, peer);
    });
    assert_eq!(reply_code(&w.send(client, &req)[0]), None);
    let now = w.now();
    let fwd = w.server.handle_client(client, &data, now).unwrap();
    assert_eq!((fwd.alloc, fwd.peer, fwd.payload), (AllocId(1), peer, &b"abc"[..]));
    assert_eq!(w.server.handle_peer(AllocId(1), peer, b"xyz", now, &mut out), Some(client));
    assert_eq!(out, [0x40, 0x00, 0x00, 0x03, b'x', b'y', b'z']);
    // Another channel number for the same peer is a conflict.
    let req = w.request(Method::CHANNEL_BIND, &c, |b| {
        b.bytes(AttrType::CHANNEL_NUMBER, &[0x40, 0x01, 0, 0]);
        b.xor_address(AttrType::XOR_PEER_ADDRESS, peer);
    });
    assert_eq!(reply_code(&w.send(client, &req)[0]), Some(400));
    let req = w.request(Method::CHANNEL_BIND, &c, |b| {
        b.bytes(AttrType::CHANNEL_NUMBER, &[0x80, 0x00, 0, 0]);
        b.xor_address(AttrType::XOR_PEER_ADDRESS, sa("10.0.0.5:6000"));
    });
    assert_eq!(reply_code(&w.send(client, &req)[0]), Some(400));
    let usage = w.server.take_usage();
    assert_eq!(usage.values().next().unwrap().0, Usage { bytes: 6, packets: 2 });
}

#[test]
fn send_indications_need_a_permission_and_peers_answer_with_data_indications() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    let peer = sa("10.0.0.3:6000");
    let send = {
        let mut b = MessageBuilder::new(Class::Indication, Method::SEND, TransactionId([3; 12]));
        b.xor_address(AttrType::XOR_PEER_ADDRESS, peer).bytes(AttrType::DATA, b"hello");
        b.finish(None, true)
    };
    assert!(w.server.handle_client(client, &send, w.now()).is_none());
    let req = w.request(Method::CREATE_PERMISSION, &c, |b| {
        b.xor_address(AttrType::XOR_PEER_ADDRESS, sa("10.0.0.3:1"));
    });
    assert_eq!(reply_code(&w.send(client, &req)[0]), None);
    assert_eq!(w.server.handle_client(client, &send, w.now()).unwrap().payload, b"hello");
    let mut out = Vec::new();
    assert_eq!(w.server.handle_peer(AllocId(1), sa("10.0.0.3:7777"), b"back", w.now(), &mut out), Some(client));
    let m = Message::decode(&out).unwrap();
    assert_eq!((m.class, m.method), (Class::Indication, Method::DATA));
    assert_eq!(m.xor_address(AttrType::XOR_PEER_ADDRESS).unwrap().unwrap(), sa("10.0.0.3:7777"));
    assert_eq!(m.get(AttrType::DATA).unwrap(), b"back");
    // Permissions last 300 s.
    w.advance(300);
    assert!(w.server.handle_client(client, &send, w.now()).is_none());
}

#[test]
fn revoked_usernames_lose_their_allocations_and_get_401_until_they_expire() {
    let mut w = World::new();
    let mut c = w.creds(100, "alice");
    w.allocate(udp("10.0.0.2:5000"), &mut c);
    let mut other = w.creds(3600, "bob");
    w.allocate(udp("10.0.0.2:5001"), &mut other);
    assert_eq!(w.server.handle_revoke([c.username.clone(), "junk".to_owned()]), 1);
    assert_eq!(w.server.totals().allocations, 1);
    assert_eq!(w.allocate(udp("10.0.0.2:5002"), &mut c).1, Some(401));
    // Refused without counting against the source: the failure count did not move.
    assert_eq!(w.server.totals().auth_failures, 0);
    // The revoked entry lives as long as the username, then goes (the username is expired then).
    w.advance(99);
    assert_eq!(w.server.revoked.count(), 1);
    w.advance(31);
    assert_eq!(w.server.revoked.count(), 0);
}

#[test]
fn a_kicked_identity_loses_its_allocations_and_their_credentials_get_401_until_they_expire() {
    let mut w = World::new();
    let mut c = w.creds(3600, "alice");
    w.allocate(udp("10.0.0.2:5000"), &mut c);
    let mut bob = w.creds(3600, "bob");
    w.allocate(udp("10.0.0.2:5001"), &mut bob);
    let who = TurnUserIdentity::of(&c.username);
    assert_eq!(w.server.handle_kick(&who), 1);
    assert_eq!(w.server.totals().allocations, 1);
    assert_eq!(w.allocate(udp("10.0.0.2:5002"), &mut c).1, Some(401));
    w.advance(3599);
    assert_eq!(w.allocate(udp("10.0.0.2:5003"), &mut c).1, Some(401));
    // Credentials handed out after the kick (a new token, so a new EXPIRY) work.
    let mut fresh = w.creds(3600, "alice");
    assert_eq!(w.allocate(udp("10.0.0.2:5004"), &mut fresh).1, None);
    assert_eq!(w.allocate(udp("10.0.0.2:5005"), &mut bob).1, None, "another identity is untouched");
}

#[test]
fn allocations_of_counts_each_peer_of_one_project() {
    let mut w = World::new();
    let mut alice = w.creds(3600, "alice");
    let mut bob = w.creds(3600, "bob");
    for port in [5000, 5001] {
        assert_eq!(w.allocate(udp(&format!("10.0.0.2:{port}")), &mut alice).1, None);
    }
    assert_eq!(w.allocate(udp("10.0.0.3:5000"), &mut bob).1, None);
    // The same gid and pid in another project is another identity.
    let username = turn_username(T0 + 3600, "prj_b", "room", "alice");
    let password = turn_credential(SECRET, &username);
    let mut other = Creds { key: LongTermKey::new(&username, REALM, &password), username, nonce: String::new() };
    assert_eq!(w.allocate(udp("10.0.0.4:5000"), &mut other).1, None);

    let of = |w: &World, project: &str| {
        let mut v: Vec<(String, u32)> = w
            .server
            .allocations_of(&ProjectId::parse(project).unwrap())
            .into_iter()
            .map(|((gid, pid), n)| (format!("{gid}/{pid}"), n))
            .collect();
        v.sort();
        v
    };
    assert_eq!(of(&w, "prj_a"), [("room/alice".to_owned(), 2), ("room/bob".to_owned(), 1)]);
    assert_eq!(of(&w, "prj_b"), [("room/alice".to_owned(), 1)]);
    assert!(of(&w, "prj_c").is_empty());
    w.server.handle_kick(&TurnUserIdentity::of(&alice.username));
    assert_eq!(of(&w, "prj_a"), [("room/bob".to_owned(), 1)], "a peer with none is left out");
}

struct TurnUserIdentity;
impl TurnUserIdentity {
    fn of(username: &str) -> Identity {
        auth::TurnUser::parse(username).unwrap().identity
    }
}

#[test]
fn the_previous_secret_works_only_during_its_grace() {
    let mut w = World::new();
    let until = UnixTime(T0 + 100);
    w.server.handle_secrets(Secrets { current: b"new-secret".to_vec(), previous: Some((SECRET.to_vec(), until)) });
    let mut c = w.creds(3600, "alice");
    assert_eq!(w.allocate(udp("10.0.0.2:5000"), &mut c).1, None);
    w.advance(100);
    let mut c = w.creds(3600, "alice");
    assert_eq!(w.allocate(udp("10.0.0.2:5001"), &mut c).1, Some(401));
}

#[test]
fn a_source_over_its_failure_limit_gets_challenges_without_an_integrity_check_for_a_minute() {
    let mut w = World::new();
    for i in 0..5 {
        let mut c = w.creds(3600, "alice");
        c.key = LongTermKey::new(&c.username, REALM, "wrong");
        assert_eq!(w.allocate(udp(&format!("10.0.0.2:{}", 5000 + i)), &mut c).1, Some(401));
    }
    assert_eq!(w.server.totals().auth_failures, 5);
    // Blocked: still answered (a client with a wrong password must learn it and give up), with
    // a challenge, whatever the credentials: the integrity is not checked, good or bad.
    for (i, password) in [Some("wrong"), None].into_iter().enumerate() {
        let mut c = w.creds(3600, "alice");
        if let Some(p) = password {
            c.key = LongTermKey::new(&c.username, REALM, p);
        }
        let (class, code, reply) = w.allocate(udp(&format!("10.0.0.2:{}", 6000 + i)), &mut c);
        assert_eq!((class, code), (Class::Error, Some(401)), "{password:?}");
        let m = Message::decode(&reply).unwrap();
        assert_eq!(m.text(AttrType::REALM).unwrap().unwrap(), REALM);
        assert_eq!(m.text(AttrType::NONCE).unwrap().unwrap().len(), 32);
        assert!(m.integrity_alg().is_none(), "a challenge is not signed");
    }
    // ... and not counted again, so the block ends when the minute does.
    assert_eq!(w.server.totals().auth_failures, 5);
    assert_eq!(w.server.totals().allocations, 0);
    w.advance(59);
    let mut c = w.creds(3600, "alice");
    assert_eq!(w.allocate(udp("10.0.0.2:6002"), &mut c).1, Some(401));
    w.advance(1);
    let mut c = w.creds(3600, "alice");
    assert_eq!(w.allocate(udp("10.0.0.2:6003"), &mut c).1, None);
}

#[test]
fn unknown_comprehension_required_attributes_get_420() {
    let mut w = World::new();
    let mut b = MessageBuilder::new(Class::Request, Method::ALLOCATE, TransactionId([5; 12]));
    b.bytes(AttrType(0x7F01), &[1, 2, 3, 4]).bytes(AttrType(0xC001), &[0; 4]);
    let reply = w.send(udp("10.0.0.2:5000"), &b.finish(None, false)).remove(0);
    let m = Message::decode(&reply).unwrap();
    assert_eq!(code(&m), Some(420));
    assert_eq!(m.get(AttrType::UNKNOWN_ATTRIBUTES).unwrap(), [0x7F, 0x01]);
}

#[test]
fn a_different_username_on_an_existing_allocation_gets_441() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    let mut other = w.creds(3000, "alice");
    other.nonce = c.nonce.clone();
    let req = w.request(Method::REFRESH, &other, |_| {});
    assert_eq!(reply_code(&w.send(client, &req)[0]), Some(441));
}

#[test]
fn unsupported_transport_family_and_bind_failure_are_refused() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    let mut b = MessageBuilder::new(Class::Request, Method::ALLOCATE, TransactionId([5; 12]));
    b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    let challenge = w.send(client, &b.finish(None, false)).remove(0);
    c.nonce = Message::decode(&challenge).unwrap().text(AttrType::NONCE).unwrap().unwrap().to_owned();
    let tcp = w.request(Method::ALLOCATE, &c, |b| {
        b.bytes(AttrType::REQUESTED_TRANSPORT, &[6, 0, 0, 0]);
    });
    assert_eq!(reply_code(&w.send(client, &tcp)[0]), Some(442));
    let v6 = w.request(Method::ALLOCATE, &c, |b| {
        b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        b.bytes(AttrType::REQUESTED_ADDRESS_FAMILY, &[2, 0, 0, 0]);
    });
    assert_eq!(reply_code(&w.send(client, &v6)[0]), Some(440));
    let ok = w.request(Method::ALLOCATE, &c, |b| {
        b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
    });
    let now = w.now();
    let _ = w.server.handle_client(client, &ok, now);
    let Some(Command::BindRelay { alloc, .. }) = w.server.poll_command() else { panic!("no bind") };
    w.server.handle_relay_bound(alloc, None, now);
    let reply = w.server.poll_transmit().unwrap().bytes;
    assert_eq!(reply_code(&reply), Some(ErrorCode::InsufficientCapacity.code()));
    assert_eq!(w.server.totals().allocations, 0);
}

#[test]
fn bandwidth_above_the_cap_is_dropped() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    let req = w.request(Method::CREATE_PERMISSION, &c, |b| {
        b.xor_address(AttrType::XOR_PEER_ADDRESS, sa("10.0.0.3:1"));
    });
    w.send(client, &req);
    let mut out = Vec::new();
    let payload = vec![0u8; 1000];
    let now = w.now();
    let passed = (0..1500)
        .filter(|_| w.server.handle_peer(AllocId(1), sa("10.0.0.3:9"), &payload, now, &mut out).is_some())
        .count();
    assert_eq!(passed, 1000);
    assert_eq!(w.server.totals().dropped_packets, 500);
}

#[test]
fn closing_a_stream_removes_its_allocation() {
    let mut w = World::new();
    let client = Client { transport: Transport::Tcp, conn: 7, addr: sa("10.0.0.2:5000") };
    let mut c = w.creds(3600, "alice");
    assert_eq!(w.allocate(client, &mut c).1, None);
    w.server.handle_client_closed(client);
    assert_eq!(w.server.totals().allocations, 0);
    assert_eq!(w.server.poll_command(), Some(Command::CloseRelay { alloc: AllocId(1) }));
}

#[test]
fn a_peer_datagram_too_big_for_a_data_indication_is_dropped() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    let req = w.request(Method::CREATE_PERMISSION, &c, |b| {
        b.xor_address(AttrType::XOR_PEER_ADDRESS, sa("10.0.0.3:1"));
    });
    w.send(client, &req);
    let mut out = Vec::new();
    let now = w.now();
    assert!(w.server.handle_peer(AllocId(1), sa("10.0.0.3:9"), &vec![0u8; 65_520], now, &mut out).is_none());
    assert!(w.server.handle_peer(AllocId(1), sa("10.0.0.3:9"), &vec![0u8; 1200], now, &mut out).is_some());
    assert_eq!(Message::decode(&out).unwrap().get(AttrType::DATA).unwrap().len(), 1200);
}

fn tcp(conn: u64, addr: &str) -> Client {
    Client { transport: Transport::Tcp, conn, addr: sa(addr) }
}

impl World {
    /// Advances to `secs` after the start and returns the commands the core has for the shell.
    fn commands_at(&mut self, secs: u64) -> Vec<Command> {
        self.advance(secs - self.elapsed.as_secs());
        self.settle();
        std::mem::take(&mut self.commands)
    }
}

#[test]
fn a_stream_without_an_allocation_is_closed_30_s_after_it_opened() {
    let mut w = World::new();
    let (early, late) = (tcp(1, "10.0.0.2:5000"), tcp(2, "10.0.0.2:5001"));
    let opened = w.now();
    w.server.handle_stream_opened(early, opened);
    w.advance(10);
    // A TLS client is reported after its handshake, with the time it connected.
    let mut at_accept = w.now();
    at_accept.mono -= Duration::from_secs(4);
    w.server.handle_stream_opened(late, at_accept);
    assert_eq!(w.server.poll_timeout(), Some(opened.mono + Duration::from_secs(30)));
    assert!(w.commands_at(29).is_empty());
    assert_eq!(w.commands_at(30), [Command::CloseStream { client: early }]);
    assert!(w.commands_at(35).is_empty());
    assert_eq!(w.commands_at(36), [Command::CloseStream { client: late }]);
    assert_eq!(w.server.totals().streams_timed_out, 2);
    assert!(w.server.pending_streams.is_empty());
}

#[test]
fn a_stream_that_allocates_is_authenticated_and_kept_past_the_deadline() {
    let mut w = World::new();
    let client = tcp(1, "10.0.0.2:5000");
    w.server.handle_stream_opened(client, w.now());
    w.advance(20);
    // A refused Allocate (a wrong password) does not authenticate the stream.
    let mut wrong = w.creds(3600, "alice");
    wrong.key = LongTermKey::new(&wrong.username, REALM, "wrong");
    assert_eq!(w.allocate(client, &mut wrong).1, Some(401));
    assert!(std::mem::take(&mut w.commands).is_empty());
    let mut c = w.creds(3600, "alice");
    assert_eq!(w.allocate(client, &mut c).1, None);
    assert_eq!(std::mem::take(&mut w.commands), [Command::Authenticated { client }]);
    assert!(w.commands_at(31).is_empty(), "no close once authenticated");
    assert!(w.commands_at(600).iter().all(|c| !matches!(c, Command::CloseStream { .. })));
    assert_eq!(w.server.totals().streams_timed_out, 0);
}

#[test]
fn a_stream_closed_before_its_deadline_is_forgotten_and_udp_clients_have_none() {
    let mut w = World::new();
    let client = tcp(1, "10.0.0.2:5000");
    w.server.handle_stream_opened(client, w.now());
    w.advance(5);
    w.server.handle_client_closed(client);
    assert!(w.server.pending_streams.is_empty());
    assert!(w.commands_at(31).is_empty());
    // UDP clients have no connection to close, and are never reported authenticated.
    let mut c = w.creds(3600, "alice");
    assert_eq!(w.allocate(udp("10.0.0.2:5000"), &mut c).1, None);
    assert!(std::mem::take(&mut w.commands).is_empty());
}

#[test]
fn allocations_report_created_then_deleted_with_their_whole_usage_and_reason() {
    let mut w = World::new();
    let client = udp("10.0.0.2:5000");
    let mut c = w.creds(3600, "alice");
    w.allocate(client, &mut c);
    let Some(TurnEvent::AllocationCreated { alloc, identity, transport }) = w.server.poll_event() else {
        panic!("no created event")
    };
    assert_eq!((alloc, identity.pid.as_str(), transport), (AllocId(1), "alice", Transport::Udp));
    let peer = sa("10.0.0.3:6000");
    let req = w.request(Method::CHANNEL_BIND, &c, |b| {
        b.bytes(AttrType::CHANNEL_NUMBER, &[0x40, 0x00, 0, 0]);
        b.xor_address(AttrType::XOR_PEER_ADDRESS, peer);
    });
    w.send(client, &req);
    let data = [0x40, 0x00, 0x00, 0x03, b'a', b'b', b'c'];
    let now = w.now();
    assert!(w.server.handle_client(client, &data, now).is_some());
    // Usage taken for the hourly table still counts in the allocation's total.
    w.server.take_usage();
    assert!(w.server.handle_client(client, &data, now).is_some());
    assert_eq!(w.server.poll_event(), None);
    w.advance(600);
    match w.server.poll_event() {
        Some(TurnEvent::AllocationDeleted { alloc, reason, usage, .. }) => {
            assert_eq!((alloc, reason), (AllocId(1), DeleteReason::Expired));
            assert_eq!(usage, Usage { bytes: 6, packets: 2 });
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.server.poll_event(), None);
}
