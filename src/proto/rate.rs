//! Token buckets: [`Bucket`], one rate, and [`RateBySource`], a rate limit per source: a token bucket for each key (a source, see SPEC "Clients without
//! credentials"), in a table of bounded size. Used where each event costs the server real work
//! before the client has proved anything: TLS handshakes on the HTTPS listeners, say.
//!
//! The table is bounded so that many sources cannot grow it without limit: when it is full, the
//! buckets that have refilled (sources that went quiet) are forgotten, since a full bucket holds
//! nothing a fresh one would not; if none has, the new source shares one overflow bucket with
//! every other untracked source, so a flood from many sources is still limited in all.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

/// A token bucket: `rate` tokens per second, at most `burst`. Kept small (f32, 32 bytes): there
/// is one per connection.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f32,
    rate: f32,
    burst: f32,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Bucket {
        Bucket { tokens: burst as f32, rate: rate as f32, burst: burst as f32, last: now }
    }

    /// Whether the bucket has refilled to its burst by `now` (it then holds nothing a new one
    /// would not).
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        f64::from(self.tokens) + elapsed * f64::from(self.rate) >= f64::from(self.burst)
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let tokens = (f64::from(self.tokens) + elapsed * f64::from(self.rate)).min(f64::from(self.burst));
        self.last = now;
        if tokens >= 1.0 {
            self.tokens = (tokens - 1.0) as f32;
            true
        } else {
            self.tokens = tokens as f32;
            false
        }
    }
}

pub struct RateBySource<K> {
    rate: f64,
    burst: f64,
    max_sources: usize,
    buckets: HashMap<K, Bucket>,
    overflow: Bucket,
}

impl<K: Hash + Eq + Clone> RateBySource<K> {
    /// `rate` events per second per source, bursts of up to `burst`, at most `max_sources`
    /// sources tracked one by one.
    pub fn new(rate: f64, burst: f64, max_sources: usize, now: Instant) -> RateBySource<K> {
        RateBySource { rate, burst, max_sources, buckets: HashMap::new(), overflow: Bucket::new(rate, burst, now) }
    }

    /// Counts one event of `source`; false if it is over its rate.
    pub fn allow(&mut self, source: &K, now: Instant) -> bool {
        if let Some(bucket) = self.buckets.get_mut(source) {
            return bucket.take(now);
        }
        if self.buckets.len() >= self.max_sources {
            self.buckets.retain(|_, b| !b.is_full(now));
        }
        if self.buckets.len() >= self.max_sources {
            return self.overflow.take(now);
        }
        let mut bucket = Bucket::new(self.rate, self.burst, now);
        let allowed = bucket.take(now);
        self.buckets.insert(source.clone(), bucket);
        allowed
    }

    /// Sources tracked one by one now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(50.0, 100.0, t0);
        assert_eq!((0..150).filter(|_| b.take(t0)).count(), 100);
        // 100 ms refills 5 tokens.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!((0..10).filter(|_| b.take(t1)).count(), 5);
        // Never more than the burst, however long the pause.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..500).filter(|_| b.take(t2)).count(), 100);
    }

    #[test]
    fn each_source_gets_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut r = RateBySource::new(10.0, 20.0, 100, t0);
        assert_eq!((0..50).filter(|_| r.allow(&1, t0)).count(), 20);
        assert_eq!((0..50).filter(|_| r.allow(&2, t0)).count(), 20, "another source has its own bucket");
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..50).filter(|_| r.allow(&1, t1)).count(), 5);
    }

    #[test]
    fn a_full_table_forgets_quiet_sources_and_limits_the_rest_together() {
        let t0 = Instant::now();
        let mut r = RateBySource::new(1.0, 2.0, 3, t0);
        for s in 0..3 {
            assert!(r.allow(&s, t0));
        }
        // The table is full of sources that are not refilled: new ones share the overflow bucket.
        assert_eq!((100..110).filter(|s| r.allow(s, t0)).count(), 2);
        assert_eq!(r.tracked(), 3);
        // Once they went quiet long enough to refill, they are forgotten to make room.
        let later = t0 + Duration::from_secs(10);
        assert!(r.allow(&200, later));
        assert_eq!(r.tracked(), 1);
    }
}
