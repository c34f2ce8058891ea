//! Secrets a tool sends, resolved at the last moment.
//!
//! A tool's arguments carry only references (`secret:NAME`); the model,
//! the decision, the approval, the journal and the evidence see nothing
//! else. [`Gateway::run`](crate::Gateway::run) resolves the references a
//! tool declares ([`Tool::secret_refs`](crate::Tool::secret_refs)) through
//! a [`SecretResolver`] the server provides, and hands the values to the
//! tool in [`InjectedSecrets`], which never prints them. The record keeps
//! only each secret's name and fingerprint ([`SecretUse`]).

use std::collections::BTreeMap;
use std::fmt;

use agentwerke_secrets::{Fingerprint, SecretName, SecretValue};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where the gateway gets a secret's value when a call that references it
/// runs: the server's secret store and deployment configuration.
#[async_trait]
pub trait SecretResolver: Send + Sync + fmt::Debug {
    /// The current value of `name` and its fingerprint; `Err` says why it
    /// is not available without ever carrying a value.
    async fn resolve(&self, name: &SecretName) -> Result<ResolvedSecret, Unavailable>;
}

/// A secret's value as resolved now, with its fingerprint.
#[derive(Clone)]
pub struct ResolvedSecret {
    /// The value; only the tool that sends it exposes it.
    pub value: SecretValue,
    /// Its keyed fingerprint, for the record.
    pub fingerprint: Fingerprint,
}

impl fmt::Debug for ResolvedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedSecret")
            .field("value", &self.value)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// Why a referenced secret could not be resolved. Never carries a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// No secret of that name is stored or configured.
    #[error("secret '{0}' does not exist")]
    Missing(String),
    /// It exists but cannot be read now (an unset variable, an unreadable
    /// file, a store failure).
    #[error("secret '{0}' cannot be read: {1}")]
    Unreadable(String, String),
}

/// Which secret a call used: its name and the fingerprint of the value
/// sent. Persisted with the call record; the value never is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretUse {
    /// The secret's name.
    pub name: SecretName,
    /// The fingerprint of the value the call sent.
    pub fingerprint: Fingerprint,
}

/// The values a running tool may send, by name. `Debug` shows names only;
/// two sets are equal when they hold the same names and fingerprints.
#[derive(Clone, Default)]
pub struct InjectedSecrets(BTreeMap<SecretName, ResolvedSecret>);

impl InjectedSecrets {
    /// No secrets.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds `name`'s resolved value.
    pub fn insert(&mut self, name: SecretName, secret: ResolvedSecret) {
        self.0.insert(name, secret);
    }

    /// The value of `name`, if the gateway resolved it for this call.
    pub fn get(&self, name: &SecretName) -> Option<&SecretValue> {
        self.0.get(name).map(|secret| &secret.value)
    }

    /// Name and fingerprint of each, for the record.
    pub fn uses(&self) -> Vec<SecretUse> {
        self.0
            .iter()
            .map(|(name, secret)| SecretUse {
                name: name.clone(),
                fingerprint: secret.fingerprint.clone(),
            })
            .collect()
    }
}

impl fmt::Debug for InjectedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl PartialEq for InjectedSecrets {
    fn eq(&self, other: &Self) -> bool {
        self.uses() == other.uses()
    }
}

impl Eq for InjectedSecrets {}
