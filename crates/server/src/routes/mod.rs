//! Route handlers, one module per resource.

pub mod approvals;
pub mod events;
pub mod evidence;
pub mod gateway;
pub mod health;
pub mod runs;
pub mod workflows;

use agentwerke_types::Timestamp;

/// RFC 3339, as the API shows every instant.
pub(crate) fn ts(at: Timestamp) -> String {
    agentwerke_runtime::rfc3339(at)
}
