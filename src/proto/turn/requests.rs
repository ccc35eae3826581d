//! STUN requests: Binding, and TURN's Refresh, CreatePermission and ChannelBind with long-term
//! authentication (RFC 8489 §9.2, RFC 8656 §7–§11); Allocate itself is in `allocate.rs`. Handlers
//! return a [`TurnError`]; its code comes from the table in `error.rs`, and [`Server::reject`] is
//! the one path that sends it.

use std::net::SocketAddr;
use std::time::Duration;

use super::allocation::{AllocId, BindOutcome};
use super::auth::{NonceCheck, TurnUser};
use super::error::{Answer, TurnError};
use super::{Client, Now, Server, Transmit};
use crate::proto::stun::attr::{self, AttrType};
use crate::proto::stun::frame::ChannelNumber;
use crate::proto::stun::{
    Class, ErrorCode, Family, IntegrityAlg, LongTermKey, Message, MessageBuilder, Method, TransactionId,
};

/// How an authenticated request is answered: the key and algorithm of its integrity.
pub(super) struct Auth {
    pub(super) key: LongTermKey,
    pub(super) alg: IntegrityAlg,
    pub(super) fingerprint: bool,
    pub(super) username: String,
    pub(super) user: TurnUser,
}

impl Server {
    pub(super) fn send(&mut self, to: Client, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit { to, bytes });
    }

    pub(super) fn reply(&mut self, to: Client, b: MessageBuilder, auth: &Auth) {
        self.send(to, b.finish(Some((auth.alg, &auth.key)), auth.fingerprint));
    }

    /// The one way a refused request is answered: the code from [`TurnError`]'s table, a
    /// challenge's REALM and NONCE, integrity when the request was authenticated.
    pub(super) fn reject(&mut self, to: ReplyTo, error: TurnError, integrity: Integrity<'_>, now: Now) {
        let answer = error.answer();
        if error == TurnError::SourceBlocked {
            // A blocked source may be flooding: one line per request only at trace.
            log::trace!("turn: refused a request from {}: {error}", to.client.addr);
        } else {
            log::debug!("turn: refused a request from {}: {error}", to.client.addr);
        }
        let code = ErrorCode::from(&error);
        let mut b = MessageBuilder::new(Class::Error, to.method, to.tid);
        b.error_code(code.code(), code.reason());
        if let TurnError::UnknownAttributes(types) = &error {
            b.unknown_attributes(types);
        }
        if matches!(answer, Answer::Challenge | Answer::FailedChallenge) {
            if answer == Answer::FailedChallenge {
                self.totals.auth_failures += 1;
                self.failures.record_failure(to.client.addr.ip(), now.mono);
            }
            b.text(AttrType::REALM, &self.config.realm.clone());
            b.text(AttrType::NONCE, &self.nonces.issue(to.client.addr.ip(), now.wall));
            // A challenge is never signed: the client has no key we would accept yet.
            return self.send(to.client, b.finish(None, to.fingerprint));
        }
        self.send(to.client, b.finish(integrity, to.fingerprint));
    }

    /// RFC 8489 §9.2.4.
    fn authenticate(&mut self, client: Client, req: &Message<'_>, now: Now) -> Result<Auth, TurnError> {
        // Checked first: a blocked source costs no key derivation and no integrity check.
        if self.failures.is_blocked(client.addr.ip(), now.mono) {
            return Err(TurnError::SourceBlocked);
        }
        if req.integrity_alg().is_none() {
            return Err(TurnError::MissingIntegrity);
        }
        let texts = (req.text(AttrType::USERNAME), req.text(AttrType::REALM), req.text(AttrType::NONCE));
        let (Some(Ok(username)), Some(Ok(realm)), Some(Ok(nonce))) = texts else {
            return Err(TurnError::MissingAuthAttributes);
        };
        match self.nonces.check(nonce, client.addr.ip(), now.wall) {
            NonceCheck::Valid => {}
            NonceCheck::Stale | NonceCheck::Invalid => return Err(TurnError::StaleNonce),
        }
        let user = match TurnUser::parse(username) {
            Some(u) if realm == self.config.realm && u.expiry > now.wall && !self.revoked.contains(username) => u,
            Some(_) if realm == self.config.realm => return Err(TurnError::CredentialsExpired),
            _ => return Err(TurnError::BadUsername),
        };
        let fingerprint = req.has(AttrType::FINGERPRINT);
        let existing = self.by_client.get(&client).and_then(|id| self.allocations.get(id));
        let candidates = match existing {
            Some(a) if a.username != username => return Err(TurnError::WrongCredentials),
            Some(a) => vec![a.key.clone()],
            None => self.secrets.keys(username, &self.config.realm, now.wall),
        };
        for key in candidates {
            if let Ok(alg) = req.verify_integrity(&key) {
                return Ok(Auth { key, alg, fingerprint, username: username.to_owned(), user });
            }
        }
        Err(TurnError::BadIntegrity)
    }

    pub(super) fn handle_request(&mut self, client: Client, req: &Message<'_>, now: Now) {
        let to = ReplyTo::request(client, req);
        let unknown = req.unknown_required();
        if !unknown.is_empty() {
            return self.reject(to, TurnError::UnknownAttributes(unknown), None, now);
        }
        if req.method == Method::BINDING {
            let mut b = MessageBuilder::response(req, Class::Success);
            b.xor_address(AttrType::XOR_MAPPED_ADDRESS, canonical_addr(client.addr));
            return self.send(client, b.finish(None, to.fingerprint));
        }
        let known = [Method::ALLOCATE, Method::REFRESH, Method::CREATE_PERMISSION, Method::CHANNEL_BIND];
        if !known.contains(&req.method) {
            return self.reject(to, TurnError::UnknownMethod, None, now);
        }
        if req.method == Method::ALLOCATE && self.answered_retransmit(client, req, now) {
            return;
        }
        let auth = match self.authenticate(client, req, now) {
            Ok(auth) => auth,
            Err(e) => return self.reject(to, e, None, now),
        };
        let done = match req.method {
            Method::ALLOCATE => self.allocate(client, req, &auth, now),
            Method::REFRESH => self.refresh(client, req, &auth, now),
            Method::CREATE_PERMISSION => self.create_permission(client, req, &auth, now),
            _ => self.channel_bind(client, req, &auth, now),
        };
        if let Err(e) = done {
            self.reject(to, e, Some((auth.alg, &auth.key)), now);
        }
    }

    /// A retransmitted Allocate gets the same answer; any other Allocate on a 5-tuple with an
    /// allocation goes on to get 437 (RFC 8656 §7.2). True if it was answered here.
    fn answered_retransmit(&mut self, client: Client, req: &Message<'_>, now: Now) -> bool {
        let Some(a) = self.by_client.get(&client).and_then(|id| self.allocations.get(id)) else { return false };
        if a.allocate_tid != req.tid || a.pending.is_some() {
            return false;
        }
        let (key, relay, expires) = (a.key.clone(), a.relay, a.expires);
        let lifetime = expires.saturating_duration_since(now.mono);
        let alg = req.integrity_alg().unwrap_or(IntegrityAlg::Sha1);
        if req.verify_integrity(&key).is_ok() {
            let b = super::allocate::allocate_success(req.tid, canonical_addr(client.addr), relay, lifetime, false);
            self.send(client, b.finish(Some((alg, &key)), req.has(AttrType::FINGERPRINT)));
        }
        true
    }

    /// Time until the credentials' EXPIRY, never more than the longest lifetime (so adding it to
    /// an instant cannot overflow, whatever EXPIRY a client sends).
    pub(super) fn time_left(&self, auth: &Auth, now: Now) -> Duration {
        let secs = auth.user.expiry.secs().saturating_sub(now.wall.secs()).max(0);
        Duration::from_secs(secs as u64).min(self.config.max_lifetime)
    }

    /// RFC 8656 §7.2: the lifetime asked for, within [default, max], never past the EXPIRY.
    pub(super) fn lifetime(&self, req: &Message<'_>, auth: &Auth, now: Now) -> Result<Duration, TurnError> {
        let asked = match req.u32(AttrType::LIFETIME) {
            Some(Ok(secs)) => Duration::from_secs(u64::from(secs)),
            Some(Err(_)) => return Err(TurnError::BadLifetime),
            None => self.config.default_lifetime,
        };
        Ok(asked.max(self.config.default_lifetime).min(self.config.max_lifetime).min(self.time_left(auth, now)))
    }

    fn allocation_of(&self, client: Client) -> Result<AllocId, TurnError> {
        self.by_client.get(&client).copied().ok_or(TurnError::NoAllocation)
    }

    fn refresh(&mut self, client: Client, req: &Message<'_>, auth: &Auth, now: Now) -> Result<(), TurnError> {
        let id = self.allocation_of(client)?;
        let lifetime = self.lifetime(req, auth, now)?;
        let zero = matches!(req.u32(AttrType::LIFETIME), Some(Ok(0)));
        let relay_family = self.allocations.get(&id).and_then(|a| a.relay).map(|r| Family::of(&r));
        if let Some(Ok(f)) = req.get(AttrType::REQUESTED_ADDRESS_FAMILY).map(attr::decode_family_attr) {
            if relay_family.is_some_and(|rf| rf != f) {
                return Err(TurnError::RefreshFamilyMismatch);
            }
        }
        let granted = if zero {
            self.remove(id, super::DeleteReason::Released);
            Duration::ZERO
        } else {
            let Some(a) = self.allocations.get_mut(&id) else { return Ok(()) };
            a.expires = (now.mono + lifetime).min(a.hard_limit);
            let (at, granted) = (a.expires, a.expires.saturating_duration_since(now.mono));
            if at < a.scheduled {
                a.scheduled = at;
                self.schedule_expiry(id, at);
            }
            granted
        };
        let mut b = MessageBuilder::response(req, Class::Success);
        b.u32(AttrType::LIFETIME, granted.as_secs() as u32);
        self.reply(client, b, auth);
        Ok(())
    }

    /// Resolves the peer addresses of CreatePermission / ChannelBind against the allocation.
    /// `exact_port` is false for CreatePermission, whose permissions cover every port.
    fn checked_peer(&mut self, id: AllocId, peer: SocketAddr, exact_port: bool) -> Result<(), TurnError> {
        let relay = self.allocations.get(&id).and_then(|a| a.relay).ok_or(TurnError::NoAllocation)?;
        // An IPv4-mapped peer is an IPv4 peer: it never rides an IPv6 relay.
        if Family::of(&relay) != Family::of(&canonical_addr(peer)) {
            return Err(TurnError::PeerFamilyMismatch);
        }
        if exact_port && !self.own_relay_target_ok(peer) {
            self.totals.forbidden_peers += 1;
            return Err(TurnError::ForbiddenPeer);
        }
        let verdict = if exact_port { self.policy.check(peer) } else { self.policy.check_ip(peer.ip()) };
        if let Err(why) = verdict {
            log::debug!("turn: peer {peer} forbidden: {why:?}");
            self.totals.forbidden_peers += 1;
            return Err(TurnError::ForbiddenPeer);
        }
        Ok(())
    }

    fn create_permission(&mut self, client: Client, req: &Message<'_>, auth: &Auth, now: Now) -> Result<(), TurnError> {
        let id = self.allocation_of(client)?;
        let peers: Result<Vec<SocketAddr>, _> =
            req.xor_addresses(AttrType::XOR_PEER_ADDRESS).map(|r| r.map(canonical_addr)).collect();
        let peers = match peers {
            Ok(p) if !p.is_empty() => p,
            _ => return Err(TurnError::MissingPeerAddress),
        };
        for peer in &peers {
            self.checked_peer(id, *peer, false)?;
        }
        let max = self.config.max_permissions_per_allocation;
        let Some(a) = self.allocations.get_mut(&id) else { return Ok(()) };
        let ips: Vec<_> = peers.iter().map(|p| p.ip()).collect();
        // All or nothing: a request that does not fit installs none of its permissions.
        if !a.permissions_fit(&ips, now.mono, max) {
            return Err(TurnError::PermissionQuota);
        }
        for ip in ips {
            a.permit(ip, now.mono, max);
        }
        self.reply(client, MessageBuilder::response(req, Class::Success), auth);
        Ok(())
    }

    fn channel_bind(&mut self, client: Client, req: &Message<'_>, auth: &Auth, now: Now) -> Result<(), TurnError> {
        let id = self.allocation_of(client)?;
        let number = match req.get(AttrType::CHANNEL_NUMBER).map(attr::decode_channel_number) {
            Some(Ok(n)) => ChannelNumber::new(n).ok_or(TurnError::BadChannelNumber)?,
            _ => return Err(TurnError::BadChannelNumber),
        };
        let Some(Ok(peer)) = req.xor_address(AttrType::XOR_PEER_ADDRESS) else {
            return Err(TurnError::MissingPeerAddress);
        };
        let peer = canonical_addr(peer);
        self.checked_peer(id, peer, true)?;
        let (max_channels, max_perms) =
            (self.config.max_channels_per_allocation, self.config.max_permissions_per_allocation);
        let Some(a) = self.allocations.get_mut(&id) else { return Ok(()) };
        if !a.permissions_fit(&[peer.ip()], now.mono, max_perms) {
            return Err(TurnError::PermissionQuota);
        }
        match a.bind_channel(number, peer, now.mono, max_channels) {
            BindOutcome::Bound => {
                a.permit(peer.ip(), now.mono, max_perms);
                self.note_channel(id, peer);
                self.reply(client, MessageBuilder::response(req, Class::Success), auth);
                Ok(())
            }
            BindOutcome::QuotaFull => Err(TurnError::ChannelQuota),
            BindOutcome::Conflict => Err(TurnError::ChannelConflict),
        }
    }
}

/// Where an answer goes: the client, the request's transaction and method, and whether the
/// request carried a FINGERPRINT (the answer then carries one too).
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplyTo {
    pub(super) client: Client,
    pub(super) method: Method,
    pub(super) tid: TransactionId,
    pub(super) fingerprint: bool,
}

impl ReplyTo {
    fn request(client: Client, req: &Message<'_>) -> ReplyTo {
        ReplyTo { client, method: req.method, tid: req.tid, fingerprint: req.has(AttrType::FINGERPRINT) }
    }
}

/// The key an answer is signed with, if its request was authenticated.
pub(super) type Integrity<'a> = Option<(IntegrityAlg, &'a LongTermKey)>;

/// An address with an IPv4-mapped IPv6 address in its IPv4 form: peers are judged in that form,
/// and a dual-stack listener's IPv4 clients know their address in it.
pub(super) fn canonical_addr(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(crate::proto::addr_policy::canonical(peer.ip()), peer.port())
}
