//! One allocation: its relayed address, owner, lifetime, permissions, channels, bandwidth bucket
//! and usage counters (RFC 8656 §6, §9, §12).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::auth::Identity;
use super::Client;
use crate::proto::stun::frame::ChannelNumber;
use crate::proto::stun::{IntegrityAlg, LongTermKey, TransactionId};

pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// The server's handle on an allocation (and on its relay socket in the shell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllocId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    pub number: ChannelNumber,
    pub peer: SocketAddr,
    pub expires: Instant,
}

/// Bytes and packets relayed, in both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub packets: u64,
}

/// A byte token bucket refilled continuously, with one second of burst.
#[derive(Debug, Clone)]
pub struct Bandwidth {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bandwidth {
    pub fn new(bytes_per_sec: u64, now: Instant) -> Bandwidth {
        Bandwidth { rate: bytes_per_sec as f64, tokens: bytes_per_sec as f64, last: now }
    }

    pub fn take(&mut self, bytes: usize, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        if self.tokens >= bytes as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

/// What the pending Allocate needs to answer once the relay socket is bound.
#[derive(Debug, Clone)]
pub struct PendingAllocate {
    pub lifetime: Duration,
    pub alg: IntegrityAlg,
    pub fingerprint: bool,
    /// Set when ADDITIONAL-ADDRESS-FAMILY asked for IPv6 that this server does not dual-allocate.
    pub refused_additional: bool,
}

pub struct Allocation {
    pub id: AllocId,
    pub client: Client,
    pub identity: Identity,
    pub username: String,
    pub key: LongTermKey,
    /// The relayed transport address, once the shell has bound it.
    pub relay: Option<SocketAddr>,
    pub pending: Option<PendingAllocate>,
    pub allocate_tid: TransactionId,
    pub expires: Instant,
    /// The credentials' EXPIRY as an instant: no Refresh goes past it.
    pub hard_limit: Instant,
    /// The earliest expiry queued for this allocation in the server's timer heap. A Refresh
    /// that extends the lifetime queues nothing (the entry is re-queued when it comes due), so
    /// refreshing in a loop cannot grow the heap.
    pub scheduled: Instant,
    pub permissions: Vec<(IpAddr, Instant)>,
    pub channels: Vec<Channel>,
    pub bandwidth: Bandwidth,
    pub usage: Usage,
    /// Usage already taken by `Server::take_usage`: with `usage`, the allocation's total.
    pub taken: Usage,
}

impl Allocation {
    pub fn has_permission(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.iter().any(|(p, exp)| *p == ip && now < *exp)
    }

    /// Whether permissions for all of `ips` fit in the quota (after dropping expired ones).
    pub fn permissions_fit(&mut self, ips: &[IpAddr], now: Instant, max: usize) -> bool {
        self.permissions.retain(|(_, exp)| now < *exp);
        let mut new: Vec<IpAddr> =
            ips.iter().copied().filter(|ip| !self.permissions.iter().any(|(p, _)| p == ip)).collect();
        new.sort();
        new.dedup();
        self.permissions.len() + new.len() <= max
    }

    /// Installs or refreshes a permission; false when the quota is full.
    pub fn permit(&mut self, ip: IpAddr, now: Instant, max: usize) -> bool {
        if let Some(entry) = self.permissions.iter_mut().find(|(p, _)| *p == ip) {
            entry.1 = now + PERMISSION_LIFETIME;
            return true;
        }
        self.permissions.retain(|(_, exp)| now < *exp);
        if self.permissions.len() >= max {
            return false;
        }
        self.permissions.push((ip, now + PERMISSION_LIFETIME));
        true
    }

    pub fn channel_by_number(&self, number: u16, now: Instant) -> Option<&Channel> {
        self.channels.iter().find(|c| c.number.get() == number && now < c.expires)
    }

    pub fn channel_by_peer(&self, peer: SocketAddr, now: Instant) -> Option<&Channel> {
        self.channels.iter().find(|c| c.peer == peer && now < c.expires)
    }

    /// Binds or refreshes a channel (RFC 8656 §11.2).
    pub fn bind_channel(&mut self, number: ChannelNumber, peer: SocketAddr, now: Instant, max: usize) -> BindOutcome {
        // An expired binding stays reserved for 5 more minutes (§11), so neither side is reused
        // for another pairing in that time.
        let reserve = Duration::from_secs(300);
        for c in &mut self.channels {
            match (c.number == number, c.peer == peer) {
                (true, true) => {
                    c.expires = now + CHANNEL_LIFETIME;
                    return BindOutcome::Bound;
                }
                (true, false) | (false, true) if now < c.expires + reserve => return BindOutcome::Conflict,
                _ => {}
            }
        }
        self.channels.retain(|c| now < c.expires + reserve);
        if self.channels.len() >= max {
            return BindOutcome::QuotaFull;
        }
        self.channels.push(Channel { number, peer, expires: now + CHANNEL_LIFETIME });
        BindOutcome::Bound
    }

    /// Drops expired permissions and channel bindings past their reservation.
    pub fn sweep(&mut self, now: Instant) {
        self.permissions.retain(|(_, exp)| now < *exp);
        let reserve = Duration::from_secs(300);
        self.channels.retain(|c| now < c.expires + reserve);
    }

    pub fn count(&mut self, bytes: usize) {
        self.usage.bytes += bytes as u64;
        self.usage.packets += 1;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindOutcome {
    Bound,
    Conflict,
    QuotaFull,
}
