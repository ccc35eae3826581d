//! The data path: records from clients (requests, Send indications, ChannelData) and datagrams
//! from peers on relay sockets (RFC 8656 §10, §12). Data is only relayed to and from peers with
//! a live permission, within the allocation's bandwidth.

use std::net::SocketAddr;

use super::allocation::AllocId;
use super::{Client, Forward, Now, Server};
use crate::proto::stun::attr::AttrType;
use crate::proto::stun::frame::{self, ChannelData};
use crate::proto::stun::{Class, Message, MessageBuilder, Method, TransactionId};

/// The largest payload a Data indication can carry: the 16-bit STUN length minus
/// XOR-PEER-ADDRESS (IPv6), the DATA header and DATA's padding.
const MAX_RELAYED_PAYLOAD: usize = 65_535 - 24 - 4 - 3;

impl Server {
    /// One record from a client: a UDP datagram, or one framed record of a stream. Returns the
    /// payload to relay when the record is data for a peer; anything else is answered through
    /// [`Server::poll_transmit`] or dropped.
    pub fn handle_client<'a>(&mut self, client: Client, bytes: &'a [u8], now: Now) -> Option<Forward<'a>> {
        if bytes.first().is_some_and(|b| b & 0xC0 == 0x40) {
            let data = ChannelData::decode(bytes)?;
            return self.client_data(client, None, data.channel, data.payload, now);
        }
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                log::trace!("turn: dropped a record from {}: {e}", client.addr);
                return None;
            }
        };
        match (msg.class, msg.method) {
            (Class::Request, _) => {
                self.handle_request(client, &msg, now);
                None
            }
            (Class::Indication, Method::SEND) => {
                let peer = super::requests::canonical_addr(msg.xor_address(AttrType::XOR_PEER_ADDRESS)?.ok()?);
                let payload = msg.get(AttrType::DATA)?;
                if !msg.unknown_required().is_empty() {
                    return None;
                }
                self.client_data(client, Some(peer), 0, payload, now)
            }
            _ => None,
        }
    }

    fn client_data<'a>(
        &mut self,
        client: Client,
        peer: Option<SocketAddr>,
        channel: u16,
        payload: &'a [u8],
        now: Now,
    ) -> Option<Forward<'a>> {
        let id = *self.by_client.get(&client)?;
        // A Send indication names any port of a permitted address: check that port.
        if let Some(p) = peer {
            if self.policy.check(p).is_err() || !self.own_relay_target_ok(p) {
                self.totals.forbidden_peers += 1;
                return None;
            }
        }
        let a = self.allocations.get_mut(&id)?;
        a.relay?;
        let peer = match peer {
            Some(p) => p,
            None => a.channel_by_number(channel, now.mono)?.peer,
        };
        if !a.has_permission(peer.ip(), now.mono) || !a.bandwidth.take(payload.len(), now.mono) {
            self.totals.dropped_packets += 1;
            return None;
        }
        a.count(payload.len());
        Some(Forward { alloc: id, peer, payload })
    }

    /// A datagram from `peer` arrived on the relay socket of `alloc`. Writes the record for the
    /// client (ChannelData if a channel is bound, else a Data indication) into `out` and returns
    /// the client to send it to.
    pub fn handle_peer(
        &mut self,
        alloc: AllocId,
        peer: SocketAddr,
        payload: &[u8],
        now: Now,
        out: &mut Vec<u8>,
    ) -> Option<Client> {
        if payload.len() > MAX_RELAYED_PAYLOAD {
            self.totals.dropped_packets += 1;
            return None;
        }
        let peer = SocketAddr::new(crate::proto::addr_policy::canonical(peer.ip()), peer.port());
        let a = self.allocations.get_mut(&alloc)?;
        if !a.has_permission(peer.ip(), now.mono) || !a.bandwidth.take(payload.len(), now.mono) {
            self.totals.dropped_packets += 1;
            return None;
        }
        a.count(payload.len());
        let client = a.client;
        out.clear();
        if let Some(channel) = a.channel_by_peer(peer, now.mono) {
            out.extend_from_slice(&frame::channel_header(channel.number, payload.len()));
            out.extend_from_slice(payload);
            if client.is_stream() {
                out.resize(out.len() + frame::stream_padding(payload.len()), 0);
            }
        } else {
            self.indications = self.indications.wrapping_add(1);
            let mut tid = [0u8; 12];
            tid[..8].copy_from_slice(&(self.indications ^ self.tid_seed).to_be_bytes());
            let mut b = MessageBuilder::new(Class::Indication, Method::DATA, TransactionId(tid));
            b.xor_address(AttrType::XOR_PEER_ADDRESS, peer);
            b.bytes(AttrType::DATA, payload);
            out.extend_from_slice(&b.finish(None, false));
        }
        Some(client)
    }
}
