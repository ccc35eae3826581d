//! Connection slots: a cap in all and a cap per source (SPEC "Clients without credentials"; a
//! source is an IPv4 address or an IPv6 /64, [`SourceKey`]). Taking a slot returns a guard that
//! gives it back when dropped, whatever else is borrowed at that moment.
//!
//! Two ways to meet a full source: [`SlotPool::take`] refuses the newcomer, and
//! [`SlotPool::take_evicting`] admits it and evicts that source's oldest evictable slot instead,
//! as SPEC asks of connections that have not authenticated yet (a flood from one source then
//! costs that source its own oldest connections, never anyone else's). An evicted slot no longer
//! counts, and its holder learns of it through [`Slot::evicted`] and closes its connection.
//!
//! Why the counts sit behind their own lock: the TURN stream slots used to live in the turn
//! thread's shared `RefCell<Shell>`, and a slot dropped while that was borrowed could not be
//! given back (its drop skipped it), so the source lost that slot for good. Here the lock is
//! held only inside [`SlotPool::take`] and [`Slot`]'s drop, neither of which calls out while
//! holding it, so a drop can always count the slot back.
//!
//! A `Mutex` rather than a `Cell`: the signaling pool is reached from tasks of the server's
//! executor, which must be `Send`. It is taken once when a connection opens and once when it
//! goes, never per packet, and on the turn thread it is never contended.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::proto::source::SourceKey;

/// Slots of one listener (or one kind of connection).
pub struct SlotPool {
    counts: Arc<Mutex<Pool>>,
}

struct Pool {
    /// Each source's slots, oldest first (at most the per-source cap, so a scan is short).
    per_source: HashMap<SourceKey, VecDeque<Holder>>,
    total: usize,
    max_total: usize,
    max_per_source: usize,
    next_id: u64,
}

struct Holder {
    id: u64,
    /// Dropped to evict: the slot's receiver then ends. `None` for a slot that cannot be evicted.
    evict: Option<async_channel::Sender<()>>,
}

fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    // Nothing can panic while the lock is held (map and queue steps, no calls out), so a
    // poisoned lock still holds consistent counts.
    pool.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SlotPool {
    pub fn new(max_total: usize, max_per_source: usize) -> SlotPool {
        let pool = Pool { per_source: HashMap::new(), total: 0, max_total, max_per_source, next_id: 0 };
        SlotPool { counts: Arc::new(Mutex::new(pool)) }
    }

    /// A slot for a connection from `ip`, or `None` when the pool or that source is full.
    pub fn take(&self, ip: IpAddr) -> Option<Slot> {
        self.admit(ip, false)
    }

    /// A slot for a connection from `ip`; when that source is full its oldest evictable slot is
    /// evicted to make room. `None` only when the pool is full in all.
    pub fn take_evicting(&self, ip: IpAddr) -> Option<Slot> {
        self.admit(ip, true)
    }

    fn admit(&self, ip: IpAddr, evicting: bool) -> Option<Slot> {
        let source = SourceKey::of(ip);
        let mut guard = lock(&self.counts);
        let pool = &mut *guard;
        let held = pool.per_source.get(&source).map_or(0, VecDeque::len);
        if held >= pool.max_per_source {
            let queue = pool.per_source.get_mut(&source)?;
            let oldest = queue.iter().position(|h| h.evict.is_some()).filter(|_| evicting)?;
            // Dropping the sender is the eviction.
            queue.remove(oldest);
            pool.total -= 1;
        }
        if pool.total >= pool.max_total {
            return None;
        }
        let id = pool.next_id;
        pool.next_id += 1;
        let (evict, evicted) = if evicting {
            let (tx, rx) = async_channel::bounded(1);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        pool.per_source.entry(source).or_default().push_back(Holder { id, evict });
        pool.total += 1;
        Some(Slot { counts: self.counts.clone(), source, id, evicted })
    }

    /// Slots held now, in all.
    pub fn in_use(&self) -> usize {
        lock(&self.counts).total
    }

    /// Slots held now by the source of `ip`.
    pub fn held_by(&self, ip: IpAddr) -> usize {
        lock(&self.counts).per_source.get(&SourceKey::of(ip)).map_or(0, VecDeque::len)
    }
}

/// One connection's slot, given back when dropped.
pub struct Slot {
    counts: Arc<Mutex<Pool>>,
    source: SourceKey,
    id: u64,
    evicted: Option<async_channel::Receiver<()>>,
}

impl Slot {
    /// Resolves once the pool has evicted this slot (never, for a slot that cannot be).
    pub async fn evicted(&self) {
        wait_evicted(self.evicted.as_ref()).await
    }

    /// Whether the pool has evicted this slot already.
    pub fn is_evicted(&self) -> bool {
        self.evicted.as_ref().is_some_and(|rx| rx.is_closed())
    }

    /// A handle that learns of this slot's eviction wherever the slot itself goes.
    pub fn eviction(&self) -> Eviction {
        Eviction(self.evicted.clone())
    }
}

/// See [`Slot::eviction`].
#[derive(Clone)]
pub struct Eviction(Option<async_channel::Receiver<()>>);

impl Eviction {
    pub async fn wait(&self) {
        wait_evicted(self.0.as_ref()).await
    }
}

async fn wait_evicted(rx: Option<&async_channel::Receiver<()>>) {
    match rx {
        // Nothing is ever sent: the sender's drop ends the wait.
        Some(rx) => while rx.recv().await.is_ok() {},
        None => std::future::pending().await,
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut pool = lock(&self.counts);
        let Some(queue) = pool.per_source.get_mut(&self.source) else { return };
        // An evicted slot was taken out of the count when it was evicted.
        let Some(at) = queue.iter().position(|h| h.id == self.id) else { return };
        queue.remove(at);
        if queue.is_empty() {
            pool.per_source.remove(&self.source);
        }
        pool.total -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_source_gets_at_most_its_cap() {
        let pool = SlotPool::new(100, 2);
        let held: Vec<Slot> = (0..2).map(|_| pool.take(ip("10.0.0.1")).unwrap()).collect();
        assert!(pool.take(ip("10.0.0.1")).is_none());
        assert!(pool.take(ip("10.0.0.2")).is_some(), "another source is not held back");
        assert_eq!((pool.held_by(ip("10.0.0.1")), held.len()), (2, 2));
    }

    #[test]
    fn the_pool_gets_at_most_its_total() {
        let pool = SlotPool::new(3, 2);
        let _held: Vec<Slot> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"].map(|a| pool.take(ip(a)).unwrap()).into();
        assert!(pool.take(ip("10.0.0.4")).is_none());
        assert_eq!(pool.in_use(), 3);
    }

    #[test]
    fn one_ipv6_slash_64_is_one_source() {
        let pool = SlotPool::new(100, 2);
        let _a = pool.take(ip("2001:db8:1:2::1")).unwrap();
        let _b = pool.take(ip("2001:db8:1:2::2")).unwrap();
        assert!(pool.take(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(pool.take(ip("2001:db8:1:3::1")).is_some());
    }

    #[test]
    fn a_dropped_slot_is_given_back() {
        let pool = SlotPool::new(1, 1);
        let slot = pool.take(ip("10.0.0.1")).unwrap();
        assert!(pool.take(ip("10.0.0.2")).is_none());
        drop(slot);
        assert_eq!((pool.in_use(), pool.held_by(ip("10.0.0.1"))), (0, 0));
        assert!(pool.take(ip("10.0.0.2")).is_some());
    }

    #[test]
    fn a_full_source_evicts_its_oldest_evictable_slot_and_no_one_elses() {
        let pool = SlotPool::new(100, 3);
        let other = pool.take_evicting(ip("10.0.0.9")).unwrap();
        let fixed = pool.take(ip("10.0.0.1")).unwrap();
        let first = pool.take_evicting(ip("10.0.0.1")).unwrap();
        let second = pool.take_evicting(ip("10.0.0.1")).unwrap();
        assert!(pool.take(ip("10.0.0.1")).is_none(), "take still refuses at the cap");
        let third = pool.take_evicting(ip("10.0.0.1")).unwrap();
        // The oldest that can be evicted goes; the one taken with `take` cannot be.
        assert!(first.is_evicted() && !second.is_evicted() && !third.is_evicted());
        assert!(!other.is_evicted());
        assert_eq!((pool.held_by(ip("10.0.0.1")), pool.in_use()), (3, 4));
        smol::block_on(first.evicted());
        // Dropping the evicted slot gives nothing back twice.
        drop(first);
        assert_eq!((pool.held_by(ip("10.0.0.1")), pool.in_use()), (3, 4));
        drop((fixed, second, third));
        assert_eq!((pool.held_by(ip("10.0.0.1")), pool.in_use()), (0, 1));
    }

    #[test]
    fn eviction_never_goes_past_the_total() {
        let pool = SlotPool::new(2, 5);
        let _a = pool.take_evicting(ip("10.0.0.1")).unwrap();
        let _b = pool.take_evicting(ip("10.0.0.2")).unwrap();
        assert!(pool.take_evicting(ip("10.0.0.3")).is_none());
    }

    /// The old TURN slot skipped the give-back when the shell it lived in was borrowed.
    #[test]
    fn a_slot_dropped_while_its_owner_is_borrowed_is_still_given_back() {
        let pool = SlotPool::new(10, 10);
        let shell = RefCell::new(vec![pool.take(ip("10.0.0.1")).unwrap(), pool.take(ip("10.0.0.1")).unwrap()]);
        let mut st = shell.borrow_mut();
        st.pop();
        assert_eq!(pool.held_by(ip("10.0.0.1")), 1);
        st.clear();
        drop(st);
        assert!(shell.try_borrow_mut().is_ok());
        assert_eq!(pool.in_use(), 0);
    }
}
