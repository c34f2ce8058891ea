//! The one place the store touches wall-clock time.
//!
//! Domain times (`at`, `now`) always come in with the call. Only bookkeeping
//! columns of calls that carry no time (`updated_at` in a commit, `created_at`
//! of an inbox row or evidence record) read the clock here.

use agentwerke_types::Timestamp;
use time::OffsetDateTime;

/// Now, for bookkeeping columns only.
pub(crate) fn wall_clock() -> Timestamp {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    Timestamp::from_millis(i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX))
}
