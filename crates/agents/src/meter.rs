//! Keeping an agent step inside its budgets.
//!
//! The tool-use loop asks a [`Meter`] what the step and its run have spent
//! before every model turn, and hands it every turn's usage as soon as the
//! answer arrives. In production the meter is the store: each turn is
//! committed on its own, so what was spent survives a crash, and the run's
//! figure counts every step and every attempt.
//!
//! Each turn is checked twice:
//!
//! - **Before**, with an estimate of the prompt about to be sent
//!   ([`estimate_prompt_tokens`]: a quarter of the characters of every
//!   message, tool call and tool schema, rounded up; about what an English
//!   BPE tokenizer makes of text, and on the high side for JSON). The cost
//!   estimate prices those tokens at the model's input price when the
//!   request names a priced model; completion tokens cannot be known
//!   before, so a turn may still end over a budget.
//! - **After**, with the usage the provider reported, priced from the
//!   table ([`crate::pricing`]).
//!
//! A limit is passed when what was spent plus the turn's (estimated or
//! real) figure is greater than it: a budget of 1000 tokens allows exactly
//! 1000.

use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::budget::{Budget, Budgets};
use crate::provider::{CallStats, Message, ToolSpec, Usage};

/// Characters per token in [`estimate_prompt_tokens`].
pub const CHARS_PER_TOKEN: u64 = 4;

/// Tokens and dollars spent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Spent {
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// US dollars.
    pub cost_usd: f64,
}

impl Spent {
    /// What one turn's usage counts against a budget.
    pub fn of(usage: &Usage) -> Self {
        Self {
            tokens: usage.input_tokens.saturating_add(usage.output_tokens),
            cost_usd: usage.cost_usd,
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            tokens: self.tokens.saturating_add(other.tokens),
            cost_usd: self.cost_usd + other.cost_usd,
        }
    }
}

/// What the step (every execution of its attempt) and its run have spent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Spending {
    /// This attempt of this step.
    pub step: Spent,
    /// The whole run, this step included.
    pub run: Spent,
}

/// Which budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One attempt of one step.
    Step,
    /// The run.
    Run,
}

/// Which measure of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Tokens.
    Tokens,
    /// US dollars.
    Cost,
}

/// When a budget was found passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    /// Before a turn: the estimate of its prompt would pass it.
    Before,
    /// After a turn: its real usage passed it.
    After,
}

/// A budget that is (or would be) passed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Exceeded {
    /// Which budget.
    pub scope: Scope,
    /// Tokens or cost.
    pub measure: Measure,
    /// The limit.
    pub limit: f64,
    /// Spent before the turn.
    pub spent: f64,
    /// The turn's figure: the estimate before it, the real usage after.
    pub turn: f64,
    /// Before or after the turn.
    pub moment: Moment,
    /// The model turn (1-based).
    pub turn_number: u32,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scope = match self.scope {
            Scope::Step => "step",
            Scope::Run => "run",
        };
        let amount = |value: f64| match self.measure {
            Measure::Tokens => format!("{value:.0} tokens"),
            Measure::Cost => format!("${value:.6}"),
        };
        let budget = match self.measure {
            Measure::Tokens => "token",
            Measure::Cost => "cost",
        };
        match self.moment {
            Moment::Before => write!(
                f,
                "the {scope} {budget} budget of {} would be passed by model turn {}: {} spent, and its prompt is estimated at {}",
                amount(self.limit),
                self.turn_number,
                amount(self.spent),
                amount(self.turn),
            ),
            Moment::After => write!(
                f,
                "the {scope} {budget} budget of {} was passed by model turn {}: {} spent ({} before the turn, {} in it)",
                amount(self.limit),
                self.turn_number,
                amount(self.spent + self.turn),
                amount(self.spent),
                amount(self.turn),
            ),
        }
    }
}

/// The first budget that `spent` plus `turn` passes: the step's before the
/// run's, tokens before cost.
pub fn check(
    budgets: &Budgets,
    spent: &Spending,
    turn: Spent,
    moment: Moment,
    turn_number: u32,
) -> Option<Exceeded> {
    let scopes = [
        (Scope::Step, &budgets.step, spent.step),
        (Scope::Run, &budgets.run, spent.run),
    ];
    scopes.into_iter().find_map(|(scope, budget, spent)| {
        passed(budget, spent, turn).map(|(measure, limit, spent, turn)| Exceeded {
            scope,
            measure,
            limit,
            spent,
            turn,
            moment,
            turn_number,
        })
    })
}

