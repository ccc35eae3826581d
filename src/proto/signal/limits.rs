//! Per-connection limits: a token bucket for message rate, and a sliding window of strikes
//! (errors and rate-limited messages) for the abuse rule.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, at most `burst`.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Bucket {
        Bucket { tokens: burst, rate, burst, last: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts strikes in a sliding window; [`Strikes::add`] says when the limit is passed.
#[derive(Debug, Clone, Default)]
pub struct Strikes {
    at: VecDeque<Instant>,
}

impl Strikes {
    /// Records a strike; true when there are more than `limit` within `window`.
    pub fn add(&mut self, now: Instant, limit: u32, window: Duration) -> bool {
        self.at.push_back(now);
        while self.at.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
            self.at.pop_front();
        }
        self.at.len() > limit as usize
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
