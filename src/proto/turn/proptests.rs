//! Property tests of the TURN core: random sequences of what clients, the shell, the clock and the
//! admin do, on the scenario tests' virtual time. After every step the core must agree with a
//! model that knows, from the rules alone, which allocations are live and until when:
//! - the same allocations are live, and each lifetime granted is the model's, to the second;
//! - no allocation outlives its lifetime once time has passed it;
//! - the counters (per identity, per project, totals, clients, relay ports) agree with the maps;
//! - every `CloseRelay` follows a `BindRelay` of that allocation, comes once, and comes for every
//!   allocation that leaves after asking for a relay (a refused bind has nothing to close).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use proptest::prelude::*;

use super::*;

/// Clients 0..3 talk over UDP, 3..6 over TCP (only those can close).
const CLIENTS: usize = 6;
const USERS: [&str; 3] = ["alice", "bob", "carol"];
const PROJECTS: [&str; 2] = ["prj_a", "prj_b"];
/// Allowed peers, a forbidden one, and this box at the relay port of allocation 1.
const PEERS: [&str; 4] = ["10.0.0.3:6000", "10.0.0.4:7000", "127.0.0.1:5000", "192.168.1.10:50001"];
const KIDS: usize = 2;
const MAX_PER_PEER: usize = 2;
const DEFAULT_LIFETIME: u64 = 600;
const MAX_LIFETIME: u64 = 3600;

#[derive(Debug, Clone)]
enum Op {
    Allocate { client: usize, user: usize, project: usize, exp_in: i64, kid: Option<usize> },
    Refresh { client: usize, lifetime: Option<u32> },
    CreatePermission { client: usize, peer: usize },
    ChannelBind { client: usize, channel: u16, peer: usize },
    ClientClosed { client: usize },
    RelayBound { pick: usize },
    RelayFailed { pick: usize },
    Advance { secs: u64 },
    AdvanceToTimeout,
    KeysDeleted { kid: usize },
    Kick { user: usize, project: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    // Credentials shorter than the default lifetime, between it and the longest, and beyond.
    let exp_in = prop_oneof![Just(30i64), Just(700), Just(5000)];
    let lifetime = proptest::option::of(prop_oneof![Just(0u32), Just(1), Just(900), Just(3600), Just(u32::MAX)]);
    // Small steps, the sweep period, the permission and default lifetimes, and long jumps.
    let secs = prop_oneof![0u64..5, Just(29), Just(30), Just(299), Just(600), 0u64..4000];
    prop_oneof![
        4 => (client.clone(), 0..USERS.len(), 0..PROJECTS.len(), exp_in, proptest::option::of(0..KIDS))
            .prop_map(|(client, user, project, exp_in, kid)| Op::Allocate { client, user, project, exp_in, kid }),
        3 => (client.clone(), lifetime).prop_map(|(client, lifetime)| Op::Refresh { client, lifetime }),
        1 => (client.clone(), 0..PEERS.len()).prop_map(|(client, peer)| Op::CreatePermission { client, peer }),
        1 => (client.clone(), 0x3FFFu16..0x4003, 0..PEERS.len())
            .prop_map(|(client, channel, peer)| Op::ChannelBind { client, channel, peer }),
        1 => (3..CLIENTS).prop_map(|client| Op::ClientClosed { client }),
        2 => any::<usize>().prop_map(|pick| Op::RelayBound { pick }),
        1 => any::<usize>().prop_map(|pick| Op::RelayFailed { pick }),
        2 => secs.prop_map(|secs| Op::Advance { secs }),
        2 => Just(Op::AdvanceToTimeout),
        1 => (0..KIDS).prop_map(|kid| Op::KeysDeleted { kid }),
        1 => (0..USERS.len(), 0..PROJECTS.len()).prop_map(|(user, project)| Op::Kick { user, project }),
    ]
}

fn client(i: usize) -> Client {
    if i < 3 {
        udp(&format!("10.0.0.{}:5000", 20 + i))
    } else {
        Client { transport: Transport::Tcp, conn: i as u64, addr: sa(&format!("10.0.1.{i}:5000")) }
    }
}

fn identity(project: usize, user: usize) -> Identity {
    auth::TurnUser::parse(&turn_username(T0, PROJECTS[project], "room", USERS[user])).unwrap().identity
}

/// What the model knows of one live allocation; times are seconds on the world's clock.
struct Live {
    client: usize,
    who: (usize, usize),
    username: String,
    key: LongTermKey,
    /// The credentials' EXPIRY, in seconds past T0.
    expiry: u64,
    /// No Refresh goes past this: the EXPIRY, or the longest lifetime from the Allocate.
    hard_limit: u64,
    /// Set once the relay is bound; a pending allocation has no timer yet.
    expires: Option<u64>,
}

struct Harness {
    w: World,
    live: BTreeMap<AllocId, Live>,
    /// Binds asked for and not yet answered, in order, as the shell holds them.
    pending: Vec<AllocId>,
    bind_asked: HashSet<AllocId>,
    bind_failed: HashSet<AllocId>,
    closed: HashSet<AllocId>,
    /// username -> every kid it was handed out for: the store's record (`store::turn_grants`),
    /// which the shell consults to tell the core what to revoke.
    grants: HashMap<String, BTreeSet<usize>>,
    deleted: HashSet<usize>,
    revoked: HashSet<String>,
}

impl Harness {
    fn new() -> Harness {
        let mut w = World::new();
        let cfg = TurnConfig { max_allocations_per_peer: MAX_PER_PEER, ..config() };
        let secrets = Secrets { current: SECRET.to_vec(), previous: None };
        w.server = Server::new(cfg, policy(), secrets, b"nonce-key");
        Harness {
            w,
            live: BTreeMap::new(),
            pending: Vec::new(),
            bind_asked: HashSet::new(),
            bind_failed: HashSet::new(),
            closed: HashSet::new(),
            grants: HashMap::new(),
            deleted: HashSet::new(),
            revoked: HashSet::new(),
        }
    }

