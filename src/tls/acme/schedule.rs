//! When to ask the ACME server next, pure: wall-clock time comes in as [`UnixTime`].
//!
//! A certificate is renewed from two thirds of its lifetime on (Let's Encrypt's 90 days: at day
//! 60, leaving 30 days of retries). A failed attempt is retried after 10 s, doubling up to 1 h:
//! quick enough for a box that booted before its network, slow enough for a CA's rate limits
//! (Let's Encrypt allows 5 failed validations per name per hour).

use crate::unixtime::UnixTime;

pub const FIRST_RETRY_SECS: i64 = 10;
pub const MAX_RETRY_SECS: i64 = 3600;

/// The validity of the certificate in service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: UnixTime,
    pub not_after: UnixTime,
}

impl Validity {
    /// Two thirds of the way from `not_before` to `not_after`.
    pub fn renewal_at(&self) -> UnixTime {
        let life = (self.not_after.secs() - self.not_before.secs()).max(0);
        UnixTime(self.not_before.secs() + life * 2 / 3)
    }
}

/// The renewal plan: what is served, how many attempts failed in a row, when to try next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    cert: Option<Validity>,
    failures: u32,
    next: UnixTime,
    last_error: Option<String>,
    attempting: bool,
}

impl Plan {
    /// With the certificate found at start (if any), at `now`.
    pub fn new(cert: Option<Validity>, now: UnixTime) -> Plan {
        let next = cert.map(|c| c.renewal_at()).unwrap_or(now);
        Plan { cert, failures: 0, next, last_error: None, attempting: false }
    }

    /// When the next attempt is due.
    pub fn poll_timeout(&self) -> UnixTime {
        self.next
    }

    pub fn is_due(&self, now: UnixTime) -> bool {
        now.secs() >= self.next.secs()
    }

    pub fn handle_attempt_started(&mut self) {
        self.attempting = true;
    }

    pub fn handle_issued(&mut self, cert: Validity) {
        self.cert = Some(cert);
        self.failures = 0;
        self.next = cert.renewal_at();
        self.last_error = None;
        self.attempting = false;
    }

    pub fn handle_failure(&mut self, error: String, now: UnixTime) {
        self.failures = self.failures.saturating_add(1);
        self.next = UnixTime(now.secs() + retry_delay_secs(self.failures));
        self.last_error = Some(error);
        self.attempting = false;
    }

    /// The operator asked for a new certificate now (SIGHUP).
    pub fn handle_forced(&mut self, now: UnixTime) {
        self.next = now;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// `pending` (no certificate yet), `valid`, `renewing` or `retrying`.
    pub fn status(&self) -> &'static str {
        match (self.attempting, self.failures, self.cert) {
            (_, 0, None) => "pending",
            (true, _, Some(_)) => "renewing",
            (_, 0, Some(_)) => "valid",
            _ => "retrying",
        }
    }
}

/// 10 s, 20 s, 40 s ... up to an hour.
pub fn retry_delay_secs(failures: u32) -> i64 {
    let doublings = failures.saturating_sub(1).min(20);
    (FIRST_RETRY_SECS << doublings).min(MAX_RETRY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn lets_encrypt(issued: i64) -> Validity {
        Validity { not_before: UnixTime(issued), not_after: UnixTime(issued + 90 * DAY) }
    }

    #[test]
    fn a_90_day_certificate_is_renewed_at_day_60() {
        assert_eq!(lets_encrypt(1_000).renewal_at(), UnixTime(1_000 + 60 * DAY));
        let short = Validity { not_before: UnixTime(100), not_after: UnixTime(130) };
        assert_eq!(short.renewal_at(), UnixTime(120));
    }

    #[test]
    fn without_a_certificate_the_first_attempt_is_at_once() {
        let plan = Plan::new(None, UnixTime(500));
        assert!(plan.is_due(UnixTime(500)));
        assert_eq!(plan.status(), "pending");
    }

    #[test]
    fn a_saved_certificate_waits_for_its_renewal_time() {
        let plan = Plan::new(Some(lets_encrypt(0)), UnixTime(DAY));
        assert_eq!(plan.poll_timeout(), UnixTime(60 * DAY));
        assert!(!plan.is_due(UnixTime(60 * DAY - 1)));
        assert!(plan.is_due(UnixTime(60 * DAY)));
        assert_eq!(plan.status(), "valid");
    }

    #[test]
    fn failures_back_off_10_s_doubling_to_an_hour_and_success_resets() {
        let mut plan = Plan::new(None, UnixTime(0));
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..12 {
            plan.handle_attempt_started();
            plan.handle_failure("directory unreachable".into(), UnixTime(now));
            delays.push(plan.poll_timeout().secs() - now);
            now = plan.poll_timeout().secs();
        }
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]);
        assert_eq!(plan.status(), "retrying");
        assert_eq!(plan.last_error(), Some("directory unreachable"));
        plan.handle_issued(lets_encrypt(now));
        assert_eq!(plan.failures(), 0);
        assert_eq!(plan.last_error(), None);
        assert_eq!(plan.poll_timeout(), UnixTime(now + 60 * DAY));
        assert_eq!(plan.status(), "valid");
    }

    #[test]
    fn a_failed_renewal_keeps_the_certificate_and_retries() {
        let mut plan = Plan::new(Some(lets_encrypt(0)), UnixTime(60 * DAY));
        plan.handle_attempt_started();
        assert_eq!(plan.status(), "renewing");
        plan.handle_failure("hook exited with 1".into(), UnixTime(60 * DAY));
        assert_eq!(plan.status(), "retrying");
        assert_eq!(plan.poll_timeout(), UnixTime(60 * DAY + 10));
    }

    #[test]
    fn sighup_makes_the_next_attempt_due_now() {
        let mut plan = Plan::new(Some(lets_encrypt(0)), UnixTime(DAY));
        plan.handle_forced(UnixTime(DAY));
        assert!(plan.is_due(UnixTime(DAY)));
    }

    #[test]
    fn the_retry_delay_never_overflows() {
        assert_eq!(retry_delay_secs(u32::MAX), MAX_RETRY_SECS);
        assert_eq!(retry_delay_secs(1), FIRST_RETRY_SECS);
    }
}
