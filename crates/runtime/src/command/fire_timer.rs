//! A durable timer comes due. The store only says which timers are due;
//! this planner builds the engine's `timer_fired` event and the audit
//! record, and the store's compare-and-set on the timer row makes sure it
//! fires once, whichever process's timer loop gets there first.

use agentwerke_engine::{Event, TimerId};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{Row, TimerRow};
use agentwerke_types::{Actor, AuditKind, RunId, TimerStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, Plan, PlannedEvent};
use crate::clock::rfc3339;

/// Fire one of a run's timers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FireTimer {
    /// The run.
    pub run_id: RunId,
    /// The timer, unique within the run (the engine's `t<n>`).
    pub timer_id: String,
}

/// What firing reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The timer as stored, if the run has it.
    pub timer: Option<TimerRow>,
}

/// Plans a firing: the timer exists, is still scheduled and is due by
/// `ctx.at`; then the row flip, the `timer_fired` event (deduplicated by
/// `timer:<run>:<timer>`) and the `timer.fired` record.
pub fn plan(snapshot: &Snapshot, command: FireTimer, ctx: &Ctx<'_>) -> Result<Plan, Error> {
    let id = || format!("{}/{}", command.run_id, command.timer_id);
    let timer = snapshot.timer.as_ref().ok_or_else(|| Error::NotFound {
        what: "timer",
        id: id(),
    })?;
    if timer.status != TimerStatus::Scheduled || timer.due_at > ctx.at {
        return Err(Error::TimerNotDue { id: id() });
    }
    let engine_id: TimerId = command.timer_id.parse().map_err(|_| Error::Corrupt {
        what: format!(
            "timer id '{}' of run '{}'",
            command.timer_id, command.run_id
        ),
    })?;
    Ok(Plan {
        run: command.run_id.clone(),
        event: Some(PlannedEvent {
            event: Event::TimerFired {
                timer_id: engine_id,
                at: ctx.at,
            },
            dedup_key: Some(format!("timer:{}:{}", command.run_id, command.timer_id)),
        }),
        rows: vec![Row::FireTimer {
            timer_id: command.timer_id.clone(),
        }],
        audit: vec![AuditDraft {
            run_id: command.run_id.to_string(),
            at: rfc3339(ctx.at),
            actor: Actor::System,
            kind: AuditKind::TimerFired,
            data: json!({"timerId": command.timer_id, "nodeId": timer.node_id,
                         "dueAt": rfc3339(timer.due_at)}),
        }],
        records: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_types::{ErrorCode, Timestamp};

    use super::*;

    fn timer(status: TimerStatus, due: i64) -> Snapshot {
        Snapshot {
            timer: Some(TimerRow {
                run_id: "run-1".into(),
                timer_id: "t3".to_owned(),
                node_id: "Wait".to_owned(),
                due_at: Timestamp::from_millis(due),
                status,
                fired_at: None,
            }),
        }
    }

    fn fire() -> FireTimer {
        FireTimer {
            run_id: "run-1".into(),
            timer_id: "t3".to_owned(),
        }
    }

    fn at(ms: i64) -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(ms),
            redactor: crate::command::no_secrets(),
        }
    }

    #[test]
    fn a_due_timer_fires_with_its_event_row_and_record() {
        let plan = plan(&timer(TimerStatus::Scheduled, 1_000), fire(), &at(1_500)).unwrap();
        let event = plan.event.expect("an event");
        assert_eq!(
            event.event,
            Event::TimerFired {
                timer_id: TimerId(3),
                at: Timestamp::from_millis(1_500)
            }
        );
        assert_eq!(event.dedup_key.as_deref(), Some("timer:run-1:t3"));
        assert_eq!(
            plan.rows,
            [Row::FireTimer {
                timer_id: "t3".to_owned()
            }]
        );
        assert_eq!(plan.audit.len(), 1);
        assert_eq!(plan.audit[0].kind, AuditKind::TimerFired);
        assert_eq!(plan.audit[0].actor, Actor::System);
        assert_eq!(plan.audit[0].data["nodeId"], "Wait");
    }

    #[test]
    fn a_timer_not_due_fired_cancelled_or_unknown_is_refused() {
        let early = plan(&timer(TimerStatus::Scheduled, 1_000), fire(), &at(999));
        assert_eq!(early.unwrap_err().code(), "timer.not_due");
        for status in [TimerStatus::Fired, TimerStatus::Cancelled] {
            let refused = plan(&timer(status, 1_000), fire(), &at(2_000));
            assert_eq!(refused.unwrap_err().code(), "timer.not_due");
        }
        let unknown = plan(&Snapshot::default(), fire(), &at(2_000));
        assert_eq!(unknown.unwrap_err().code(), "command.not_found");
    }
}
