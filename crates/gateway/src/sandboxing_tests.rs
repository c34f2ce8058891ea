use super::*;

#[test]
fn mode_names_are_pinned_and_every_mode_runs_code_sandboxed() {
    // `local` never runs code unsandboxed; `agent_sandboxed` keeps its own
    // name, since its commands share the step's one sandbox.
    let names: Vec<String> = ExecutionMode::ALL
        .iter()
        .map(|m| {
            serde_json::to_value(m)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["local", "tool_sandboxed", "agent_sandboxed"]);
    let effective: Vec<ExecutionMode> = ExecutionMode::ALL
        .into_iter()
        .map(|mode| {
            assert_eq!(mode.as_str(), serde_json::to_value(mode).unwrap());
            StepSandbox::new(SandboxProfile::Offline, mode).effective_mode()
        })
        .collect();
    assert_eq!(
        effective,
        [
            ExecutionMode::ToolSandboxed,
            ExecutionMode::ToolSandboxed,
            ExecutionMode::AgentSandboxed
        ]
    );
}

#[test]
fn profiles_keep_their_wire_names_across_the_crates() {
    for profile in SandboxProfile::ALL {
        assert_eq!(profile.as_str(), sandbox_profile(profile).as_str());
    }
}

#[test]
fn words_are_quoted_only_when_needed() {
    assert_eq!(quoted("ls"), "ls");
    assert_eq!(quoted("echo hi; ls"), "'echo hi; ls'");
    assert_eq!(quoted("it's"), r"'it'\''s'");
    assert_eq!(quoted(""), "''");
}

/// A sandbox whose command takes `delay` and exits 0, writing `said`
/// to stdout.
struct Slow(std::time::Duration, &'static str);

impl Sandbox for Slow {
    fn run(&self, request: &ExecRequest) -> Result<Execution, agentwerke_sandbox::SandboxError> {
        std::thread::sleep(self.0);
        let empty = Output {
            bytes: 0,
            sha256: agentwerke_evidence::canonical::sha256_hex(b""),
            excerpt: String::new(),
            truncated: false,
            captured: Vec::new(),
        };
        let said = Output {
            bytes: self.1.len() as u64,
            sha256: agentwerke_evidence::canonical::sha256_hex(self.1.as_bytes()),
            excerpt: self.1.to_owned(),
            truncated: false,
            captured: self.1.as_bytes().to_vec(),
        };
        Ok(Execution {
            program: request.program.clone(),
            args: request.args.clone(),
            profile: request.profile,
            isolation: agentwerke_sandbox::Isolation::Namespaces,
            degraded: false,
            limits: request.limits,
            termination: Termination::Exited { code: 0 },
            duration_ms: 1,
            timed_out: false,
            killed: false,
            bytes_out: said.bytes,
            stdout: said,
            stderr: empty,
            session: None,
            egress: Vec::new(),
            secret_files: Vec::new(),
        })
    }

    fn isolation(&self) -> agentwerke_sandbox::Isolation {
        agentwerke_sandbox::Isolation::Namespaces
    }

    fn open(
        &self,
        _spec: &agentwerke_sandbox::SessionSpec,
    ) -> Result<Box<dyn agentwerke_sandbox::SandboxSession>, agentwerke_sandbox::SandboxError> {
        Err(agentwerke_sandbox::SandboxError::InvalidRequest(
            "this test sandbox runs one-off commands only".to_owned(),
        ))
    }
}

fn request() -> ExecRequest {
    ExecRequest::new(
        "true",
        Vec::<String>::new(),
        "/",
        agentwerke_sandbox::SandboxProfile::Offline,
    )
}

#[tokio::test]
async fn an_execution_outliving_its_call_is_kept_and_one_outliving_its_step_is_reported() {
    let backend = SandboxBackend::Ready(Arc::new(Slow(std::time::Duration::from_millis(200), "")));
    let step = StepSandbox::new(SandboxProfile::RepoWrite, ExecutionMode::ToolSandboxed);
    // The call stops waiting; the execution goes on and is kept.
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_millis(10),
        step.run(&backend, request(), &ExecEgress::default()),
    )
    .await;
    assert!(gave_up.is_err());
    assert!(step.take_finished().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let report = step.close().await;
    assert_eq!((report.started, report.unfinished), (1, 0));
    assert_eq!(report.unclaimed.len(), 1);
    assert_eq!(report.unclaimed[0].mode, ExecutionMode::ToolSandboxed);

    // Still running when the step ends: no record, and said so.
    let step = StepSandbox::new(SandboxProfile::RepoWrite, ExecutionMode::ToolSandboxed);
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(10),
        step.run(&backend, request(), &ExecEgress::default()),
    )
    .await;
    let report = step.close().await;
    assert_eq!((report.started, report.unfinished), (1, 1));
    assert!(report.unclaimed.is_empty());
    // A closed step's sandbox runs nothing more.
    let after = step
        .run(&backend, request(), &ExecEgress::default())
        .await
        .unwrap_err();
    assert_eq!(after.code(), "gateway.tool.failed");
}

/// Through the gateway: the call's answer, its execution record and
/// the command line are redacted, and the record comes back with the
/// call.
#[tokio::test]
async fn a_call_hands_back_its_execution_redacted() {
    use crate::{
        AgentProfile, Builtins, CallRequest, ExecTools, Gateway, GatewayConfig, Halts, Outcome,
        PermissionLevel, PolicySchema, PolicySet, TaskSurface, ToolRegistry, tools::Workspaces,
    };
    let secret = "topsecret-value-42";
    let dir = tempfile::tempdir().unwrap();
    let registry = ToolRegistry::builtin(Builtins {
        exec: ExecTools {
            sandbox: SandboxBackend::Ready(Arc::new(Slow(
                std::time::Duration::ZERO,
                "token topsecret-value-42\n",
            ))),
            workspaces: Arc::new(Workspaces::new(dir.path(), None)),
            limits: ExecLimits::default(),
            egress: ExecEgress::default(),
        },
        ..Builtins::in_memory()
    })
    .unwrap();
    let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
    let config = GatewayConfig {
        agents: vec![AgentProfile::new("builder", [SandboxProfile::RepoWrite])],
        redactor: Redactor::new([secret]),
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(registry, PolicySet::default_set(schema).unwrap(), config).unwrap();
    let call = CallRequest {
        tool: "exec.run".into(),
        arguments: serde_json::json!({"program": "sh", "args": ["-c", "echo $TOKEN"]}),
        agent: "builder".into(),
        workflow_id: "wf".into(),
        run_id: "run-1".into(),
        node_id: "Build".into(),
        attempt: 1,
        task: TaskSurface {
            purpose_type: "analysis".into(),
            permission_level: PermissionLevel::Full,
            sandbox_profile: SandboxProfile::RepoWrite,
            ..TaskSurface::default()
        },
    };
    let execution = gateway.execute(&call, &Halts::none()).await;
    let Outcome::Executed { output } = &execution.outcome else {
        panic!("{:?}", execution.outcome);
    };
    assert_eq!(output["exitCode"], 0);
    assert_eq!(execution.sandbox.len(), 1);
    let kept = serde_json::to_string(&execution).unwrap();
    assert!(!kept.contains(secret), "{kept}");
    let run = &execution.sandbox[0];
    assert!(run.execution.stdout.excerpt.contains("[REDACTED"));
    assert!(run.execution.stdout.captured.is_empty());
    let record = run.to_evidence("w1", "2026-01-01T00:00:00.000Z");
    assert_eq!(record.command, "sh -c 'echo $TOKEN'");
    assert_eq!(record.mode.as_deref(), Some("tool_sandboxed"));
    assert_eq!(record.profile, "repo-write");
    assert!(dir.path().join("run-1").is_dir());
}

#[tokio::test]
async fn without_a_sandbox_nothing_runs_and_the_refusal_is_reported() {
    let step = StepSandbox::new(SandboxProfile::Offline, ExecutionMode::ToolSandboxed);
    let request = ExecRequest::new(
        "true",
        Vec::<String>::new(),
        "/",
        agentwerke_sandbox::SandboxProfile::Offline,
    );
    let error = step
        .run(
            &SandboxBackend::not_configured(),
            request,
            &ExecEgress::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "sandbox.isolation_unavailable");
    let report = step.close().await;
    assert_eq!(report.refused, ["sandbox.isolation_unavailable"]);
    assert_eq!((report.started, report.unfinished), (0, 0));
}
