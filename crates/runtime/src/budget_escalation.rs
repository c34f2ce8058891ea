//! A passed budget that says `escalate` asks a person whether the step may
//! go on past it.
//!
//! The step pauses before the model turn that would pass the limit
//! (`StepOutcome::OverBudget`); its execution ends like any pause for an
//! approval: the work is completed with its resume point and an approval of
//! kind `budget_escalation` opens, saying which budget, its limit, what was
//! spent and the turn's estimate (redacted with every approval request, and
//! expiring after the escalation time-to-live). A decision or an expiry
//! resumes the step; before it asks the model again, [`settle`] reads the
//! decision: approved, that limit is lifted for the rest of the attempt;
//! rejected or expired, the step fails with `budget.exceeded`.

use agentwerke_agents::meter::{Exceeded, Limit, Measure, Scope};
use agentwerke_agents::step::BudgetAsk;
use agentwerke_store::{NewApproval, Store};
use agentwerke_types::{ApprovalKind, ApprovalStatus, Timestamp};
use serde_json::{Value, json};

use crate::gateway::StepIdentity;

/// The approval request for `exceeded`, opened at `at`; it expires (as a
/// rejection) after `ttl_ms` when one is set.
pub(crate) fn approval(
    id: &str,
    who: &StepIdentity,
    exceeded: &Exceeded,
    at: Timestamp,
    ttl_ms: Option<i64>,
) -> NewApproval {
    let budget = describe(exceeded);
    NewApproval {
        id: id.into(),
        work_id: who.work_id.clone().into(),
        node_id: who.node_id.clone(),
        kind: ApprovalKind::BudgetEscalation,
        request: json!({
            "requestedAction": format!(
                "Let agent '{}' go on at '{}' past the {} budget of {}",
                who.agent, who.node_name, name(exceeded), amount(exceeded, exceeded.limit)
            ),
            "requester": who.requested_by,
            "agent": who.agent,
            "nodeId": who.node_id,
            "nodeName": who.node_name,
            "policyRationale": exceeded.to_string(),
            "budget": budget,
        }),
        expires_at: ttl_ms.map(|ttl| at.plus_millis(ttl)),
        list_run_artifacts: false,
    }
}

/// The budget as the approval request, the audit record and the evidence
/// show it.
pub(crate) fn describe(exceeded: &Exceeded) -> Value {
    json!({
        "scope": match exceeded.scope {
            Scope::Step => "step",
            Scope::Run => "run",
        },
        "measure": match exceeded.measure {
            Measure::Tokens => "tokens",
            Measure::Cost => "cost_usd",
        },
        "limit": exceeded.limit,
        "spent": exceeded.spent,
        "estimate": exceeded.turn,
        "turn": exceeded.turn_number,
    })
}

/// The budget's name, as in `step token` or `run cost`.
fn name(exceeded: &Exceeded) -> String {
    let scope = match exceeded.scope {
        Scope::Step => "step",
        Scope::Run => "run",
    };
    let measure = match exceeded.measure {
        Measure::Tokens => "token",
        Measure::Cost => "cost",
    };
    format!("{scope} {measure}")
}

/// `value` in the budget's unit.
fn amount(exceeded: &Exceeded, value: f64) -> String {
    match exceeded.measure {
        Measure::Tokens => format!("{value:.0} tokens"),
        Measure::Cost => format!("${value:.6}"),
    }
}

/// What a person decided on a passed budget.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Settled {
    /// Approved: the step goes on with this limit lifted.
    GoOn(Limit),
    /// Rejected, expired or unreadable: the step fails with this message.
    Refused(String),
}

/// Reads the decision on `ask`'s approval.
pub(crate) async fn settle(store: &dyn Store, ask: &BudgetAsk) -> Settled {
    let refused = |why: String| Settled::Refused(format!("{}; {why}", ask.exceeded));
    let row = match store.get_approval(&ask.approval_id).await {
        Ok(Some(row)) if row.kind == ApprovalKind::BudgetEscalation => row,
        Ok(_) => {
            return refused(format!(
                "approval '{}' of the passed budget is missing",
                ask.approval_id
            ));
        }
        Err(error) => {
            return refused(format!(
                "approval '{}' of the passed budget could not be read: {error}",
                ask.approval_id
            ));
        }
    };
    let by = row.decided_by.as_deref().unwrap_or("nobody");
    match row.status {
        ApprovalStatus::Approved => Settled::GoOn(ask.exceeded.limit_passed()),
        ApprovalStatus::Expired => refused(format!(
            "approval '{}' to go on past it expired without a decision",
            row.id
        )),
        ApprovalStatus::Pending => refused(format!(
            "approval '{}' to go on past it is still pending",
            row.id
        )),
        status => refused(format!(
            "going on past it was {} by {by} (approval '{}')",
            status.as_str(),
            row.id
        )),
    }
}