fn passed(budget: &Budget, spent: Spent, turn: Spent) -> Option<(Measure, f64, f64, f64)> {
    let after = spent.plus(turn);
    if let Some(limit) = budget.tokens
        && after.tokens > limit
    {
        return Some((
            Measure::Tokens,
            limit as f64,
            spent.tokens as f64,
            turn.tokens as f64,
        ));
    }
    match budget.cost_usd {
        Some(limit) if after.cost_usd > limit => {
            Some((Measure::Cost, limit, spent.cost_usd, turn.cost_usd))
        }
        _ => None,
    }
}

/// One limit of one budget, e.g. the step's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Which budget.
    pub scope: Scope,
    /// Tokens or cost.
    pub measure: Measure,
}

impl Exceeded {
    /// The limit that is passed.
    pub fn limit_passed(&self) -> Limit {
        Limit {
            scope: self.scope,
            measure: self.measure,
        }
    }
}

/// `budgets` without `limit`: what a person let an attempt go on past.
pub fn lift(budgets: &mut Budgets, limit: Limit) {
    let budget = match limit.scope {
        Scope::Step => &mut budgets.step,
        Scope::Run => &mut budgets.run,
    };
    match limit.measure {
        Measure::Tokens => budget.tokens = None,
        Measure::Cost => budget.cost_usd = None,
    }
}

/// Whether any budget limits cost (and so every model must be priced).
pub fn limits_cost(budgets: &Budgets) -> bool {
    budgets.step.cost_usd.is_some() || budgets.run.cost_usd.is_some()
}

/// Whether any limit is set at all.
pub fn limits_anything(budgets: &Budgets) -> bool {
    budgets.step != Budget::default() || budgets.run != Budget::default()
}

/// The tokens a prompt of `messages` offering `tools` is estimated at: a
/// quarter of its characters, rounded up (see the module doc).
pub fn estimate_prompt_tokens(messages: &[Message], tools: &[ToolSpec]) -> u64 {
    let messages: usize = messages
        .iter()
        .map(|m| {
            m.content.chars().count()
                + m.tool_calls
                    .iter()
                    .map(|c| c.name.chars().count() + c.arguments.to_string().chars().count())
                    .sum::<usize>()
        })
        .sum();
    let tools: usize = tools
        .iter()
        .map(|t| {
            t.name.chars().count()
                + t.description.chars().count()
                + t.input_schema.to_string().chars().count()
        })
        .sum();
    (messages + tools).div_ceil(CHARS_PER_TOKEN as usize) as u64
}

/// Why a turn's usage could not be read or kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model usage could not be kept: {0}")]
pub struct MeterError(pub String);

/// One model turn's usage, as it is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnUsage {
    /// 1-based, within the step's attempt (a resumed step goes on counting).
    pub turn: u32,
    /// The provider that answered.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// Its tokens, and its cost from the price table.
    pub usage: Usage,
    /// How the call went: latency, retries and the key it sent.
    pub call: CallStats,
}

/// Where the loop reads what was spent and keeps each turn's usage.
#[async_trait]
pub trait Meter: Send + Sync {
    /// What the step and its run have spent, every kept turn included.
    async fn spent(&self) -> Result<Spending, MeterError>;

    /// Keeps one turn's usage; from then on [`Meter::spent`] counts it.
    async fn record(&self, turn: &TurnUsage) -> Result<(), MeterError>;
}

/// A meter in memory: counts this execution's turns only. For a loop run
/// without a store (tests, examples); budgets still hold within the step.
#[derive(Debug, Default)]
pub struct Tally {
    spent: Mutex<Spending>,
}

impl Tally {
    /// A tally that starts from `spent` (what earlier steps of the run spent).
    pub fn starting_at(spent: Spending) -> Self {
        Self {
            spent: Mutex::new(spent),
        }
    }
}

#[async_trait]
impl Meter for Tally {
    async fn spent(&self) -> Result<Spending, MeterError> {
        Ok(*self.spent.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn record(&self, turn: &TurnUsage) -> Result<(), MeterError> {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        let used = Spent::of(&turn.usage);
        spent.step = spent.step.plus(used);
        spent.run = spent.run.plus(used);
        Ok(())
    }
}

#[cfg(test)]
#[path = "meter_tests.rs"]
mod tests;
