//! An operator retries the failed step of a failed run.

use agentwerke_engine::{Event, RunState, StepStatus};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_types::{Actor, AuditKind, RunId, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, Plan, PlannedEvent};
use crate::clock::rfc3339;

/// Run a failed step again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryStep {
    /// The run.
    pub run_id: RunId,
    /// The failed step's work id; the run's last failed step when `None`.
    pub work_id: Option<String>,
    /// Who asks (token subject).
    pub by: String,
}

/// What retrying reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The run's engine state as stored, if the run exists.
    pub state: Option<RunState>,
}

/// Plans a retry: the run exists and failed, and has the failed step asked
/// for (or any); then the `retry_step` event and the
/// `run.retry_requested` record.
pub fn plan(snapshot: &Snapshot, command: RetryStep, ctx: &Ctx<'_>) -> Result<Plan, Error> {
    let state = snapshot.state.as_ref().ok_or_else(|| Error::NotFound {
        what: "run",
        id: command.run_id.to_string(),
    })?;
    let status = state.status();
    if status != RunStatus::Failed {
        return Err(Error::RunNotFailed {
            id: command.run_id.to_string(),
            status: status.as_str().to_owned(),
        });
    }
    let wanted = command.work_id.as_deref();
    let work_id = state
        .steps()
        .iter()
        .rev()
        .find(|s| {
            s.status == StepStatus::Failed && wanted.is_none_or(|w| s.work_id.to_string() == w)
        })
        .map(|s| s.work_id)
        .ok_or(Error::NoFailedStep)?;
    Ok(Plan {
        run: command.run_id.clone(),
        event: Some(PlannedEvent {
            event: Event::RetryStep {
                work_id,
                at: ctx.at,
            },
            dedup_key: None,
        }),
        rows: Vec::new(),
        audit: vec![AuditDraft {
            run_id: command.run_id.to_string(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.by),
            kind: AuditKind::RunRetryRequested,
            data: json!({"workId": work_id.to_string()}),
        }],
        records: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_engine::{TaskError, WorkId, apply_mut};
    use agentwerke_types::{ErrorCode, Timestamp};
    use serde_json::json;

    use super::*;

    const HELLO_SDLC: &str = include_str!("../../../../examples/hello-sdlc.bpmn");

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    /// The sample run after its agent step failed for good.
    fn failed() -> RunState {
        let definition = crate::definitions::compile(HELLO_SDLC.as_bytes()).unwrap();
        let mut state = RunState::new("run-1".to_owned());
        let start = Event::Start {
            input: json!({"title": "t"}),
            at: at(0),
        };
        apply_mut(&definition, &mut state, start).unwrap();
        let mut n = 0;
        while state.status() != RunStatus::Failed {
            let work_id = state
                .steps()
                .iter()
                .rev()
                .find(|s| s.status == StepStatus::Active || s.status == StepStatus::WaitingRetry)
                .map(|s| s.work_id)
                .expect("an active step");
            n += 1;
            let failed = Event::TaskFailed {
                work_id,
                error: TaskError {
                    code: "model.unavailable".to_owned(),
                    message: "down".to_owned(),
                },
                at: at(n),
            };
            apply_mut(&definition, &mut state, failed).unwrap();
            assert!(n < 20, "the run never failed");
        }
        state
    }

    fn retry(work_id: Option<&str>) -> RetryStep {
        RetryStep {
            run_id: "run-1".into(),
            work_id: work_id.map(str::to_owned),
            by: "olga".to_owned(),
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: at(100),
            redactor: crate::command::no_secrets(),
        }
    }

    #[test]
    fn a_failed_run_retries_its_last_failed_step() {
        let state = failed();
        let last: WorkId = state
            .steps()
            .iter()
            .rev()
            .find(|s| s.status == StepStatus::Failed)
            .map(|s| s.work_id)
            .unwrap();
        let snapshot = Snapshot { state: Some(state) };
        for asked in [None, Some(last.to_string())] {
            let plan = plan(&snapshot, retry(asked.as_deref()), &ctx()).unwrap();
            assert_eq!(
                plan.event,
                Some(PlannedEvent {
                    event: Event::RetryStep {
                        work_id: last,
                        at: at(100)
                    },
                    dedup_key: None,
                })
            );
            assert_eq!(plan.audit[0].kind, AuditKind::RunRetryRequested);
            assert_eq!(plan.audit[0].data["workId"], last.to_string());
        }
    }

    #[test]
    fn only_a_failed_run_with_that_failed_step_is_retried() {
        let code = |state: Option<RunState>, work_id: Option<&str>| {
            plan(&Snapshot { state }, retry(work_id), &ctx())
                .unwrap_err()
                .code()
        };
        assert_eq!(code(None, None), "command.not_found");
        assert_eq!(
            code(Some(RunState::new("run-1".to_owned())), None),
            "run.not_failed"
        );
        assert_eq!(code(Some(failed()), Some("w99")), "run.no_failed_step");
    }
}
