//! The hub's session life: authentication, refresh, routing, presence, closing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Bucket, CloseCode, Command, ConnId, Directory, Hub, LeaveReason, Live, Now, PeerEvent, Resolving, State};
use crate::ids::Kid;
use crate::proto::ice::turn_username;
use crate::proto::signal::messages::{out, ErrorCode, PeerAddr};
use crate::proto::token::{Identity, TokenError, VerifiedToken};

impl Hub {
    pub(super) fn send(&mut self, conn: ConnId, text: String) {
        self.out.push_back(Command::Send { conn, text });
    }

    /// Closes `conn` now: it leaves every table at once, so nothing more reaches it.
    pub(super) fn close(&mut self, conn: ConnId, code: CloseCode) {
        self.close_for(conn, code, LeaveReason::of(code));
    }

    /// [`Hub::close`] with the reason its session's leave reports.
    pub(super) fn close_for(&mut self, conn: ConnId, code: CloseCode, reason: LeaveReason) {
        if self.conns.contains_key(&conn) {
            self.out.push_back(Command::Close { conn, code });
            self.drop_conn(conn, reason);
        }
    }

    fn peer_event(&mut self, project: &crate::ids::ProjectId, peer: &PeerAddr, event: PeerEvent) {
        self.out.push_back(Command::Peer { project: project.clone(), peer: peer.clone(), event });
    }

    pub(super) fn drop_conn(&mut self, conn: ConnId, reason: LeaveReason) {
        let Some(c) = self.conns.remove(&conn) else { return };
        self.deadlines.remove(conn);
        let live = match c.state {
            State::Live(live) => live,
            State::Resolving(r) => {
                // The lookup stays in flight (and deduplicated) until its answer comes.
                if let Some(waiting) = self.lookups.get_mut(&r.kid) {
                    waiting.retain(|c| *c != conn);
                }
                return;
            }
            State::Pending | State::Verifying => return,
        };
        // A replaced session already belongs to the newer connection: no presence leave, but
        // webhooks see this connection's session end before the newer one's begins.
        if self.sessions.get(&live.key) != Some(&conn) {
            self.peer_event(&live.key.0, &live.key.1, PeerEvent::Left(LeaveReason::Replaced));
            return;
        }
        self.sessions.remove(&live.key);
        let (project, addr) = &live.key;
        self.peer_event(project, addr, PeerEvent::Left(reason));
        self.presence.remove(project, &addr.gid, &addr.pid);
        self.per_project.decrement(project);
        let text = out::presence(false, addr);
        for peer in self.reachable(&live.identity) {
            self.send(peer, text.clone());
        }
    }

