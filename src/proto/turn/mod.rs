//! The TURN server core (RFC 8656, with RFC 6156 for IPv6): allocations, permissions, channels,
//! nonces, quotas and the peer address policy, as a state machine with no IO and no clock.
//!
//! Inputs are `handle_*` calls with the time (`Now`: a monotonic instant for lifetimes and the
//! Unix time for credential expiry and nonces). Outputs are drained with `poll_transmit`
//! (responses for clients), `poll_command` (relay sockets to bind or close) and `poll_timeout`.
//! The data path returns its decision directly (`Forward`, or bytes written into the caller's
//! buffer) so a relayed packet costs no allocation.
//!
//! Left out on purpose: TCP relaying (RFC 6062; REQUESTED-TRANSPORT must be UDP), dual
//! allocation via ADDITIONAL-ADDRESS-FAMILY (answered with ADDRESS-ERROR-CODE 440, per §7.2),
//! RESERVATION-TOKEN and the R bit of EVEN-PORT (508), ICMP attributes, ALTERNATE-SERVER.

mod allocate;
mod allocation;
pub mod auth;
mod data;
mod error;
mod requests;
mod streams;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use allocation::{AllocId, Usage};
use auth::{FailureLimiter, Nonces, Revoked};
pub use auth::{Identity, Secrets};
pub use error::TurnError;
use streams::PendingStreams;

use crate::ids::{GroupId, PeerId, ProjectId};
use crate::proto::addr_policy::PeerPolicy;
use crate::proto::counts::Counts;
use crate::proto::stun::Family;
pub use crate::unixtime::Now;
use allocation::Allocation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// A client's 5-tuple as the shell knows it: the transport, the stream connection (0 for UDP)
/// and the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    pub transport: Transport,
    pub conn: u64,
    pub addr: SocketAddr,
}

impl Client {
    pub fn is_stream(&self) -> bool {
        self.transport != Transport::Udp
    }
}

/// A message for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: Client,
    pub bytes: Vec<u8>,
}

/// Relay sockets for the shell to open or close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Bind a UDP socket of this family in the relay port range (an even port if asked), then
    /// call [`Server::handle_relay_bound`].
    BindRelay {
        alloc: AllocId,
        family: Family,
        even_port: bool,
    },
    CloseRelay {
        alloc: AllocId,
    },
    /// This TCP or TLS client has its allocation: it no longer counts as a connection that has
    /// not authenticated (SPEC "Clients without credentials").
    Authenticated {
        client: Client,
    },
    /// Close this TCP or TLS client: it has had no allocation for the stream deadline since it
    /// opened.
    CloseStream {
        client: Client,
    },
}

/// What happened to an allocation, for webhooks (`crate::webhooks`): drained with
/// [`Server::poll_event`]. Only allocations whose relay was bound are reported, each created
/// once and deleted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    AllocationCreated {
        alloc: AllocId,
        identity: Identity,
        transport: Transport,
    },
    AllocationDeleted {
        alloc: AllocId,
        identity: Identity,
        reason: DeleteReason,
        /// Relayed over its whole life, both directions.
        usage: Usage,
    },
}

/// Why an allocation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// Its lifetime ran out.
    Expired,
    /// The client deleted it (a Refresh with LIFETIME 0), or its relay could not be bound.
    Released,
    /// Its TCP or TLS connection closed.
    ConnectionClosed,
    /// Its credentials were revoked (a deleted key).
    Revoked,
    /// Its peer was kicked.
    Kicked,
}

impl DeleteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::Expired => "expired",
            DeleteReason::Released => "released",
            DeleteReason::ConnectionClosed => "connection_closed",
            DeleteReason::Revoked => "revoked",
            DeleteReason::Kicked => "kicked",
        }
    }
}

/// A client's payload to send from an allocation's relay socket to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward<'a> {
    pub alloc: AllocId,
    pub peer: SocketAddr,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone)]
pub struct TurnConfig {
    pub realm: String,
    pub software: String,
    pub default_lifetime: Duration,
    pub max_lifetime: Duration,
    pub nonce_lifetime: Duration,
    pub max_allocations_per_peer: usize,
    pub max_allocations_per_project: usize,
    pub max_permissions_per_allocation: usize,
    pub max_channels_per_allocation: usize,
    pub bandwidth_bytes_per_sec: u64,
    pub auth_failures_per_minute: u32,
    /// How long a TCP or TLS client may stay without an allocation (SPEC: 30 s).
    pub stream_auth_deadline: Duration,
    /// Families this box can relay.
    pub relay_v4: bool,
    pub relay_v6: bool,
}

/// Totals for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub allocations: usize,
    pub allocations_created: u64,
    pub auth_failures: u64,
    pub forbidden_peers: u64,
    pub dropped_packets: u64,
    /// TCP and TLS clients closed for having no allocation by their deadline.
    pub streams_timed_out: u64,
}

