//! Timestamps as they appear in evidence: RFC 3339, UTC, millisecond
//! precision (`2025-01-31T09:15:02.123Z`).
//!
//! One fixed width keeps audit records byte-stable and lets timestamps sort
//! as strings. The clock stays in the shell: this module only formats the
//! [`Timestamp`] it is handed.

use agentwerke_types::Timestamp;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::error::Error;

/// Formats `at` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_millis(at: Timestamp) -> Result<String, Error> {
    let out_of_range = || Error::TimestampOutOfRange(at.as_millis());
    let nanos = i128::from(at.as_millis()) * 1_000_000;
    let moment = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| out_of_range())?;
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // Years beyond 9999 need a sign and are not RFC 3339.
    if !(0..=9999).contains(&moment.year()) {
        return Err(out_of_range());
    }
    moment.format(&format).map_err(|_| out_of_range())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(
            rfc3339_millis(Timestamp::from_millis(0)).unwrap(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(Timestamp::from_millis(1_738_314_902_123)).unwrap(),
            "2025-01-31T09:15:02.123Z"
        );
    }

    #[test]
    fn refuses_what_rfc3339_cannot_express() {
        assert_eq!(
            rfc3339_millis(Timestamp::from_millis(i64::MAX)),
            Err(Error::TimestampOutOfRange(i64::MAX))
        );
    }
}
