//! The sandbox as the code-executing tools use it: the server's sandbox (or
//! why it has none), the step's sandbox settings ([`StepSandbox`]), the one
//! function every execution goes through ([`run_sandboxed`]), and the record
//! a call hands back for each execution ([`SandboxRun`]).
//!
//! Two seams sit here on purpose:
//!
//! - [`StepSandbox::run`] decides, per the task's `executionMode`, where a
//!   command runs: `tool_sandboxed` (and `local`, which never runs code
//!   unsandboxed) in a fresh sandbox each; `agent_sandboxed` in one sandbox
//!   session, behind one egress proxy, from the step's first command until
//!   [`StepSandbox::close`], which the runtime calls when the step's
//!   execution ends.
//! - [`run_sandboxed`] is the only place a sandbox is asked to run
//!   anything, so the egress proxy (which gives the profiles other than
//!   `offline` an allow-listed way out, [`ExecEgress`]) is put in front of
//!   every execution in one place.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use agentwerke_evidence::redact::Redactor;
use agentwerke_evidence::sections::{
    EgressConnectionRecord, SandboxExecutionRecord, SandboxSessionRecord, SandboxStreamRecord,
};
use agentwerke_sandbox::{
    EgressConnection, ExecRequest, Execution, Limits, Output, Sandbox, Termination,
};
use agentwerke_types::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::category::SandboxProfile;
use crate::egress::EgressRules;
use crate::egress_proxy::EgressScope;
use crate::error::ToolError;
use crate::sandboxed::{
    EgressSession, SandboxRunError, SessionEnd, open_with_egress, run_with_egress,
};

/// A task's `executionMode`: where its code-executing tool calls run.
/// Persisted names; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    /// The BPMN default. Tools run in the server process, except code:
    /// a command never runs unsandboxed, so it runs as under
    /// `tool_sandboxed`.
    #[default]
    Local,
    /// Each command in a fresh sandbox.
    ToolSandboxed,
    /// One sandbox for the whole step.
    AgentSandboxed,
}

impl ExecutionMode {
    /// Every mode.
    pub const ALL: [ExecutionMode; 3] = [
        ExecutionMode::Local,
        ExecutionMode::ToolSandboxed,
        ExecutionMode::AgentSandboxed,
    ];

    /// The wire name, e.g. `tool_sandboxed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionMode::Local => "local",
            ExecutionMode::ToolSandboxed => "tool_sandboxed",
            ExecutionMode::AgentSandboxed => "agent_sandboxed",
        }
    }
}

/// The sandbox profile the sandbox crate knows by the same wire name.
pub(crate) const fn sandbox_profile(profile: SandboxProfile) -> agentwerke_sandbox::SandboxProfile {
    match profile {
        SandboxProfile::Offline => agentwerke_sandbox::SandboxProfile::Offline,
        SandboxProfile::RepoRead => agentwerke_sandbox::SandboxProfile::RepoRead,
        SandboxProfile::RepoWrite => agentwerke_sandbox::SandboxProfile::RepoWrite,
        SandboxProfile::Deployment => agentwerke_sandbox::SandboxProfile::Deployment,
    }
}

/// The server's sandbox, or why it has none. Without one, code-executing
/// tools fail closed with the sandbox's stable code; the server still
/// serves everything else.
#[derive(Clone)]
pub enum SandboxBackend {
    /// Commands run in this sandbox.
    Ready(Arc<dyn Sandbox>),
    /// No command runs: the sandbox could not be set up.
    Unavailable {
        /// The sandbox's stable code, e.g. `sandbox.isolation_unavailable`.
        code: &'static str,
        /// Why, for the operator and the model.
        reason: String,
    },
}

impl SandboxBackend {
    /// The backend for `built`: the sandbox, or its refusal.
    pub fn from_result<S: Sandbox + 'static>(
        built: Result<S, agentwerke_sandbox::SandboxError>,
    ) -> Self {
        match built {
            Ok(sandbox) => SandboxBackend::Ready(Arc::new(sandbox)),
            Err(error) => SandboxBackend::Unavailable {
                code: error.code(),
                reason: error.to_string(),
            },
        }
    }

    /// A server that has no sandbox configured at all.
    pub fn not_configured() -> Self {
        SandboxBackend::Unavailable {
            code: "sandbox.isolation_unavailable",
            reason: "this server has no sandbox configured".to_owned(),
        }
    }
}

impl fmt::Debug for SandboxBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SandboxBackend::Ready(sandbox) => {
                f.debug_tuple("Ready").field(&sandbox.isolation()).finish()
            }
            SandboxBackend::Unavailable { code, reason } => f
                .debug_struct("Unavailable")
                .field("code", code)
                .field("reason", reason)
                .finish(),
        }
    }
}

