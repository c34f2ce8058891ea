//! Route handlers, one module per resource.

pub mod approvals;
pub mod audit;
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

/// Refuses a list filter's `status` that is not one of `known`, naming them
/// all, with `code` (e.g. `approval.unknown_status`).
pub(crate) fn check_status(
    status: Option<&str>,
    known: &[&str],
    code: &'static str,
    what: &str,
) -> Result<(), ApiError> {
    match status {
        Some(status) if !known.contains(&status) => Err(ApiError::bad_request(
            code,
            format!(
                "'{status}' is not {what} status; use one of {}",
                known.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}
