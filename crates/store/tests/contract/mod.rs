//! The store contract: behaviour every [`agentwerke_store::Store`]
//! implementation must show. Each check is an async fn over the trait object,
//! so a PostgreSQL implementation runs the very same suite.

pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod batch;
pub(crate) mod calls;
pub(crate) mod changes;
pub(crate) mod halts;
pub(crate) mod messages;
pub(crate) mod nodes;
pub(crate) mod policies;
pub(crate) mod questions;
pub(crate) mod runs;
pub(crate) mod secrets;
pub(crate) mod sessions;
pub(crate) mod steps;
pub(crate) mod steps_end;
pub(crate) mod support;
pub(crate) mod timers;
pub(crate) mod usage;
pub(crate) mod work;
pub(crate) mod workflows;
