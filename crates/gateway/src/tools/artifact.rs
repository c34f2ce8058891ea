//! `artifact.write` and `artifact.read`: run artifacts, content-addressed by
//! SHA-256.
//!
//! The tools hash the content themselves, so the address is the tool's
//! contract and not the store's: a store that returns other bytes for a
//! hash is caught on read (`gateway.tool.integrity`). Storage sits behind
//! [`ArtifactStore`]; the server supplies a durable one, tests use
//! [`MemoryArtifactStore`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use agentwerke_evidence::canonical::sha256_hex;
use agentwerke_types::ToolCallId;

use crate::category::Category;
use crate::error::ToolError;
use crate::tool::{Idempotency, Tool, ToolContext};

/// Largest artifact `artifact.write` accepts unless configured otherwise.
pub const DEFAULT_MAX_ARTIFACT_BYTES: usize = 10 * 1024 * 1024;

/// An artifact's identity and description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactMeta {
    /// The run-relative path it was written to, e.g. `reports/summary.md`.
    pub path: String,
    /// SHA-256 of the content, lowercase hex: its address.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type, e.g. `text/markdown`.
    pub media_type: String,
}

/// Where run artifacts live.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Stores `content` (whose SHA-256 is `meta.sha256`) for `run_id` and
    /// points `meta.path` at it, keyed by `call_id`: when that call's write
    /// was stored before, nothing changes (not even the path, which a later
    /// call may have pointed elsewhere since). Without a call id the write
    /// always happens.
    async fn put(
        &self,
        run_id: &str,
        meta: &ArtifactMeta,
        content: Vec<u8>,
        call_id: Option<&ToolCallId>,
    ) -> Result<(), ToolError>;

    /// The content with hash `sha256` in `run_id`.
    async fn get(&self, run_id: &str, sha256: &str) -> Result<Option<Vec<u8>>, ToolError>;

    /// What `path` in `run_id` points at now.
    async fn find(&self, run_id: &str, path: &str) -> Result<Option<ArtifactMeta>, ToolError>;
}

/// An [`ArtifactStore`] in memory, for tests and tokenless demos.
#[derive(Debug, Default)]
pub struct MemoryArtifactStore {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    blobs: HashMap<(String, String), Arc<[u8]>>,
    paths: HashMap<(String, String), ArtifactMeta>,
    calls: HashSet<ToolCallId>,
}

impl MemoryArtifactStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MemoryState>, ToolError> {
        self.state
            .lock()
            .map_err(|_| ToolError::Storage("the artifact store lock is poisoned".to_owned()))
    }
}

#[async_trait]
impl ArtifactStore for MemoryArtifactStore {
    async fn put(
        &self,
        run_id: &str,
        meta: &ArtifactMeta,
        content: Vec<u8>,
        call_id: Option<&ToolCallId>,
    ) -> Result<(), ToolError> {
        let mut state = self.lock()?;
        if let Some(call_id) = call_id
            && !state.calls.insert(call_id.clone())
        {
            return Ok(());
        }
        state
            .blobs
            .entry((run_id.to_owned(), meta.sha256.clone()))
            .or_insert_with(|| content.into());
        state
            .paths
            .insert((run_id.to_owned(), meta.path.clone()), meta.clone());
        Ok(())
    }

    async fn get(&self, run_id: &str, sha256: &str) -> Result<Option<Vec<u8>>, ToolError> {
        let state = self.lock()?;
        Ok(state
            .blobs
            .get(&(run_id.to_owned(), sha256.to_owned()))
            .map(|b| b.to_vec()))
    }

    async fn find(&self, run_id: &str, path: &str) -> Result<Option<ArtifactMeta>, ToolError> {
        let state = self.lock()?;
        Ok(state
            .paths
            .get(&(run_id.to_owned(), path.to_owned()))
            .cloned())
    }
}

/// `artifact.write`: stores content as a run artifact and returns its hash.
pub struct ArtifactWrite {
    store: Arc<dyn ArtifactStore>,
    max_bytes: usize,
}

impl ArtifactWrite {
    /// Writes into `store`, refusing content over `max_bytes`.
    pub fn new(store: Arc<dyn ArtifactStore>, max_bytes: usize) -> Self {
        Self { store, max_bytes }
    }
}

#[async_trait]
impl Tool for ArtifactWrite {
    fn name(&self) -> &str {
        "artifact.write"
    }

    fn description(&self) -> &str {
        "Store content as an artifact of this run. Returns its SHA-256, which addresses it."
    }

    fn category(&self) -> Category {
        Category::Write
    }

