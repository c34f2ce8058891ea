//! The run's workspace: one folder per run, created on first use
//! (optionally as a git checkout of a configured repository), and the
//! `workspace.read`, `workspace.write` and `workspace.list` tools over it.
//!
//! A path is always relative to the workspace. An absolute path, a `..`
//! component, or a symbolic link that leads out of the workspace is refused
//! (`gateway.workspace.path_outside`) before anything is read or written;
//! a write under a profile that binds the workspace read-only (`offline`,
//! `repo-read`) is refused (`gateway.workspace.read_only`), as the sandbox
//! refuses a command's write there.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};

use agentwerke_evidence::canonical::sha256_hex;
use agentwerke_sandbox::WorkspaceAccess;

use crate::category::Category;
use crate::error::ToolError;
use crate::sandboxing::sandbox_profile;
use crate::tool::{Idempotency, Tool, ToolContext};

/// The largest file `workspace.read` returns and `workspace.write` writes.
pub const MAX_WORKSPACE_FILE_BYTES: usize = 1024 * 1024;

/// Most entries `workspace.list` returns.
const MAX_LIST_ENTRIES: usize = 1000;

/// The repository a run's workspace is checked out from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// What `git clone` is given: a URL or a local path.
    pub url: String,
    /// A branch, tag or commit to check out; `None`: the default branch.
    pub reference: Option<String>,
}

/// The runs' workspace folders under one root, e.g. `<data>/workspaces`.
///
/// A run's folder is created the first time one of its calls needs it and
/// kept while the server keeps the data folder: nothing removes it when the
/// run ends, so its files can be looked at afterwards.
pub struct Workspaces {
    /// `None`: this server keeps no workspaces, and every call needing
    /// one fails.
    root: Option<PathBuf>,
    repository: Option<Repository>,
    git: PathBuf,
    /// One lock per run: a run's folder is created once, however many of
    /// its calls ask at the same moment.
    creating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Workspaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspaces")
            .field("root", &self.root)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

impl Workspaces {
    /// Workspaces under `root`, each a checkout of `repository` when one is
    /// given (cloned with the `git` binary from `PATH`).
    pub fn new(root: impl Into<PathBuf>, repository: Option<Repository>) -> Self {
        Workspaces {
            root: Some(root.into()),
            repository,
            git: PathBuf::from("git"),
            creating: Mutex::new(HashMap::new()),
        }
    }

    /// No workspaces: every call that needs one fails
    /// (`gateway.tool.storage`). For gateways without a data folder.
    pub fn none() -> Self {
        Workspaces {
            root: None,
            repository: None,
            git: PathBuf::from("git"),
            creating: Mutex::new(HashMap::new()),
        }
    }

    /// The folder every workspace lies in, if there is one.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The workspace of `run_id`, created (and checked out) on first use;
    /// its canonical path.
    pub async fn prepare(&self, run_id: &str) -> Result<PathBuf, ToolError> {
        let Some(root) = &self.root else {
            return Err(ToolError::Storage(
                "this server keeps no run workspaces".to_owned(),
            ));
        };
        let valid = !run_id.is_empty()
            && run_id.len() <= 128
            && run_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(ToolError::InvalidInput(
                "the run id cannot name a workspace folder".to_owned(),
            ));
        }
        let lock = {
            let mut creating = self.creating.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(creating.entry(run_id.to_owned()).or_default())
        };
        let _held = lock.lock().await;
        let folder = root.join(run_id);
        if !folder.is_dir() {
            let root = root.clone();
            let repository = self.repository.clone();
            let git = self.git.clone();
            let target = folder.clone();
            tokio::task::spawn_blocking(move || create(&root, &target, repository.as_ref(), &git))
                .await
                .map_err(|e| ToolError::Storage(format!("workspace setup: {e}")))??;
        }
        std::fs::canonicalize(&folder).map_err(|e| ToolError::Storage(format!("workspace: {e}")))
    }
}

