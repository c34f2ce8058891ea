//! Agentwerke's durable store.
//!
//! Everything that must survive a crash lives behind one trait, [`Store`]:
//! workflow versions, runs and their inboxes, leases, agent work, timers,
//! approvals, questions to humans, message waits, evidence records, the
//! tool-call journal and the hash-chained audit log.
//!
//! The design decision is that **every state change commits together with its
//! audit records and its consequences**, in one database transaction:
//!
//! - an engine step ([`Store::commit_run`]) writes the new state, marks the
//!   events it applied, writes the rows its effects need ([`Op`]) and appends
//!   its audit records, or writes nothing;
//! - a command (a human decision, an expiry, an answer) is planned outside
//!   and written as one typed [`Change`] by [`Store::commit`], whose rows
//!   are compare-and-sets on the state the plan saw;
//! - work results, approval decisions, fired timers and delivered messages
//!   enter a run only as inbox events guarded by dedup keys, so a retry after
//!   a crash is a reported no-op instead of a step applied twice;
//! - leases on runs and work make a crashed worker's claim expire instead of
//!   blocking forever.
//!
//! [`SqliteStore`] is the embedded implementation. SQL is kept per backend
//! (`src/sqlite/*`, `migrations/sqlite/`) so a PostgreSQL implementation can
//! be added beside it without touching callers; the contract test suite in
//! `tests/contract` takes `&dyn Store` for that reason.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), agentwerke_store::Error> {
//! use agentwerke_store::{Change, JsonText, NewWorkflowVersion, Row, SqliteStore, Store, Stream};
//! use agentwerke_types::Timestamp;
//!
//! let dir = tempfile::tempdir().expect("temp dir");
//! let store = SqliteStore::open(&dir.path().join("data/aw.db").display().to_string()).await?;
//! let committed = store
//!     .commit(Change {
//!         stream: Stream::Global,
//!         at: Timestamp::from_millis(1_700_000_000_000),
//!         rows: vec![Row::ImportWorkflowVersion {
//!             version: 1,
//!             workflow: NewWorkflowVersion {
//!                 workflow_id: "hello".to_owned(),
//!                 name: "Hello".to_owned(),
//!                 bpmn_xml: "<definitions/>".to_owned(),
//!                 bpmn_sha256: "ab12".to_owned(),
//!                 diagnostics: JsonText::from(&serde_json::json!([])),
//!                 created_by: "ada".to_owned(),
//!             },
//!         }],
//!         event: None,
//!         audit: Vec::new(),
//!         records: Vec::new(),
//!     })
//!     .await?;
//! let draft = committed.workflow_version().expect("the version written");
//! assert_eq!((draft.version, draft.status.as_str()), (1, "draft"));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod calls;
mod change;
mod clock;
mod cursor;
mod error;
pub mod gateway;
mod model;
pub mod secrets;
pub mod sessions;
mod sqlite;
mod store;
pub mod usage;

pub use change::{
    Change, Committed, CreatedRun, MessageDelivery, Row, RunEvent, RunFact, Stream, WorkEnd,
    Written,
};
pub use cursor::CURSOR_PATTERN;
pub use error::{Error, Result};
pub use model::{
    AppliedStep, ApprovalFilter, ApprovalRow, ClaimedRun, Commit, Delivered, DeliveryOutcome,
    EvidenceRecord, InboxEvent, JsonText, NewApproval, NewQuestion, NewRun, NewWorkflowVersion,
    NodeRow, Op, Page, PageRequest, QuestionFilter, QuestionRow, RiskPeak, RunFilter, RunRow,
    TimerRow, WorkItem, WorkflowSummary, WorkflowVersion,
};
pub use sqlite::SqliteStore;
pub use store::Store;

/// The audit stream of workflow-level records (imports, publications): they
/// belong to no run, so they form their own chain under this run id.
pub use agentwerke_evidence::export::GLOBAL_STREAM;

/// The largest page [`Store::list_runs`] returns.
pub const MAX_PAGE: u32 = 500;

/// The most inbox events one claim hands over per run; the rest wait for the
/// next claim, which keeps one commit transaction bounded.
pub const MAX_EVENTS_PER_CLAIM: usize = 256;
