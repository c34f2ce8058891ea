//! An operator asks a run to stop. The request is recorded and the engine
//! cancels the run when it applies the event; a run that already ended is
//! refused.

use agentwerke_engine::Event;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_types::{Actor, AuditKind, RunId, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, Plan, PlannedEvent};
use crate::clock::rfc3339;

/// The reason recorded when the operator gives none.
pub const DEFAULT_REASON: &str = "cancelled by an operator";

/// Stop a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelRun {
    /// The run.
    pub run_id: RunId,
    /// Why; [`DEFAULT_REASON`] when none is given.
    pub reason: Option<String>,
    /// Who asks (token subject).
    pub by: String,
}

/// What cancelling reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The run's status as stored, if the run exists.
    pub status: Option<RunStatus>,
}

/// Plans a cancel request: the run exists and has not ended; then the
/// `cancel` event and the `run.cancel_requested` record. No row changes:
/// the engine's step does the rest.
pub fn plan(snapshot: &Snapshot, command: CancelRun, ctx: &Ctx<'_>) -> Result<Plan, Error> {
    let status = snapshot.status.ok_or_else(|| Error::NotFound {
        what: "run",
        id: command.run_id.to_string(),
    })?;
    if status.is_terminal() {
        return Err(Error::RunFinished {
            id: command.run_id.to_string(),
            status: status.as_str().to_owned(),
        });
    }
    let reason = command
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_REASON.to_owned());
    // The reason reaches the run's events, state and audit chain: a
    // credential pasted into it is replaced first.
    let reason = ctx.redactor.redact_str(&reason);
    Ok(Plan {
        run: command.run_id.clone(),
        event: Some(PlannedEvent {
            event: Event::Cancel {
                reason: reason.clone(),
                at: ctx.at,
            },
            dedup_key: None,
        }),
        rows: Vec::new(),
        audit: vec![AuditDraft {
            run_id: command.run_id.to_string(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.by),
            kind: AuditKind::RunCancelRequested,
            data: json!({"reason": reason}),
        }],
        records: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_types::{ErrorCode, Timestamp};

    use super::*;

    fn cancel(reason: Option<&str>) -> CancelRun {
        CancelRun {
            run_id: "run-1".into(),
            reason: reason.map(str::to_owned),
            by: "olga".to_owned(),
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(5),
            redactor: crate::command::no_secrets(),
        }
    }

    #[test]
    fn a_running_run_gets_the_cancel_event_and_the_request_record() {
        let snapshot = Snapshot {
            status: Some(RunStatus::AwaitingApproval),
        };
        for (given, recorded) in [
            (Some("wrong input"), "wrong input"),
            (None, DEFAULT_REASON),
            (Some("  "), DEFAULT_REASON),
        ] {
            let plan = plan(&snapshot, cancel(given), &ctx()).unwrap();
            assert_eq!(
                plan.event,
                Some(PlannedEvent {
                    event: Event::Cancel {
                        reason: recorded.to_owned(),
                        at: Timestamp::from_millis(5)
                    },
                    dedup_key: None,
                })
            );
            assert!(plan.rows.is_empty());
            assert_eq!(plan.audit[0].kind, AuditKind::RunCancelRequested);
            assert_eq!(plan.audit[0].actor, Actor::user("olga"));
            assert_eq!(plan.audit[0].data["reason"], recorded);
        }
    }

    #[test]
    fn an_ended_or_missing_run_is_refused() {
        let code = |status| {
            plan(&Snapshot { status }, cancel(None), &ctx())
                .unwrap_err()
                .code()
        };
        assert_eq!(code(None), "command.not_found");
        for ended in [
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled,
            RunStatus::Rejected,
        ] {
            assert_eq!(code(Some(ended)), "run.finished", "{ended}");
        }
    }

    #[test]
    fn a_reason_is_redacted_before_it_is_kept() {
        let redactor = agentwerke_evidence::redact::Redactor::new(["known-value-3"]);
        let ctx = Ctx {
            at: Timestamp::from_millis(1),
            redactor: &redactor,
        };
        let snapshot = Snapshot {
            status: Some(RunStatus::Running),
        };
        let reason = "stop: known-value-3 and password=hunter22 leaked";
        let plan = plan(&snapshot, cancel(Some(reason)), &ctx).unwrap();
        let kept = format!("{:?} {}", plan.event, plan.audit[0].data);
        assert!(!kept.contains("known-value-3"), "{kept}");
        assert!(!kept.contains("hunter22"), "{kept}");
        assert!(kept.contains("stop: [REDACTED]"), "{kept}");
    }
}
