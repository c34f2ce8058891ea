//! The built-in tools.
//!
//! | Tool | Category | Does |
//! |---|---|---|
//! | `artifact.write` | write | stores run artifacts, content-addressed by SHA-256 |
//! | `artifact.read` | read | reads them back by hash or path |
//! | `knowledge.search` | read | lexical search over configured documents |
//! | `http.request` | network | one bounded outbound HTTP request |

mod artifact;
mod http;
mod knowledge;

use std::sync::Arc;

pub use artifact::{
    ArtifactMeta, ArtifactRead, ArtifactStore, ArtifactWrite, DEFAULT_MAX_ARTIFACT_BYTES,
    MemoryArtifactStore,
};
pub use http::{HttpOptions, HttpRequest};
pub use knowledge::{Document, Hit, KnowledgeSearch};

use crate::error::Error;
use crate::registry::ToolRegistry;

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
}

impl Builtins {
    /// In-memory artifacts, no documents, default limits.
    pub fn in_memory() -> Self {
        Self {
            artifacts: Arc::new(MemoryArtifactStore::new()),
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            documents: Vec::new(),
            http: HttpOptions::default(),
        }
    }
}

impl ToolRegistry {
    /// A registry holding the four built-in tools.
    pub fn builtin(builtins: Builtins) -> Result<Self, Error> {
        ToolRegistry::new()
            .with(Arc::new(ArtifactWrite::new(
                Arc::clone(&builtins.artifacts),
                builtins.max_artifact_bytes,
            )))?
            .with(Arc::new(ArtifactRead::new(builtins.artifacts)))?
            .with(Arc::new(KnowledgeSearch::new(builtins.documents)))?
            .with(Arc::new(HttpRequest::new(builtins.http)?))
    }
}
