//! Webhooks (SPEC "Webhooks"): signed, durable, at-least-once delivery of what happens on the
//! box to each project's own HTTP endpoints.
//!
//! How the pieces fit:
//! - The cores stay pure: the hub emits `Command::Peer`, the TURN core `TurnEvent`s; their
//!   shells (and the admin API, for keys) turn them into an [`Occurrence`] and [`Sink::offer`]
//!   it: a non-blocking hand-off into a bounded queue. Nothing there waits for the store or the
//!   network; a full queue drops the event and counts it.
//! - [`dispatch`] is the one owner of delivery. It gives each event its id and body, writes one
//!   queue row per matching endpoint to SQLite in batched transactions (before any attempt, so a
//!   crash loses nothing), and runs one worker per endpoint that delivers its rows in order,
//!   one at a time, on the [`schedule`] of retries.
//! - [`client`] is the HTTP/1.1 client (hyper over smol, rustls), [`target`] the URL and the
//!   address rules (no loopback, link-local or the box itself unless `webhook_allow` says so),
//!   [`sign`] the Standard Webhooks secrets and signatures.
//!
//! Left out on purpose: HTTP/2, redirects (a 3xx is a failed attempt), proxies, and
//! re-enabling an endpoint disabled by 410 (delete it and add it again).

pub mod client;
pub mod dispatch;
pub mod event;
pub mod schedule;
pub mod sign;
pub mod target;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use event::{EventKind, Happened, Occurrence};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Attempts answered 2xx.
    pub delivered: AtomicU64,
    /// Attempts that failed (non-2xx, timeout, refused target, connection error).
    pub failed: AtomicU64,
    /// Deliveries waiting in the store now.
    pub queued: AtomicU64,
    /// Events lost to a full queue: the hand-off's, and the oldest deliveries of a full endpoint.
    pub dropped: AtomicU64,
}

/// The hand-off from the engine's shells to the dispatcher: never blocks, never waits.
#[derive(Clone)]
pub struct Sink {
    tx: async_channel::Sender<Occurrence>,
    max: usize,
    /// Whether any endpoint is enabled: while none is, events are not even queued.
    active: Arc<AtomicBool>,
    stats: Arc<WebhookStats>,
}

impl Sink {
    /// A sink whose queue holds at most `max` events, and its receiving end.
    pub fn new(max: usize, stats: Arc<WebhookStats>) -> (Sink, async_channel::Receiver<Occurrence>) {
        // Unbounded with a length check: a bounded channel allocates and touches all its slots
        // up front, which a queue of 100,000 mostly idle slots would pay in RSS.
        let (tx, rx) = async_channel::unbounded();
        (Sink { tx, max, active: Arc::new(AtomicBool::new(false)), stats }, rx)
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub(crate) fn set_active(&self, on: bool) {
        self.active.store(on, Ordering::Relaxed);
    }

    /// Queues `what` if any endpoint may want it; a full queue drops it and counts the drop.
    pub fn offer(&self, what: Occurrence) {
        if !self.is_active() {
            return;
        }
        if self.tx.len() >= self.max || self.tx.try_send(what).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
