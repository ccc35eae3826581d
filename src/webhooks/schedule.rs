//! When a failed delivery is tried again (SPEC "Webhooks"): 5 s, 30 s, 2 min, 10 min, 30 min
//! after the attempts so far, then hourly until 24 h have passed since the event was queued;
//! after that the delivery is given up. Pure: attempts and times in, a time out.

use std::time::Duration;

const FIRST: [u64; 5] = [5, 30, 120, 600, 1800];
const HOURLY: u64 = 3600;
/// How long a delivery keeps being retried, counted from its first attempt's schedule.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// An attempt without an answer in this long has failed.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The delay before the retry after `failed` failed attempts (1 after the first failure), or
/// `None` when the delivery, queued `age` ago, is past the 24 h and is given up. `scale`
/// shortens everything (`webhook_retry_scale`, for tests).
pub fn next_delay(failed: u32, age: Duration, scale: f64) -> Option<Duration> {
    let secs = match failed {
        0 => 0,
        n => FIRST.get(n as usize - 1).copied().unwrap_or(HOURLY),
    };
    let delay = Duration::from_secs(secs).mul_f64(scale);
    (age + delay <= GIVE_UP_AFTER.mul_f64(scale)).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_specs_then_hourly_until_a_day() {
        let s = |n| next_delay(n, Duration::ZERO, 1.0).map(|d| d.as_secs());
        assert_eq!([s(1), s(2), s(3), s(4), s(5), s(6), s(7)], [5, 30, 120, 600, 1800, 3600, 3600].map(Some));
        // 5 + 30 + 120 + 600 + 1800 s, then hourly: the last retry is the one that ends by 24 h.
        let mut age = Duration::ZERO;
        let mut retries = 0;
        while let Some(d) = next_delay(retries + 1, age, 1.0) {
            age += d;
            retries += 1;
        }
        assert_eq!(retries, 5 + 23);
        assert!(age <= GIVE_UP_AFTER && age + Duration::from_secs(3600) > GIVE_UP_AFTER);
    }

    #[test]
    fn the_test_scale_shortens_every_delay() {
        assert_eq!(next_delay(1, Duration::ZERO, 0.01), Some(Duration::from_millis(50)));
        assert_eq!(next_delay(2, Duration::ZERO, 0.01), Some(Duration::from_millis(300)));
        assert_eq!(next_delay(6, Duration::from_secs(864), 0.01), None);
    }
}
