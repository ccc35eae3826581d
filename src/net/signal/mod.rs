//! The signaling shell: one task per upgraded connection moving frames ([`conn`], started by
//! [`start`] once `crate::http::upgrade` has answered 101), and the hub task that owns the pure
//! [`crate::proto::signal::Hub`] ([`hub_task`]). The hub never sees a socket; connection tasks
//! never see a JSON field.

pub mod conn;
pub mod directory;
pub mod hub_task;
pub mod outbox;
mod socket;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::config::SignalLimits;
use crate::net::tls_stream::TlsStream;
use crate::proto::signal::{ConnId, ConnInfo};
pub use outbox::{Frame, Next, Outbox, OutboxSender};

/// The unauthenticated slot a connection took at accept (`net::https`), kept until `welcome`.
pub type PendingSlot = crate::net::slots::Slot;

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
    pub open: AtomicUsize,
}

impl SignalShared {
    pub fn new(events: async_channel::Sender<HubEvent>, limits: SignalLimits) -> Arc<SignalShared> {
        Arc::new(SignalShared { events, limits, next_conn: AtomicU64::new(1), open: AtomicUsize::new(0) })
    }

    fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }
}