    pub(super) fn reply_error(&mut self, conn: ConnId, id: Option<u64>, code: ErrorCode, message: &str, now: Now) {
        self.send(conn, out::error(id, code, message));
        let (limit, window) = (self.cfg.abuse_limit, self.cfg.abuse_window);
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.strikes.add(now.mono, limit, window) {
                self.close(conn, CloseCode::Abuse);
            }
        }
    }

    /// Connections of the present peers that `me` may reach (the rule is symmetric).
    fn reachable(&self, me: &Identity) -> Vec<ConnId> {
        self.presence
            .matching(&me.project, &me.policy.group_id, &me.policy.peer_id)
            .filter_map(|(gid, pid)| {
                let key = (me.project.clone(), PeerAddr { gid: gid.clone(), pid: pid.clone() });
                let conn = *self.sessions.get(&key)?;
                match &self.conns.get(&conn)?.state {
                    State::Live(l) if l.identity != *me && me.may_reach(&l.identity) => Some(conn),
                    _ => None,
                }
            })
            .collect()
    }

    fn addr_of(&self, conn: ConnId) -> Option<PeerAddr> {
        match &self.conns.get(&conn)?.state {
            State::Live(l) => Some(l.key.1.clone()),
            State::Pending | State::Verifying | State::Resolving(_) => None,
        }
    }

    /// The `expiring` notice and the 4004 close of `token`, as instants: wall-clock `exp` is
    /// turned into monotonic time once, here.
    fn token_deadlines(&self, token: &VerifiedToken, now: Now) -> (Instant, Instant) {
        let exp = token.claims.exp.secs();
        let until = |wall: i64| Duration::from_secs(wall.saturating_sub(now.wall.secs()).max(0) as u64);
        // A token with less than the notice left is warned about at once, so the client refreshes.
        let notice = exp - self.cfg.expiring_notice.as_secs() as i64;
        let close_at = exp.saturating_add(self.cfg.leeway_secs);
        (now.mono + until(notice), now.mono + until(close_at))
    }

    /// The TURN username of this token's `ice_servers`, for the TURN core to tie to its key.
    fn grant_turn(&mut self, token: &VerifiedToken) {
        let c = &token.claims;
        let username = turn_username(c.exp.secs(), token.project.as_str(), c.gid.as_str(), c.pid.as_str());
        self.out.push_back(Command::GrantTurn { username, kid: token.kid.clone(), expiry: c.exp });
    }

    /// Verifies an `auth` token and makes the session live; a token of a well-formed kid the
    /// verifier lacks waits for a store lookup first, if `may_look_up` and the budget allow.
    /// `auth` on a pending connection: decided at once when the directory can without the
    /// signature math, else the check goes off the hub's thread ([`Command::Verify`]).
    pub(super) fn begin_auth(&mut self, conn: ConnId, token: &str, now: Now, dir: &mut dyn Directory) {
        match dir.verify_cached(token, now.wall) {
            Some(verified) => self.authenticate_with(conn, verified, Some(token), now, dir),
            None => {
                self.out.push_back(Command::Verify { conn, token: token.into() });
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.state = State::Verifying;
                }
            }
        }
    }

    /// Authenticates with a fresh verification (after a kid lookup).
    pub(super) fn authenticate(&mut self, conn: ConnId, token: &str, now: Now, dir: &mut dyn Directory) {
        let verified = dir.verify(token, now.wall);
        self.authenticate_with(conn, verified, None, now, dir)
    }

    /// `welcome`, or the close the verification earned. With `token`, an unknown well-formed
    /// kid is looked up before the refusal.
    pub(super) fn authenticate_with(
        &mut self,
        conn: ConnId,
        verified: Result<Arc<VerifiedToken>, TokenError>,
        token: Option<&str>,
        now: Now,
        dir: &mut dyn Directory,
    ) {
        let token = match (verified, token) {
            (Ok(t), _) => t,
            (Err(TokenError::UnknownKid(kid)), Some(text)) => {
                return self.park_until_kid_resolved(conn, &kid, text, now, dir)
            }
            (Err(_), _) => return self.close(conn, CloseCode::TokenInvalid),
        };
        let info = self.conns.get(&conn).map(|c| c.info.clone()).unwrap_or_default();
        if !dir.origin_allowed(&token.project, info.origin.as_deref()) {
            return self.close(conn, CloseCode::TokenInvalid);
        }
        let identity = token.identity();
        let addr = PeerAddr { gid: identity.gid.clone(), pid: identity.pid.clone() };
        let key = (identity.project.clone(), addr.clone());
        let replaced = self.sessions.get(&key).copied();
        let cap = dir
            .max_connections(&key.0)
            .map_or(self.cfg.max_conns_per_project, |own| own.min(self.cfg.max_conns_per_project));
        if replaced.is_none() && self.per_project.get(&key.0) >= cap {
            return self.close(conn, CloseCode::TryAgainLater);
        }
        if let Some(old) = replaced {
            // The newer connection wins; the peer stays present, so no leave and no join.
            self.sessions.insert(key.clone(), conn);
            self.close(old, CloseCode::Replaced);
            self.peer_event(&key.0, &addr, PeerEvent::Joined);
        } else {
            self.sessions.insert(key.clone(), conn);
            self.presence.insert(&key.0, &addr.gid, &addr.pid);
            self.per_project.increment(key.0.clone());
            self.note_session_added(&key.0);
            self.peer_event(&key.0, &addr, PeerEvent::Joined);
        }
        let ice = dir.ice_servers(&token, info.host.as_deref());
        self.grant_turn(&token);
        let exp = token.claims.exp.secs();
        let (notice_at, close_at) = self.token_deadlines(&token, now);
        let refreshes = Bucket::new(self.cfg.refresh_per_sec, self.cfg.refresh_burst, now.mono);
        if let Some(c) = self.conns.get_mut(&conn) {
            let live = Live {
                key,
                identity: identity.clone(),
                token,
                notice_at: Some(notice_at),
                close_at,
                refreshes,
                connected_at: now.wall,
            };
            c.state = State::Live(Box::new(live));
        }
        self.deadlines.set(conn, notice_at.min(close_at));
        let peers_conns = self.reachable(&identity);
        let peers: Vec<PeerAddr> = peers_conns.iter().filter_map(|c| self.addr_of(*c)).collect();
        self.send(conn, out::welcome(&addr, exp, &ice, &peers));
        if replaced.is_none() {
            let join = out::presence(true, &addr);
            for peer in peers_conns {
                self.send(peer, join.clone());
            }
        }
    }

    /// Parks `conn` until its kid is looked up (one lookup per kid in flight), or refuses it
    /// at once: a malformed kid, or no lookup to spare.
    fn park_until_kid_resolved(&mut self, conn: ConnId, kid: &str, token: &str, now: Now, dir: &mut dyn Directory) {
        let Ok(kid) = Kid::parse(kid) else { return self.close(conn, CloseCode::TokenInvalid) };
        if !self.lookups.contains_key(&kid) {
            if !dir.admit_kid_lookup(&kid, now.mono) {
                return self.close(conn, CloseCode::TokenInvalid);
            }
            self.out.push_back(Command::LookupKid { kid: kid.clone() });
        }
        self.lookups.entry(kid.clone()).or_default().push(conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = State::Resolving(Box::new(Resolving { kid, token: token.into() }));
        }
    }

    pub(super) fn refresh(&mut self, conn: ConnId, token: &str, now: Now, dir: &mut dyn Directory) {
        let Some(State::Live(live)) = self.conns.get_mut(&conn).map(|c| &mut c.state) else { return };
        if !live.refreshes.take(now.mono) {
            return self.reply_error(conn, None, ErrorCode::RateLimited, "too many refreshes", now);
        }
        let current = live.identity.clone();
        let fresh: Result<Arc<VerifiedToken>, &str> = match dir.verify(token, now.wall) {
            Ok(t) if t.identity() == current => Ok(t),
            Ok(_) => Err("the new token must keep the project, gid, pid and ap of the session"),
            Err(_) => Err("the new token does not verify"),
        };
        match fresh {
            Ok(t) => {
                let host = self.conns.get(&conn).and_then(|c| c.info.host.clone());
                let ice = dir.ice_servers(&t, host.as_deref());
                self.grant_turn(&t);
                let (notice_at, close_at) = self.token_deadlines(&t, now);
                match self.conns.get_mut(&conn).map(|c| &mut c.state) {
                    Some(State::Live(l)) => {
                        (l.notice_at, l.close_at) = (Some(notice_at), close_at);
                        l.token = t.clone();
                    }
                    _ => return,
                }
                self.deadlines.set(conn, notice_at.min(close_at));
                self.send(conn, out::refreshed(t.claims.exp.secs(), &ice));
            }
            Err(why) => self.reply_error(conn, None, ErrorCode::TokenInvalid, why, now),
        }
    }

    pub(super) fn route(
        &mut self,
        conn: ConnId,
        to: PeerAddr,
        data: &crate::proto::signal::messages::SignalData,
        id: Option<u64>,
        now: Now,
    ) {
        let Some(State::Live(me)) = self.conns.get(&conn).map(|c| &c.state) else { return };
        let target = self.sessions.get(&(me.identity.project.clone(), to)).copied();
        let allowed = target.and_then(|t| match &self.conns.get(&t)?.state {
            State::Live(other) if t != conn && me.identity.may_reach(&other.identity) => Some(t),
            _ => None,
        });
        match allowed {
            Some(target) => {
                let from = me.key.1.clone();
                super::admin::count_signal(&mut self.usage, &me.key.0);
                self.send(target, out::signal(&from, data));
                if let Some(id) = id {
                    self.send(conn, out::ack(id));
                }
            }
            // Offline and not allowed look the same on purpose.
            None => self.reply_error(conn, id, ErrorCode::PeerUnavailable, "peer unavailable", now),
        }
    }
}
