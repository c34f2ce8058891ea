//! The built-in tools.
//!
//! | Tool | Category | Does |
//! |---|---|---|
//! | `artifact.write` | write | stores run artifacts, content-addressed by SHA-256 |
//! | `artifact.read` | read | reads them back by hash or path |
//! | `knowledge.search` | read | lexical search over configured documents |
//! | `http.request` | network | one bounded outbound HTTP request |
//! | `exec.run` | exec | one command in the run's workspace, in the sandbox |
//! | `workspace.read` | read | a file of the run's workspace |
//! | `workspace.write` | write | writes a file into the run's workspace |
//! | `workspace.list` | read | a folder of the run's workspace |

mod artifact;
mod exec;
mod http;
mod knowledge;
mod workspace;

use std::sync::Arc;

pub use artifact::{
    ArtifactMeta, ArtifactRead, ArtifactStore, ArtifactWrite, DEFAULT_MAX_ARTIFACT_BYTES,
    MemoryArtifactStore,
};
pub use exec::ExecRun;
pub use http::{HttpOptions, HttpRequest};
pub use knowledge::{Document, Hit, KnowledgeSearch};
pub use workspace::{
    MAX_WORKSPACE_FILE_BYTES, Repository, WorkspaceList, WorkspaceRead, WorkspaceWrite, Workspaces,
};

use crate::error::Error;
use crate::registry::ToolRegistry;
use crate::sandboxing::{ExecEgress, ExecLimits, SandboxBackend};

/// What `exec.run` and the `workspace.*` tools need from the server.
#[derive(Debug, Clone)]
pub struct ExecTools {
    /// Where commands run, or why they do not.
    pub sandbox: SandboxBackend,
    /// The runs' workspace folders.
    pub workspaces: Arc<Workspaces>,
    /// Default bounds and per-call caps.
    pub limits: ExecLimits,
    /// Where commands may connect through the egress proxy.
    pub egress: ExecEgress,
}

impl ExecTools {
    /// No sandbox and no workspaces: the tools are there and every call
    /// fails closed.
    pub fn unavailable() -> Self {
        ExecTools {
            sandbox: SandboxBackend::not_configured(),
            workspaces: Arc::new(Workspaces::none()),
            limits: ExecLimits::default(),
            egress: ExecEgress::default(),
        }
    }
}

/// What the built-in tools need from the server.
pub struct Builtins {
    /// Where `artifact.*` keep run artifacts.
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Largest artifact `artifact.write` accepts.
    pub max_artifact_bytes: usize,
    /// What `knowledge.search` searches.
    pub documents: Vec<Document>,
    /// Limits for `http.request`.
    pub http: HttpOptions,
    /// The sandbox and workspaces of `exec.run` and `workspace.*`.
    pub exec: ExecTools,
}

impl Builtins {
    /// In-memory artifacts, no documents, default limits.
    pub fn in_memory() -> Self {
        Self {
            artifacts: Arc::new(MemoryArtifactStore::new()),
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            documents: Vec::new(),
            http: HttpOptions::default(),
            exec: ExecTools::unavailable(),
        }
    }
}

impl ToolRegistry {
    /// A registry holding the built-in tools.
    pub fn builtin(builtins: Builtins) -> Result<Self, Error> {
        let exec = builtins.exec;
        ToolRegistry::new()
            .with(Arc::new(ArtifactWrite::new(
                Arc::clone(&builtins.artifacts),
                builtins.max_artifact_bytes,
            )))?
            .with(Arc::new(ArtifactRead::new(builtins.artifacts)))?
            .with(Arc::new(KnowledgeSearch::new(builtins.documents)))?
            .with(Arc::new(HttpRequest::new(builtins.http)?))?
            .with(Arc::new(ExecRun::new(
                exec.sandbox,
                Arc::clone(&exec.workspaces),
                exec.limits,
                exec.egress,
            )))?
            .with(Arc::new(WorkspaceRead::new(Arc::clone(&exec.workspaces))))?
            .with(Arc::new(WorkspaceWrite::new(Arc::clone(&exec.workspaces))))?
            .with(Arc::new(WorkspaceList::new(exec.workspaces)))
    }
}
