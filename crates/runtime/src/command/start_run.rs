//! A person starts a run of a published workflow version.
//!
//! The start event is the one event nobody can race: until the run exists,
//! no applier can hold it. So the planner takes the run's first step itself,
//! from the compiled definition in its snapshot, and the run is created in
//! the state that step left, with the step's effects and audit records, in
//! the one transaction that records the request. Starting a run costs no
//! trip through its inbox; this is the hot path of the throughput bench.

use std::sync::Arc;

use agentwerke_engine::{Definition, Event, RunState};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{JsonText, NewRun, Row, WorkflowVersion};
use agentwerke_types::{Actor, AuditKind, RunId, WorkflowStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Ctx, Error, Plan};
use crate::applier::{completed_at, step};
use crate::clock::rfc3339;
use crate::effects::RunInfo;

/// Start a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartRun {
    /// The new run's id (UUIDv7 text), minted by the edge; a run with this
    /// id must not exist yet.
    pub run_id: RunId,
    /// The workflow.
    pub workflow_id: String,
    /// A published version; `None` for the latest published one.
    pub version: Option<i64>,
    /// The run's inputs, visible to the process as `input.*`: an object.
    pub inputs: Value,
    /// Who starts it (token subject).
    pub requested_by: String,
}

/// What starting reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The version the command names (or the latest published one), as
    /// stored, if there is one.
    pub version: Option<WorkflowVersion>,
    /// Its compiled definition, when the version is published.
    pub definition: Option<Arc<Definition>>,
}

/// A planned start: the plan, and the run's state after its first step,
/// which the door remembers for the run's next step.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The creation row with the first step's effects, and the audit records.
    pub plan: Plan,
    /// The engine's state after the first step.
    pub state: RunState,
}