    fn secs(&self) -> u64 {
        self.w.elapsed.as_secs()
    }

    /// Drains the core's commands, checking each; returns the relays it asked for.
    fn drain_commands(&mut self) -> Vec<AllocId> {
        let mut binds = Vec::new();
        while let Some(cmd) = self.w.server.poll_command() {
            match cmd {
                Command::BindRelay { alloc, .. } => {
                    assert!(self.bind_asked.insert(alloc), "{alloc:?} bound twice");
                    self.pending.push(alloc);
                    binds.push(alloc);
                }
                Command::CloseRelay { alloc } => {
                    assert!(self.bind_asked.contains(&alloc), "{alloc:?} closed before any bind");
                    assert!(!self.bind_failed.contains(&alloc), "{alloc:?} closed after its bind failed");
                    assert!(self.closed.insert(alloc), "{alloc:?} closed twice");
                    assert!(!self.w.server.allocations.contains_key(&alloc), "{alloc:?} closed but still live");
                }
                Command::Authenticated { client } => {
                    let relay = self.w.server.by_client.get(&client).and_then(|id| self.w.server.allocations[id].relay);
                    assert!(client.is_stream() && relay.is_some(), "{client:?} authenticated without its allocation");
                }
                // The harness never reports a stream opened, so none has a deadline.
                Command::CloseStream { client } => panic!("{client:?} closed by a deadline it never had"),
            }
        }
        binds
    }

    /// Replies to `c`, checking that nothing went to anyone else.
    fn replies(&mut self, c: Client) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(t) = self.w.server.poll_transmit() {
            assert_eq!(t.to, c, "a reply went to another client");
            out.push(t.bytes);
        }
        out
    }

    fn exchange(&mut self, c: Client, bytes: &[u8]) -> (Vec<AllocId>, Vec<Vec<u8>>) {
        let now = self.w.now();
        let _ = self.w.server.handle_client(c, bytes, now);
        (self.drain_commands(), self.replies(c))
    }

