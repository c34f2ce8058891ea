//! Model usage, one row per model turn: what budgets are counted from.
//!
//! A turn is committed through [`Row::RecordModelUsage`](crate::Row) as
//! soon as its answer arrives, so what a step spent survives the step's
//! process; [`Store::model_spend`](crate::Store::model_spend) sums the
//! rows of a step's work and of its run.

use agentwerke_types::WorkId;

/// One model turn's usage.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelTurn {
    /// The step's work (one attempt of one node).
    pub work_id: WorkId,
    /// Which claim of the work made the turn: a re-run after a crash is a
    /// new claim, so its turns are kept beside the first claim's.
    pub claim: i64,
    /// The model turn within the claim, 1-based.
    pub turn: u32,
    /// BPMN element id.
    pub node_id: String,
    /// The step's attempt, 1-based.
    pub attempt: u32,
    /// The provider that answered.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Of the prompt tokens, those served from the provider's cache.
    pub cached_input_tokens: u64,
    /// Cost in US dollars, from the price table.
    pub cost_usd: f64,
}

/// Tokens (prompt plus completion) and dollars.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spend {
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// US dollars.
    pub cost_usd: f64,
}

/// What one step's work and its whole run spent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SpendTotals {
    /// Every turn kept for the work, over all its claims.
    pub work: Spend,
    /// Every turn kept for the run.
    pub run: Spend,
}
