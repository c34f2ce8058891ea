//! `exec.run`: one command (a program and its arguments, no shell unless
//! the program is one) in the run's workspace, in the sandbox, under the
//! task's sandbox profile and the configured bounds.
//!
//! The model gets the exit status and the start of each stream (capped,
//! and redacted by the gateway like every output); the gateway keeps the
//! sandbox's record of the execution with the call ([`crate::SandboxRun`]),
//! and the runtime files it in the evidence.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use agentwerke_sandbox::{ExecRequest, Output, SecretFile, Termination};
use agentwerke_secrets::SecretRef;

use crate::category::Category;
use crate::error::ToolError;
use crate::sandboxing::{ExecEgress, ExecLimits, SandboxBackend, sandbox_profile};
use crate::tool::{Tool, ToolContext};
use crate::tools::workspace::Workspaces;

/// How long past its wall clock the gateway waits for a command: the
/// sandbox kills it at the wall clock and needs a moment to reap it.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// `exec.run`.
pub struct ExecRun {
    sandbox: SandboxBackend,
    workspaces: Arc<Workspaces>,
    limits: ExecLimits,
    egress: ExecEgress,
}

impl ExecRun {
    /// Runs commands in `sandbox`, in the runs' `workspaces`, under
    /// `limits`, reaching out only as `egress` allows.
    pub fn new(
        sandbox: SandboxBackend,
        workspaces: Arc<Workspaces>,
        limits: ExecLimits,
        egress: ExecEgress,
    ) -> Self {
        Self {
            sandbox,
            workspaces,
            limits,
            egress,
        }
    }

    /// The wall clock a call gets: its `timeoutSeconds` up to the cap, or
    /// the default.
    fn wall_clock_ms(&self, args: &Value) -> u64 {
        match args.get("timeoutSeconds").and_then(Value::as_u64) {
            Some(seconds) => seconds
                .clamp(1, self.limits.max_timeout_seconds.max(1))
                .saturating_mul(1000),
            None => self.limits.defaults.wall_clock_ms,
        }
    }
}

#[async_trait]
impl Tool for ExecRun {
    fn name(&self) -> &str {
        "exec.run"
    }

    fn description(&self) -> &str {
        "Run a program with arguments (no shell unless you run one, e.g. program \"sh\" with \
         args [\"-c\", \"...\"]) in this run's workspace, inside a sandbox. Returns the exit \
         status and the start of stdout and stderr."
    }

    fn category(&self) -> Category {
        Category::Exec
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["program"],
            "additionalProperties": false,
            "properties": {
                "program": {"type": "string", "minLength": 1, "maxLength": 4096,
                            "description": "The program, looked up on PATH when it has no slash"},
                "args": {"type": "array", "items": {"type": "string", "maxLength": 65536},
                         "maxItems": 1024, "default": []},
                "timeoutSeconds": {"type": "integer", "minimum": 1,
                                   "description": "Wall-clock limit; capped by the server"},
                "secret_files": {"type": "array", "maxItems": 16, "uniqueItems": true,
                            "items": {"type": "string", "pattern": "^secret:"},
                            "description": "Granted secrets (secret:NAME) the command reads \
                                            from the file $SECRETS_DIR/NAME, for this command only"}
            }
        })
    }

    /// The secrets the command is to get as files (`secret_files`; a key
    /// named like `secrets` would read as a credential itself), which the
    /// gateway checks against the agent's grants and resolves for the call.
    fn secret_refs(&self, args: &Value) -> Result<Vec<SecretRef>, String> {
        let Some(items) = args.get("secret_files").and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        items
            .iter()
            .map(|item| {
                let text = item
                    .as_str()
                    .ok_or("`secret_files` holds secret:NAME strings")?;
                SecretRef::parse(text).map_err(|e| format!("`{text}` in `secret_files`: {e}"))
            })
            .collect()
    }

    /// The command's own wall clock, and a moment to reap it.
    fn timeout(&self, args: &Value) -> Option<Duration> {
        Some(Duration::from_millis(self.wall_clock_ms(args)) + REAP_GRACE)
    }

    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let program = args
            .get("program")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::InvalidInput("`program` must be a string".to_owned()))?;
        let arguments: Vec<String> = args
            .get("args")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let profile = sandbox_profile(ctx.sandbox.profile());
        if matches!(self.sandbox, SandboxBackend::Unavailable { .. }) {
            // Refused (and told to the step) before a workspace is made
            // for nothing.
            let request = ExecRequest::new(program, arguments, "/", profile);
            return ctx
                .sandbox
                .run(&self.sandbox, request, &self.egress)
                .await
                .map(|_| Value::Null);
        }
        let workspace = self.workspaces.prepare(&ctx.run_id).await?;
        let mut request = ExecRequest::new(program, arguments, workspace, profile);
        request.limits = self.limits.defaults;
        request.limits.wall_clock_ms = self.wall_clock_ms(args);
        for reference in self.secret_refs(args).map_err(ToolError::InvalidInput)? {
            let name = reference.name();
            let value = ctx.secrets.get(name).ok_or_else(|| {
                ToolError::Failed(format!("the secret {name} was not resolved for this call"))
            })?;
            request
                .secret_files
                .push(SecretFile::new(name.as_str(), value.expose().as_bytes()));
        }
        let execution = ctx
            .sandbox
            .run(&self.sandbox, request, &self.egress)
            .await?;
        let (exit_code, signal) = match execution.termination {
            Termination::Exited { code } => (Some(code), None),
            Termination::Signaled { signal } => (None, Some(signal)),
        };
        let cap = self.limits.answer_bytes;
        Ok(json!({
            "exitCode": exit_code,
            "signal": signal,
            "timedOut": execution.timed_out,
            "killed": execution.killed,
            "durationMs": execution.duration_ms,
            "stdout": shown(&execution.stdout, cap),
            "stderr": shown(&execution.stderr, cap),
            "degraded": execution.degraded,
        }))
    }
}

/// The start of a stream as the model sees it: at most `cap` bytes, and
/// whether more was written.
fn shown(output: &Output, cap: usize) -> Value {
    let end = output.captured.len().min(cap);
    let cut = output.bytes > end as u64;
    json!({
        "text": String::from_utf8_lossy(&output.captured[..end]),
        "bytes": output.bytes,
        "truncated": cut,
    })
}
