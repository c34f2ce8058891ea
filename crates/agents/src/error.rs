//! Errors from assembling a prompt, loading a script and running a step.
//!
//! Provider failures have their own type ([`crate::provider::ProviderError`])
//! because they come from the far side of the seam and carry the provider's
//! own words; everything here is something this crate decided.

use agentwerke_types::ErrorCode;

/// Why a prompt, a script or a step could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `strictVariables` is set and the template names variables that do not
    /// resolve. A strict task would rather fail than send the model a prompt
    /// with holes in it.
    #[error("unresolved prompt variables: {}", names.join(", "))]
    UnresolvedVariable {
        /// The unresolved variables as written, without braces, in order of
        /// first appearance.
        names: Vec<String>,
    },
    /// The template is larger than [`crate::prompt::MAX_TEMPLATE_BYTES`].
    #[error("prompt template is {len} bytes, over the limit of {limit}")]
    TemplateTooLarge {
        /// The template's size in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The rendered prompt would exceed [`crate::prompt::MAX_OUTPUT_BYTES`].
    #[error("rendered prompt exceeds the limit of {limit} bytes")]
    PromptTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A scripted provider configuration could not be read or is invalid.
    #[error("invalid scripted provider configuration: {message}")]
    ScriptInvalid {
        /// What is wrong, with the TOML position when there is one.
        message: String,
    },
    /// The model was still asking for tools after the last allowed turn.
    #[error("the model did not finish within {max_turns} turns")]
    TurnLimit {
        /// The step's turn budget.
        max_turns: u32,
    },
    /// A step or run budget is, or would be, passed (see [`crate::meter`]).
    #[error("{detail}")]
    BudgetExceeded {
        /// Which budget, its limit and what was spent.
        detail: String,
    },
    /// A cost budget applies, and the price table has no price for the
    /// model: the step fails rather than spend money nobody counts.
    #[error(
        "model `{model}` has no price in the price table, and a cost budget applies: add [prices.\"{model}\"] to the configuration"
    )]
    UnpricedModel {
        /// The model as the request or the provider named it.
        model: String,
    },
    /// A turn's usage could not be read or kept, so the budgets cannot be
    /// kept either: the step stops.
    #[error("{message}")]
    UsageUnrecorded {
        /// What went wrong.
        message: String,
    },
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::UnresolvedVariable { .. } => "agents.unresolved_variable",
            Error::TemplateTooLarge { .. } => "agents.template_too_large",
            Error::PromptTooLarge { .. } => "agents.prompt_too_large",
            Error::ScriptInvalid { .. } => "agents.script_invalid",
            Error::TurnLimit { .. } => "agents.turn_limit",
            Error::BudgetExceeded { .. } => "budget.exceeded",
            Error::UnpricedModel { .. } => "budget.unpriced_model",
            Error::UsageUnrecorded { .. } => "budget.usage_unrecorded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ModelErrorKind, ProviderError};

    /// Codes are a published contract: this list changes only by adding.
    #[test]
    fn every_code_is_listed() {
        let errors = [
            Error::UnresolvedVariable { names: vec![] },
            Error::TemplateTooLarge { len: 0, limit: 0 },
            Error::PromptTooLarge { limit: 0 },
            Error::ScriptInvalid {
                message: String::new(),
            },
            Error::TurnLimit { max_turns: 0 },
            Error::BudgetExceeded {
                detail: String::new(),
            },
            Error::UnpricedModel {
                model: String::new(),
            },
            Error::UsageUnrecorded {
                message: String::new(),
            },
        ];
        let codes: Vec<_> = errors.iter().map(ErrorCode::code).collect();
        assert_eq!(
            codes,
            [
                "agents.unresolved_variable",
                "agents.template_too_large",
                "agents.prompt_too_large",
                "agents.script_invalid",
                "agents.turn_limit",
                "budget.exceeded",
                "budget.unpriced_model",
                "budget.usage_unrecorded",
            ]
        );

        let provider = [
            ProviderError::Failed {
                provider: String::new(),
                message: String::new(),
            },
            ProviderError::Timeout {
                provider: String::new(),
                message: String::new(),
            },
            ProviderError::Scripted {
                code: "X".into(),
                message: String::new(),
            },
            ProviderError::model(ModelErrorKind::RateLimited, "p", ""),
        ];
        let codes: Vec<_> = provider.iter().map(ErrorCode::code).collect();
        assert_eq!(
            codes,
            [
                "agents.provider_failed",
                "agents.provider_timeout",
                "agents.scripted_failure",
                "model.rate_limited",
            ]
        );
        let kinds = [
            ModelErrorKind::RateLimited,
            ModelErrorKind::AuthFailed,
            ModelErrorKind::BadResponse,
            ModelErrorKind::ContextTooLong,
            ModelErrorKind::Timeout,
            ModelErrorKind::Unavailable,
            ModelErrorKind::Cancelled,
            ModelErrorKind::UnknownProvider,
            ModelErrorKind::KeyUnavailable,
            ModelErrorKind::Rejected,
        ];
        let codes: Vec<_> = kinds
            .iter()
            .map(|kind| ProviderError::model(*kind, "p", "").step_code())
            .collect();
        assert_eq!(
            codes,
            [
                "model.rate_limited",
                "model.auth_failed",
                "model.bad_response",
                "model.context_too_long",
                "model.timeout",
                "model.unavailable",
                "model.cancelled",
                "model.unknown_provider",
                "model.key_unavailable",
                "model.rejected",
            ]
        );
        // The persisted names, pinned.
        let names: Vec<_> = kinds
            .iter()
            .map(|kind| serde_json::to_value(kind).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "rate_limited",
                "auth_failed",
                "bad_response",
                "context_too_long",
                "timeout",
                "unavailable",
                "cancelled",
                "unknown_provider",
                "key_unavailable",
                "rejected"
            ]
        );
    }
}
