//! Per-connection limits: a token bucket for message rate ([`Bucket`], from `proto::rate`), and a
//! sliding window of strikes (errors and rate-limited messages) for the abuse rule.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use crate::proto::rate::Bucket;

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
