//! What this server has, for checking that a profile names only real
//! things: its tools and its model providers.

use std::collections::BTreeSet;

use agentwerke_bpmn::KnownTools;

/// The tools and providers a profile may name. A part left `None` is not
/// checked (a library user without a server, or a test).
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The tools `allowed-tools` entries must match.
    pub tools: Option<KnownTools>,
    /// The provider names `provider:` must be one of.
    pub providers: Option<BTreeSet<String>>,
}

impl Known {
    /// Nothing is checked.
    pub fn nothing() -> Self {
        Self::default()
    }

    /// Checks `allowed-tools` against `tools`.
    #[must_use]
    pub fn with_tools(mut self, tools: KnownTools) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Checks `provider:` against `names`.
    #[must_use]
    pub fn with_providers(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.providers = Some(names.into_iter().map(Into::into).collect());
        self
    }
}
