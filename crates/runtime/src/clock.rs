//! The only place that reads the wall clock.

use agentwerke_types::Timestamp;
use time::OffsetDateTime;

use agentwerke_evidence::timestamp::rfc3339_millis;

pub use agentwerke_types::Clock;

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp::from_millis((nanos / 1_000_000) as i64)
    }
}

/// RFC 3339 in UTC with millisecond precision, in the evidence crate's one
/// fixed-width format, as audit records and the API carry it. Out-of-range
/// instants, which no clock produces, fall back to their integer.
pub fn rfc3339(at: Timestamp) -> String {
    rfc3339_millis(at).unwrap_or_else(|_| at.as_millis().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_764_000_000_123)),
            "2025-11-24T16:00:00.123Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(0)),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
