//! Keeps a claimed step's work lease alive while the step runs.
//!
//! A claim holds its work for the lease (`lease-secs`); a step that runs
//! longer (slow model answers, retries with backoff, a long tool call) would
//! otherwise be claimed again by another process, or by this one, and run
//! twice at once. While the step runs its lease is extended every third of
//! the lease. When an extension is refused (the work was claimed again, or
//! ended) or the lease ran out before one got through, the step's work is
//! dropped at once: it does not go on calling the model or tools, and it
//! does not commit an ending over the claim that took the work over.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentwerke_store::Store;
use agentwerke_types::{ErrorCode, RunId, Timestamp, WorkId};

use crate::clock::Clock;

/// The claim a step runs under.
pub(crate) struct Claim {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) owner: String,
    pub(crate) run_id: RunId,
    pub(crate) work_id: WorkId,
    /// The claim's number (the work's `attempt_count`).
    pub(crate) number: i64,
    /// When the claim was taken: its lease runs from then.
    pub(crate) claimed_at: Timestamp,
    pub(crate) lease: Duration,
}

/// Why a step's work was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lost {
    /// The store refused an extension: the work was claimed again or ended.
    Taken,
    /// No extension got through before the lease ran out (the store kept
    /// failing), so another claim may hold the work by now.
    Lapsed,
}

impl Lost {
    /// Says why, for the log.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Lost::Taken => "the work was claimed again or ended meanwhile",
            Lost::Lapsed => "its lease ran out before it could be extended",
        }
    }
}

impl Claim {
    /// Runs `work` while keeping the claim's lease alive; `Err` when the
    /// claim was lost, in which case `work` was dropped unfinished.
    pub(crate) async fn hold<F: Future>(&self, work: F) -> Result<F::Output, Lost> {
        tokio::select! {
            biased;
            lost = self.beat() => Err(lost),
            output = work => Ok(output),
        }
    }

