//! A held step is claimed again: the run hears it was released.
//!
//! The kill switch holds a step with [`Event::TaskHeld`] (see
//! [`super::finish_step`]), which stops its timeout: a halt is not the
//! agent's time. When the halts are lifted and an executor claims the step
//! again (the claim says it was held, `WorkItem::held`), [`release`]
//! commits [`Event::TaskReleased`] before the step goes on, so the engine
//! arms a whole timeout from now. The event is keyed by the claim, so a
//! repeat that waits in the inbox behind the first is dropped; any other
//! repeat, of this claim or of a later one (the executor died after
//! releasing), finds the attempt no longer held and changes nothing. A crash
//! leaves at worst the timeout armed at the first release.

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
    use agentwerke_engine::RunState;
    use agentwerke_store::SqliteStore;
    use agentwerke_types::{RunStatus, Timestamp};
    use serde_json::json;

    use super::*;
    use crate::DefinitionCache;
    use crate::command::finish_step::{self, FinishStep, Outcome};
    use crate::command::global::tests::published;
    use crate::command::{Command, StartRun, submit};

    const AT: i64 = 1_700_000_000_000;

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(AT),
            redactor: crate::command::no_secrets(),
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

    const HELLO_SDLC: &str = include_str!("../../../../examples/hello-sdlc.bpmn");

    fn at(ms: i64) -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(ms),
            redactor: crate::command::no_secrets(),
        }
    }

    /// When the run's pending timers are due, as its stored state says.
    async fn timers(store: &Arc<dyn Store>) -> Vec<i64> {
        let run = store.get_run("run-1").await.unwrap().expect("the run");
        let state: RunState = serde_json::from_value(run.state).unwrap();
        state.pending_timers().map(|(_, due)| due.0).collect()
    }

    /// Through the store: the hold stops the step's timeout in its commit,
    /// the claim after it says the step was held, and its release arms a
    /// whole timeout from the release; a repeat of the release, or a later
    /// claim's, leaves that timeout as it is.
    #[tokio::test]
    async fn a_held_step_gets_a_whole_timeout_from_its_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let xml = HELLO_SDLC.replace(
            r#"requiresEvidence="true""#,
            r#"requiresEvidence="true" timeoutSeconds="60""#,
        );
        let version = published(
            store.as_ref(),
            "hello-sdlc",
            &xml,
            Timestamp::from_millis(0),
        )
        .await;
        let stepper = Stepper::new(store.clone(), Arc::new(DefinitionCache::new(store.clone())));
        let start = Command::StartRun(StartRun {
            run_id: "run-1".into(),
            workflow_id: version.workflow_id.clone(),
            version: Some(version.version),
            inputs: json!({"title": "t"}),
            requested_by: "alice".to_owned(),
        });
        submit(&store, &stepper, start, &at(1)).await.unwrap();
        assert_eq!(timers(&store).await, [60_001]);

        let work = store
            .claim_work("exec", Timestamp::from_millis(2), 10_000, 10)
            .await
            .unwrap();
        assert!(!work[0].held);
        let held = FinishStep {
            run_id: "run-1".into(),
            work_id: work[0].work_id.clone(),
            step: work[0].work_id.parse().unwrap(),
            owner: "exec".to_owned(),
            claim: work[0].attempt_count,
            attempt: 1,
            node_id: "Analyze".to_owned(),
            agent: "analyst".to_owned(),
            workflow_id: "hello-sdlc".to_owned(),
            outcome: Outcome::Held {
                halt: None,
                resume: None,
            },
            records: Vec::new(),
            audit: Vec::new(),
            risk: None,
            journal: false,
        };
        let finished = finish_step::finish(&store, &stepper, held, &at(3))
            .await
            .unwrap();
        assert_eq!(finished.delivered, Delivered::Stepped);
        assert!(
            timers(&store).await.is_empty(),
            "the hold stopped the timeout"
        );

        // Long after the timeout would have run out.
        let work = store
            .claim_work("exec", Timestamp::from_millis(500_000), 10_000, 10)
            .await
            .unwrap();
        assert!(work[0].held, "the claim says the step was held");
        let release = |claim| ReleaseStep {
            run_id: "run-1".into(),
            work_id: work[0].work_id.clone(),
            step: work[0].work_id.parse().unwrap(),
            claim,
        };
        let claim = work[0].attempt_count;
        let delivered = super::release(&store, &stepper, release(claim), &at(500_001))
            .await
            .unwrap();
        assert_eq!(delivered, Delivered::Stepped);
        assert_eq!(
            timers(&store).await,
            [560_001],
            "a whole timeout from the release"
        );

        // A repeat of the release, of this claim or a later one, finds the
        // step no longer held.
        for claim in [claim, claim + 1] {
            super::release(&store, &stepper, release(claim), &at(500_002))
                .await
                .unwrap();
            assert_eq!(timers(&store).await, [560_001], "a repeat changes nothing");
        }
        let run = store.get_run("run-1").await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Running);
    }
}