/// Runs `request` in `sandbox`: the one function every sandboxed execution
/// goes through. The workspace is handed to the sandbox's user first, and
/// a profile that reaches the network through the egress proxy gets one
/// for `scope`, whose connections the execution then lists.
pub async fn run_sandboxed(
    sandbox: Arc<dyn Sandbox>,
    request: ExecRequest,
    scope: EgressScope,
) -> Result<Execution, SandboxRunError> {
    prepare(&sandbox, &request.workspace).await?;
    run_with_egress(sandbox, request, scope).await
}

/// Hands the workspace to the sandbox's user: files the workspace tools
/// wrote since the last command (and a fresh checkout) must be its too
/// before a command runs.
async fn prepare(sandbox: &Arc<dyn Sandbox>, workspace: &Path) -> Result<(), SandboxRunError> {
    let sandbox = Arc::clone(sandbox);
    let workspace = workspace.to_owned();
    tokio::task::spawn_blocking(move || sandbox.prepare_workspace(&workspace))
        .await
        .map_err(|_| SandboxRunError::Interrupted)??;
    Ok(())
}

/// Runs `request` in the step's session, opening it (with its egress proxy)
/// for the first command: every command of an `agent_sandboxed` step runs
/// in that one sandbox.
async fn run_in_session(
    slot: &tokio::sync::Mutex<Option<EgressSession>>,
    sandbox: Arc<dyn Sandbox>,
    request: ExecRequest,
    scope: EgressScope,
) -> Result<Execution, SandboxRunError> {
    let mut slot = slot.lock().await;
    prepare(&sandbox, &request.workspace).await?;
    let session = match &mut *slot {
        Some(session) => session,
        None => slot.insert(
            open_with_egress(sandbox, request.workspace.clone(), request.profile, scope).await?,
        ),
    };
    session.run(request).await
}

/// Where a step's commands may reach beyond loopback: the rules every
/// connection is held to, and the hosts each sandbox profile allows (the
/// operator's `[sandbox.egress-hosts]`), to which a task adds its own and
/// its workflow's (`egressHosts`).
#[derive(Debug, Clone, Default)]
pub struct ExecEgress {
    /// The address rules, as for `http.request`.
    pub rules: EgressRules,
    /// Hosts (and `*.` patterns) allowed per sandbox profile.
    pub profile_hosts: BTreeMap<SandboxProfile, Vec<String>>,
}

impl ExecEgress {
    /// The scope of one step's commands: its profile's hosts, then the
    /// task's.
    pub fn scope(&self, profile: SandboxProfile, task_hosts: &[String]) -> EgressScope {
        let mut allow_hosts = self
            .profile_hosts
            .get(&profile)
            .cloned()
            .unwrap_or_default();
        for host in task_hosts {
            if !allow_hosts.contains(host) {
                allow_hosts.push(host.clone());
            }
        }
        EgressScope {
            allow_hosts,
            rules: self.rules.clone(),
        }
    }
}

/// One execution as a call hands it back to the gateway: what ran, under
/// which mode, and how it went. The gateway redacts it before anything
/// keeps it; the journal keeps it with the call, so a replayed call records
/// it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxRun {
    /// The mode it ran under.
    pub mode: ExecutionMode,
    /// The sandbox's record (excerpts redacted once the gateway has it).
    pub execution: Execution,
}

impl SandboxRun {
    /// The run with its arguments and output excerpts redacted.
    pub(crate) fn redacted(mut self, redactor: &Redactor) -> Self {
        let execution = &mut self.execution;
        execution.program = redactor.redact_str(&execution.program);
        for arg in &mut execution.args {
            *arg = redactor.redact_str(arg);
        }
        for stream in [&mut execution.stdout, &mut execution.stderr] {
            stream.excerpt = redactor.redact_str(&stream.excerpt);
            stream.captured = Vec::new();
        }
        self
    }

    /// The record as the evidence pack's `sandboxExecutions` keeps it.
    pub fn to_evidence(&self, work_id: &str, at: &str) -> SandboxExecutionRecord {
        let execution = &self.execution;
        let (exit_code, signal) = match execution.termination {
            Termination::Exited { code } => (Some(code), None),
            Termination::Signaled { signal } => (None, Some(signal)),
        };
        let command = std::iter::once(execution.program.as_str())
            .chain(execution.args.iter().map(String::as_str))
            .map(quoted)
            .collect::<Vec<_>>()
            .join(" ");
        let mut both = execution.stdout.sha256.clone();
        both.push_str(&execution.stderr.sha256);
        SandboxExecutionRecord {
            work_id: work_id.to_owned(),
            at: at.to_owned(),
            command,
            profile: execution.profile.as_str().to_owned(),
            exit_code,
            duration_ms: execution.duration_ms,
            limits: serde_json::to_value(execution.limits).unwrap_or_default(),
            // The digest of the two stream digests: one value that changes
            // when either stream does.
            output_sha256: Some(agentwerke_evidence::canonical::sha256_hex(both.as_bytes())),
            mode: Some(self.mode.as_str().to_owned()),
            isolation: serde_json::to_value(execution.isolation)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            degraded: execution.degraded,
            signal,
            timed_out: execution.timed_out,
            killed: execution.killed,
            bytes_out: Some(execution.bytes_out),
            stdout: Some(Box::new(stream(&execution.stdout))),
            stderr: Some(Box::new(stream(&execution.stderr))),
            egress: execution.egress.iter().map(connection).collect(),
            session: execution.session.as_ref().map(|id| id.as_str().to_owned()),
            secret_files: execution.secret_files.clone(),
        }
    }
}

