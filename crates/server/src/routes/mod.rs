//! Route handlers, one module per resource.

pub mod approvals;
pub mod events;
pub mod evidence;
pub mod gateway;
pub mod health;
pub mod questions;
pub mod runs;
pub mod workflows;

use agentwerke_types::Timestamp;

use crate::error::ApiError;

/// RFC 3339, as the API shows every instant.
pub(crate) fn ts(at: Timestamp) -> String {
    agentwerke_runtime::rfc3339(at)
}

/// Parses a list filter's `status`, refusing one that is not one of `known`
/// (the status enum's names), naming them all, with `code` (e.g.
/// `approval.unknown_status`).
pub(crate) fn check_status<T: std::str::FromStr>(
    status: Option<&str>,
    known: &[&str],
    code: &'static str,
    what: &str,
) -> Result<Option<T>, ApiError> {
    status
        .map(|status| {
            status.parse().map_err(|_| {
                ApiError::bad_request(
                    code,
                    format!(
                        "'{status}' is not {what} status; use one of {}",
                        known.join(", ")
                    ),
                )
            })
        })
        .transpose()
}
