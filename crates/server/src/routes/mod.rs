//! Route handlers, one module per resource.

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod events;
pub mod evidence;
pub mod gateway;
pub mod health;
pub mod node_views;
pub mod questions;
pub mod runs;
pub mod settings;
pub(crate) mod simulation;
pub mod tool_calls;
pub mod views;
pub mod workflow_views;
pub mod workflows;

use agentwerke_types::Timestamp;
use serde::Deserialize;

use crate::code::Code;
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
    code: Code,
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

/// The page size a list answers with when the request names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The largest page a list answers with.
pub const MAX_PAGE_SIZE: u32 = 200;

/// `limit` and `cursor`, which every list takes. A list answers
/// `{"items": [...], "nextCursor": "..."}`; `nextCursor` is absent or null on
/// the last page.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page; omit it for the first page.
    #[param(pattern = "^c1[0-9a-f]{16}([0-9a-f]{2}){0,256}$")]
    pub cursor: Option<String>,
}

impl PageParams {
    /// The page the store reads: the default size, or the asked one if it
    /// is within bounds (anything else is refused, never silently changed).
    pub(crate) fn request(self) -> Result<agentwerke_store::PageRequest, ApiError> {
        Ok(agentwerke_store::PageRequest {
            limit: page_limit(self.limit)?,
            cursor: self.cursor,
        })
    }
}

/// The page size a list request asked for, or the default; out of bounds is
/// refused, never silently changed.
pub(crate) fn page_limit(asked: Option<u32>) -> Result<u32, ApiError> {
    let limit = asked.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::bad_request(
            Code::InvalidQuery,
            format!("limit is 1 to {MAX_PAGE_SIZE}, not {limit}"),
        ));
    }
    Ok(limit)
}
