//! Sessions, routing, presence, limits and token lifetimes of signaling.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub use super::close::CloseCode;
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
}

/// What the hub needs from the rest of the server.
pub trait Directory {
    fn verify(&mut self, token: &str, wall: UnixTime) -> Result<Arc<VerifiedToken>, TokenError>;
    /// Whether a session of `project` may come from a page of `origin` (`None`: no Origin header).
    fn origin_allowed(&self, project: &ProjectId, origin: Option<&str>) -> bool;
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
        }
    }
}

type SessionKey = (ProjectId, PeerAddr);

struct Live {
    key: SessionKey,
    identity: Identity,
    token: Arc<VerifiedToken>,
    /// Bumped by every refresh, so timers of the previous token are ignored.
    generation: u64,
}

enum State {
    Pending,
    Live(Box<Live>),
}

struct Conn {
    info: ConnInfo,
    bucket: Bucket,
    strikes: Strikes,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    AuthDeadline,
    Expiring(u64),
    Expire(u64),
}

pub struct Hub {
    cfg: HubConfig,
    conns: HashMap<ConnId, Conn>,
    sessions: HashMap<SessionKey, ConnId>,
    presence: PresenceIndex,
    per_project: Counts<ProjectId>,
    timers: BinaryHeap<Reverse<(Instant, ConnId, Timer)>>,
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
            timers: BinaryHeap::new(),
            out: VecDeque::new(),
        }
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    pub fn handle_open(&mut self, conn: ConnId, info: ConnInfo, now: Now) {
        let bucket = Bucket::new(self.cfg.rate_per_sec, self.cfg.burst, now.mono);
        self.conns.insert(conn, Conn { info, bucket, strikes: Strikes::default(), state: State::Pending });
        self.timers.push(Reverse((now.mono + self.cfg.auth_timeout, conn, Timer::AuthDeadline)));
    }

    /// The connection is gone (closed by the peer, by the shell, or after a hub `Close`).
    pub fn handle_closed(&mut self, conn: ConnId) {
        self.drop_conn(conn);
    }

    pub fn handle_binary(&mut self, conn: ConnId, now: Now) {
        if self.conns.contains_key(&conn) {
            self.reply_error(conn, None, ErrorCode::BadRequest, "binary frames are not supported; send JSON text", now);
        }
    }

    pub fn handle_text(&mut self, conn: ConnId, text: &str, now: Now, dir: &mut dyn Directory) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let pending = matches!(c.state, State::Pending);
        let parsed = parse_client(text);
        if pending {
            match parsed {
                Ok(ClientMessage::Auth { token }) => self.authenticate(conn, &token, now, dir),
                _ => self.close(conn, CloseCode::NoAuth),
            }
            return;
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
                self.close(conn, CloseCode::Revoked);
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
        while let Some(Reverse((at, conn, timer))) = self.timers.peek().copied() {
            if at > now.mono {
                break;
            }
            self.timers.pop();
            let Some(c) = self.conns.get(&conn) else { continue };
            match (timer, &c.state) {
                (Timer::AuthDeadline, State::Pending) => self.close(conn, CloseCode::NoAuth),
                (Timer::Expiring(g), State::Live(l)) if l.generation == g => {
                    let exp = l.token.claims.exp.secs();
                    self.send(conn, out::expiring(exp));
                }
                (Timer::Expire(g), State::Live(l)) if l.generation == g => self.close(conn, CloseCode::Expired),
                _ => {}
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

mod session;

#[cfg(test)]
mod tests;
