//! Turns due timer rows into events. Timers are rows, so they survive restarts.

use std::time::Duration;

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_types::{Actor, ApprovalKind, AuditKind, ErrorCode, Timestamp};
use serde_json::json;
use tokio::sync::watch;

use crate::clock::rfc3339;
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

    /// Expires overdue approvals. An expired escalation resumes its step,
    /// where the gateway refuses the call (an expiry is never an allow); an
    /// expired gate is a rejection.
    async fn expire_approvals(&self, now: Timestamp) -> Result<usize, agentwerke_store::Error> {
        let mut expired = 0;
        for approval in self.deps.store.due_expiries(now).await? {
            let event = if approval.kind == ApprovalKind::ToolEscalation {
                json!({"type": "task_resumed", "work_id": approval.work_id, "at": now})
            } else {
                json!({"type": "approval_decided", "work_id": approval.work_id,
                       "decision": "reject", "comment": "expired without a decision",
                       "decided_by": "system", "at": now})
            };
            let audit = AuditDraft {
                run_id: approval.run_id.to_string(),
                at: rfc3339(now),
                actor: Actor::System,
                kind: AuditKind::ApprovalExpired,
                data: json!({"approvalId": approval.id, "nodeId": approval.node_id,
                             "kind": approval.kind}),
            };
            if self
                .deps
                .store
                .expire_approval(approval, event, audit)
                .await?
            {
                expired += 1;
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
