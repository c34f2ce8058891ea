//! The two places the store touches wall-clock time.
//!
//! Domain times (`at`, `now`) always come in with the call. Only bookkeeping
//! columns of calls that carry no time (`updated_at` in a commit, `created_at`
//! of an inbox row or evidence record) read the clock here.

use agentwerke_evidence::timestamp::rfc3339_millis;
use agentwerke_types::Timestamp;
use time::OffsetDateTime;

/// Now, for bookkeeping columns only.
pub(crate) fn wall_clock() -> Timestamp {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    Timestamp::from_millis(i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX))
}

/// RFC 3339 text (UTC, milliseconds) for audit records the store writes
/// itself, in the evidence crate's one format. Out-of-range instants, which
/// no clock produces, fall back to their integer so the write still happens.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    rfc3339_millis(at).unwrap_or_else(|_| at.as_millis().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_millis_as_utc_rfc3339() {
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_millis(1_700_000_000_000)),
            "2023-11-14T22:13:20.000Z"
        );
    }
}