fn connection(connection: &EgressConnection) -> EgressConnectionRecord {
    EgressConnectionRecord {
        host: connection.host.clone(),
        port: connection.port,
        method: connection.method.clone(),
        addresses: connection
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect(),
        decision: serde_json::to_value(connection.decision)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        code: connection.code.clone(),
        bytes_up: connection.bytes_up,
        bytes_down: connection.bytes_down,
    }
}

fn stream(output: &Output) -> SandboxStreamRecord {
    SandboxStreamRecord {
        bytes: output.bytes,
        sha256: output.sha256.clone(),
        excerpt: output.excerpt.clone(),
        truncated: output.truncated,
    }
}

/// An argument as a shell would need it to read back as one word.
fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The sandbox side of one step: its profile and `executionMode`, and what
/// its executions came to so far. Shared by every call of the step
/// ([`crate::ToolContext::sandbox`]).
pub struct StepSandbox {
    profile: SandboxProfile,
    mode: ExecutionMode,
    /// The hosts the task (and its workflow) adds to its profile's.
    hosts: Vec<String>,
    /// The step's sandbox session (`agent_sandboxed`), from its first
    /// command until [`StepSandbox::close`].
    session: Arc<tokio::sync::Mutex<Option<EgressSession>>>,
    state: Arc<Mutex<StepState>>,
}

#[derive(Debug, Default)]
struct StepState {
    /// Executions started.
    started: u32,
    /// Finished executions no call has handed back yet.
    finished: Vec<SandboxRun>,
    /// Executions finished, handed back or not.
    ended: u32,
    /// Executions the sandbox refused to start: their codes.
    refused: Vec<&'static str>,
    /// The step's execution ended: nothing runs any more.
    closed: bool,
}

/// What a step's executions came to when the step's execution ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepSandboxReport {
    /// Executions started.
    pub started: u32,
    /// Executions that finished after their call stopped waiting (the
    /// call timed out): not handed back with a call, recorded now.
    pub unclaimed: Vec<SandboxRun>,
    /// Executions still running: they have no record.
    pub unfinished: u32,
    /// The codes of the executions the sandbox refused to start.
    pub refused: Vec<&'static str>,
    /// The step's session (`agent_sandboxed`), closed: its commands and the
    /// connections no command's record holds. `None` when the step opened
    /// none, or when a command still running held it as the step ended
    /// (that command is then `unfinished`, and the session is closed when
    /// it lets go).
    pub session: Option<SessionEnd>,
}

impl SessionEnd {
    /// The record as the evidence pack's `sandboxSessions` keeps it.
    pub fn to_evidence(&self, work_id: &str, closed_at: &str) -> SandboxSessionRecord {
        SandboxSessionRecord {
            work_id: work_id.to_owned(),
            session: self.id.as_str().to_owned(),
            profile: self.profile.as_str().to_owned(),
            closed_at: closed_at.to_owned(),
            commands: self.commands,
            egress: self.egress.iter().map(connection).collect(),
        }
    }
}

impl StepSandbox {
    /// The sandbox side of a step under `profile` and `mode`.
    pub fn new(profile: SandboxProfile, mode: ExecutionMode) -> Arc<Self> {
        Self::for_task(profile, mode, Vec::new())
    }

    /// The sandbox side of a step whose task (with its workflow) allows
    /// `hosts` beyond its profile's.
    pub fn for_task(profile: SandboxProfile, mode: ExecutionMode, hosts: Vec<String>) -> Arc<Self> {
        Arc::new(StepSandbox {
            profile,
            mode,
            hosts,
            session: Arc::new(tokio::sync::Mutex::new(None)),
            state: Arc::new(Mutex::new(StepState::default())),
        })
    }

    /// The task's `sandboxProfile`.
    pub fn profile(&self) -> SandboxProfile {
        self.profile
    }

    /// The task's `executionMode`.
    pub fn mode(&self) -> ExecutionMode {
        self.mode
    }