    /// The write is content-addressed and keyed by its call id
    /// ([`ArtifactStore::put`]): the same call run again stores nothing new.
    fn idempotency(&self, _args: &Value) -> Idempotency {
        Idempotency::ByCallId
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["path", "content"],
            "additionalProperties": false,
            "properties": {
                "path": {"type": "string", "minLength": 1, "maxLength": 512,
                         "description": "Run-relative path, e.g. reports/summary.md"},
                "content": {"type": "string"},
                "encoding": {"enum": ["utf8", "base64"], "default": "utf8"},
                "mediaType": {"type": "string", "minLength": 1, "maxLength": 255}
            }
        })
    }

    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let path = str_arg(args, "path")?;
        check_path(path)?;
        let content = str_arg(args, "content")?;
        let bytes = match args.get("encoding").and_then(Value::as_str) {
            Some("base64") => BASE64
                .decode(content)
                .map_err(|e| ToolError::InvalidInput(format!("content is not base64: {e}")))?,
            _ => content.as_bytes().to_vec(),
        };
        if bytes.len() > self.max_bytes {
            return Err(ToolError::TooLarge(format!(
                "{} bytes exceed the artifact limit of {} bytes",
                bytes.len(),
                self.max_bytes
            )));
        }
        let meta = ArtifactMeta {
            path: path.to_owned(),
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
            media_type: args
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or("text/plain")
                .to_owned(),
        };
        self.store
            .put(&ctx.run_id, &meta, bytes, ctx.call_id.as_ref())
            .await?;
        serde_json::to_value(&meta).map_err(|e| ToolError::Failed(e.to_string()))
    }
}

/// `artifact.read`: reads a run artifact by hash or by path.
pub struct ArtifactRead {
    store: Arc<dyn ArtifactStore>,
}

impl ArtifactRead {
    /// Reads from `store`.
    pub fn new(store: Arc<dyn ArtifactStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Tool for ArtifactRead {
    fn name(&self) -> &str {
        "artifact.read"
    }

    fn description(&self) -> &str {
        "Read an artifact of this run by its SHA-256 or by its path."
    }

    fn category(&self) -> Category {
        Category::Read
    }

    /// A read changes nothing.
    fn idempotency(&self, _args: &Value) -> Idempotency {
        Idempotency::Idempotent
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "path": {"type": "string", "minLength": 1, "maxLength": 512}
            }
        })
    }

    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let (meta, sha256) = match args.get("path").and_then(Value::as_str) {
            Some(path) => {
                let meta = self
                    .store
                    .find(&ctx.run_id, path)
                    .await?
                    .ok_or_else(|| ToolError::NotFound(format!("no artifact at {path}")))?;
                let sha = meta.sha256.clone();
                (Some(meta), sha)
            }
            None => (None, str_arg(args, "sha256")?.to_owned()),
        };
        let bytes = self
            .store
            .get(&ctx.run_id, &sha256)
            .await?
            .ok_or_else(|| ToolError::NotFound(format!("no artifact with sha256 {sha256}")))?;
        if sha256_hex(&bytes) != sha256 {
            return Err(ToolError::Integrity(format!(
                "stored content does not hash to {sha256}"
            )));
        }
        let size = bytes.len();
        let (encoding, content) = match String::from_utf8(bytes) {
            Ok(text) => ("utf8", text),
            Err(e) => ("base64", BASE64.encode(e.as_bytes())),
        };
        let mut out = json!({
            "sha256": sha256,
            "size": size,
            "encoding": encoding,
            "content": content,
        });
        if let Some(meta) = meta {
            out["path"] = Value::String(meta.path);
            out["mediaType"] = Value::String(meta.media_type);
        }
        Ok(out)
    }
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::InvalidInput(format!("'{key}' must be a string")))
}

