//! Allocate (RFC 8656 §7, RFC 6156 §4): checks, quotas and the lifetime, then the relay socket the
//! shell binds, and the answer once it is bound.

use std::net::SocketAddr;
use std::time::Duration;

use super::allocation::{AllocId, Allocation, Bandwidth, PendingAllocate, Usage};
use super::error::TurnError;
use super::requests::{canonical_addr, Auth, ReplyTo};
use super::{Client, Command, DeleteReason, Now, Server, TurnEvent};
use crate::proto::stun::attr::{self, AttrType};
use crate::proto::stun::{Class, Family, Message, MessageBuilder, Method, TransactionId};

/// UDP, the only REQUESTED-TRANSPORT this server relays (RFC 8656 §14.7).
const PROTO_UDP: u8 = 17;
/// ADDRESS-ERROR-CODE (RFC 8656 §18.13).
const ADDRESS_ERROR_CODE: AttrType = AttrType(0x8001);

impl Server {
    pub(super) fn allocate(
        &mut self,
        client: Client,
        req: &Message<'_>,
        auth: &Auth,
        now: Now,
    ) -> Result<(), TurnError> {
        if self.by_client.contains_key(&client) {
            return Err(TurnError::AllocationExists);
        }
        match req.get(AttrType::REQUESTED_TRANSPORT).map(attr::decode_requested_transport) {
            Some(Ok(PROTO_UDP)) => {}
            Some(Ok(_)) => return Err(TurnError::UnsupportedTransport),
            _ => return Err(TurnError::MissingTransport),
        }
        let requested = req.get(AttrType::REQUESTED_ADDRESS_FAMILY).map(attr::decode_family_attr);
        let additional = req.get(AttrType::ADDITIONAL_ADDRESS_FAMILY).map(attr::decode_family_attr);
        let family = match (requested, additional) {
            (Some(_), Some(_)) | (Some(Err(_)), _) | (_, Some(Err(_))) | (None, Some(Ok(Family::V4))) => {
                return Err(TurnError::BadAddressFamily)
            }
            (Some(Ok(f)), None) => f,
            (None, _) => Family::V4,
        };
        let family_ok = match family {
            Family::V4 => self.config.relay_v4,
            Family::V6 => self.config.relay_v6,
        };
        if !family_ok {
            return Err(TurnError::FamilyNotSupported);
        }
        let reservation = req.has(AttrType::RESERVATION_TOKEN);
        let even = req.get(AttrType::EVEN_PORT);
        if reservation || even.is_some_and(|v| v.first().is_some_and(|b| b & 0x80 != 0)) {
            return Err(TurnError::ReservationUnsupported);
        }
        let identity = auth.user.identity.clone();
        if self.per_identity.get(&identity) >= self.config.max_allocations_per_peer
            || self.per_project.get(&identity.project) >= self.config.max_allocations_per_project
        {
            return Err(TurnError::AllocationQuota);
        }
        let lifetime = self.lifetime(req, auth, now)?;
        let id = AllocId(self.next_id);
        self.next_id += 1;
        let left = self.time_left(auth, now);
        let allocation = Allocation {
            id,
            client,
            identity: identity.clone(),
            username: auth.username.clone(),
            key: auth.key.clone(),
            relay: None,
            pending: Some(PendingAllocate {
                lifetime,
                alg: auth.alg,
                fingerprint: auth.fingerprint,
                refused_additional: matches!(additional, Some(Ok(Family::V6))),
            }),
            allocate_tid: req.tid,
            expires: now.mono + lifetime,
            hard_limit: now.mono + left,
            scheduled: now.mono + lifetime,
            permissions: Vec::new(),
            channels: Vec::new(),
            bandwidth: Bandwidth::new(self.config.bandwidth_bytes_per_sec, now.mono),
            usage: Usage::default(),
            taken: Usage::default(),
        };
        self.allocations.insert(id, allocation);
        self.by_client.insert(client, id);
        self.per_identity.increment(identity.clone());
        self.per_project.increment(identity.project.clone());
        self.commands.push_back(Command::BindRelay { alloc: id, family, even_port: even.is_some() });
        Ok(())
    }
}

/// The Allocate success (RFC 8656 §7.3), also resent for a retransmitted Allocate.
pub(super) fn allocate_success(
    tid: TransactionId,
    mapped: SocketAddr,
    relay: Option<SocketAddr>,
    lifetime: Duration,
    refused_v6: bool,
) -> MessageBuilder {
    let mut b = MessageBuilder::new(Class::Success, Method::ALLOCATE, tid);
    if let Some(relay) = relay {
        b.xor_address(AttrType::XOR_RELAYED_ADDRESS, relay);
    }
    b.u32(AttrType::LIFETIME, lifetime.as_secs() as u32);
    b.xor_address(AttrType::XOR_MAPPED_ADDRESS, mapped);
    if refused_v6 {
        // ADDRESS-ERROR-CODE: family IPv6, reserved, then class 4 and number 40 (440).
        b.bytes(ADDRESS_ERROR_CODE, &[0x02, 0x00, 0x04, 40]);
    }
    b
}

/// Finishes an Allocate once the shell has bound (or failed to bind) the relay socket.
pub(super) fn complete_allocate(server: &mut Server, id: AllocId, relay: Option<SocketAddr>, now: Now) {
    let Some(a) = server.allocations.get_mut(&id) else { return };
    let Some(pending) = a.pending.take() else { return };
    let (client, key, tid) = (a.client, a.key.clone(), a.allocate_tid);
    let Some(relay) = relay else {
        server.remove(id, DeleteReason::Released);
        let to = ReplyTo { client, method: Method::ALLOCATE, tid, fingerprint: pending.fingerprint };
        server.reject(to, TurnError::RelayUnavailable, Some((pending.alg, &key)), now);
        return;
    };
    let relay = canonical_addr(relay);
    a.relay = Some(relay);
    a.expires = (now.mono + pending.lifetime).min(a.hard_limit);
    a.scheduled = a.expires;
    let (at, lifetime) = (a.expires, a.expires.saturating_duration_since(now.mono));
    let project = a.identity.project.clone();
    let identity = a.identity.clone();
    server.live_relays.insert(canonical_addr(relay));
    server.schedule_expiry(id, at);
    server.totals.allocations_created += 1;
    server.closed_usage.entry(project).or_default().1 += 1;
    server.events.push_back(TurnEvent::AllocationCreated { alloc: id, identity, transport: client.transport });
    if client.is_stream() {
        server.pending_streams.settled(client);
        server.commands.push_back(Command::Authenticated { client });
    }
    let b = allocate_success(tid, canonical_addr(client.addr), Some(relay), lifetime, pending.refused_additional);
    server.send(client, b.finish(Some((pending.alg, &key)), pending.fingerprint));
    log::debug!("turn: allocation {} relays at {relay} for {lifetime:?}", id.0);
}