/// Creates `folder` (a checkout when `repository` is set) next to its
/// final place first and moves it there, so a half-made checkout is never
/// taken for a workspace.
fn create(
    root: &Path,
    folder: &Path,
    repository: Option<&Repository>,
    git: &Path,
) -> Result<(), ToolError> {
    use std::os::unix::fs::DirBuilderExt;
    let storage = |what: &str, e: std::io::Error| ToolError::Storage(format!("{what}: {e}"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| storage("workspace root", e))?;
    let staging = tempfile::Builder::new()
        .prefix(".new-")
        .tempdir_in(root)
        .map_err(|e| storage("workspace", e))?;
    if let Some(repository) = repository {
        let checkout = staging.path().join("checkout");
        git_run(
            git,
            root,
            [
                "clone".as_ref(),
                "--quiet".as_ref(),
                "--no-hardlinks".as_ref(),
                "--".as_ref(),
                repository.url.as_ref(),
                checkout.as_os_str(),
            ],
        )?;
        if let Some(reference) = &repository.reference {
            git_run(
                git,
                &checkout,
                [
                    "checkout".as_ref(),
                    "--quiet".as_ref(),
                    "--detach".as_ref(),
                    reference.as_ref(),
                    "--".as_ref(),
                ],
            )?;
        }
        std::fs::rename(&checkout, folder).map_err(|e| storage("workspace", e))?;
    } else {
        let empty = staging.path().join("empty");
        std::fs::create_dir(&empty).map_err(|e| storage("workspace", e))?;
        std::fs::rename(&empty, folder).map_err(|e| storage("workspace", e))?;
    }
    Ok(())
}

/// Runs git with a clean environment and no prompts.
fn git_run<'a>(
    git: &Path,
    dir: &Path,
    args: impl IntoIterator<Item = &'a std::ffi::OsStr>,
) -> Result<(), ToolError> {
    let output = Command::new(git)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LANG", "C.UTF-8")
        .output()
        .map_err(|e| ToolError::Storage(format!("cannot run git: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ToolError::Storage(format!(
            "git could not check out the workspace repository: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// `path` inside `workspace` (canonical), refused when it is absolute,
/// has `..`, or leads out through a symbolic link. The path need not exist;
/// whatever part of it exists must resolve inside the workspace.
pub(crate) fn resolve(workspace: &Path, path: &str) -> Result<PathBuf, ToolError> {
    let outside = || ToolError::PathOutsideWorkspace(path.to_owned());
    let relative = Path::new(path);
    let mut clean = PathBuf::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside());
            }
        }
    }
    // Follow whatever exists: a link anywhere on the way must stay inside.
    let mut resolved = workspace.to_owned();
    let mut rest = clean.components();
    for component in rest.by_ref() {
        let next = resolved.join(component);
        match std::fs::symlink_metadata(&next) {
            Ok(_) => {
                resolved = std::fs::canonicalize(&next).map_err(|_| outside())?;
                if !resolved.starts_with(workspace) {
                    return Err(outside());
                }
            }
            Err(_) => {
                resolved = next;
                break;
            }
        }
    }
    resolved.extend(rest);
    Ok(resolved)
}

/// The workspace of the call's run, and the call's path in it.
async fn located(
    workspaces: &Workspaces,
    ctx: &ToolContext,
    path: &str,
) -> Result<(PathBuf, PathBuf), ToolError> {
    let workspace = workspaces.prepare(&ctx.run_id).await?;
    let target = resolve(&workspace, path)?;
    Ok((workspace, target))
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::InvalidInput(format!("`{key}` must be a string")))
}

fn path_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 1024,
           "description": "Path relative to the run's workspace, e.g. src/main.rs"})
}

/// `workspace.read`: a file of the run's workspace as text.
pub struct WorkspaceRead {
    workspaces: Arc<Workspaces>,
}

impl WorkspaceRead {
    /// Reads from `workspaces`.
    pub fn new(workspaces: Arc<Workspaces>) -> Self {
        Self { workspaces }
    }
}

#[async_trait]
impl Tool for WorkspaceRead {
    fn name(&self) -> &str {
        "workspace.read"
    }

    fn description(&self) -> &str {
        "Read a file of this run's workspace (a path relative to it) as text."
    }

    fn category(&self) -> Category {
        Category::Read
    }

    fn idempotency(&self, _args: &Value) -> Idempotency {
        Idempotency::Idempotent
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["path"],
            "additionalProperties": false,
            "properties": {"path": path_schema()}
        })
    }

    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let path = str_arg(args, "path")?;
        let (_, target) = located(&self.workspaces, ctx, path).await?;
        let meta = std::fs::metadata(&target)
            .map_err(|_| ToolError::NotFound(format!("{path} is not in the workspace")))?;
        if !meta.is_file() {
            return Err(ToolError::InvalidInput(format!("{path} is not a file")));
        }
        if meta.len() > MAX_WORKSPACE_FILE_BYTES as u64 {
            return Err(ToolError::TooLarge(format!(
                "{path} has {} bytes; at most {MAX_WORKSPACE_FILE_BYTES} are read",
                meta.len()
            )));
        }
        let bytes = std::fs::read(&target).map_err(|e| ToolError::Storage(e.to_string()))?;
        Ok(json!({
            "path": path,
            "size": bytes.len(),
            "sha256": sha256_hex(&bytes),
            "content": String::from_utf8_lossy(&bytes),
        }))
    }
}