/// Artifact paths are labels inside a run, but a durable store may map
/// them to files: refuse anything that could climb out.
fn check_path(path: &str) -> Result<(), ToolError> {
    let bad = path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path.split('/').any(|seg| seg == ".." || seg.is_empty());
    if bad {
        Err(ToolError::InvalidInput(format!(
            "artifact path '{path}' must be relative, without '..', empty segments or backslashes"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_types::ErrorCode;

    use super::*;

    fn ctx(run: &str) -> ToolContext {
        ToolContext {
            run_id: run.to_owned(),
            node_id: "n".to_owned(),
            agent: "a".to_owned(),
            attempt: 1,
            call_id: None,
            secrets: crate::InjectedSecrets::none(),
            sandbox: crate::StepSandbox::new(
                crate::SandboxProfile::Offline,
                crate::ExecutionMode::Local,
            ),
        }
    }

    #[tokio::test]
    async fn content_addressing_round_trip() {
        let store: Arc<dyn ArtifactStore> = Arc::new(MemoryArtifactStore::new());
        let write = ArtifactWrite::new(Arc::clone(&store), 1024);
        let read = ArtifactRead::new(Arc::clone(&store));
        let meta = write
            .execute(
                &json!({"path": "reports/a.md", "content": "hello", "mediaType": "text/markdown"}),
                &ctx("r1"),
            )
            .await
            .unwrap();
        let sha = sha256_hex(b"hello");
        assert_eq!(
            meta,
            json!({"path": "reports/a.md", "sha256": sha, "size": 5, "mediaType": "text/markdown"})
        );

        let by_hash = read
            .execute(&json!({"sha256": sha}), &ctx("r1"))
            .await
            .unwrap();
        assert_eq!(by_hash["content"], "hello");
        assert_eq!(by_hash["encoding"], "utf8");
        let by_path = read
            .execute(&json!({"path": "reports/a.md"}), &ctx("r1"))
            .await
            .unwrap();
        assert_eq!(by_path["sha256"], sha);
        assert_eq!(by_path["mediaType"], "text/markdown");

        // Artifacts belong to their run.
        let other = read.execute(&json!({"sha256": sha}), &ctx("r2")).await;
        assert_eq!(other.unwrap_err().code(), "gateway.tool.not_found");
    }

    #[tokio::test]
    async fn binary_content_round_trips_as_base64() {
        let store: Arc<dyn ArtifactStore> = Arc::new(MemoryArtifactStore::new());
        let bytes = [0u8, 159, 146, 150];
        let encoded = BASE64.encode(bytes);
        let meta = ArtifactWrite::new(Arc::clone(&store), 1024)
            .execute(
                &json!({"path": "bin", "content": encoded, "encoding": "base64"}),
                &ctx("r"),
            )
            .await
            .unwrap();
        assert_eq!(meta["sha256"], sha256_hex(&bytes));
        let out = ArtifactRead::new(store)
            .execute(&json!({"path": "bin"}), &ctx("r"))
            .await
            .unwrap();
        assert_eq!(out["encoding"], "base64");
        assert_eq!(out["content"], encoded);
        assert_eq!(out["size"], 4);
    }

    /// The same call written again after a later write to its path
    /// changes nothing: the later content stays. Without a call id every
    /// write acts.
    #[tokio::test]
    async fn a_write_is_keyed_by_its_call_id() {
        let store: Arc<dyn ArtifactStore> = Arc::new(MemoryArtifactStore::new());
        let write = ArtifactWrite::new(Arc::clone(&store), 1024);
        let call = |id: Option<&str>| ToolContext {
            call_id: id.map(ToolCallId::from),
            secrets: crate::InjectedSecrets::none(),
            sandbox: crate::StepSandbox::new(
                crate::SandboxProfile::Offline,
                crate::ExecutionMode::Local,
            ),
            ..ctx("r")
        };
        let first = json!({"path": "a.md", "content": "x"});
        write.execute(&first, &call(Some("c1"))).await.unwrap();
        write
            .execute(&json!({"path": "a.md", "content": "y"}), &call(Some("c2")))
            .await
            .unwrap();
        let again = write.execute(&first, &call(Some("c1"))).await.unwrap();
        assert_eq!(again["sha256"], sha256_hex(b"x"), "the call's own answer");
        let now = store.find("r", "a.md").await.unwrap().unwrap();
        assert_eq!(now.sha256, sha256_hex(b"y"), "the later write stays");
        write.execute(&first, &call(None)).await.unwrap();
        let now = store.find("r", "a.md").await.unwrap().unwrap();
        assert_eq!(now.sha256, sha256_hex(b"x"), "an unkeyed write acts");
        assert_eq!(write.idempotency(&first), Idempotency::ByCallId);
        assert_eq!(
            ArtifactRead::new(store).idempotency(&json!({"path": "a.md"})),
            Idempotency::Idempotent
        );
    }

    #[tokio::test]
    async fn limits_paths_and_integrity_are_enforced() {
        let store = Arc::new(MemoryArtifactStore::new());
        let write = ArtifactWrite::new(store.clone(), 4);
        let too_big = write
            .execute(&json!({"path": "a", "content": "12345"}), &ctx("r"))
            .await;
        assert_eq!(too_big.unwrap_err().code(), "gateway.tool.too_large");
        for path in ["/etc/x", "../x", "a//b", "a\\b"] {
            let err = write
                .execute(&json!({"path": path, "content": "x"}), &ctx("r"))
                .await;
            assert_eq!(
                err.unwrap_err().code(),
                "gateway.tool.invalid_input",
                "{path}"
            );
        }

        // A store that hands back other bytes for a hash is caught.
        let sha = sha256_hex(b"good");
        let meta = ArtifactMeta {
            path: "p".to_owned(),
            sha256: sha.clone(),
            size: 4,
            media_type: "text/plain".to_owned(),
        };
        store.put("r", &meta, b"evil".to_vec(), None).await.unwrap();
        let err = ArtifactRead::new(store)
            .execute(&json!({"sha256": sha}), &ctx("r"))
            .await;
        assert_eq!(err.unwrap_err().code(), "gateway.tool.integrity");
    }
}
