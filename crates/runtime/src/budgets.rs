//! Which budgets an agent step runs under.
//!
//! An agent's own limits come from its profile (a profile file's, or the
//! `[agents.budgets]` of its `[[agents]]` entry); the BPMN task may set any of them itself, and where it
//! does its figure wins, for the step and for the run alike. How the limits
//! are kept is `agentwerke_agents::meter`'s business.

use agentwerke_agents::budget::{Budget, Budgets, OnExceed};
use agentwerke_bpmn::model::{BudgetExceeded, TaskBudgets};

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
}