/// `workspace.write`: writes a text file into the run's workspace.
pub struct WorkspaceWrite {
    workspaces: Arc<Workspaces>,
}

impl WorkspaceWrite {
    /// Writes into `workspaces`.
    pub fn new(workspaces: Arc<Workspaces>) -> Self {
        Self { workspaces }
    }
}

#[async_trait]
impl Tool for WorkspaceWrite {
    fn name(&self) -> &str {
        "workspace.write"
    }

    fn description(&self) -> &str {
        "Write a text file into this run's workspace (a path relative to it), replacing it if it exists."
    }

    fn category(&self) -> Category {
        Category::Write
    }

    /// Writing the same content to the same path again changes nothing.
    fn idempotency(&self, _args: &Value) -> Idempotency {
        Idempotency::Idempotent
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["path", "content"],
            "additionalProperties": false,
            "properties": {"path": path_schema(), "content": {"type": "string"}}
        })
    }

    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let path = str_arg(args, "path")?;
        let content = str_arg(args, "content")?;
        let profile = ctx.sandbox.profile();
        if sandbox_profile(profile).workspace_access() == WorkspaceAccess::ReadOnly {
            return Err(ToolError::WorkspaceReadOnly(format!(
                "sandbox profile {} binds the workspace read-only",
                profile.as_str()
            )));
        }
        if content.len() > MAX_WORKSPACE_FILE_BYTES {
            return Err(ToolError::TooLarge(format!(
                "{} bytes; at most {MAX_WORKSPACE_FILE_BYTES} are written",
                content.len()
            )));
        }
        let (workspace, target) = located(&self.workspaces, ctx, path).await?;
        if target == workspace {
            return Err(ToolError::InvalidInput(
                "the path names the workspace itself".to_owned(),
            ));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ToolError::Storage(e.to_string()))?;
            // A link made between the check and now must not lead out.
            resolve(&workspace, path)?;
        }
        std::fs::write(&target, content).map_err(|e| ToolError::Storage(e.to_string()))?;
        Ok(json!({
            "path": path,
            "size": content.len(),
            "sha256": sha256_hex(content.as_bytes()),
        }))
    }
}

/// `workspace.list`: the entries of a folder of the run's workspace.
pub struct WorkspaceList {
    workspaces: Arc<Workspaces>,
}

impl WorkspaceList {
    /// Lists folders of `workspaces`.
    pub fn new(workspaces: Arc<Workspaces>) -> Self {
        Self { workspaces }
    }
}

#[async_trait]
impl Tool for WorkspaceList {
    fn name(&self) -> &str {
        "workspace.list"
    }

    fn description(&self) -> &str {
        "List a folder of this run's workspace (default: its top), sorted by name."
    }

    fn category(&self) -> Category {
        Category::Read
    }

    fn idempotency(&self, _args: &Value) -> Idempotency {
        Idempotency::Idempotent
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {"path": path_schema()}
        })
    }

    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let path = args.get("path").and_then(Value::as_str).unwrap_or(".");
        let (_, target) = located(&self.workspaces, ctx, path).await?;
        let entries = std::fs::read_dir(&target)
            .map_err(|_| ToolError::NotFound(format!("{path} is not a folder of the workspace")))?;
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ToolError::Storage(e.to_string()))?;
            let kind = match entry.file_type() {
                Ok(t) if t.is_symlink() => "symlink",
                Ok(t) if t.is_dir() => "folder",
                _ => "file",
            };
            let size = entry.metadata().map(|m| m.len()).unwrap_or_default();
            listed.push((entry.file_name().to_string_lossy().into_owned(), kind, size));
        }
        listed.sort();
        let truncated = listed.len() > MAX_LIST_ENTRIES;
        listed.truncate(MAX_LIST_ENTRIES);
        let entries: Vec<Value> = listed
            .into_iter()
            .map(|(name, kind, size)| json!({"name": name, "kind": kind, "size": size}))
            .collect();
        Ok(json!({"path": path, "entries": entries, "truncated": truncated}))
    }
}

#[cfg(test)]
#[path = "workspace_tests.rs"]
mod tests;