    /// An authenticated request from `c`, with a nonce fetched by an unauthenticated one first.
    fn request(
        &mut self,
        c: Client,
        method: Method,
        username: &str,
        key: &LongTermKey,
        fill: impl FnOnce(&mut MessageBuilder),
    ) -> (Vec<AllocId>, Vec<Vec<u8>>) {
        let probe = MessageBuilder::new(Class::Request, Method::REFRESH, self.w.tid()).finish(None, false);
        let (_, replies) = self.exchange(c, &probe);
        let challenge = Message::decode(&replies[0]).unwrap();
        assert_eq!(code(&challenge), Some(401));
        let nonce = challenge.text(AttrType::NONCE).unwrap().unwrap().to_owned();
        let creds = Creds { username: username.to_owned(), key: key.clone(), nonce };
        let req = self.w.request(method, &creds, fill);
        self.exchange(c, &req)
    }

    fn live_of(&self, c: usize) -> Option<AllocId> {
        self.live.iter().find(|(_, l)| l.client == c).map(|(id, _)| *id)
    }

    fn remove(&mut self, doomed: impl IntoIterator<Item = AllocId>) {
        for id in doomed {
            self.live.remove(&id);
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Allocate { client: c, user, project, exp_in, kid: k } => self.allocate(c, user, project, exp_in, k),
            Op::Refresh { client: c, lifetime } => self.refresh(c, lifetime),
            Op::CreatePermission { client: c, peer } => {
                let Some((username, key)) = self.creds_of(c) else { return };
                let (_, replies) = self.request(client(c), Method::CREATE_PERMISSION, &username, &key, |b| {
                    b.xor_address(AttrType::XOR_PEER_ADDRESS, sa(PEERS[peer]));
                });
                assert_eq!(replies.len(), 1);
            }
            Op::ChannelBind { client: c, channel, peer } => {
                let Some((username, key)) = self.creds_of(c) else { return };
                let (_, replies) = self.request(client(c), Method::CHANNEL_BIND, &username, &key, |b| {
                    b.bytes(AttrType::CHANNEL_NUMBER, &[(channel >> 8) as u8, channel as u8, 0, 0]);
                    b.xor_address(AttrType::XOR_PEER_ADDRESS, sa(PEERS[peer]));
                });
                assert_eq!(replies.len(), 1);
            }
            Op::ClientClosed { client: c } => {
                self.w.server.handle_client_closed(client(c));
                let doomed = self.live_of(c);
                self.remove(doomed);
            }
            Op::RelayBound { pick } => self.answer_bind(pick, true),
            Op::RelayFailed { pick } => self.answer_bind(pick, false),
            Op::Advance { secs } => self.advance(secs),
            Op::AdvanceToTimeout => {
                if let Some(at) = self.w.server.poll_timeout() {
                    let secs = at.saturating_duration_since(self.w.now().mono).as_secs();
                    self.advance(secs);
                }
            }
            Op::KeysDeleted { kid: k } => {
                self.deleted.insert(k);
                let users: Vec<String> =
                    self.grants.iter().filter(|(_, kids)| kids.contains(&k)).map(|(u, _)| u.clone()).collect();
                self.revoke(users);
            }
            Op::Kick { user, project } => {
                self.kick(&identity(project, user));
                let doomed: Vec<AllocId> =
                    self.live.iter().filter(|(_, l)| l.who == (project, user)).map(|(id, _)| *id).collect();
                // The core refuses the usernames of the allocations it removed at once ...
                self.revoked.extend(doomed.iter().map(|id| self.live[id].username.clone()));
                self.remove(doomed);
                // ... and then every username the store says was handed out to the identity.
                let suffix = format!(":{}:room:{}", PROJECTS[project], USERS[user]);
                let users: Vec<String> = self.grants.keys().filter(|u| u.ends_with(&suffix)).cloned().collect();
                self.revoke(users);
            }
        }
        self.drain_commands();
    }

    /// The core's admin inputs. A grant goes to the store's record; one of a key already
    /// deleted is revoked as it is recorded (a token verified just before the deletion).
    fn grant(&mut self, username: &str, k: usize) {
        self.grants.entry(username.to_owned()).or_default().insert(k);
        if self.deleted.contains(&k) {
            self.revoke(vec![username.to_owned()]);
        }
    }

