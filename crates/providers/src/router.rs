//! One provider per request, chosen by name.
//!
//! Agents name their provider ([`ModelRequest::provider`]); the router
//! sends each request to the configured provider of that name, or to the
//! default when it names none. The scripted provider is always there under
//! its own name, so tokenless runs keep working next to real ones.

use std::collections::BTreeMap;
use std::sync::Arc;

use agentwerke_agents::provider::{
    ModelErrorKind, ModelProvider, ModelRequest, ModelResponse, ProviderError, TextSink,
};
use agentwerke_agents::scripted::ScriptedProvider;
use async_trait::async_trait;

use crate::client::{BuildError, HttpProvider};
use crate::key::KeyResolver;
use crate::settings::{ProviderKind, ProviderSpec};

/// The configured providers, by name.
pub struct ProviderRouter {
    routes: BTreeMap<String, Arc<dyn ModelProvider>>,
    default: String,
}

impl std::fmt::Debug for ProviderRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRouter")
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("default", &self.default)
            .finish()
    }
}

impl ProviderRouter {
    /// Routes to `specs` (checked with [`crate::settings::check_all`]);
    /// `scripted` serves the `scripted` entries and the name `scripted`.
    /// The default is the entry marked `default`, else the first, else the
    /// scripted provider.
    pub fn build(
        specs: &[ProviderSpec],
        keys: &KeyResolver,
        scripted: Arc<dyn ModelProvider>,
    ) -> Result<Self, BuildError> {
        let mut routes: BTreeMap<String, Arc<dyn ModelProvider>> = BTreeMap::new();
        routes.insert(ScriptedProvider::NAME.to_owned(), Arc::clone(&scripted));
        for spec in specs {
            let provider: Arc<dyn ModelProvider> = match spec.kind {
                ProviderKind::Scripted => Arc::clone(&scripted),
                _ => Arc::new(HttpProvider::new(spec.clone(), keys.clone())?),
            };
            routes.insert(spec.name.clone(), provider);
        }
        let default = specs
            .iter()
            .find(|spec| spec.default)
            .or_else(|| specs.first())
            .map_or_else(
                || ScriptedProvider::NAME.to_owned(),
                |spec| spec.name.clone(),
            );
        Ok(Self { routes, default })
    }

    /// Routes to the given providers by name; for tests and embedders that
    /// build their providers themselves.
    pub fn from_providers(
        providers: impl IntoIterator<Item = (String, Arc<dyn ModelProvider>)>,
        default: impl Into<String>,
    ) -> Self {
        Self {
            routes: providers.into_iter().collect(),
            default: default.into(),
        }
    }

    /// The default provider's name.
    pub fn default_name(&self) -> &str {
        &self.default
    }

    fn route(&self, req: &ModelRequest) -> Result<&Arc<dyn ModelProvider>, ProviderError> {
        let name = req.provider.as_deref().unwrap_or(&self.default);
        self.routes.get(name).ok_or_else(|| {
            ProviderError::model(
                ModelErrorKind::UnknownProvider,
                name,
                format!(
                    "no provider named '{name}' is configured (known: {})",
                    self.routes.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

#[async_trait]
impl ModelProvider for ProviderRouter {
    fn name(&self) -> &str {
        &self.default
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        self.route(req)?.complete(req).await
    }

    async fn complete_streaming(
        &self,
        req: &ModelRequest,
        sink: &dyn TextSink,
    ) -> Result<ModelResponse, ProviderError> {
        self.route(req)?.complete_streaming(req, sink).await
    }
}
