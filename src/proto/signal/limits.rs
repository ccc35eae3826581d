//! Per-connection limits: a token bucket for message rate, and a sliding window of strikes
//! (errors and rate-limited messages) for the abuse rule.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

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

/// Counts strikes in a sliding window; [`Strikes::add`] says when the limit is passed. Most
/// connections never get one, so the window is allocated at the first strike.
#[derive(Debug, Clone, Default)]
pub struct Strikes {
    // Boxed on purpose: 8 bytes inline instead of a VecDeque's 32, in every connection's entry.
    #[allow(clippy::box_collection)]
    at: Option<Box<VecDeque<Instant>>>,
}

impl Strikes {
    /// Records a strike; true when there are more than `limit` within `window`.
    pub fn add(&mut self, now: Instant, limit: u32, window: Duration) -> bool {
        let at = self.at.get_or_insert_with(Box::default);
        at.push_back(now);
        while at.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
            at.pop_front();
        }
        at.len() > limit as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn strikes_trip_above_the_limit_within_the_window() {
        let t0 = Instant::now();
        let mut s = Strikes::default();
        let w = Duration::from_secs(10);
        for i in 0..10 {
            assert!(!s.add(t0 + Duration::from_millis(i), 10, w));
        }
        assert!(s.add(t0 + Duration::from_millis(10), 10, w), "the 11th strike within 10 s trips");
        let mut s = Strikes::default();
        for i in 0..30 {
            assert!(!s.add(t0 + Duration::from_secs(i), 10, w), "one per second never trips");
        }
    }
}
