//! STUN requests: Binding, and TURN's Refresh, CreatePermission and ChannelBind with long-term
//! authentication (RFC 8489 §9.2, RFC 8656 §7–§11); Allocate itself is in `allocate.rs`. Every
//! error code this server sends is chosen in these two files.

use std::net::SocketAddr;
use std::time::Duration;

use super::allocation::{AllocId, BindOutcome};
use super::auth::{NonceCheck, TurnUser};
use super::{Client, Now, Server, Transmit};
use crate::proto::stun::attr::{self, AttrType};
use crate::proto::stun::frame::ChannelNumber;
use crate::proto::stun::{Class, ErrorCode, Family, IntegrityAlg, LongTermKey, Message, MessageBuilder, Method};

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

    fn reply_plain(&mut self, to: Client, b: MessageBuilder, fingerprint: bool) {
        self.send(to, b.finish(None, fingerprint));
    }

    pub(super) fn reply(&mut self, to: Client, b: MessageBuilder, auth: &Auth) {
        self.send(to, b.finish(Some((auth.alg, &auth.key)), auth.fingerprint));
    }

    fn challenge(&mut self, to: Client, req: &Message<'_>, code: ErrorCode, now: Now) {
        let mut b = MessageBuilder::error(req, code);
        b.text(AttrType::REALM, &self.config.realm.clone());
        b.text(AttrType::NONCE, &self.nonces.issue(to.addr.ip(), now.wall));
        self.reply_plain(to, b, req.has(AttrType::FINGERPRINT));
    }

    fn auth_failed(&mut self, to: Client, req: &Message<'_>, now: Now) {
        self.totals.auth_failures += 1;
        self.failures.record_failure(to.addr.ip(), now.mono);
        self.challenge(to, req, ErrorCode::Unauthenticated, now);
    }

    /// RFC 8489 §9.2.4; `None` means a challenge or error went out already.
    fn authenticate(&mut self, client: Client, req: &Message<'_>, now: Now) -> Option<Auth> {
        if self.failures.is_blocked(client.addr.ip(), now.mono) {
            return None;
        }
        if req.integrity_alg().is_none() {
            self.challenge(client, req, ErrorCode::Unauthenticated, now);
            return None;
        }
        let texts = (req.text(AttrType::USERNAME), req.text(AttrType::REALM), req.text(AttrType::NONCE));
        let (Some(Ok(username)), Some(Ok(realm)), Some(Ok(nonce))) = texts else {
            self.reply_plain(client, MessageBuilder::error(req, ErrorCode::BadRequest), req.has(AttrType::FINGERPRINT));
            return None;
        };
        match self.nonces.check(nonce, client.addr.ip(), now.wall) {
            NonceCheck::Valid => {}
            NonceCheck::Stale | NonceCheck::Invalid => {
                self.challenge(client, req, ErrorCode::StaleNonce, now);
                return None;
            }
        }
        let user = match TurnUser::parse(username) {
            Some(u) if realm == self.config.realm && u.expiry > now.wall && !self.grants.is_revoked(username) => u,
            // Expired or revoked credentials are refused but not held against the source: a
            // client still refreshing after its token's expiry must not lose its new ones.
            Some(_) if realm == self.config.realm => {
                log::debug!("turn: expired or revoked credentials from {}", client.addr);
                self.challenge(client, req, ErrorCode::Unauthenticated, now);
                return None;
            }
            _ => {
                log::debug!("turn: refused credentials from {}", client.addr);
                self.auth_failed(client, req, now);
                return None;
            }
        };
        let fingerprint = req.has(AttrType::FINGERPRINT);
        let existing = self.by_client.get(&client).and_then(|id| self.allocations.get(id));
        let candidates = match existing {
            Some(a) if a.username != username => {
                let b = MessageBuilder::error(req, ErrorCode::WrongCredentials);
                self.reply_plain(client, b, fingerprint);
                return None;
            }
            Some(a) => vec![a.key.clone()],
            None => self.secrets.keys(username, &self.config.realm, now.wall),
        };
        for key in candidates {
            if let Ok(alg) = req.verify_integrity(&key) {
                return Some(Auth { key, alg, fingerprint, username: username.to_owned(), user });
            }
        }
        log::debug!("turn: bad message integrity from {}", client.addr);
        self.auth_failed(client, req, now);
        None
    }

    pub(super) fn handle_request(&mut self, client: Client, req: &Message<'_>, now: Now) {
        let unknown = req.unknown_required();
        if !unknown.is_empty() {
            let mut b = MessageBuilder::error(req, ErrorCode::UnknownAttribute);
            b.unknown_attributes(&unknown);
            self.reply_plain(client, b, req.has(AttrType::FINGERPRINT));
            return;
        }
        if req.method == Method::BINDING {
            let mut b = MessageBuilder::response(req, Class::Success);
            b.xor_address(AttrType::XOR_MAPPED_ADDRESS, canonical_addr(client.addr));
            self.reply_plain(client, b, req.has(AttrType::FINGERPRINT));
            return;
        }
        let known = [Method::ALLOCATE, Method::REFRESH, Method::CREATE_PERMISSION, Method::CHANNEL_BIND];
        if !known.contains(&req.method) {
            self.reply_plain(client, MessageBuilder::error(req, ErrorCode::BadRequest), req.has(AttrType::FINGERPRINT));
            return;
        }
        if req.method == Method::ALLOCATE {
            if let Some(a) = self.by_client.get(&client).and_then(|id| self.allocations.get(id)) {
                // A retransmitted Allocate gets the same answer; any other gets 437 (§7.2).
                if a.allocate_tid == req.tid && a.pending.is_none() {
                    let (key, relay, expires) = (a.key.clone(), a.relay, a.expires);
                    let lifetime = expires.saturating_duration_since(now.mono);
                    let alg = req.integrity_alg().unwrap_or(IntegrityAlg::Sha1);
                    if req.verify_integrity(&key).is_ok() {
                        let b = super::allocate::allocate_success(
                            req.tid,
                            canonical_addr(client.addr),
                            relay,
                            lifetime,
                            false,
                        );
                        self.send(client, b.finish(Some((alg, &key)), req.has(AttrType::FINGERPRINT)));
                    }
                    return;
                }
            }
        }
        let Some(auth) = self.authenticate(client, req, now) else { return };
        match req.method {
            Method::ALLOCATE => self.allocate(client, req, auth, now),
            Method::REFRESH => self.refresh(client, req, auth, now),
            Method::CREATE_PERMISSION => self.create_permission(client, req, auth, now),
            _ => self.channel_bind(client, req, auth, now),
        }
    }

    pub(super) fn error(&mut self, client: Client, req: &Message<'_>, code: ErrorCode, auth: &Auth) {
        self.reply(client, MessageBuilder::error(req, code), auth);
    }

    /// Time until the credentials' EXPIRY, never more than the longest lifetime (so adding it to
    /// an instant cannot overflow, whatever EXPIRY a client sends).
    pub(super) fn time_left(&self, auth: &Auth, now: Now) -> Duration {
        let secs = auth.user.expiry.secs().saturating_sub(now.wall.secs()).max(0);
        Duration::from_secs(secs as u64).min(self.config.max_lifetime)
    }

    /// RFC 8656 §7.2: the lifetime asked for, within [default, max], never past the EXPIRY.
    pub(super) fn lifetime(&self, req: &Message<'_>, auth: &Auth, now: Now) -> Option<Duration> {
        let asked = match req.u32(AttrType::LIFETIME) {
            Some(Ok(secs)) => Duration::from_secs(u64::from(secs)),
            Some(Err(_)) => return None,
            None => self.config.default_lifetime,
        };
        Some(asked.max(self.config.default_lifetime).min(self.config.max_lifetime).min(self.time_left(auth, now)))
    }

    fn refresh(&mut self, client: Client, req: &Message<'_>, auth: Auth, now: Now) {
        let Some(id) = self.by_client.get(&client).copied() else {
            return self.error(client, req, ErrorCode::AllocationMismatch, &auth);
        };
        let Some(lifetime) = self.lifetime(req, &auth, now) else {
            return self.error(client, req, ErrorCode::BadRequest, &auth);
        };
        let zero = matches!(req.u32(AttrType::LIFETIME), Some(Ok(0)));
        let relay_family = self.allocations.get(&id).and_then(|a| a.relay).map(|r| Family::of(&r));
        if let Some(Ok(f)) = req.get(AttrType::REQUESTED_ADDRESS_FAMILY).map(attr::decode_family_attr) {
            if relay_family.is_some_and(|rf| rf != f) {
                return self.error(client, req, ErrorCode::PeerAddressFamilyMismatch, &auth);
            }
        }
        let granted = if zero {
            self.remove(id);
            Duration::ZERO
        } else {
            let Some(a) = self.allocations.get_mut(&id) else { return };
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
        self.reply(client, b, &auth);
    }

    /// Resolves the peer addresses of CreatePermission / ChannelBind against the allocation.
    /// `exact_port` is false for CreatePermission, whose permissions cover every port.
    fn checked_peer(&mut self, id: AllocId, peer: SocketAddr, exact_port: bool) -> Result<(), ErrorCode> {
        let relay = self.allocations.get(&id).and_then(|a| a.relay).ok_or(ErrorCode::AllocationMismatch)?;
        // An IPv4-mapped peer is an IPv4 peer: it never rides an IPv6 relay.
        if Family::of(&relay) != Family::of(&canonical_addr(peer)) {
            return Err(ErrorCode::PeerAddressFamilyMismatch);
        }
        if exact_port && !self.own_relay_target_ok(peer) {
            self.totals.forbidden_peers += 1;
            return Err(ErrorCode::Forbidden);
        }
        let verdict = if exact_port { self.policy.check(peer) } else { self.policy.check_ip(peer.ip()) };
        if let Err(why) = verdict {
            log::debug!("turn: peer {peer} forbidden: {why:?}");
            self.totals.forbidden_peers += 1;
            return Err(ErrorCode::Forbidden);
        }
        Ok(())
    }

    fn create_permission(&mut self, client: Client, req: &Message<'_>, auth: Auth, now: Now) {
        let Some(id) = self.by_client.get(&client).copied() else {
            return self.error(client, req, ErrorCode::AllocationMismatch, &auth);
        };
        let peers: Result<Vec<SocketAddr>, _> =
            req.xor_addresses(AttrType::XOR_PEER_ADDRESS).map(|r| r.map(canonical_addr)).collect();
        let peers = match peers {
            Ok(p) if !p.is_empty() => p,
            _ => return self.error(client, req, ErrorCode::BadRequest, &auth),
        };
        for peer in &peers {
            if let Err(code) = self.checked_peer(id, *peer, false) {
                return self.error(client, req, code, &auth);
            }
        }
        let max = self.config.max_permissions_per_allocation;
        let Some(a) = self.allocations.get_mut(&id) else { return };
        let ips: Vec<_> = peers.iter().map(|p| p.ip()).collect();
        // All or nothing: a request that does not fit installs none of its permissions.
        if !a.permissions_fit(&ips, now.mono, max) {
            return self.error(client, req, ErrorCode::InsufficientCapacity, &auth);
        }
        for ip in ips {
            a.permit(ip, now.mono, max);
        }
        self.reply(client, MessageBuilder::response(req, Class::Success), &auth);
    }

    fn channel_bind(&mut self, client: Client, req: &Message<'_>, auth: Auth, now: Now) {
        let Some(id) = self.by_client.get(&client).copied() else {
            return self.error(client, req, ErrorCode::AllocationMismatch, &auth);
        };
        let number = req.get(AttrType::CHANNEL_NUMBER).map(attr::decode_channel_number);
        let number = match number {
            Some(Ok(n)) => {
                let valid = ChannelNumber::new(n);
                if valid.is_none() {
                    log::debug!("turn: channel number {n:#06x} is outside 0x4000-0x7FFF");
                }
                valid
            }
            _ => None,
        };
        let (Some(number), Some(Ok(peer))) = (number, req.xor_address(AttrType::XOR_PEER_ADDRESS)) else {
            return self.error(client, req, ErrorCode::BadRequest, &auth);
        };
        let peer = canonical_addr(peer);
        if let Err(code) = self.checked_peer(id, peer, true) {
            return self.error(client, req, code, &auth);
        }
        let (max_channels, max_perms) =
            (self.config.max_channels_per_allocation, self.config.max_permissions_per_allocation);
        let Some(a) = self.allocations.get_mut(&id) else { return };
        if !a.permissions_fit(&[peer.ip()], now.mono, max_perms) {
            return self.error(client, req, ErrorCode::InsufficientCapacity, &auth);
        }
        match a.bind_channel(number, peer, now.mono, max_channels) {
            BindOutcome::Bound => {
                a.permit(peer.ip(), now.mono, max_perms);
                self.reply(client, MessageBuilder::response(req, Class::Success), &auth)
            }
            BindOutcome::QuotaFull => self.error(client, req, ErrorCode::InsufficientCapacity, &auth),
            BindOutcome::Conflict => {
                log::debug!("turn: channel {:#06x} or peer {peer} already bound otherwise", number.get());
                self.error(client, req, ErrorCode::BadRequest, &auth)
            }
        }
    }
}

/// An address with an IPv4-mapped IPv6 address in its IPv4 form: peers are judged in that form,
/// and a dual-stack listener's IPv4 clients know their address in it.
pub(super) fn canonical_addr(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(crate::proto::addr_policy::canonical(peer.ip()), peer.port())
}
