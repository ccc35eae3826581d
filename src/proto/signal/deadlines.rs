//! One re-armable deadline per connection, in a heap that cannot outgrow the connections.
//!
//! Every `auth` and `refresh` moves a connection's deadline. Pushing a heap entry each time, and
//! leaving the old one to be skipped when it came due, let 64,600 refreshes from 20 sessions keep
//! 4.4 MB of entries alive for up to a day after every socket closed (issue 14). So, as the TURN
//! core does with `scheduled` and `expires`: a key remembers its `due` time and the earliest
//! entry it has queued. A deadline that moves later queues nothing (the queued entry re-queues
//! itself when it comes up); one that moves earlier queues one entry. Entries left by removed keys
//! or by deadlines that moved earlier are skipped, and once they outnumber the keys (plus a
//! little slack) the heap is rebuilt from the keys alone, so its length stays under
//! `2 × keys + COMPACT_SLACK` whatever the callers do.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Stale entries tolerated before a rebuild, so a handful of closes does not rebuild each time.
const COMPACT_SLACK: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Slot {
    due: Instant,
    /// The earliest entry queued for this key; `due >= scheduled` always.
    scheduled: Instant,
}

#[derive(Debug)]
pub struct Deadlines<K> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    keys: HashMap<K, Slot>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines { heap: BinaryHeap::new(), keys: HashMap::new() }
    }
}

impl<K: Copy + Ord + Hash> Deadlines<K> {
    /// Arms `key` for `due`, replacing its previous deadline if it had one.
    pub fn set(&mut self, key: K, due: Instant) {
        match self.keys.get_mut(&key) {
            Some(slot) if due >= slot.scheduled => slot.due = due,
            Some(slot) => {
                *slot = Slot { due, scheduled: due };
                self.heap.push(Reverse((due, key)));
            }
            None => {
                self.keys.insert(key, Slot { due, scheduled: due });
                self.heap.push(Reverse((due, key)));
            }
        }
        self.compact_if_stale();
    }

    /// Disarms `key` (its connection closed); its queued entry is skipped or compacted away.
    pub fn remove(&mut self, key: K) {
        if self.keys.remove(&key).is_some() {
            self.compact_if_stale();
        }
    }

    /// When to call [`Deadlines::pop_due`] next. May be early (a skipped entry), never late.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// A key whose deadline is at or before `now`, disarmed; `None` when no more are due.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            let Some(slot) = self.keys.get_mut(&key) else { continue };
            if slot.scheduled != at {
                // A later entry of a deadline that since moved earlier, or an older duplicate.
                continue;
            }
            if slot.due > now {
                // Moved later since this entry was queued: queue the new time, once.
                slot.scheduled = slot.due;
                self.heap.push(Reverse((slot.due, key)));
                continue;
            }
            self.keys.remove(&key);
            self.compact_if_stale();
            return Some(key);
        }
        None
    }

    /// Entries in the heap, stale ones included: what the timers cost.
    pub fn queued(&self) -> usize {
        self.heap.len()
    }

    /// Keys armed.
    #[cfg(test)]
    pub fn armed(&self) -> usize {
        self.keys.len()
    }

    fn compact_if_stale(&mut self) {
        if self.heap.len() <= 2 * self.keys.len() + COMPACT_SLACK {
            return;
        }
        for slot in self.keys.values_mut() {
            slot.scheduled = slot.due;
        }
        self.heap = self.keys.iter().map(|(key, slot)| Reverse((slot.due, *key))).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    fn drain(d: &mut Deadlines<u32>, now: Instant) -> Vec<u32> {
        std::iter::from_fn(|| d.pop_due(now)).collect()
    }

    #[test]
    fn a_deadline_fires_once_at_its_time_and_not_before() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.set(1u32, at(t0, 10));
        d.set(2, at(t0, 5));
        assert_eq!(d.next(), Some(at(t0, 5)));
        assert_eq!(drain(&mut d, at(t0, 4)), Vec::<u32>::new());
        assert_eq!(drain(&mut d, at(t0, 5)), vec![2]);
        assert_eq!(drain(&mut d, at(t0, 9)), Vec::<u32>::new());
        assert_eq!(drain(&mut d, at(t0, 10)), vec![1]);
        assert_eq!(drain(&mut d, at(t0, 100)), Vec::<u32>::new());
        assert_eq!((d.queued(), d.armed()), (0, 0));
    }

    #[test]
    fn moving_a_deadline_later_queues_nothing_and_it_fires_at_the_new_time() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.set(1u32, at(t0, 10));
        for s in 11..1000 {
            d.set(1, at(t0, s));
        }
        assert_eq!(d.queued(), 1);
        assert_eq!(drain(&mut d, at(t0, 998)), Vec::<u32>::new(), "the old time is skipped");
        assert_eq!(drain(&mut d, at(t0, 999)), vec![1]);
    }

    #[test]
    fn moving_a_deadline_earlier_fires_at_the_earlier_time_only() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.set(1u32, at(t0, 100));
        d.set(1, at(t0, 20));
        assert_eq!(d.next(), Some(at(t0, 20)));
        assert_eq!(drain(&mut d, at(t0, 20)), vec![1]);
        assert_eq!(drain(&mut d, at(t0, 100)), Vec::<u32>::new(), "the superseded entry is stale");
    }

    #[test]
    fn removed_keys_never_fire_and_their_entries_are_compacted() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        for k in 0..10_000u32 {
            d.set(k, at(t0, 86_400));
            d.remove(k);
        }
        assert!(d.queued() <= COMPACT_SLACK, "{} entries left", d.queued());
        assert_eq!(drain(&mut d, at(t0, 86_400)), Vec::<u32>::new());
    }

    proptest::proptest! {
        /// Against a model (a map of key to due time): the same keys fire, and the heap stays
        /// within 2 × armed + slack after every step.
        #[test]
        fn agrees_with_a_map_and_stays_bounded(
            ops in proptest::collection::vec((0u8..4, 0u32..16, 0u64..50), 1..400),
        ) {
            let t0 = Instant::now();
            let mut d = Deadlines::default();
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut now = 0u64;
            for (op, key, secs) in ops {
                match op {
                    0 | 1 => {
                        d.set(key, at(t0, now + secs));
                        model.insert(key, now + secs);
                    }
                    2 => {
                        d.remove(key);
                        model.remove(&key);
                    }
                    _ => {
                        now += secs % 10;
                        let mut fired = drain(&mut d, at(t0, now));
                        fired.sort();
                        let mut want: Vec<u32> = model.iter().filter(|(_, t)| **t <= now).map(|(k, _)| *k).collect();
                        want.sort();
                        model.retain(|_, t| *t > now);
                        proptest::prop_assert_eq!(fired, want);
                    }
                }
                proptest::prop_assert!(d.queued() <= 2 * d.armed() + COMPACT_SLACK);
                proptest::prop_assert_eq!(d.armed(), model.len());
                if let (Some(next), Some(min)) = (d.next(), model.values().min()) {
                    proptest::prop_assert!(next <= at(t0, *min), "never late");
                }
            }
        }
    }
}
