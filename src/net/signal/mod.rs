//! The signaling shell: one task per upgraded connection moving frames ([`conn`], started by
//! [`start`] once `crate::http::upgrade` has answered 101), and the hub task that owns the pure
//! [`crate::proto::signal::Hub`] ([`hub_task`]). The hub never sees a socket; connection tasks
//! never see a JSON field.

pub mod conn;
pub mod directory;
pub mod hub_task;
pub mod outbox;
mod socket;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::config::SignalLimits;
use crate::net::tls_stream::TlsStream;
use crate::proto::signal::{ConnId, ConnInfo};
pub use outbox::{Frame, Next, Outbox, OutboxSender};

/// What connection tasks tell the hub task.
pub enum HubEvent {
    Open { conn: ConnId, info: ConnInfo, outbox: OutboxSender },
    Text { conn: ConnId, text: String },
    Binary { conn: ConnId },
    Closed { conn: ConnId },
}

/// Starts the task of a connection that hyper has upgraded; `read_buf` holds the bytes hyper
/// read past the request.
pub fn start(stream: TlsStream, read_buf: Bytes, shared: Arc<SignalShared>, info: ConnInfo, slot: PendingSlot) {
    let ws = socket::WsSocket::new(stream, &read_buf, shared.limits.max_message_bytes);
    // hyper's read buffer goes now, not at the end of the connection.
    drop(read_buf);
    // A task of its own: the upgrade's task and its futures are freed now.
    crate::rt::spawn(conn::run(Box::new(ws), shared, info, slot)).detach();
}

/// Shared by the upgrade handler and the connection tasks.
pub struct SignalShared {
    pub events: async_channel::Sender<HubEvent>,
    pub limits: SignalLimits,
    next_conn: AtomicU64,
    unauthenticated: Mutex<HashMap<IpAddr, usize>>,
    pub open: AtomicUsize,
}

impl SignalShared {
    pub fn new(events: async_channel::Sender<HubEvent>, limits: SignalLimits) -> Arc<SignalShared> {
        Arc::new(SignalShared {
            events,
            limits,
            next_conn: AtomicU64::new(1),
            unauthenticated: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
        })
    }

    fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// Reserves an unauthenticated slot for `ip`, or `None` if it has too many.
    pub fn reserve(self: &Arc<Self>, ip: IpAddr) -> Option<PendingSlot> {
        let mut map = self.unauthenticated.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_default();
        if *n >= self.limits.max_unauthenticated_per_ip {
            return None;
        }
        *n += 1;
        Some(PendingSlot { shared: self.clone(), ip })
    }
}

/// Counts one not-yet-authenticated connection of an IP until dropped.
pub struct PendingSlot {
    shared: Arc<SignalShared>,
    ip: IpAddr,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut map = self.shared.unauthenticated.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}
