//! Failed sign-ins, counted per account name and per source (SPEC "Admin API": 5 failures in
//! 15 minutes for one account, or 20 from one source, and that account or source gets 429 until
//! the window passes, even with the right password). Pure: times are arguments.
//!
//! Each key keeps the times of its failures inside the window (at most its limit of them: more
//! are not needed to know when it is let in again). The tables are bounded: past
//! [`MAX_TRACKED`] keys, the key whose newest failure is oldest is forgotten first.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::proto::source::SourceKey;

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const PER_ACCOUNT: usize = 5;
pub const PER_SOURCE: usize = 20;
pub const MAX_TRACKED: usize = 65_536;

struct Failures<K> {
    limit: usize,
    by_key: HashMap<K, VecDeque<Instant>>,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    fn new(limit: usize) -> Self {
        Failures { limit, by_key: HashMap::new() }
    }

    /// How long `key` must still wait, if it is at its limit.
    fn blocked(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let times = self.by_key.get_mut(key)?;
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        if times.is_empty() {
            self.by_key.remove(key);
            return None;
        }
        let oldest = *times.front()?;
        (times.len() >= self.limit).then(|| (oldest + WINDOW).saturating_duration_since(now))
    }

    fn add(&mut self, key: K, now: Instant) {
        if !self.by_key.contains_key(&key) && self.by_key.len() >= MAX_TRACKED {
            self.forget_stalest();
        }
        let times = self.by_key.entry(key).or_default();
        times.push_back(now);
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    fn forget_stalest(&mut self) {
        let stalest = self.by_key.iter().min_by_key(|(_, t)| t.back().copied()).map(|(k, _)| k.clone());
        if let Some(k) = stalest {
            self.by_key.remove(&k);
        }
    }
}

pub struct LoginThrottle {
    accounts: Failures<String>,
    sources: Failures<SourceKey>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle { accounts: Failures::new(PER_ACCOUNT), sources: Failures::new(PER_SOURCE) }
    }
}

/// Account names are counted case-insensitively, so `Alice` and `alice` share a budget.
fn account_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

impl LoginThrottle {
    /// `Some(wait)` if this account or this source is over its limit: refuse without checking
    /// the password. The account part is skipped for `None` (setup, which names no account).
    pub fn check(&mut self, username: Option<&str>, source: SourceKey, now: Instant) -> Option<Duration> {
        let by_account = username.and_then(|u| self.accounts.blocked(&account_key(u), now));
        let by_source = self.sources.blocked(&source, now);
        by_account.into_iter().chain(by_source).max()
    }

    pub fn failed(&mut self, username: Option<&str>, source: SourceKey, now: Instant) {
        if let Some(u) = username {
            self.accounts.add(account_key(u), now);
        }
        self.sources.add(source, now);
    }

    pub fn tracked(&self) -> (usize, usize) {
        (self.accounts.by_key.len(), self.sources.by_key.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> SourceKey {
        SourceKey::of(s.parse().unwrap())
    }

    #[test]
    fn five_failures_block_the_account_until_the_first_leaves_the_window() {
        let mut t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(t.check(Some("alice"), src("10.0.0.1"), t0), None, "attempt {i}");
            t.failed(Some("alice"), src(&format!("10.0.0.{}", i + 1)), t0 + Duration::from_secs(i));
        }
        let at = t0 + Duration::from_secs(10);
        assert_eq!(t.check(Some("ALICE"), src("10.9.9.9"), at), Some(WINDOW - Duration::from_secs(10)));
        assert_eq!(t.check(Some("bob"), src("10.9.9.9"), at), None, "another account is unaffected");
        assert_eq!(t.check(Some("alice"), src("10.9.9.9"), t0 + WINDOW), None, "the first failure left");
    }

    #[test]
    fn twenty_failures_block_the_source_whatever_the_account_and_ipv6_by_64() {
        let mut t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..20 {
            t.failed(Some(&format!("user{i}")), src(&format!("2001:db8::{i:x}")), t0);
        }
        assert!(t.check(Some("fresh"), src("2001:db8::ffff"), t0).is_some());
        assert!(t.check(Some("fresh"), src("2001:db8:0:1::1"), t0).is_none(), "another /64");
        assert!(t.check(None, src("2001:db8::1"), t0).is_some(), "setup counts per source too");
    }

    #[test]
    fn tables_stay_bounded() {
        let mut t = LoginThrottle::default();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED + 10) {
            t.failed(Some(&format!("u{i}")), src("10.0.0.1"), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(t.tracked().0, MAX_TRACKED);
    }
}
