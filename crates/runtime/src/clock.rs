//! The only place that reads the wall clock.

use agentwerke_types::Timestamp;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A source of the current time; tests substitute their own.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp::from_millis((nanos / 1_000_000) as i64)
    }
}

/// RFC 3339 in UTC with millisecond precision, as audit records carry it.
pub fn rfc3339(at: Timestamp) -> String {
    let nanos = i128::from(at.as_millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond((t.nanosecond() / 1_000_000) * 1_000_000)
                .ok()
        })
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
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
        assert_eq!(rfc3339(Timestamp::from_millis(0)), "1970-01-01T00:00:00Z");
    }
}
