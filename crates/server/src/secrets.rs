//! The server's hold on secrets: it seals what the Settings API is given,
//! opens what the store keeps, resolves what deployment configuration
//! names, and tells the redactor every value it comes to know.
//!
//! Values are only ever added to the [`Redactor`]: a rotated-out or
//! deleted value may still sit in a log or a record exported later, so it
//! stays redacted for the life of the process.

use std::sync::Arc;

use agentwerke_evidence::redact::Redactor;
use agentwerke_gateway::{ResolvedSecret, SecretResolver, Unavailable};
use agentwerke_secrets::{
    Environment, Fingerprint, Fingerprinter, KeyProvider, Resolved, SealedSecret, SecretCipher,
    SecretLocation, SecretName, SecretSource, SecretStatus, SecretValue,
};
use agentwerke_store::Store;

/// Name and fingerprint of each stored secret: what tells that the store's
/// secrets changed without opening any.
type StoredPrints = Vec<(String, String)>;

/// What the server needs to keep secrets, shared by every handler.
#[derive(Clone)]
pub struct SecretKeeper {
    cipher: SecretCipher,
    fingerprinter: Fingerprinter,
    configured: Arc<[(SecretName, SecretLocation)]>,
    environment: Arc<dyn Environment>,
    redactor: Redactor,
    /// Name and fingerprint of every stored secret when they were last
    /// opened by [`SecretKeeper::refresh`].
    opened: Arc<std::sync::Mutex<Option<StoredPrints>>>,
}

impl std::fmt::Debug for SecretKeeper {
    /// Names and sources only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKeeper")
            .field(
                "configured",
                &self
                    .configured
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The gateway's way to the values of `secret:NAME` references: what the
/// keeper holds, read at the moment a call is sent, so a secret set or
/// rotated through the Settings API (by this process or another one on the
/// same database) is the one the next call sends.
#[derive(Clone)]
pub struct StoreSecrets {
    keeper: SecretKeeper,
    store: Arc<dyn Store>,
}

impl StoreSecrets {
    /// Resolves through `keeper` from `store`.
    pub fn new(keeper: SecretKeeper, store: Arc<dyn Store>) -> Self {
        Self { keeper, store }
    }
}

impl std::fmt::Debug for StoreSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSecrets")
            .field("keeper", &self.keeper)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl SecretResolver for StoreSecrets {
    /// Deployment configuration wins over the store, as in
    /// `GET /api/settings`: a configured name is read from its variable or
    /// file and never from the database.
    async fn resolve(&self, name: &SecretName) -> Result<ResolvedSecret, Unavailable> {
        let keeper = &self.keeper;
        let value = if let Some(location) = keeper.configured(name) {
            match location.resolve(keeper.environment.as_ref()) {
                Resolved::Set(value) => value,
                Resolved::Missing => return Err(Unavailable::Missing(name.to_string())),
                Resolved::Unreadable(why) => {
                    return Err(Unavailable::Unreadable(name.to_string(), why.to_owned()));
                }
            }
        } else {
            let unreadable = |why: String| Unavailable::Unreadable(name.to_string(), why);
            let sealed = self
                .store
                .sealed_secrets()
                .await
                .map_err(|e| unreadable(e.to_string()))?;
            let row = sealed
                .into_iter()
                .find(|row| row.name == name.as_str())
                .ok_or_else(|| Unavailable::Missing(name.to_string()))?;
            keeper
                .cipher
                .open(name, &SealedSecret::from_stored(row.sealed))
                .map_err(|e| unreadable(e.to_string()))?
        };
        keeper.redactor.add([value.expose()]);
        let fingerprint = keeper.fingerprinter.fingerprint(&value);
        Ok(ResolvedSecret { value, fingerprint })
    }
}

/// A configured secret as resolved now: where it comes from, whether it is
/// there, and its fingerprint when it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredSecret {
    /// Its name.
    pub name: SecretName,
    /// `env` or `file`.
    pub source: SecretSource,
    /// `set`, `missing` or `unreadable`.
    pub status: SecretStatus,
    /// The fingerprint of the value, when it is set.
    pub fingerprint: Option<Fingerprint>,
}

/// Why the stored secrets could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] agentwerke_store::Error),
    /// A stored name or envelope is unusable (another key, altered bytes).
    #[error("stored secret '{name}' cannot be opened: {source}")]
    Open {
        /// The secret.
        name: String,
        /// Why.
        source: agentwerke_secrets::Error,
    },
}

