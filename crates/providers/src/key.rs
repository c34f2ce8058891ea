//! The provider's key, resolved at the last moment.
//!
//! The client holds only where the key comes from ([`KeySource`]); each
//! request resolves it anew, so a rotation takes effect on the next call,
//! and the value lives only as long as the request that sends it. What the
//! record keeps is the secret's name and fingerprint ([`KeyUse`]).

use std::sync::Arc;

use agentwerke_agents::provider::KeyUse;
use agentwerke_evidence::redact::Redactor;
use agentwerke_gateway::SecretResolver;
use agentwerke_secrets::{Environment, SecretValue};

use crate::settings::KeySource;

/// Where keys are resolved: the secret store (when the server has one)
/// and the environment.
#[derive(Clone)]
pub struct KeyResolver {
    secrets: Option<Arc<dyn SecretResolver>>,
    env: Arc<dyn Environment>,
    redactor: Redactor,
}

impl std::fmt::Debug for KeyResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyResolver")
            .field("secrets", &self.secrets.is_some())
            .finish_non_exhaustive()
    }
}

impl KeyResolver {
    /// Resolves `secret:` references through `secrets` and variables from
    /// `env`; a variable's value is made known to `redactor` (the store's
    /// resolver does the same for its own), so it is redacted wherever it
    /// might turn up.
    pub fn new(
        secrets: Option<Arc<dyn SecretResolver>>,
        env: Arc<dyn Environment>,
        redactor: Redactor,
    ) -> Self {
        Self {
            secrets,
            env,
            redactor,
        }
    }

    /// The key's value now, and which secret it was; `Err` says why there
    /// is none, never with a value in it.
    pub(crate) async fn resolve(
        &self,
        source: &KeySource,
    ) -> Result<Option<(SecretValue, KeyUse)>, String> {
        match source {
            KeySource::None => Ok(None),
            KeySource::Secret(reference) => {
                let Some(secrets) = &self.secrets else {
                    return Err(format!(
                        "the key {reference} cannot be resolved: this server has no secret store"
                    ));
                };
                let resolved = secrets
                    .resolve(reference.name())
                    .await
                    .map_err(|e| format!("the key {reference} is not available: {e}"))?;
                Ok(Some((
                    resolved.value,
                    KeyUse {
                        secret: reference.name().to_string(),
                        fingerprint: Some(resolved.fingerprint.to_string()),
                    },
                )))
            }
            KeySource::Env(var) => {
                let value = self
                    .env
                    .var(var)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("the key variable {var} is not set"))?
                    .into_string()
                    .map_err(|_| format!("the key variable {var} is not UTF-8"))?;
                self.redactor.add([value.as_str()]);
                let value = SecretValue::new(value)
                    .map_err(|e| format!("the key variable {var} cannot be used: {e}"))?;
                Ok(Some((
                    value,
                    KeyUse {
                        secret: format!("env:{var}"),
                        fingerprint: None,
                    },
                )))
            }
        }
    }
}
