//! The imperative shell around the pure engine.
//!
//! Three loops share one shape (`Options`, `new`, `run(shutdown)`) and one
//! store:
//!
//! - the [`applier`] claims runs that have pending events, applies them with
//!   `engine::apply_mut`, and commits the new state, the effects (as store
//!   rows) and the hash-chained audit records in one transaction;
//! - the [`executor`] claims agent work with a lease, runs it through the
//!   model provider, and commits the result as the run's next event;
//! - the [`timers`] loop turns due timer rows into events.
//!
//! Every other write into a run is a [`command::Command`] submitted through
//! [`RuntimeHandle::submit`]: planned by a pure function, committed as one
//! typed change.
//!
//! Not every step waits for the applier: a run is created with its start
//! event applied (see [`command::start_run`]), and the writer of an agent's
//! result or a command hands the step it causes to the store with the event,
//! which commits it unless the run moved meanwhile (see [`stepper`]).
//!
//! Nothing is executed before it is committed, and every result goes back in
//! through the inbox with an idempotency key, so a crash at any point either
//! loses nothing (the lease expires and the work is claimed again) or repeats
//! nothing (the second result is a duplicate and is dropped). Tool calls act
//! before their step commits, so each is journalled around its execution
//! (intent before, outcome after; see `gateway/journal.rs`): a replayed step
//! hands back what a call did, and a call whose outcome was lost is repeated
//! only when its tool is safe to repeat or a human approves.

pub mod applier;
mod budget_escalation;
pub mod budgets;
pub mod clock;
pub mod command;
pub mod definitions;
pub mod effects;
mod error;
pub mod evidence;
pub mod executor;
pub mod gateway;
mod heartbeat;
pub mod live;
mod meter;
pub mod nodes;
pub mod requests;
mod states;
pub mod stepper;
pub mod timers;

use std::sync::Arc;
use std::time::Duration;

use agentwerke_agents::provider::ModelProvider;
use agentwerke_evidence::redact::Redactor;
use agentwerke_store::{Delivered, Store};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use clock::{Clock, SystemClock, rfc3339};
pub use definitions::DefinitionCache;
pub use error::Error;
pub use evidence::gather_pack;
pub use gateway::{GatewayService, GatewaySettings, StoreArtifacts};
pub use stepper::Stepper;

/// Settings shared by the runtime's loops.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Identifies this process in leases; unique per process.
    pub owner: String,
    /// How long a claim is held before another process may take over.
    pub lease: Duration,
    /// How often the loops look for work when nobody wakes them.
    pub poll_interval: Duration,
    /// How many agent steps run at once.
    pub max_concurrent_steps: usize,
    /// Redacts known secret values and credential shapes from everything
    /// the runtime persists. Clones share values, so one handed to the
    /// secret keeper learns every secret set while the runtime runs.
    pub redactor: Redactor,
    /// The price table every model turn's cost is computed from.
    pub prices: agentwerke_agents::pricing::Prices,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            owner: format!("node-{}", uuid::Uuid::now_v7()),
            lease: Duration::from_secs(10),
            poll_interval: Duration::from_millis(250),
            max_concurrent_steps: 16,
            redactor: Redactor::default(),
            prices: agentwerke_agents::pricing::Prices::default(),
        }
    }
}

/// What the loops need from the rest of the system.
#[derive(Clone)]
pub struct RuntimeDeps {
    /// The durable store.
    pub store: Arc<dyn Store>,
    /// The model provider agent steps call.
    pub provider: Arc<dyn ModelProvider>,
    /// The source of time.
    pub clock: Arc<dyn Clock>,
    /// The Tool Gateway every tool call passes; without one every call is
    /// refused (fail closed).
    pub gateway: Option<Arc<GatewayService>>,
}

/// A cheap, cloneable way to start runs, submit commands and poke the
/// running loops.
#[derive(Clone)]
pub struct RuntimeHandle {
    wake: Arc<Wake>,
    stepper: Stepper,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    redactor: Redactor,
    live: live::Live,
}

#[derive(Default)]
struct Wake {
    applier: Notify,
    executor: Notify,
}