impl agentwerke_types::ErrorCode for KeeperError {
    fn code(&self) -> &'static str {
        match self {
            KeeperError::Store(error) => error.code(),
            KeeperError::Open { source, .. } => source.code(),
        }
    }
}

impl SecretKeeper {
    /// A keeper sealing and fingerprinting under `keys`, with the secrets
    /// deployment configuration names; every configured value set now is
    /// added to `redactor`.
    pub fn new(
        keys: Arc<dyn KeyProvider>,
        configured: Vec<(SecretName, SecretLocation)>,
        environment: Arc<dyn Environment>,
        redactor: Redactor,
    ) -> Result<Self, agentwerke_secrets::Error> {
        let keeper = Self {
            fingerprinter: Fingerprinter::new(keys.as_ref())?,
            cipher: SecretCipher::new(keys),
            configured: configured.into(),
            environment,
            redactor,
            opened: Arc::default(),
        };
        keeper.configured_secrets();
        Ok(keeper)
    }

    /// The redactor that knows every value this keeper has seen.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Opens every stored secret and adds its value to the redactor; how
    /// many there are. Called at start, so a key that does not open them
    /// stops the server before it serves anything.
    pub async fn open_stored(&self, store: &dyn Store) -> Result<usize, KeeperError> {
        let sealed = store.sealed_secrets().await?;
        for row in &sealed {
            let open = |source| KeeperError::Open {
                name: row.name.clone(),
                source,
            };
            let name = SecretName::parse(&row.name).map_err(open)?;
            let value = self
                .cipher
                .open(&name, &SealedSecret::from_stored(row.sealed.clone()))
                .map_err(open)?;
            self.redactor.add([value.expose()]);
        }
        Ok(sealed.len())
    }

    /// Opens the stored secrets again when they changed since the last
    /// refresh (another server on the same database set, rotated or
    /// deleted one): the check reads names and fingerprints only, so it is
    /// cheap enough to run every few hundred milliseconds. Whether it
    /// opened them.
    pub async fn refresh(&self, store: &dyn Store) -> Result<bool, KeeperError> {
        let now: StoredPrints = store
            .secrets()
            .await?
            .into_iter()
            .map(|row| (row.name, row.fingerprint))
            .collect();
        if self
            .opened
            .lock()
            .is_ok_and(|seen| seen.as_ref() == Some(&now))
        {
            return Ok(false);
        }
        // A change between the look and the opening is opened now and
        // opened once more at the next refresh: harmless.
        self.open_stored(store).await?;
        if let Ok(mut seen) = self.opened.lock() {
            *seen = Some(now);
        }
        Ok(true)
    }

    /// Seals `value` for `name` and fingerprints it, and adds the value to
    /// the redactor before anything else can see it: from here on only
    /// the envelope and the fingerprint travel.
    pub fn seal(
        &self,
        name: &SecretName,
        value: &SecretValue,
    ) -> Result<(SealedSecret, Fingerprint), agentwerke_secrets::Error> {
        self.redactor.add([value.expose()]);
        let sealed = self.cipher.seal(name, value)?;
        Ok((sealed, self.fingerprinter.fingerprint(value)))
    }

    /// Where deployment configuration keeps `name`, if it does.
    pub fn configured(&self, name: &SecretName) -> Option<&SecretLocation> {
        self.configured
            .iter()
            .find(|(configured, _)| configured == name)
            .map(|(_, location)| location)
    }

    /// Every configured secret, resolved now (a rotated mount shows at
    /// once); a value found is added to the redactor.
    pub fn configured_secrets(&self) -> Vec<ConfiguredSecret> {
        self.configured
            .iter()
            .map(|(name, location)| {
                let resolved = location.resolve(self.environment.as_ref());
                let status = resolved.status();
                let fingerprint = match resolved {
                    Resolved::Set(value) => {
                        self.redactor.add([value.expose()]);
                        Some(self.fingerprinter.fingerprint(&value))
                    }
                    Resolved::Missing | Resolved::Unreadable(_) => None,
                };
                ConfiguredSecret {
                    name: name.clone(),
                    source: location.source(),
                    status,
                    fingerprint,
                }
            })
            .collect()
    }
}
