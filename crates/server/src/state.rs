//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use agentwerke_auth::Verifier;
use agentwerke_runtime::{Clock, GatewayService, RuntimeHandle};
use agentwerke_store::Store;
use ed25519_dalek::SigningKey;

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
    /// Secret values redacted from everything the API returns.
    pub secrets: Arc<[String]>,
    /// Limits and other settings the API enforces.
    pub limits: ApiLimits,
}

/// Request limits, documented in the README.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a BPMN document may take to check (validate, import,
    /// publish) before it is refused as `workflow.too_complex`.
    pub check_timeout: Duration,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            check_timeout: Duration::from_secs(10),
        }
    }
}
