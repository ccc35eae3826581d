//! Connection slots: a cap in all and a cap per source (SPEC "Clients without credentials"; a
//! source is an IPv4 address or an IPv6 /64, [`SourceKey`]). Taking a slot returns a guard that
//! gives it back when dropped, whatever else is borrowed at that moment.
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

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::proto::counts::Counts;
use crate::proto::source::SourceKey;

/// Slots of one listener (or one kind of connection).
pub struct SlotPool {
    counts: Arc<Mutex<Pool>>,
}

struct Pool {
    per_source: Counts<SourceKey>,
    total: usize,
    max_total: usize,
    max_per_source: usize,
}

fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    // Nothing can panic while the lock is held (two comparisons and two counter steps), so a
    // poisoned lock still holds consistent counts.
    pool.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SlotPool {
    pub fn new(max_total: usize, max_per_source: usize) -> SlotPool {
        let pool = Pool { per_source: Counts::default(), total: 0, max_total, max_per_source };
        SlotPool { counts: Arc::new(Mutex::new(pool)) }
    }

    /// A slot for a connection from `ip`, or `None` when the pool or that source is full.
    pub fn take(&self, ip: IpAddr) -> Option<Slot> {
        let source = SourceKey::of(ip);
        let mut pool = lock(&self.counts);
        if pool.total >= pool.max_total || pool.per_source.get(&source) >= pool.max_per_source {
            return None;
        }
        pool.per_source.increment(source);
        pool.total += 1;
        Some(Slot { counts: self.counts.clone(), source })
    }

    /// Slots held now, in all.
    pub fn in_use(&self) -> usize {
        lock(&self.counts).total
    }

    /// Slots held now by the source of `ip`.
    pub fn held_by(&self, ip: IpAddr) -> usize {
        lock(&self.counts).per_source.get(&SourceKey::of(ip))
    }
}

/// One connection's slot, given back when dropped.
pub struct Slot {
    counts: Arc<Mutex<Pool>>,
    source: SourceKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut pool = lock(&self.counts);
        pool.per_source.decrement(&self.source);
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
