//! What the shell holds of a TCP or TLS client: the way to its writer task (a queue of records
//! and the bytes waiting in it), and its standing among its source's connections without an
//! allocation. The shell never waits on a client: past the cap a slow reader's records are
//! dropped, which is what UDP would do to them.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use crate::net::slots::Slot;
use crate::proto::turn::Transport;
use crate::unixtime::Now;

/// Where a TCP or TLS client stands, as its connection task learns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// No allocation yet: it holds a slot among its source's unauthenticated connections.
    Pending,
    /// It has its allocation; its slot was given back, which ends the eviction wait without
    /// being an eviction.
    Authenticated,
    /// The core closed it (no allocation by its deadline).
    Closed,
}

/// A TCP or TLS connection the shell is told of, ready for records.
pub(super) struct Opened {
    pub(super) transport: Transport,
    pub(super) addr: SocketAddr,
    /// When it was accepted (its deadline counts from then, TLS handshake included).
    pub(super) at: Now,
    /// Its slot among its source's connections without an allocation.
    pub(super) pending: Slot,
}

/// A TCP or TLS client as the shell holds it.
pub(super) struct StreamClient {
    out: StreamOut,
    /// Its slot among its source's connections without an allocation, until it has one.
    pending: Option<Slot>,
    standing: Rc<Cell<Standing>>,
}

impl StreamClient {
    pub(super) fn new(out: StreamOut, pending: Slot, standing: Rc<Cell<Standing>>) -> StreamClient {
        StreamClient { out, pending: Some(pending), standing }
    }

    #[inline]
    pub(super) fn push(&self, bytes: &[u8]) {
        self.out.push(bytes);
    }

    /// It has its allocation: its slot goes back to its source.
    pub(super) fn authenticated(&mut self) {
        self.standing.set(Standing::Authenticated);
        self.pending = None;
    }

    /// Dropping its queue ends its writer, and so its connection task.
    pub(super) fn close(self) {
        self.standing.set(Standing::Closed);
    }
}

/// Bytes waiting for a slow reader before more are dropped.
const MAX_QUEUED_BYTES: usize = 256 * 1024;
/// Records waiting; with small records this caps the queue before the bytes do.
const MAX_QUEUED_RECORDS: usize = 1024;

/// A stream client's queue: the shell's end ([`StreamOut`]) and the writer task's ([`StreamIn`]).
pub(super) fn queue() -> (StreamOut, StreamIn) {
    let (tx, rx) = async_channel::bounded(MAX_QUEUED_RECORDS);
    let queued = Rc::new(Cell::new(0));
    (StreamOut { tx, queued: queued.clone() }, StreamIn { rx, queued })
}

pub(super) struct StreamOut {
    tx: async_channel::Sender<Vec<u8>>,
    queued: Rc<Cell<usize>>,
}

impl StreamOut {
    /// Queues a copy of `bytes` for the client, or drops it if the client is that far behind.
    #[inline]
    pub(super) fn push(&self, bytes: &[u8]) {
        let queued = self.queued.get();
        if queued + bytes.len() <= MAX_QUEUED_BYTES && self.tx.try_send(bytes.to_vec()).is_ok() {
            self.queued.set(queued + bytes.len());
        }
    }
}

pub(super) struct StreamIn {
    rx: async_channel::Receiver<Vec<u8>>,
    queued: Rc<Cell<usize>>,
}

impl StreamIn {
    /// The next record to write; `None` once the shell has dropped the client.
    pub(super) async fn recv(&self) -> Option<Vec<u8>> {
        let bytes = self.rx.recv().await.ok()?;
        self.queued.set(self.queued.get().saturating_sub(bytes.len()));
        Some(bytes)
    }

    /// Nothing more is queued now (time to flush).
    pub(super) fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_falls_256_kib_behind_loses_what_comes_next() {
        let (out, input) = queue();
        let record = vec![0u8; 64 * 1024];
        for _ in 0..5 {
            out.push(&record);
        }
        assert_eq!(input.rx.len(), 4, "the fifth 64 KiB record is over the cap");
        smol::block_on(async {
            assert_eq!(input.recv().await.map(|r| r.len()), Some(64 * 1024));
        });
        out.push(&record);
        assert_eq!(input.rx.len(), 4, "reading one made room for one");
    }

    #[test]
    fn small_records_are_capped_by_count() {
        let (out, input) = queue();
        for _ in 0..MAX_QUEUED_RECORDS + 10 {
            out.push(b"x");
        }
        assert_eq!(input.rx.len(), MAX_QUEUED_RECORDS);
        assert_eq!(out.queued.get(), MAX_QUEUED_RECORDS);
    }
}
