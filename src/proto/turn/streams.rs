//! TCP and TLS client connections that have no allocation yet (SPEC "Clients without
//! credentials": such a connection is closed 30 s after it opened). The shell reports each
//! stream it opens; the core answers with `Command::Authenticated` when the stream's Allocate
//! succeeds (the shell then stops counting it against its source) or `Command::CloseStream` at
//! the deadline. Per-source caps and eviction of a source's oldest are the shell's (`SlotPool`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use super::Client;

/// Streams waiting for their allocation, by connection number, with their deadlines.
#[derive(Default)]
pub struct PendingStreams {
    deadlines: HashMap<u64, (Client, Instant)>,
    /// (deadline, conn): an entry whose stream has authenticated or closed since is skipped
    /// when it comes due. At most one entry per stream opened in the last deadline's worth.
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
}

impl PendingStreams {
    pub fn opened(&mut self, client: Client, deadline: Instant) {
        self.deadlines.insert(client.conn, (client, deadline));
        self.queue.push(Reverse((deadline, client.conn)));
    }

    /// The stream has its allocation, or has closed: true if it was still pending.
    pub fn settled(&mut self, client: Client) -> bool {
        self.deadlines.remove(&client.conn).is_some()
    }

    /// The next stream past its deadline at `now`, forgotten as it is returned.
    pub fn next_due(&mut self, now: Instant) -> Option<Client> {
        while let Some(Reverse((at, conn))) = self.queue.peek().copied() {
            if at > now {
                return None;
            }
            self.queue.pop();
            if let Some((client, deadline)) = self.deadlines.get(&conn).copied() {
                if deadline == at {
                    self.deadlines.remove(&conn);
                    return Some(client);
                }
            }
        }
        None
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}