pub struct Server {
    config: TurnConfig,
    policy: PeerPolicy,
    secrets: Secrets,
    nonces: Nonces,
    failures: FailureLimiter,
    revoked: Revoked,
    next_id: u64,
    allocations: HashMap<AllocId, Allocation>,
    by_client: HashMap<Client, AllocId>,
    per_identity: Counts<Identity>,
    per_project: Counts<ProjectId>,
    /// Addresses of bound relay sockets: the only transport addresses on this box's own
    /// addresses that peers may reach (address and port: another own address on a relay's port
    /// is some other socket).
    live_relays: HashSet<SocketAddr>,
    /// Which allocations have a channel bound to each live relay of this box, so that a relay
    /// that closes takes those channels with it: its port may be bound by anything next.
    channels_to_relays: HashMap<SocketAddr, Vec<AllocId>>,
    expiries: BinaryHeap<Reverse<(Instant, AllocId)>>,
    pending_streams: PendingStreams,
    next_sweep: Option<Instant>,
    transmits: VecDeque<Transmit>,
    commands: VecDeque<Command>,
    events: VecDeque<TurnEvent>,
    /// Usage of closed allocations not yet taken by [`Server::take_usage`].
    closed_usage: HashMap<ProjectId, (Usage, u64)>,
    totals: Totals,
    /// Transaction ids of Data indications: a counter masked with a random seed.
    indications: u64,
    tid_seed: u64,
}

const SWEEP_EVERY: Duration = Duration::from_secs(30);

