//! Turns due timer rows into events. Timers are rows, so they survive restarts.

use std::time::Duration;

use agentwerke_types::ErrorCode;
use tokio::sync::watch;

use crate::{RuntimeDeps, RuntimeHandle, RuntimeOptions};

/// The loop that fires timers.
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

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = self.deps.clock.now();
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