    /// Extends the lease every third of it until the claim is lost; never
    /// returns while it holds.
    async fn beat(&self) -> Lost {
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let every = (self.lease / 3).max(Duration::from_millis(1));
        let mut until = self.claimed_at.plus_millis(lease_ms);
        loop {
            // Wake no later than the lease's end, so a claim whose extensions
            // keep failing stops when the lease does.
            let left = until.as_millis() - self.clock.now().as_millis();
            let left = Duration::from_millis(u64::try_from(left).unwrap_or(0));
            tokio::time::sleep(every.min(left)).await;
            let now = self.clock.now();
            match self
                .store
                .extend_work_lease(
                    self.run_id.as_str(),
                    self.work_id.as_str(),
                    &self.owner,
                    self.number,
                    now,
                    lease_ms,
                )
                .await
            {
                Ok(()) => until = now.plus_millis(lease_ms),
                Err(agentwerke_store::Error::LeaseLost { .. }) => return Lost::Taken,
                // Tried again at the next beat, until the lease's end.
                Err(error) => {
                    tracing::warn!(run_id = %self.run_id, work_id = %self.work_id,
                        code = error.code(), %error, "extending a work lease failed");
                    if now >= until {
                        return Lost::Lapsed;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_store::{SqliteStore, WorkItem};
    use serde_json::json;

    use super::*;
    use crate::DefinitionCache;
    use crate::clock::SystemClock;
    use crate::command::global::tests::published;
    use crate::command::{Command, Ctx, StartRun, submit};
    use crate::stepper::Stepper;

    const HELLO_SDLC: &str = include_str!("../../../examples/hello-sdlc.bpmn");
    const LEASE: Duration = Duration::from_millis(900);

    /// A store with one run whose first step waits as agent work.
    async fn one_step(dir: &std::path::Path) -> Arc<dyn Store> {
        let path = dir.join("runs.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let version = published(
            store.as_ref(),
            "hello-sdlc",
            HELLO_SDLC,
            Timestamp::from_millis(0),
        )
        .await;
        let stepper = Stepper::new(store.clone(), Arc::new(DefinitionCache::new(store.clone())));
        let ctx = Ctx {
            at: SystemClock.now(),
            redactor: crate::command::no_secrets(),
        };
        let start = Command::StartRun(StartRun {
            run_id: "run-1".into(),
            workflow_id: version.workflow_id.clone(),
            version: Some(version.version),
            inputs: json!({"title": "t"}),
            requested_by: "alice".to_owned(),
        });
        submit(&store, &stepper, start, &ctx).await.unwrap();
        store
    }

    fn claim_of(store: &Arc<dyn Store>, item: &WorkItem, claimed_at: Timestamp) -> Claim {
        Claim {
            store: store.clone(),
            clock: Arc::new(SystemClock),
            owner: "a".to_owned(),
            run_id: item.run_id.clone(),
            work_id: item.work_id.clone(),
            number: item.attempt_count,
            claimed_at,
            lease: LEASE,
        }
    }

    fn lease_ms() -> i64 {
        LEASE.as_millis() as i64
    }

    /// A step that runs for several leases keeps its work: nobody can claim
    /// it meanwhile, and it finishes with its own result.
    #[tokio::test]
    async fn a_step_longer_than_its_lease_keeps_its_claim() {
        let dir = tempfile::tempdir().unwrap();
        let store = one_step(dir.path()).await;
        let claimed_at = SystemClock.now();
        let items = store
            .claim_work("a", claimed_at, lease_ms(), 10)
            .await
            .unwrap();
        assert_eq!(items.len(), 1);
        let claim = claim_of(&store, &items[0], claimed_at);

        let work = async {
            let mut taken = Vec::new();
            for _ in 0..4 {
                tokio::time::sleep(LEASE * 2 / 3).await;
                let now = SystemClock.now();
                taken.extend(store.claim_work("b", now, lease_ms(), 10).await.unwrap());
            }
            taken
        };
        let taken = claim.hold(work).await.expect("the claim held");
        assert!(taken.is_empty(), "claimed again while it ran: {taken:?}");

        // Without the heartbeat the lease ends: the work is free again.
        let later = SystemClock.now().plus_millis(lease_ms() + 1);
        let again = store.claim_work("b", later, lease_ms(), 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempt_count, 2);
    }

    /// A claim another process took over stops the step's work at the next
    /// beat, unfinished.
    #[tokio::test]
    async fn a_claim_taken_over_stops_the_work() {
        let dir = tempfile::tempdir().unwrap();
        let store = one_step(dir.path()).await;
        let claimed_at = SystemClock.now();
        let items = store
            .claim_work("a", claimed_at, lease_ms(), 10)
            .await
            .unwrap();
        let claim = claim_of(&store, &items[0], claimed_at);
        // Another process found the lease over (its clock runs ahead).
        let ahead = claimed_at.plus_millis(lease_ms());
        let taken = store.claim_work("b", ahead, lease_ms(), 10).await.unwrap();
        assert_eq!(taken.len(), 1);

        let lost = claim.hold(std::future::pending::<()>()).await;
        assert_eq!(lost, Err(Lost::Taken));
    }

    /// The same process claiming its own lapsed work again does not keep
    /// the older execution alive.
    #[tokio::test]
    async fn an_older_claim_of_the_same_owner_stops() {
        let dir = tempfile::tempdir().unwrap();
        let store = one_step(dir.path()).await;
        let claimed_at = SystemClock.now();
        let items = store
            .claim_work("a", claimed_at, lease_ms(), 10)
            .await
            .unwrap();
        let claim = claim_of(&store, &items[0], claimed_at);
        let ahead = claimed_at.plus_millis(lease_ms());
        let again = store.claim_work("a", ahead, lease_ms(), 10).await.unwrap();
        assert_eq!(again[0].attempt_count, 2);

        let lost = claim.hold(std::future::pending::<()>()).await;
        assert_eq!(lost, Err(Lost::Taken));
    }
}
