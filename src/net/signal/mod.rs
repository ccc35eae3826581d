//! The signaling shell: the `/v1/signal` WebSocket upgrade ([`upgrade`]), one task per
//! connection moving frames ([`conn`]), and the hub task that owns the pure
//! [`crate::proto::signal::Hub`] ([`hub_task`]). The hub never sees a socket; connection tasks
//! never see a JSON field.

pub mod conn;
pub mod directory;
pub mod hub_task;
pub mod outbox;
mod socket;
pub mod upgrade;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::SignalLimits;
use crate::net::slots::SlotPool;
use crate::proto::signal::{ConnId, ConnInfo};
pub use outbox::{Frame, Next, Outbox, OutboxSender};

/// Counts one not-yet-authenticated connection of a source until dropped.
pub type PendingSlot = crate::net::slots::Slot;

/// What connection tasks tell the hub task.
pub enum HubEvent {
    Open { conn: ConnId, info: ConnInfo, outbox: OutboxSender },
    Text { conn: ConnId, text: String },
    Binary { conn: ConnId },
    Closed { conn: ConnId },
}

/// Shared by the upgrade handler and the connection tasks.
pub struct SignalShared {
    pub events: async_channel::Sender<HubEvent>,
    pub limits: SignalLimits,
    next_conn: AtomicU64,
    /// Connections not yet authenticated, capped per source only (`usize::MAX` in all).
    unauthenticated: SlotPool,
    pub open: AtomicUsize,
}

impl SignalShared {
    pub fn new(events: async_channel::Sender<HubEvent>, limits: SignalLimits) -> Arc<SignalShared> {
        Arc::new(SignalShared {
            events,
            unauthenticated: SlotPool::new(usize::MAX, limits.max_unauthenticated_per_ip),
            limits,
            next_conn: AtomicU64::new(1),
            open: AtomicUsize::new(0),
        })
    }

    fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }
}