impl RuntimeHandle {
    /// Tells the loops that new events or work may be waiting. A hint only:
    /// the loops also poll, so a lost hint delays work but never loses it.
    pub fn notify(&self) {
        self.wake.applier.notify_one();
        self.wake.executor.notify_one();
    }

    /// The one write door for commands (see [`command`]): reads what the
    /// command needs, plans it as of now, takes the step its event causes
    /// unless the run moves first (see [`stepper`]), commits, and wakes the
    /// loop that has work next.
    pub async fn submit(
        &self,
        command: command::Command,
    ) -> Result<command::Submitted, command::Error> {
        let ctx = command::Ctx {
            at: self.clock.now(),
            redactor: &self.redactor,
        };
        let cancelled = match &command {
            command::Command::CancelRun(cancel) => Some(cancel.run_id.to_string()),
            _ => None,
        };
        let submitted = command::submit(&self.store, &self.stepper, command, &ctx).await?;
        // The run's model calls in flight here stop now, not when they answer.
        if let Some(run_id) = cancelled {
            self.live.cancel(&run_id);
        }
        self.delivered(submitted.committed.delivered);
        // A run created with its first step taken may have left agent work;
        // its inbox is empty.
        if submitted.committed.created_run().is_some() {
            self.wake.executor.notify_one();
        }
        // A delivery queued its event to the runs it matched.
        if submitted
            .committed
            .delivery()
            .is_some_and(|outcome| !outcome.duplicate && !outcome.matched_runs.is_empty())
        {
            self.wake.applier.notify_one();
        }
        Ok(submitted)
    }

    /// The live channels: the model's text as it arrives, and the
    /// cancellation of model calls in flight.
    pub fn live(&self) -> &live::Live {
        &self.live
    }

    /// Wakes the loop an event's delivery left work for: the executor after
    /// a step (it may have queued agent work), the appliers when the event
    /// waits in an inbox.
    fn delivered(&self, delivered: Delivered) {
        match delivered {
            Delivered::Stepped => self.wake.executor.notify_one(),
            Delivered::Queued => self.wake.applier.notify_one(),
            Delivered::Dropped => {}
        }
    }
}

/// The running loops.
pub struct Runtime {
    handle: RuntimeHandle,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// Starts the appliers, the executor and the timer loop.
    pub fn start(options: RuntimeOptions, deps: RuntimeDeps) -> Self {
        let (shutdown, rx) = watch::channel(false);
        let definitions = Arc::new(DefinitionCache::new(deps.store.clone()));
        let handle = RuntimeHandle {
            wake: Arc::default(),
            stepper: Stepper::new(deps.store.clone(), definitions.clone()),
            store: deps.store.clone(),
            clock: deps.clock.clone(),
            redactor: options.redactor.clone(),
            live: live::Live::default(),
        };
        let mut tasks = Vec::with_capacity(applier::APPLIERS + 2);
        for n in 0..applier::APPLIERS {
            // Each applier leases runs under a name of its own, so no two
            // ever hold the same run.
            let options = RuntimeOptions {
                owner: format!("{}/applier-{n}", options.owner),
                ..options.clone()
            };
            let applier =
                applier::Applier::new(options, deps.clone(), definitions.clone(), handle.clone());
            tasks.push(tokio::spawn(applier.run(rx.clone())));
        }
        let executor = executor::Executor::new(options.clone(), deps.clone(), handle.clone());
        tasks.push(tokio::spawn(executor.run(rx.clone())));
        let timers = timers::TimerLoop::new(options, deps, handle.clone());
        tasks.push(tokio::spawn(timers.run(rx)));
        Self {
            handle,
            shutdown,
            tasks,
        }
    }

    /// A handle to wake the loops.
    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// Stops the loops and waits for them. Work in flight is abandoned to its
    /// lease, exactly as after a crash.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Waits for a wake-up, the poll interval, or shutdown; true means stop.
async fn idle(notify: &Notify, interval: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = notify.notified() => false,
        _ = tokio::time::sleep(interval) => false,
        _ = shutdown.changed() => true,
    }
}
