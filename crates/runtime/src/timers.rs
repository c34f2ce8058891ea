//! Turns due timer rows into events. Timers are rows, so they survive restarts.

use std::time::Duration;

use agentwerke_types::{ErrorCode, Timestamp};
use tokio::sync::watch;

use crate::command::{self, Command, ExpireApproval};
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
            match self.deps.store.fire_due_timers(now, 256).await {
                Ok(fired) if fired > 0 => {
                    self.handle.wake.applier.notify_one();
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(code = error.code(), %error, "firing timers failed"),
            }
            let wait = match self.deps.store.next_timer_due().await {
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
