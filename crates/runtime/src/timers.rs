//! Turns due timer rows into events. Timers are rows, so they survive restarts.

use std::time::Duration;

use agentwerke_types::{ErrorCode, Timestamp};
use tokio::sync::watch;

use crate::command::{self, Command, ExpireApproval, FireTimer};
use crate::{RuntimeDeps, RuntimeHandle, RuntimeOptions};

/// The loop that fires timers and expires approvals nobody decided in time.
pub struct TimerLoop {
    options: RuntimeOptions,
    deps: RuntimeDeps,
    handle: RuntimeHandle,
}

impl TimerLoop {
    /// A new timer loop; nothing runs until [`TimerLoop::run`].
    pub fn new(options: RuntimeOptions, deps: RuntimeDeps, handle: RuntimeHandle) -> Self {
        Self {
            options,
            deps,
            handle,
        }
    }

    /// Expires overdue approvals through the expire command (see
    /// [`crate::command::expire_approval`]). One decided meanwhile stays
    /// decided: the store's compare-and-set refuses the expiry.
    async fn expire_approvals(&self, now: Timestamp) -> Result<usize, agentwerke_store::Error> {
        let mut expired = 0;
        for approval in self.deps.store.due_expiries(now).await? {
            let command = Command::ExpireApproval(ExpireApproval {
                approval_id: approval.id.clone(),
            });
            match self.handle.submit(command).await {
                Ok(_) => expired += 1,
                Err(
                    command::Error::AlreadyDecided { .. }
                    | command::Error::Expired { .. }
                    | command::Error::NotFound { .. },
                ) => {}
                Err(error) => {
                    tracing::warn!(code = error.code(), %error, approval_id = %approval.id,
                        "expiring an approval failed");
                }
            }
        }
        Ok(expired)
    }

    /// Fires the timers due by `now`, each through the fire-timer command
    /// (see [`crate::command::fire_timer`]). One another process fired
    /// meanwhile is refused by the store's compare-and-set and skipped.
    async fn fire_timers(&self, now: Timestamp) -> Result<Fired, agentwerke_store::Error> {
        const BATCH: usize = 256;
        let due = self.deps.store.due_timers(now, BATCH).await?;
        let mut outcome = Fired {
            more: due.len() == BATCH,
            ..Fired::default()
        };
        for timer in due {
            let command = Command::FireTimer(FireTimer {
                run_id: timer.run_id.clone(),
                timer_id: timer.timer_id.clone(),
            });
            match self.handle.submit(command).await {
                Ok(_) => outcome.fired += 1,
                Err(
                    command::Error::TimerNotDue { .. }
                    | command::Error::Store(agentwerke_store::Error::Conflict { .. }),
                ) => {}
                Err(error) => {
                    outcome.refused = true;
                    tracing::warn!(code = error.code(), %error, run_id = %timer.run_id,
                        timer_id = %timer.timer_id, "firing a timer failed");
                }
            }
        }
        Ok(outcome)
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = self.deps.clock.now();
            match self.expire_approvals(now).await {
                Ok(expired) if expired > 0 => self.handle.wake.applier.notify_one(),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(code = error.code(), %error, "expiring approvals failed");
                }
            }
            let fired = match self.fire_timers(now).await {
                Ok(fired) => fired,
                Err(error) => {
                    tracing::warn!(code = error.code(), %error, "reading due timers failed");
                    Fired::default()
                }
            };
            if fired.fired > 0 {
                self.handle.wake.applier.notify_one();
                if fired.more {
                    continue;
                }
            }
            let wait = match self.deps.store.next_timer_due().await {
                // A timer that was refused stays due: wait a poll interval
                // rather than spin on it.
                Ok(Some(_)) if fired.refused => self.options.poll_interval,
                Ok(Some(due)) => {
                    let millis = (due.as_millis() - now.as_millis()).clamp(0, 1_000) as u64;
                    Duration::from_millis(millis).min(self.options.poll_interval * 4)
                }
                _ => self.options.poll_interval * 4,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// What one round of firing did.
#[derive(Debug, Default)]
struct Fired {
    /// Timers fired.
    fired: usize,
    /// A full batch was due: more may be.
    more: bool,
    /// A due timer was refused for a reason other than a race.
    refused: bool,
}