    /// The mode a command of this step actually runs under: `local` runs
    /// code sandboxed like `tool_sandboxed`; `agent_sandboxed` runs every
    /// command of the step in one sandbox.
    pub fn effective_mode(&self) -> ExecutionMode {
        match self.mode {
            ExecutionMode::Local | ExecutionMode::ToolSandboxed => ExecutionMode::ToolSandboxed,
            ExecutionMode::AgentSandboxed => ExecutionMode::AgentSandboxed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StepState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `request` for this step on a blocking thread. The finished
    /// execution is kept even when the caller stopped waiting, so
    /// [`StepSandbox::close`] still hands it over.
    pub async fn run(
        &self,
        backend: &SandboxBackend,
        request: ExecRequest,
        egress: &ExecEgress,
    ) -> Result<Execution, ToolError> {
        let sandbox = match backend {
            SandboxBackend::Ready(sandbox) => Arc::clone(sandbox),
            SandboxBackend::Unavailable { code, reason } => {
                self.lock().refused.push(code);
                return Err(ToolError::Sandbox {
                    code,
                    message: reason.clone(),
                });
            }
        };
        {
            let mut state = self.lock();
            if state.closed {
                return Err(ToolError::Failed(
                    "the step's sandbox is closed: its step has ended".to_owned(),
                ));
            }
            state.started += 1;
        }
        let state = Arc::clone(&self.state);
        let mode = self.effective_mode();
        let scope = egress.scope(self.profile, &self.hosts);
        let session = Arc::clone(&self.session);
        // A task of its own: the execution is kept even when the call stops
        // waiting for it.
        let joined = tokio::spawn(async move {
            let result = match mode {
                ExecutionMode::AgentSandboxed => {
                    run_in_session(&session, sandbox, request, scope).await
                }
                ExecutionMode::Local | ExecutionMode::ToolSandboxed => {
                    run_sandboxed(sandbox, request, scope).await
                }
            };
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            state.ended += 1;
            match &result {
                Ok(execution) => state.finished.push(SandboxRun {
                    mode,
                    execution: execution.clone(),
                }),
                Err(error) => state.refused.push(error.code()),
            }
            result
        })
        .await;
        match joined {
            Ok(Ok(execution)) => Ok(execution),
            Ok(Err(error)) => Err(ToolError::Sandbox {
                code: error.code(),
                message: error.to_string(),
            }),
            Err(join) => Err(ToolError::Failed(format!(
                "the sandbox thread failed: {join}"
            ))),
        }
    }

    /// The executions finished since the last call took them: the gateway
    /// hands them back with the call that made them.
    pub(crate) fn take_finished(&self) -> Vec<SandboxRun> {
        std::mem::take(&mut self.lock().finished)
    }

    /// Ends the step's sandbox: nothing runs in it any more, and what its
    /// executions came to is reported (an execution still running when its
    /// step ended has no record). The runtime calls it when the step's
    /// execution ends; a step-long sandbox session is closed here, and what
    /// came through its proxy outside any command is reported with it.
    pub async fn close(&self) -> StepSandboxReport {
        self.lock().closed = true;
        let session = match self.take_session() {
            Some(session) => Some(session.close().await),
            None => None,
        };
        let mut state = self.lock();
        StepSandboxReport {
            started: state.started,
            unclaimed: std::mem::take(&mut state.finished),
            unfinished: state.started.saturating_sub(state.ended),
            refused: state.refused.clone(),
            session,
        }
    }

    /// The step's session, if it has one and no command holds it. A
    /// command still running holds it; the session is then closed in the
    /// background once that command lets go of it (what it saw after that
    /// has no record, and the command is reported unfinished).
    fn take_session(&self) -> Option<EgressSession> {
        let Ok(mut slot) = self.session.try_lock() else {
            let held = Arc::clone(&self.session);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Some(session) = held.lock().await.take() {
                        session.close().await;
                    }
                });
            }
            return None;
        };
        slot.take()
    }
}

impl fmt::Debug for StepSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepSandbox")
            .field("profile", &self.profile)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A step's sandbox is the same only as itself.
impl PartialEq for StepSandbox {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for StepSandbox {}

/// The bounds of executions: the defaults every command gets and the cap
/// a call's own `timeoutSeconds` may not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    /// What every command runs under (its wall clock unless the call asks
    /// for less or, up to the cap, more).
    pub defaults: Limits,
    /// The longest wall clock a call may ask for, in seconds.
    pub max_timeout_seconds: u64,
    /// The most of each stream the tool's answer shows the model, in bytes.
    pub answer_bytes: usize,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            defaults: Limits::default(),
            max_timeout_seconds: 600,
            answer_bytes: 16 * 1024,
        }
    }
}

#[cfg(test)]
#[path = "sandboxing_tests.rs"]
mod tests;
