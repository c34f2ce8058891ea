//! Runtime errors.

use agentwerke_types::ErrorCode;

/// Why the runtime could not process a run or a piece of work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] agentwerke_store::Error),
    /// A run points at a workflow version the store does not have.
    #[error("workflow {workflow_id} version {version} is missing")]
    DefinitionMissing {
        /// The workflow.
        workflow_id: String,
        /// The version.
        version: i64,
    },
    /// A stored workflow version no longer compiles.
    #[error("workflow definition cannot be compiled: {0}")]
    Definition(String),
    /// The Tool Gateway could not be set up.
    #[error("the Tool Gateway cannot start: {0}")]
    Gateway(String),
    /// Persisted state or an event could not be decoded.
    #[error("persisted data is unreadable: {0}")]
    Decode(#[from] serde_json::Error),
    /// A write on the commands' road was refused.
    #[error(transparent)]
    Command(#[from] crate::command::Error),
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::Store(e) => e.code(),
            Error::DefinitionMissing { .. } => "runtime.definition_missing",
            Error::Definition(_) => "runtime.definition_invalid",
            Error::Decode(_) => "runtime.decode",
            Error::Gateway(_) => "runtime.gateway_setup",
            Error::Command(e) => e.code(),
        }
    }
}
