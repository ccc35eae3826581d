//! Sessions, routing, presence, limits and token lifetimes of signaling.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::close::CloseCode;
use super::deadlines::Deadlines;
use super::index::PresenceIndex;
use super::limits::{Bucket, Strikes};
use super::messages::{out, parse_client, ClientMessage, ErrorCode, PeerAddr};
use crate::ids::{Kid, ProjectId};
use crate::proto::counts::Counts;
use crate::proto::token::{Identity, TokenError, VerifiedToken};
pub use crate::unixtime::Now;
use crate::unixtime::UnixTime;

/// A connection, numbered by the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Send {
        conn: ConnId,
        text: String,
    },
    Close {
        conn: ConnId,
        code: CloseCode,
    },
    /// TURN credentials went out (in a `welcome` or `refreshed`) for a token of `kid`: the TURN
    /// side records the username with its key, so deleting the key revokes them.
    GrantTurn {
        username: String,
        kid: Kid,
        expiry: UnixTime,
    },
    /// A kicked peer's identity loses its TURN allocations, and its TURN credentials stop
    /// working, whether or not it had a live session.
    KickTurn {
        project: ProjectId,
        peer: PeerAddr,
    },
    /// The signature of `conn`'s `auth` token must be checked: the one costly step of a
    /// verification (about 60 µs), which the shell runs off the hub's thread and answers with
    /// [`Hub::handle_verified`]. Cache hits and refusals never come here.
    Verify {
        conn: ConnId,
        token: Box<str>,
    },
    /// A token at `auth` names `kid`, a well-formed kid the verifier does not know: it may be a
    /// key made a moment ago by another process. Look it up in the store (adding it to the
    /// verifier if it is there) and answer with [`Hub::handle_kid_resolved`], always, even on a
    /// store error: the connections waiting on it hear nothing until then. One at a time per kid.
    LookupKid {
        kid: Kid,
    },
    /// A peer of `project` joined, left or was kicked: for the webhooks (`crate::webhooks`).
    /// Per peer, joins and leaves alternate, a join first; a replaced connection leaves with
    /// [`LeaveReason::Replaced`] just before its successor joins.
    Peer {
        project: ProjectId,
        peer: PeerAddr,
        event: PeerEvent,
    },
}

/// What the hub needs from the rest of the server.
pub trait Directory {
    fn verify(&mut self, token: &str, wall: UnixTime) -> Result<Arc<VerifiedToken>, TokenError>;
    /// Spends one of the server-wide store lookups on `kid` (`proto::token::lookup`); false
    /// when the budget is spent or the store lacked `kid` a moment ago.
    fn admit_kid_lookup(&mut self, kid: &Kid, now: Instant) -> bool;
    /// The verification when it needs no signature math: a cache hit or a refusal. `None`
    /// sends the token to [`Command::Verify`]. The default never does (tests, the CLI).
    fn verify_cached(&mut self, token: &str, wall: UnixTime) -> Option<Result<Arc<VerifiedToken>, TokenError>> {
        Some(self.verify(token, wall))
    }
    /// Whether a session of `project` may come from a page of `origin` (`None`: no Origin header).
    fn origin_allowed(&self, project: &ProjectId, origin: Option<&str>) -> bool;
    /// The project's own cap on live sessions, if it has one; the hub applies the lower of it
    /// and [`HubConfig::max_conns_per_project`].
    fn max_connections(&self, project: &ProjectId) -> Option<usize>;
    /// The RTCIceServer list for this token (TURN credentials expire with it); `host` is the
    /// host name the client used to reach the signal listener, if it sent one. A query: the hub
    /// itself emits [`Command::GrantTurn`] for the credentials it hands out.
    fn ice_servers(&self, token: &VerifiedToken, host: Option<&str>) -> Value;
}

/// What the shell knows about a new connection from its upgrade request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnInfo {
    pub origin: Option<String>,
    pub host: Option<String>,
}

#[derive(Debug, Clone)]
pub struct HubConfig {
    pub auth_timeout: Duration,
    pub rate_per_sec: f64,
    pub burst: f64,
    pub abuse_limit: u32,
    pub abuse_window: Duration,
    pub max_conns_per_project: usize,
    pub expiring_notice: Duration,
    pub leeway_secs: i64,
    /// `refresh` messages per second per connection, and how many may come at once: each
    /// accepted one costs a verification, an HMAC and a `refreshed`, so a session gets a few
    /// at once (retries of a refused one) and then one per 5 s, far above the one per token
    /// lifetime a client needs.
    pub refresh_per_sec: f64,
    pub refresh_burst: f64,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            auth_timeout: Duration::from_secs(10),
            rate_per_sec: 50.0,
            burst: 100.0,
            abuse_limit: 10,
            abuse_window: Duration::from_secs(10),
            max_conns_per_project: 10_000,
            expiring_notice: Duration::from_secs(60),
            leeway_secs: 30,
            refresh_per_sec: 0.2,
            refresh_burst: 5.0,
        }
    }
}

