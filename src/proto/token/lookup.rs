//! When a token names a kid the verifier does not know, the key may have been made a moment ago
//! by another process (the CLI), and SPEC wants it to verify at once. So an unknown kid may send
//! the server to its store, but not at the sender's pace: [`KidLookups`] admits at most a small
//! budget of store lookups per second, server-wide, and none for a kid the store did not have a
//! moment ago. Random kids then cost the store at most the budget, however many arrive.
//!
//! Only well-formed kids (`kid_` + 16 lowercase hex, [`Kid::parse`]) get this far; anything
//! else is refused without a lookup.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ids::Kid;
use crate::proto::rate::Bucket;

/// Store lookups per second, all unknown kids together, and how many may come at once.
pub const LOOKUPS_PER_SEC: f64 = 20.0;
/// How long a kid the store did not have is refused without asking it again.
pub const MISS_TTL: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct KidLookups {
    per_sec: f64,
    miss_ttl: Duration,
    /// The budget, a token bucket whose burst is one second's worth (made at the first lookup,
    /// the first `now` there is).
    budget: Option<Bucket>,
    /// Kids the store did not have, and when that was learned. At most `per_sec × miss_ttl`
    /// live entries (each one a spent lookup), pruned on every insert.
    missed: HashMap<Kid, Instant>,
}

impl Default for KidLookups {
    fn default() -> Self {
        KidLookups::new(LOOKUPS_PER_SEC, MISS_TTL)
    }
}

impl KidLookups {
    pub fn new(per_sec: f64, miss_ttl: Duration) -> KidLookups {
        KidLookups { per_sec, miss_ttl, budget: None, missed: HashMap::new() }
    }

    /// Spends one lookup on `kid`; false if the store said no to it within the TTL, or the
    /// budget is spent (then the token is refused as today, and its sender may try again).
    pub fn admit(&mut self, kid: &Kid, now: Instant) -> bool {
        if self.missed.get(kid).is_some_and(|at| now.saturating_duration_since(*at) < self.miss_ttl) {
            return false;
        }
        let per_sec = self.per_sec;
        self.budget.get_or_insert_with(|| Bucket::new(per_sec, per_sec, now)).take(now)
    }

    /// The store has no key `kid`.
    pub fn missed(&mut self, kid: &Kid, now: Instant) {
        let ttl = self.miss_ttl;
        self.missed.retain(|_, at| now.saturating_duration_since(*at) < ttl);
        self.missed.insert(kid.clone(), now);
    }

    /// Kids remembered as missing (for tests and metrics).
    pub fn remembered(&self) -> usize {
        self.missed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kid(i: u64) -> Kid {
        Kid::from_random(i.to_be_bytes())
    }

    #[test]
    fn the_budget_admits_20_at_once_then_20_per_second() {
        let t0 = Instant::now();
        let mut l = KidLookups::default();
        assert_eq!((0..1000).filter(|i| l.admit(&kid(*i), t0)).count(), 20);
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((1000..2000).filter(|i| l.admit(&kid(*i), t1)).count(), 10);
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((2000..3000).filter(|i| l.admit(&kid(*i), t2)).count(), 20, "never more than a second's worth");
    }

    #[test]
    fn a_missed_kid_is_refused_for_2_s_without_spending_budget() {
        let t0 = Instant::now();
        let mut l = KidLookups::default();
        assert!(l.admit(&kid(1), t0));
        l.missed(&kid(1), t0);
        for ms in [0, 1000, 1999] {
            assert!(!l.admit(&kid(1), t0 + Duration::from_millis(ms)), "{ms} ms after the miss");
        }
        assert!(l.admit(&kid(1), t0 + Duration::from_secs(2)), "asked again after 2 s");
        assert!(l.admit(&kid(2), t0), "other kids are not held back");
    }

    #[test]
    fn the_miss_memory_stays_at_what_the_budget_can_fill() {
        let t0 = Instant::now();
        let mut l = KidLookups::default();
        for s in 0..100u64 {
            let now = t0 + Duration::from_secs(s);
            for i in 0..1000 {
                let k = kid(s * 1000 + i);
                if l.admit(&k, now) {
                    l.missed(&k, now);
                }
            }
        }
        assert!(l.remembered() <= 2 * 20 + 20, "{} kids remembered", l.remembered());
    }
}
