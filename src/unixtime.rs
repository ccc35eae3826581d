//! Wall-clock time as a newtype, and [`Now`], the pair of clocks the cores are handed, so cores
//! take time as an argument instead of reading a clock. Only shells call the readers here
//! ([`UnixTime::now`], [`Now::read`]).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// Reads the system clock; only shells call this.
    pub fn now() -> Self {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        UnixTime(secs)
    }

    pub fn secs(self) -> i64 {
        self.0
    }
}

/// The current time in both clocks the cores need: monotonic for timers and lifetimes, wall for
/// token and credential expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall: UnixTime,
}

impl Now {
    /// Reads both clocks; only shells call this.
    pub fn read() -> Now {
        Now { mono: Instant::now(), wall: UnixTime::now() }
    }
}
