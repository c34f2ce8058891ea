//! What an agent may spend on model calls.
//!
//! Budgets come from the agent's profile and from the BPMN task (the task's
//! limits win where it sets them), and they bound a step and the whole run
//! in tokens and in US dollars. These are the shapes both sources write;
//! how the tool-use loop checks them is documented where it does.

use serde::{Deserialize, Serialize};

/// A limit in tokens, in cost, or both; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Budget {
    /// Prompt plus completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Cost in US dollars, from the configured price table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// The limits for one step and for the run it belongs to, and what happens
/// when one would be passed.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Budgets {
    /// One attempt of one agent step.
    #[serde(default)]
    pub step: Budget,
    /// Every model call of the run, across steps and attempts.
    #[serde(default)]
    pub run: Budget,
    /// What passing a limit does.
    #[serde(default)]
    pub on_exceed: OnExceed,
}

/// What passing a budget does to the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExceed {
    /// The step fails with `budget.exceeded`.
    #[default]
    Fail,
    /// A human decides whether the step may go on.
    Escalate,
}