type SessionKey = (ProjectId, PeerAddr);

struct Live {
    key: SessionKey,
    identity: Identity,
    token: Arc<VerifiedToken>,
    /// When the `expiring` notice of the current token is due; `None` once it went out.
    notice_at: Option<Instant>,
    /// When the current token's session closes 4004 (`exp` plus the leeway).
    close_at: Instant,
    refreshes: Bucket,
    /// When the session went live (wall clock), for the admin API's list of peers.
    connected_at: UnixTime,
}

/// A connection whose `auth` token waits on a [`Command::LookupKid`].
struct Resolving {
    kid: Kid,
    token: Box<str>,
}

enum State {
    Pending,
    /// Its `auth` token's signature is being checked ([`Command::Verify`]).
    Verifying,
    Resolving(Box<Resolving>),
    Live(Box<Live>),
}

struct Conn {
    info: ConnInfo,
    bucket: Bucket,
    strikes: Strikes,
    state: State,
}

pub struct Hub {
    cfg: HubConfig,
    conns: HashMap<ConnId, Conn>,
    sessions: HashMap<SessionKey, ConnId>,
    presence: PresenceIndex,
    per_project: Counts<ProjectId>,
    /// Each connection's next deadline: `auth` while pending, then the token's notice and close.
    deadlines: Deadlines<ConnId>,
    /// Kids with a lookup in flight, and the connections waiting on each.
    lookups: HashMap<Kid, Vec<ConnId>>,
    /// Per project since the last [`Hub::take_usage`]: the peak of live sessions, and signals
    /// routed.
    usage: HashMap<ProjectId, (u64, u64)>,
    out: VecDeque<Command>,
}

