//! When to try a model call again, and how long to wait first.
//!
//! Exponential backoff with full jitter (a random wait between zero and the
//! doubling ceiling), so many steps that hit one rate limit at once do not
//! come back at once. A provider's `Retry-After` wins over the computed
//! wait: it knows when it will answer again.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the first wait; each retry doubles it.
    pub base: Duration,
    /// No computed wait is longer.
    pub cap: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails
    /// with the error that asked for it.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first retry), or
    /// `None` when the provider asked for a wait longer than
    /// [`Self::max_retry_after`].
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(asked) = retry_after {
            return (asked <= self.max_retry_after).then_some(asked);
        }
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(self.cap);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Some(Duration::from_millis(rand::random_range(0..=millis)))
    }
}

/// `Retry-After` as seconds or as an HTTP date (a date in the past is no
/// wait). Anything else is ignored.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(42));
        assert_eq!(
            retry_after(&headers(&later), now),
            Some(Duration::from_secs(42))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(42));
        assert_eq!(retry_after(&headers(&earlier), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn waits_grow_with_full_jitter_up_to_the_cap_and_retry_after_wins() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
        };
        for retry in 0..8 {
            let ceiling = Duration::from_millis((100u64 << retry).min(1000));
            for _ in 0..50 {
                let wait = policy.wait(retry, None).unwrap();
                assert!(wait <= ceiling, "retry {retry}: {wait:?} > {ceiling:?}");
            }
        }
        // Full jitter: the waits are spread, not all at the ceiling.
        let waits: std::collections::BTreeSet<_> =
            (0..50).map(|_| policy.wait(5, None).unwrap()).collect();
        assert!(waits.len() > 10, "{waits:?}");
        assert_eq!(
            policy.wait(0, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(policy.wait(0, Some(Duration::from_secs(6))), None);
    }
}