/// Plans a start: the inputs are an object and the version is published;
/// then the `start` event applied to a new run, the run's creation row
/// ([`Row::CreateRun`], carrying the step's state, status and effects), and
/// the audit records: `run.requested` first, then the step's.
pub fn plan(snapshot: &Snapshot, mut command: StartRun, ctx: &Ctx<'_>) -> Result<Planned, Error> {
    if !command.inputs.is_object() {
        return Err(Error::InvalidInputs);
    }
    // The inputs become the run's row, its first event and its state, and
    // reach every prompt and output that uses them: a credential in them is
    // replaced before any of these is made.
    ctx.redactor.redact_value(&mut command.inputs);
    let version = snapshot
        .version
        .as_ref()
        .filter(|found| found.status == WorkflowStatus::Published)
        .ok_or_else(|| Error::NotPublished {
            workflow_id: command.workflow_id.clone(),
            version: command.version,
        })?;
    let definition = snapshot.definition.as_ref().ok_or_else(|| Error::Corrupt {
        what: format!(
            "workflow '{}' version {} has no compiled definition",
            version.workflow_id, version.version
        ),
    })?;
    let run_id = command.run_id.as_str();
    let mut audit = vec![AuditDraft {
        run_id: run_id.to_owned(),
        at: rfc3339(ctx.at),
        actor: Actor::user(&command.requested_by),
        kind: AuditKind::RunRequested,
        data: json!({"workflowId": version.workflow_id, "version": version.version,
                     "bpmnSha256": version.bpmn_sha256}),
    }];
    let mut state = RunState::new(run_id.to_owned());
    let info = RunInfo {
        run_id,
        workflow_id: &version.workflow_id,
        requested_by: &command.requested_by,
        // A run that is only being created has made no call yet.
        risk_peak: None,
    };
    let mut ops = Vec::new();
    let start = Event::Start {
        input: command.inputs.clone(),
        at: ctx.at,
    };
    step(
        definition, &mut state, &info, start, "start", &mut ops, &mut audit,
    );
    let run = NewRun {
        run_id: command.run_id.clone(),
        workflow_id: version.workflow_id.clone(),
        version: version.version,
        bpmn_sha256: version.bpmn_sha256.clone(),
        requested_by: command.requested_by,
        inputs: JsonText::of(&command.inputs).map_err(Error::Encode)?,
        state: JsonText::of(&state).map_err(Error::Encode)?,
        status: state.status(),
        completed_at: completed_at(&state, ctx.at),
        ops,
    };
    Ok(Planned {
        plan: Plan {
            run: command.run_id,
            event: None,
            rows: vec![Row::CreateRun(run)],
            audit,
            records: Vec::new(),
        },
        state,
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_store::Op;
    use agentwerke_types::{ErrorCode, RunStatus, Timestamp};

    use agentwerke_evidence::redact::Redactor;

    use super::*;
    use crate::definitions::compile;

    const HELLO_SDLC: &str = include_str!("../../../../examples/hello-sdlc.bpmn");

    fn version(status: WorkflowStatus) -> WorkflowVersion {
        WorkflowVersion {
            workflow_id: "hello-sdlc".to_owned(),
            version: 2,
            name: "Hello SDLC".to_owned(),
            status,
            bpmn_xml: HELLO_SDLC.to_owned(),
            bpmn_sha256: "sha".to_owned(),
            diagnostics: json!([]),
            created_by: "admin".to_owned(),
            created_at: Timestamp::from_millis(0),
            published_by: None,
            published_at: None,
        }
    }

    fn snapshot(status: WorkflowStatus) -> Snapshot {
        Snapshot {
            version: Some(version(status)),
            definition: Some(Arc::new(compile(HELLO_SDLC.as_bytes()).unwrap())),
        }
    }

    fn start(inputs: Value) -> StartRun {
        StartRun {
            run_id: "run-1".into(),
            workflow_id: "hello-sdlc".to_owned(),
            version: None,
            inputs,
            requested_by: "alice".to_owned(),
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(7),
            redactor: crate::command::no_secrets(),
        }
    }

    #[test]
    fn a_run_is_created_as_its_first_step_left_it() {
        let planned = plan(
            &snapshot(WorkflowStatus::Published),
            start(json!({"title": "t"})),
            &ctx(),
        )
        .unwrap();
        let plan = planned.plan;
        assert_eq!(plan.run, "run-1");
        assert_eq!(plan.event, None, "the start event is applied, not queued");
        let [Row::CreateRun(run)] = plan.rows.as_slice() else {
            panic!("one creation row: {:?}", plan.rows);
        };
        assert_eq!(run.run_id, "run-1");
        assert_eq!((run.workflow_id.as_str(), run.version), ("hello-sdlc", 2));
        assert_eq!(run.bpmn_sha256, "sha");
        assert_eq!(run.requested_by, "alice");
        assert_eq!(run.inputs.as_str(), r#"{"title":"t"}"#);
        // The first step reached the agent task: its work is an effect of
        // the creation, and the run is running.
        assert_eq!(run.status, RunStatus::Running);
        assert_eq!(run.completed_at, None);
        assert!(
            run.ops
                .iter()
                .any(|op| matches!(op, Op::InsertWork { kind, .. } if kind == "agent_task")),
            "{:?}",
            run.ops
        );
        assert_eq!(run.state, JsonText::of(&planned.state).unwrap());
        assert_eq!(planned.state.status(), RunStatus::Running);
        let kinds: Vec<_> = plan.audit.iter().map(|a| a.kind).collect();
        assert_eq!(kinds[0], AuditKind::RunRequested);
        assert!(kinds.contains(&AuditKind::EventApplied), "{kinds:?}");
        assert_eq!(plan.audit[0].actor, Actor::user("alice"));
        assert_eq!(plan.audit[0].data["version"], 2);
        assert_eq!(plan.audit[0].data["bpmnSha256"], "sha");
        assert!(plan.audit.iter().all(|a| a.run_id == "run-1"));
    }

    #[test]
    fn inputs_that_are_not_an_object_and_unpublished_versions_are_refused() {
        let published = snapshot(WorkflowStatus::Published);
        for inputs in [json!([1]), json!("x"), json!(null)] {
            let refused = plan(&published, start(inputs), &ctx()).unwrap_err();
            assert_eq!(refused.code(), "run.invalid_inputs");
        }
        let draft = plan(&snapshot(WorkflowStatus::Draft), start(json!({})), &ctx());
        assert_eq!(draft.unwrap_err().code(), "workflow.not_published");
        let mut numbered = start(json!({}));
        numbered.version = Some(9);
        let missing = plan(&Snapshot::default(), numbered, &ctx()).unwrap_err();
        assert_eq!(missing.code(), "workflow.not_published");
        assert_eq!(
            missing.to_string(),
            "workflow 'hello-sdlc' has no published version 9"
        );
    }

    /// The inputs are kept redacted: a known value, a credential shape and
    /// a value under a credential key never reach the row or the state.
    #[test]
    fn inputs_are_redacted_before_the_run_keeps_them() {
        let redactor = Redactor::new(["set-later-value"]);
        let ctx = Ctx {
            at: Timestamp::from_millis(7),
            redactor: &redactor,
        };
        let inputs = json!({"title": "use set-later-value and sk-abcdefghijklmnopqrstuv",
                            "password": "hunter22"});
        let planned = plan(&snapshot(WorkflowStatus::Published), start(inputs), &ctx).unwrap();
        let [Row::CreateRun(run)] = planned.plan.rows.as_slice() else {
            panic!("one creation row");
        };
        let state = JsonText::of(&planned.state).unwrap();
        for kept in [run.inputs.as_str(), state.as_str()] {
            for planted in ["set-later-value", "sk-abcdefghijklmnopqrstuv", "hunter22"] {
                assert!(!kept.contains(planted), "{planted} in {kept}");
            }
            assert!(kept.contains("[REDACTED]"), "{kept}");
        }
    }
}
