//! Shared fixtures: counting stub tools, a gateway over the built-ins plus
//! one stub per remaining category, and builders for tasks and calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use agentwerke_gateway::tools::Builtins;
use agentwerke_gateway::{
    AgentProfile, CallRequest, Category, Gateway, GatewayConfig, PermissionLevel, PolicySchema,
    PolicySet, SandboxProfile, TaskSurface, Tool, ToolContext, ToolError, ToolEscalation,
    ToolRegistry,
};

/// A tool that counts its executions and echoes its arguments.
pub(crate) struct Stub {
    pub(crate) name: String,
    pub(crate) category: Category,
    pub(crate) calls: Arc<AtomicUsize>,
    pub(crate) behaviour: Behaviour,
}

/// What a [`Stub`] does when executed.
#[derive(Clone)]
pub(crate) enum Behaviour {
    Echo,
    Fail,
    Sleep(Duration),
    Return(Value),
}

impl Stub {
    pub(crate) fn new(name: &str, category: Category, calls: &Arc<AtomicUsize>) -> Arc<Self> {
        Self::with(name, category, calls, Behaviour::Echo)
    }

    pub(crate) fn with(
        name: &str,
        category: Category,
        calls: &Arc<AtomicUsize>,
        behaviour: Behaviour,
    ) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            category,
            calls: Arc::clone(calls),
            behaviour,
        })
    }
}

#[async_trait]
impl Tool for Stub {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        "test stub"
    }

    fn category(&self) -> Category {
        self.category
    }

    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }

    async fn execute(&self, args: &Value, _ctx: &ToolContext) -> Result<Value, ToolError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match &self.behaviour {
            Behaviour::Echo => Ok(json!({"ok": true, "args": args})),
            Behaviour::Fail => Err(ToolError::Failed("stub failure".to_owned())),
            Behaviour::Sleep(d) => {
                tokio::time::sleep(*d).await;
                Ok(json!({"slept": true}))
            }
            Behaviour::Return(v) => Ok(v.clone()),
        }
    }
}

/// The agents every fixture gateway knows.
pub(crate) fn agents() -> Vec<AgentProfile> {
    vec![
        AgentProfile::new("coder", SandboxProfile::ALL),
        AgentProfile::new(
            "reader",
            [SandboxProfile::Offline, SandboxProfile::RepoRead],
        ),
    ]
}

/// Built-ins whose `http.request` may reach `127.0.0.1`, where the fake
/// servers listen: the operator's explicit allowance, as in production.
pub(crate) fn builtins_reaching_loopback() -> ToolRegistry {
    ToolRegistry::builtin(Builtins {
        http: agentwerke_gateway::tools::HttpOptions {
            allow_private_hosts: vec!["127.0.0.1".to_owned()],
            ..agentwerke_gateway::tools::HttpOptions::default()
        },
        ..Builtins::in_memory()
    })
    .unwrap()
}

/// Built-ins plus `shell.exec` (exec), `github.create_pr` (integration)
/// and `vault.read` (secret), all stubs sharing `calls`.
pub(crate) fn registry(calls: &Arc<AtomicUsize>) -> ToolRegistry {
    ToolRegistry::builtin(Builtins::in_memory())
        .unwrap()
        .with(Stub::new("shell.exec", Category::Exec, calls))
        .unwrap()
        .with(Stub::new("github.create_pr", Category::Integration, calls))
        .unwrap()
        .with(Stub::new("vault.read", Category::Secret, calls))
        .unwrap()
}

/// A gateway over `registry` with `policies` (None: the default set).
pub(crate) fn gateway_with(registry: ToolRegistry, policies: Option<&str>) -> Gateway {
    let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
    let set = match policies {
        None => PolicySet::default_set(schema).unwrap(),
        Some(text) => PolicySet::load("test-1", text, schema),
    };
    let config = GatewayConfig {
        agents: agents(),
        redactor: agentwerke_gateway::Redactor::new(["hunter2-the-secret"]),
        ..GatewayConfig::default()
    };
    Gateway::new(registry, set, config).unwrap()
}

/// A task granting `level` under `profile`, purpose `drafting`.
pub(crate) fn task(level: PermissionLevel, profile: SandboxProfile) -> TaskSurface {
    TaskSurface {
        purpose_type: "drafting".to_owned(),
        permission_level: level,
        sandbox_profile: profile,
        ..TaskSurface::default()
    }
}

/// Fluent tweaks of a [`TaskSurface`].
pub(crate) trait TaskExt: Sized {
    fn allow(self, tools: &[&str]) -> Self;
    fn deny(self, tools: &[&str]) -> Self;
    fn escalate(self) -> Self;
    fn purpose(self, purpose: &str) -> Self;
    fn tag(self, tag: &str) -> Self;
}

impl TaskExt for TaskSurface {
    fn allow(mut self, tools: &[&str]) -> Self {
        self.allowed_tools = tools.iter().map(|t| (*t).to_owned()).collect();
        self
    }
    fn deny(mut self, tools: &[&str]) -> Self {
        self.denied_tools = tools.iter().map(|t| (*t).to_owned()).collect();
        self
    }
    fn escalate(mut self) -> Self {
        self.tool_escalation = ToolEscalation::Escalate;
        self
    }
    fn purpose(mut self, purpose: &str) -> Self {
        self.purpose_type = purpose.to_owned();
        self
    }
    fn tag(mut self, tag: &str) -> Self {
        self.policy_tag = Some(tag.to_owned());
        self
    }
}

/// A first-attempt call by `coder` in workflow `wf`.
pub(crate) fn call(tool: &str, args: Value, task: TaskSurface) -> CallRequest {
    CallRequest {
        tool: tool.to_owned(),
        arguments: args,
        agent: "coder".to_owned(),
        workflow_id: "wf".to_owned(),
        run_id: "run-1".to_owned(),
        node_id: "Task_1".to_owned(),
        attempt: 1,
        task,
    }
}