    fn revoke(&mut self, users: Vec<String>) {
        self.w.server.handle_revoke(users.clone());
        let doomed: Vec<AllocId> =
            self.live.iter().filter(|(_, l)| users.contains(&l.username)).map(|(id, _)| *id).collect();
        self.revoked.extend(users);
        self.remove(doomed);
    }

    fn kick(&mut self, who: &Identity) {
        self.w.server.handle_kick(who);
    }

    fn creds_of(&self, c: usize) -> Option<(String, LongTermKey)> {
        let id = self.live_of(c)?;
        self.live.get(&id).map(|l| (l.username.clone(), l.key.clone()))
    }

    fn allocate(&mut self, c: usize, user: usize, project: usize, exp_in: i64, k: Option<usize>) {
        let now = self.secs();
        let expiry = T0 + now as i64 + exp_in;
        let username = turn_username(expiry, PROJECTS[project], "room", USERS[user]);
        let key = LongTermKey::new(&username, REALM, &turn_credential(SECRET, &username));
        if let Some(k) = k {
            self.grant(&username, k);
            self.drain_commands();
        }
        let held = self.live.values().filter(|l| l.who == (project, user)).count();
        let expect_bind = self.live_of(c).is_none() && held < MAX_PER_PEER && !self.revoked.contains(&username);
        let (binds, replies) = self.request(client(c), Method::ALLOCATE, &username, &key, |b| {
            b.bytes(AttrType::REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        });
        assert_eq!(binds.len(), usize::from(expect_bind), "allocate by client {c}: {replies:?}");
        if let Some(&id) = binds.first() {
            assert!(replies.is_empty(), "the answer waits for the relay");
            let time_left = (exp_in as u64).min(MAX_LIFETIME);
            let live = Live {
                client: c,
                who: (project, user),
                username,
                key,
                expiry: now + exp_in as u64,
                hard_limit: now + time_left,
                expires: None,
            };
            self.live.insert(id, live);
        } else {
            let code = reply_code(&replies[0]);
            // Revoked credentials, a second allocation, another username on this 5-tuple, quota.
            assert!(matches!(code, Some(401 | 437 | 441 | 486)), "{code:?}");
        }
    }

    fn refresh(&mut self, c: usize, lifetime: Option<u32>) {
        let (username, key) = self.creds_of(c).unwrap_or_else(|| {
            let u = turn_username(T0 + self.secs() as i64 + 100_000, PROJECTS[0], "room", USERS[0]);
            let key = LongTermKey::new(&u, REALM, &turn_credential(SECRET, &u));
            (u, key)
        });
        let (_, replies) = self.request(client(c), Method::REFRESH, &username, &key, |b| {
            if let Some(secs) = lifetime {
                b.u32(AttrType::LIFETIME, secs);
            }
        });
        let Some(id) = self.live_of(c) else {
            assert_eq!(reply_code(&replies[0]), Some(437), "refresh without an allocation");
            return;
        };
        assert_eq!(reply_code(&replies[0]), None, "refresh of a live allocation");
        let granted = super::lifetime(&replies[0]) as u64;
        if lifetime == Some(0) {
            assert_eq!(granted, 0);
            self.remove([id]);
            return;
        }
        let now = self.secs();
        let Some(l) = self.live.get_mut(&id) else { return };
        let asked = lifetime.map_or(DEFAULT_LIFETIME, u64::from);
        let time_left = (l.expiry - now).min(MAX_LIFETIME);
        let expected = (now + asked.clamp(DEFAULT_LIFETIME, MAX_LIFETIME).min(time_left)).min(l.hard_limit) - now;
        assert_eq!(granted, expected, "refresh lifetime to the second");
        // A pending allocation's lifetime is set when its relay is bound.
        if l.expires.is_some() {
            l.expires = Some(now + granted);
        }
    }

    /// The shell answers one pending bind: with a relay address, or with a failure.
    fn answer_bind(&mut self, pick: usize, ok: bool) {
        if self.pending.is_empty() {
            return;
        }
        let id = self.pending.remove(pick % self.pending.len());
        let relay = ok.then(|| SocketAddr::new("192.168.1.10".parse().unwrap(), 50000 + id.0 as u16));
        let now = self.w.now();
        self.w.server.handle_relay_bound(id, relay, now);
        self.drain_commands();
        let Some((c, hard_limit)) = self.live.get(&id).map(|l| (l.client, l.hard_limit)) else {
            assert!(self.w.server.poll_transmit().is_none(), "no answer for an allocation already gone");
            return;
        };
        let replies = self.replies(client(c));
        assert_eq!(replies.len(), 1);
        if !ok {
            assert_eq!(reply_code(&replies[0]), Some(508));
            self.bind_failed.insert(id);
            self.remove([id]);
            return;
        }
        let now = self.secs();
        let expected = (now + DEFAULT_LIFETIME).min(hard_limit) - now;
        assert_eq!(super::lifetime(&replies[0]) as u64, expected, "allocate lifetime to the second");
        if let Some(l) = self.live.get_mut(&id) {
            l.expires = Some(now + expected);
        }
    }

    fn advance(&mut self, secs: u64) {
        // The shell answers every bind before it waits for the next timer.
        while !self.pending.is_empty() {
            self.answer_bind(0, true);
        }
        self.w.advance(secs);
        self.drain_commands();
        let now = self.secs();
        let doomed: Vec<AllocId> =
            self.live.iter().filter(|(_, l)| l.expires.is_some_and(|e| e <= now)).map(|(id, _)| *id).collect();
        self.remove(doomed);
        if let Some(at) = self.w.server.poll_timeout() {
            assert!(at > self.w.now().mono, "the next timer is in the future");
        }
    }

    fn check(&self) {
        let s = &self.w.server;
        let now = self.w.now().mono;
        let core: BTreeSet<AllocId> = s.allocations.keys().copied().collect();
        assert_eq!(core, self.live.keys().copied().collect(), "live allocations");
        let mut per_identity: HashMap<&Identity, usize> = HashMap::new();
        let mut per_project: HashMap<&ProjectId, usize> = HashMap::new();
        for (id, a) in &s.allocations {
            *per_identity.entry(&a.identity).or_default() += 1;
            *per_project.entry(&a.identity.project).or_default() += 1;
            assert_eq!(s.by_client.get(&a.client), Some(id), "by_client of {id:?}");
            assert!(a.expires > now, "{id:?} outlived its lifetime");
            assert!(a.expires <= a.hard_limit, "{id:?} lives past its credentials");
            assert!(a.permissions.len() <= s.config.max_permissions_per_allocation);
            assert!(a.channels.len() <= s.config.max_channels_per_allocation);
            let l = &self.live[id];
            assert_eq!(a.relay.is_some(), l.expires.is_some(), "{id:?} bound");
            if let Some(e) = l.expires {
                assert_eq!(a.expires, self.w.start + Duration::from_secs(e), "{id:?} expiry to the second");
            }
        }
        assert_eq!(s.by_client.len(), s.allocations.len());
        assert_eq!(s.per_identity.keys(), per_identity.len(), "identities counted");
        assert!(per_identity.iter().all(|(k, n)| s.per_identity.get(*k) == *n), "per-identity counts");
        assert_eq!(s.per_project.keys(), per_project.len(), "projects counted");
        assert!(per_project.iter().all(|(k, n)| s.per_project.get(*k) == *n), "per-project counts");
        assert!(per_identity.values().all(|n| *n <= MAX_PER_PEER));
        assert_eq!(s.totals().allocations, s.allocations.len());
        let relays: HashSet<SocketAddr> = s.allocations.values().filter_map(|a| a.relay).collect();
        assert_eq!(s.live_relays, relays);
        assert!(s.channels_to_relays.keys().all(|r| s.live_relays.contains(r)), "channels only to live relays");
        for id in &self.bind_asked {
            let gone = !s.allocations.contains_key(id) && !self.bind_failed.contains(id);
            assert_eq!(gone, self.closed.contains(id), "{id:?}: closed exactly when it left after asking for a relay");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn allocations_follow_the_rules_under_any_sequence(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        for op in &ops {
            h.apply(op);
            h.check();
        }
        // And in the end everything expires: nothing lives past the longest lifetime.
        h.advance(MAX_LIFETIME);
        h.check();
        prop_assert!(h.w.server.allocations.is_empty());
    }
}
