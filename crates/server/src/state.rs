//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use agentwerke_auth::Verifier;
use agentwerke_runtime::{Clock, GatewayService, RuntimeHandle};
use agentwerke_store::Store;
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::secrets::SecretKeeper;

/// Shared state behind every route. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The durable store.
    pub store: Arc<dyn Store>,
    /// Validates bearer tokens.
    pub verifier: Arc<Verifier>,
    /// Wakes the runtime after a command is written.
    pub runtime: RuntimeHandle,
    /// The source of time.
    pub clock: Arc<dyn Clock>,
    /// Signs evidence packs.
    pub evidence_key: Arc<SigningKey>,
    /// The Tool Gateway (policy in force, kill switch).
    pub gateway: Arc<GatewayService>,
    /// Seals, opens and resolves secrets; its redactor knows every secret
    /// value the server has seen and is applied to every redacted answer.
    pub keeper: SecretKeeper,
    /// Limits and other settings the API enforces.
    pub limits: ApiLimits,
}

impl AppState {
    /// `view` as JSON with every secret redacted: every secret value the
    /// keeper knows (`redact-env`, stored and configured secrets),
    /// credential shapes and secret-looking keys (see
    /// `agentwerke_evidence::redact`).
    ///
    /// Views that carry what a run was given or produced (inputs, step
    /// outputs, an approval's related output) pass through here, as the
    /// evidence pack does: those are stored as the run had them, and a
    /// secret in a run's input must not come back in every answer that
    /// shows the run.
    pub(crate) fn redacted(&self, view: &impl Serialize) -> Result<Value, ApiError> {
        let mut value = serde_json::to_value(view).map_err(ApiError::internal)?;
        self.keeper.redactor().redact_value(&mut value);
        Ok(value)
    }
}

/// Request limits, documented in the README.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a BPMN document may take to check (validate, import,
    /// publish) before it is refused as `workflow.too_complex`, and longest
    /// a check waits for a free slot before it is refused as
    /// `workflow.checks_busy`.
    pub check_timeout: Duration,
    /// The threads that may check BPMN documents at once.
    pub check_slots: CheckSlots,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            check_timeout: Duration::from_secs(10),
            check_slots: CheckSlots::default(),
        }
    }
}

/// How many BPMN checks may run at once. A check runs on a blocking thread
/// and cannot be interrupted, so one that overruns its time limit keeps
/// its slot until it ends: without this bound, requests that each overrun
/// would pile up threads until the blocking pool (512) is exhausted and
/// every core is busy. With it, the cores a check may take are bounded and
/// the requests beyond are refused, not queued without end.
#[derive(Debug, Clone)]
pub struct CheckSlots(Arc<Semaphore>);

impl CheckSlots {
    /// `slots` checks at once (at least one).
    pub fn new(slots: usize) -> Self {
        Self(Arc::new(Semaphore::new(slots.max(1))))
    }

    /// Waits up to `patience` for a slot; `None` when none came free. The
    /// slot is held as long as the permit lives.
    pub async fn take(&self, patience: Duration) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(patience, self.0.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }
}

impl Default for CheckSlots {
    /// One slot per core.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, usize::from))
    }
}
