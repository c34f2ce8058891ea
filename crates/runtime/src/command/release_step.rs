//! A held step is claimed again: the run hears it was released.
//!
//! The kill switch holds a step with [`Event::TaskHeld`] (see
//! [`super::finish_step`]), which stops its timeout: a halt is not the
//! agent's time. When the halts are lifted and an executor claims the step
//! again (the claim says it was held, `WorkItem::held`), [`release`]
//! commits [`Event::TaskReleased`] before the step goes on, so the engine
//! arms a whole timeout from now. The event is keyed by the claim: a
//! repeat of the same claim is dropped, and a release of a later claim (the
//! executor died after releasing) finds the attempt no longer held and
//! changes nothing, so a crash leaves at worst the timeout armed at the
//! first release.

use std::sync::Arc;

use agentwerke_engine::Event;
use agentwerke_store::{Delivered, Store};
use agentwerke_types::{RunId, WorkId};

use super::{Ctx, Error, Plan, PlannedEvent};
use crate::stepper::Stepper;

/// A claim of a step the kill switch held.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseStep {
    /// The run.
    pub run_id: RunId,
    /// The step's work.
    pub work_id: WorkId,
    /// The same work as the engine names it in its events.
    pub step: agentwerke_engine::WorkId,
    /// Which claim of the work releases it: the event's idempotency key.
    pub claim: i64,
}

/// Plans the release: the event alone, keyed by the claim. Nothing else
/// changes: the store freed the work when the halts were lifted, and the
/// work stays marked held until the step ends.
pub fn plan(release: ReleaseStep, ctx: &Ctx<'_>) -> Plan {
    let ReleaseStep {
        run_id,
        work_id,
        step,
        claim,
    } = release;
    Plan {
        event: Some(PlannedEvent {
            event: Event::TaskReleased {
                work_id: step,
                at: ctx.at,
            },
            dedup_key: Some(format!("released:{run_id}:{work_id}:{claim}")),
        }),
        run: run_id,
        rows: Vec::new(),
        audit: Vec::new(),
        records: Vec::new(),
    }
}

/// Plans `release` and commits it as of `ctx.at`, with the engine step it
/// causes when the run's state is known (see [`crate::stepper`]).
pub(crate) async fn release(
    store: &Arc<dyn Store>,
    stepper: &Stepper,
    release: ReleaseStep,
    ctx: &Ctx<'_>,
) -> Result<Delivered, crate::Error> {
    let run_id = release.run_id.clone();
    let plan = plan(release, ctx);
    let run = stepper
        .known(run_id.as_str(), false)
        .await
        .map(|known| (run_id, known));
    match super::commit(store, stepper, plan, run, ctx).await {
        Ok(submitted) => Ok(submitted.committed.delivered),
        Err(Error::Store(error)) => Err(crate::Error::Store(error)),
        Err(error) => Err(crate::Error::Command(error)),
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_types::Timestamp;

    use super::*;

    const AT: i64 = 1_700_000_000_000;

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(AT),
            secrets: &[],
        }
    }

    fn release(claim: i64) -> ReleaseStep {
        ReleaseStep {
            run_id: "run-1".into(),
            work_id: "w3".into(),
            step: "w3".parse().unwrap(),
            claim,
        }
    }

    /// The release is the event alone, keyed by the claim that makes it.
    #[test]
    fn a_release_is_the_run_hearing_it_keyed_by_the_claim() {
        let plan = plan(release(4), &ctx());
        assert_eq!(plan.run, RunId::from("run-1"));
        assert!(plan.rows.is_empty());
        assert!(plan.audit.is_empty());
        assert!(plan.records.is_empty());
        let event = plan.event.expect("the release event");
        assert_eq!(event.dedup_key.as_deref(), Some("released:run-1:w3:4"));
        assert_eq!(
            event.event,
            Event::TaskReleased {
                work_id: "w3".parse().unwrap(),
                at: Timestamp::from_millis(AT),
            }
        );
    }

    /// Another claim releases under another key: the engine, not the
    /// inbox, makes it a no-op when the step is no longer held.
    #[test]
    fn each_claim_releases_under_its_own_key() {
        let first = plan(release(2), &ctx()).event.unwrap().dedup_key;
        let second = plan(release(3), &ctx()).event.unwrap().dedup_key;
        assert_ne!(first, second);
    }
}
