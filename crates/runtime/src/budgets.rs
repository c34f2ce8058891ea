//! Which budgets an agent step runs under.
//!
//! An agent's own limits come from its profile (or the `[[agents]]`
//! configuration); the BPMN task may set any of them itself, and where it
//! does its figure wins, for the step and for the run alike. How the limits
//! are kept is `agentwerke_agents::meter`'s business.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use agentwerke_agents::budget::{Budget, Budgets, OnExceed};
use agentwerke_bpmn::model::{BudgetExceeded, TaskBudgets};

/// Each agent's own budgets, by agent name. Clones share one table, so
/// whoever loads agent profiles can replace it while the runtime runs:
/// the next step reads the new limits.
#[derive(Debug, Clone, Default)]
pub struct AgentBudgets(Arc<RwLock<BTreeMap<String, Budgets>>>);

impl AgentBudgets {
    /// A table of `budgets` by agent name.
    pub fn new(budgets: BTreeMap<String, Budgets>) -> Self {
        Self(Arc::new(RwLock::new(budgets)))
    }

    /// Replaces the whole table.
    pub fn replace(&self, budgets: BTreeMap<String, Budgets>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = budgets;
    }

    /// The agent's budgets; unlimited for an agent without any.
    pub fn of(&self, agent: &str) -> Budgets {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(agent)
            .copied()
            .unwrap_or_default()
    }
}

/// The budgets a step runs under: the task's limits where it sets them,
/// the agent's elsewhere.
pub fn for_task(agent: Budgets, task: &TaskBudgets) -> Budgets {
    Budgets {
        step: Budget {
            tokens: task.step_tokens.or(agent.step.tokens),
            cost_usd: task.step_cost_usd.or(agent.step.cost_usd),
        },
        run: Budget {
            tokens: task.run_tokens.or(agent.run.tokens),
            cost_usd: task.run_cost_usd.or(agent.run.cost_usd),
        },
        on_exceed: match task.on_exceed {
            Some(BudgetExceeded::Fail) => OnExceed::Fail,
            Some(BudgetExceeded::Escalate) => OnExceed::Escalate,
            None => agent.on_exceed,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each figure the task sets wins; the others stay the agent's.
    #[test]
    fn the_task_overrides_the_agent_figure_by_figure() {
        let agent = Budgets {
            step: Budget {
                tokens: Some(1000),
                cost_usd: Some(0.1),
            },
            run: Budget {
                tokens: Some(5000),
                cost_usd: None,
            },
            on_exceed: OnExceed::Escalate,
        };
        let task = TaskBudgets {
            step_tokens: Some(200),
            run_cost_usd: Some(2.0),
            on_exceed: Some(BudgetExceeded::Fail),
            ..TaskBudgets::default()
        };
        let both = for_task(agent, &task);
        assert_eq!(
            both.step,
            Budget {
                tokens: Some(200),
                cost_usd: Some(0.1)
            }
        );
        assert_eq!(
            both.run,
            Budget {
                tokens: Some(5000),
                cost_usd: Some(2.0)
            }
        );
        assert_eq!(both.on_exceed, OnExceed::Fail);
        assert_eq!(for_task(agent, &TaskBudgets::default()), agent);
    }

    #[test]
    fn a_replaced_table_is_read_by_every_clone() {
        let table = AgentBudgets::default();
        let shared = table.clone();
        assert_eq!(shared.of("writer"), Budgets::default());
        let limited = Budgets {
            step: Budget {
                tokens: Some(10),
                cost_usd: None,
            },
            ..Budgets::default()
        };
        table.replace(BTreeMap::from([("writer".to_owned(), limited)]));
        assert_eq!(shared.of("writer"), limited);
        assert_eq!(shared.of("other"), Budgets::default());
    }
}