impl Server {
    pub fn new(config: TurnConfig, policy: PeerPolicy, secrets: Secrets, nonce_key: &[u8]) -> Server {
        Server {
            nonces: Nonces::new(nonce_key, config.nonce_lifetime),
            failures: FailureLimiter::new(config.auth_failures_per_minute, Duration::from_secs(60)),
            config,
            policy,
            secrets,
            revoked: Revoked::default(),
            next_id: 1,
            allocations: HashMap::new(),
            by_client: HashMap::new(),
            per_identity: Counts::default(),
            per_project: Counts::default(),
            live_relays: HashSet::new(),
            channels_to_relays: HashMap::new(),
            expiries: BinaryHeap::new(),
            pending_streams: PendingStreams::default(),
            next_sweep: None,
            transmits: VecDeque::new(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            closed_usage: HashMap::new(),
            totals: Totals::default(),
            indications: 0,
            tid_seed: u64::from_be_bytes(
                ring::digest::digest(&ring::digest::SHA256, nonce_key).as_ref()[..8]
                    .try_into()
                    .expect("SHA-256 is 32 bytes"),
            ),
        }
    }

    /// The TURN secret was rotated (or loaded): credentials are checked against these from now.
    pub fn handle_secrets(&mut self, secrets: Secrets) {
        self.secrets = secrets;
    }

    /// These usernames are refused from now until their EXPIRY (their key was deleted, or their
    /// identity kicked), and their allocations are removed. Returns how many allocations went.
    pub fn handle_revoke(&mut self, usernames: impl IntoIterator<Item = String>) -> usize {
        let mut users = HashSet::new();
        for username in usernames {
            if self.revoked.revoke(username.clone()) {
                users.insert(username);
            }
        }
        let doomed: Vec<AllocId> =
            self.allocations.values().filter(|a| users.contains(&a.username)).map(|a| a.id).collect();
        doomed.iter().for_each(|id| self.remove(*id, DeleteReason::Revoked));
        doomed.len()
    }

    /// A kicked peer loses its allocations, and the usernames they were made with are refused
    /// until they expire. Its other usernames come with the [`Server::handle_revoke`] that the
    /// store's record of what was handed out sends next. Returns how many allocations went.
    pub fn handle_kick(&mut self, identity: &Identity) -> usize {
        let doomed: Vec<(AllocId, String)> =
            self.allocations.values().filter(|a| &a.identity == identity).map(|a| (a.id, a.username.clone())).collect();
        for (id, username) in &doomed {
            self.revoked.revoke(username.clone());
            self.remove(*id, DeleteReason::Kicked);
        }
        doomed.len()
    }

    /// A TCP or TLS client connected at `opened` (before its TLS handshake, if any): it is
    /// closed if it has no allocation by the stream deadline after that.
    pub fn handle_stream_opened(&mut self, client: Client, opened: Now) {
        self.pending_streams.opened(client, opened.mono + self.config.stream_auth_deadline);
    }

    /// A stream transport closed: its allocation goes with it (RFC 8656 §3.1).
    pub fn handle_client_closed(&mut self, client: Client) {
        self.pending_streams.settled(client);
        if let Some(id) = self.by_client.get(&client).copied() {
            self.remove(id, DeleteReason::ConnectionClosed);
        }
    }

    /// The shell bound (or failed to bind) the relay socket of a pending allocation.
    pub fn handle_relay_bound(&mut self, alloc: AllocId, relay: Option<SocketAddr>, now: Now) {
        allocate::complete_allocate(self, alloc, relay, now);
    }

    pub fn handle_timeout(&mut self, now: Now) {
        while let Some(Reverse((at, id))) = self.expiries.peek().copied() {
            if at > now.mono {
                break;
            }
            self.expiries.pop();
            let Some(a) = self.allocations.get_mut(&id) else { continue };
            if a.expires <= now.mono {
                log::debug!("turn: allocation {} expired", id.0);
                self.remove(id, DeleteReason::Expired);
            } else if a.scheduled == at {
                // Refreshed since this entry was queued: queue the new expiry, once.
                a.scheduled = a.expires;
                let next = a.expires;
                self.schedule_expiry(id, next);
            }
        }
        while let Some(client) = self.pending_streams.next_due(now.mono) {
            log::debug!(
                "turn: {} has no allocation {:?} after it connected; closing it",
                client.addr,
                self.config.stream_auth_deadline
            );
            self.totals.streams_timed_out += 1;
            self.commands.push_back(Command::CloseStream { client });
        }
        if self.next_sweep.is_none_or(|t| t <= now.mono) {
            for a in self.allocations.values_mut() {
                a.sweep(now.mono);
            }
            self.failures.prune(now.mono);
            self.revoked.prune(now.wall);
            self.next_sweep = Some(now.mono + SWEEP_EVERY);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let expiry = self.expiries.peek().map(|Reverse((at, _))| *at);
        [expiry, self.next_sweep, self.pending_streams.next_deadline()].into_iter().flatten().min()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// Allocations created and deleted since the last call; the shell must drain these.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    pub fn totals(&self) -> Totals {
        Totals { allocations: self.allocations.len(), ..self.totals }
    }

    /// How many allocations each peer (gid, pid) of `project` holds now, pending ones included;
    /// peers with none are left out. For the admin API's list of peers.
    pub fn allocations_of(&self, project: &ProjectId) -> HashMap<(GroupId, PeerId), u32> {
        let mut out: HashMap<(GroupId, PeerId), u32> = HashMap::new();
        for a in self.allocations.values().filter(|a| &a.identity.project == project) {
            *out.entry((a.identity.gid.clone(), a.identity.pid.clone())).or_default() += 1;
        }
        out
    }

    /// Per-project usage since the last call: relayed bytes and packets, and allocations created.
    pub fn take_usage(&mut self) -> HashMap<ProjectId, (Usage, u64)> {
        let mut out = std::mem::take(&mut self.closed_usage);
        for a in self.allocations.values_mut() {
            if a.usage != Usage::default() {
                let e = out.entry(a.identity.project.clone()).or_default();
                e.0.bytes += a.usage.bytes;
                e.0.packets += a.usage.packets;
                a.taken.bytes += a.usage.bytes;
                a.taken.packets += a.usage.packets;
                a.usage = Usage::default();
            }
        }
        out
    }

    /// A peer on one of this box's own addresses is reachable only at the address and port of a
    /// relay bound now (the policy admits the whole relay range, which also holds other sockets).
    fn own_relay_target_ok(&self, peer: SocketAddr) -> bool {
        !self.policy.is_own_relay_target(peer) || self.live_relays.contains(&requests::canonical_addr(peer))
    }

    /// Notes a channel of `id` bound to `peer` if `peer` is one of this box's relays.
    fn note_channel(&mut self, id: AllocId, peer: SocketAddr) {
        if self.policy.is_own_relay_target(peer) {
            let ids = self.channels_to_relays.entry(peer).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    fn schedule_expiry(&mut self, id: AllocId, at: Instant) {
        self.expiries.push(Reverse((at, id)));
    }

    fn remove(&mut self, id: AllocId, reason: DeleteReason) {
        let Some(a) = self.allocations.remove(&id) else { return };
        if a.relay.is_some() {
            let usage = Usage { bytes: a.taken.bytes + a.usage.bytes, packets: a.taken.packets + a.usage.packets };
            let identity = a.identity.clone();
            self.events.push_back(TurnEvent::AllocationDeleted { alloc: id, identity, reason, usage });
        }
        self.by_client.remove(&a.client);
        self.per_identity.decrement(&a.identity);
        self.per_project.decrement(&a.identity.project);
        let e = self.closed_usage.entry(a.identity.project.clone()).or_default();
        e.0.bytes += a.usage.bytes;
        e.0.packets += a.usage.packets;
        for c in &a.channels {
            if let Some(ids) = self.channels_to_relays.get_mut(&c.peer) {
                ids.retain(|other| *other != id);
                if ids.is_empty() {
                    self.channels_to_relays.remove(&c.peer);
                }
            }
        }
        if let Some(relay) = a.relay {
            self.live_relays.remove(&relay);
            // Channels of other allocations to this relay end with it.
            for other in self.channels_to_relays.remove(&relay).unwrap_or_default() {
                if let Some(o) = self.allocations.get_mut(&other) {
                    o.channels.retain(|c| c.peer != relay);
                }
            }
        }
        if a.relay.is_some() || a.pending.is_some() {
            self.commands.push_back(Command::CloseRelay { alloc: id });
        }
    }
}