impl Hub {
    pub fn new(cfg: HubConfig) -> Hub {
        Hub {
            cfg,
            conns: HashMap::new(),
            sessions: HashMap::new(),
            presence: PresenceIndex::default(),
            per_project: Counts::default(),
            deadlines: Deadlines::default(),
            lookups: HashMap::new(),
            usage: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Entries in the timer heap, stale ones included (tests hold it to O(connections)).
    pub fn pending_timers(&self) -> usize {
        self.deadlines.queued()
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    pub fn handle_open(&mut self, conn: ConnId, info: ConnInfo, now: Now) {
        let bucket = Bucket::new(self.cfg.rate_per_sec, self.cfg.burst, now.mono);
        self.conns.insert(conn, Conn { info, bucket, strikes: Strikes::default(), state: State::Pending });
        self.deadlines.set(conn, now.mono + self.cfg.auth_timeout);
    }

    /// The connection is gone (closed by the peer, by the shell, or after a hub `Close`).
    pub fn handle_closed(&mut self, conn: ConnId) {
        self.drop_conn(conn, LeaveReason::Closed);
    }

    pub fn handle_binary(&mut self, conn: ConnId, now: Now) {
        if self.conns.contains_key(&conn) {
            self.reply_error(conn, None, ErrorCode::BadRequest, "binary frames are not supported; send JSON text", now);
        }
    }

    pub fn handle_text(&mut self, conn: ConnId, text: &str, now: Now, dir: &mut dyn Directory) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let parsed = parse_client(text);
        match c.state {
            State::Pending => {
                match parsed {
                    Ok(ClientMessage::Auth { token }) => self.begin_auth(conn, &token, now, dir),
                    _ => self.close(conn, CloseCode::NoAuth),
                }
                return;
            }
            State::Verifying | State::Resolving(_) => {
                let id = parsed.as_ref().ok().and_then(message_id).or_else(|| parsed.as_ref().err().and_then(|r| r.id));
                return self.reply_error(
                    conn,
                    id,
                    ErrorCode::BadRequest,
                    "not authenticated yet: wait for welcome",
                    now,
                );
            }
            State::Live(_) => {}
        }
        if !c.bucket.take(now.mono) {
            let id = parsed.as_ref().ok().and_then(message_id).or_else(|| parsed.as_ref().err().and_then(|r| r.id));
            self.reply_error(conn, id, ErrorCode::RateLimited, "slow down", now);
            return;
        }
        match parsed {
            Err(r) => self.reply_error(conn, r.id, ErrorCode::BadRequest, &r.error.to_string(), now),
            Ok(ClientMessage::Auth { .. }) => {
                self.reply_error(conn, None, ErrorCode::BadRequest, "already authenticated", now)
            }
            Ok(ClientMessage::Ping { id }) => self.send(conn, out::pong(id)),
            Ok(ClientMessage::Signal { to, data, id }) => self.route(conn, to, &data, id, now),
            Ok(ClientMessage::Refresh { token }) => self.refresh(conn, &token, now, dir),
        }
    }

    /// The signature check asked for by [`Command::Verify`] is done. A connection that closed
    /// meanwhile (or whose auth deadline passed) is gone, and its answer is dropped.
    pub fn handle_verified(
        &mut self,
        conn: ConnId,
        verified: Result<Arc<VerifiedToken>, TokenError>,
        now: Now,
        dir: &mut dyn Directory,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if !matches!(c.state, State::Verifying) {
            return;
        }
        c.state = State::Pending;
        // No lookup now: the kid was known when the check began, so an unknown kid here is a
        // key deleted meanwhile.
        self.authenticate_with(conn, verified, None, now, dir);
    }

    /// The lookup of `kid` asked for by [`Command::LookupKid`] is done: `found` if the verifier
    /// now has the key. The waiting connections' tokens are verified again, without another
    /// lookup: each gets its `welcome`, or 4002.
    pub fn handle_kid_resolved(&mut self, kid: &Kid, found: bool, now: Now, dir: &mut dyn Directory) {
        let waiting = self.lookups.remove(kid).unwrap_or_default();
        for conn in waiting {
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            let State::Resolving(r) = std::mem::replace(&mut c.state, State::Pending) else { continue };
            if found {
                self.authenticate(conn, &r.token, now, dir);
            } else {
                self.close(conn, CloseCode::TokenInvalid);
            }
        }
    }

    /// Keys were deleted: close their sessions with 4003.
    pub fn handle_keys_deleted(&mut self, kids: &[Kid]) {
        let doomed: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(&c.state, State::Live(l) if kids.contains(&l.token.kid)))
            .map(|(id, _)| *id)
            .collect();
        for conn in doomed {
            self.close(conn, CloseCode::Revoked);
        }
    }

    /// Kicks one peer (admin action): its session closes with 4003 and its TURN identity is
    /// revoked; false if it had no session.
    pub fn handle_kick(&mut self, project: &ProjectId, peer: &PeerAddr) -> bool {
        self.out.push_back(Command::KickTurn { project: project.clone(), peer: peer.clone() });
        match self.sessions.get(&(project.clone(), peer.clone())).copied() {
            Some(conn) => {
                let event = PeerEvent::Kicked;
                self.out.push_back(Command::Peer { project: project.clone(), peer: peer.clone(), event });
                self.close_for(conn, CloseCode::Revoked, LeaveReason::Kicked);
                true
            }
            None => false,
        }
    }

    pub fn handle_shutdown(&mut self) {
        let all: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in all {
            self.close(conn, CloseCode::ShuttingDown);
        }
    }

    pub fn handle_timeout(&mut self, now: Now) {
        while let Some(conn) = self.deadlines.pop_due(now.mono) {
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            let State::Live(l) = &mut c.state else {
                self.close(conn, CloseCode::NoAuth);
                continue;
            };
            if l.notice_at.is_some_and(|at| at <= now.mono) {
                l.notice_at = None;
                let (exp, close_at) = (l.token.claims.exp.secs(), l.close_at);
                self.send(conn, out::expiring(exp));
                // Due at once if time jumped past it too: this loop closes it next.
                self.deadlines.set(conn, close_at);
            } else if l.close_at <= now.mono {
                self.close(conn, CloseCode::Expired);
            } else {
                let next = l.notice_at.map_or(l.close_at, |n| n.min(l.close_at));
                self.deadlines.set(conn, next);
            }
        }
    }
}

fn message_id(m: &ClientMessage) -> Option<u64> {
    match m {
        ClientMessage::Signal { id, .. } | ClientMessage::Ping { id } => *id,
        _ => None,
    }
}

mod admin;
mod peer_event;
mod session;

pub use admin::{HubStats, PeerView};
pub use peer_event::{LeaveReason, PeerEvent};

#[cfg(test)]
mod tests;
