//! Approvals: list, get, decide.

use agentwerke_auth::Permission;
use agentwerke_engine::ApprovalDecision;
use agentwerke_runtime::command::{Command, DecideApproval};
use agentwerke_store::{ApprovalFilter, ApprovalRow};
use agentwerke_types::ApprovalStatus;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::code::Code;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};
use crate::routes::views::ApprovalStatusName;
use crate::routes::{PageParams, check_status, ts};
use crate::state::AppState;

/// Filters for the approval list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// `pending`, `approved`, `rejected`, `changes_requested`, `cancelled` or `expired`.
    #[param(value_type = Option<ApprovalStatusName>)]
    pub status: Option<String>,
    /// Only this run's approvals.
    pub run_id: Option<String>,
}

/// Lists approval requests.
#[utoipa::path(get, path = "/api/approvals", tag = "approvals", params(ListParams, PageParams),
    responses((status = 200, description = "A page of approval requests, oldest first", body = ApprovalPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<ListParams>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let status = check_status(
        params.status.as_deref(),
        ApprovalStatus::NAMES,
        Code::ApprovalUnknownStatus,
        "an approval",
    )?;
    let page = state
        .store
        .page_approvals(
            ApprovalFilter {
                status,
                run_id: params.run_id,
            },
            page.request()?,
        )
        .await?;
    let page = json!({
        "items": page.items.iter().map(approval_view).collect::<Vec<_>>(),
        "nextCursor": page.next_cursor,
    });
    Ok(Json(state.redacted(&page)?))
}

/// One approval request with everything an approver must review.
#[utoipa::path(get, path = "/api/approvals/{id}", tag = "approvals", params(("id" = String, Path)),
    responses((status = 200, description = "The approval request", body = ApprovalDoc),
              (status = 404, description = "No such approval (api.not_found)")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let approval = state
        .store
        .get_approval(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("approval", &id))?;
    Ok(Json(state.redacted(&approval_view(&approval))?))
}

/// The three decisions an approver can make.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Continue past the gate.
    Approve,
    /// Stop the run, or follow the modelled rejection path.
    Reject,
    /// Send the work back to the agent, or follow the modelled path.
    RequestChanges,
}

impl From<Decision> for ApprovalDecision {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Approve => ApprovalDecision::Approve,
            Decision::Reject => ApprovalDecision::Reject,
            Decision::RequestChanges => ApprovalDecision::RequestChanges,
        }
    }
}

/// `POST /api/approvals/{id}/decision` body, exactly as the manual shows it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve`, `reject` or `request_changes`.
    pub decision: Decision,
    /// The human judgment; part of the audit trail. At most 16,384
    /// characters.
    #[serde(default)]
    #[schema(max_length = 16384)]
    pub comment: Option<String>,
}

/// Decides an approval. Exactly one decision wins; the run's requester cannot
/// approve their own gate; an approval that names an approver role is
/// decided by a holder of that role or group, or an Admin; an approval
/// whose expiry passed cannot be decided. The rules live in the runtime's
/// `decide_approval` command.
#[utoipa::path(post, path = "/api/approvals/{id}/decision", tag = "approvals",
    params(("id" = String, Path)), request_body = DecisionBody,
    responses((status = 200, description = "Decided; the approval as it now is", body = ApprovalDoc),
              (status = 403, description = "The requester's own run (approval.self_approval), or a role \
                the caller lacks (approval.wrong_role, auth.forbidden)"),
              (status = 404, description = "No such approval (api.not_found)"),
              (status = 409, description = "No longer pending (approval.already_decided), or its expiry \
                passed before the decision (approval.past_expiry)"),
              (status = 422, description = "A comment over 16,384 characters (approval.comment_too_long)")),
    security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(decide_approval(&state, &caller, &id, body).await?))
}

/// Decides approval `id` for `caller`: the API's decision and the web UI's
/// decision form, one road with one permission check; the approval as it
/// now is, redacted.
pub(crate) async fn decide_approval(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: DecisionBody,
) -> Result<Value, ApiError> {
    caller.require(Permission::DecideApproval)?;
    let command = Command::DecideApproval(DecideApproval {
        approval_id: id.to_owned().into(),
        decision: body.decision.into(),
        comment: body.comment,
        by: caller.0.clone(),
    });
    let submitted = state.runtime.submit(command).await?;
    let approval = submitted
        .committed
        .approval()
        .ok_or_else(|| ApiError::internal("a decision wrote no approval"))?;
    state.redacted(&approval_view(approval))
}

/// The approval as the API shows it: the stored request, flattened, plus its
/// decision.
pub(crate) fn approval_view(a: &ApprovalRow) -> Value {
    let mut view = json!({
        "id": a.id,
        "runId": a.run_id,
        "workId": a.work_id,
        "nodeId": a.node_id,
        "kind": a.kind,
        "status": a.status,
        "decision": a.decision,
        "comment": a.comment,
        "decidedBy": a.decided_by,
        "decidedAt": a.decided_at.map(ts),
        "expiresAt": a.expires_at.map(ts),
        "requestedAt": ts(a.created_at),
    });
    if let (Some(target), Some(request)) = (view.as_object_mut(), a.request.as_object()) {
        for (key, value) in request {
            target.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    view
}

/// An approval as the API shows it: its row's fields, then every field of
/// the request as it was recorded when it opened (the fields below after
/// `requestedAt`; an escalation adds `tool`, `argsHash`, `arguments`,
/// `policyIds` and the policy set's version and hash). Documentation only:
/// the answer is built by [`approval_view`], and a test holds the two to
/// the same names.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Approval)]
pub struct ApprovalDoc {
    /// Its id.
    pub id: String,
    /// The run.
    pub run_id: String,
    /// The agent attempt or gate step it belongs to.
    pub work_id: String,
    /// Its BPMN node.
    pub node_id: String,
    /// `gate` (a modelled approval task), `tool_escalation` (a call the
    /// gateway escalated) or `budget_escalation` (an agent step whose next
    /// model turn would pass a budget that says `escalate`).
    #[schema(pattern = "^(gate|tool_escalation|budget_escalation)$")]
    pub kind: String,
    /// Where it stands.
    #[schema(value_type = ApprovalStatusName)]
    pub status: String,
    /// `approved`, `rejected` or `changes_requested` once decided.
    pub decision: Option<String>,
    /// The approver's comment, redacted.
    pub comment: Option<String>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// When it expires undecided (RFC 3339), if it does.
    pub expires_at: Option<String>,
    /// When it opened (RFC 3339).
    pub requested_at: String,
    /// What the approver is asked to allow.
    pub requested_action: Option<String>,
    /// Who started the run.
    pub requester: Option<String>,
    /// The agent concerned.
    pub agent: Option<String>,
    /// Why a human is asked.
    pub policy_rationale: Option<String>,
    /// 0-100: the sum of the factors' weights, capped.
    pub risk_score: Option<u32>,
    /// `low`, `medium`, `high` or `critical`.
    pub risk_level: Option<String>,
    /// Each factor with `name`, `weight` and `detail`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub risk_factors: Option<Vec<Value>>,
    /// The systems the work touches.
    pub affected_systems: Option<Vec<String>>,
    /// The role (or group) that may decide; none means any Approver.
    pub approver_role: Option<String>,
    /// What the related steps produced (a gate: outputs by node; an
    /// escalation: `agentText` and `earlierCalls`).
    #[schema(value_type = Option<Object>)]
    pub related_output: Option<Value>,
    /// Artifacts with `name`, `sha256`, `size` and `mediaType`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub artifacts: Option<Vec<Value>>,
    /// A budget escalation's budget: `scope` (`step` or `run`), `measure`
    /// (`tokens` or `cost_usd`), its `limit`, what was `spent` before the
    /// turn, the turn's prompt `estimate`, and the model `turn` that would
    /// pass it.
    #[schema(value_type = Option<Object>)]
    pub budget: Option<Value>,
}

/// A page of approvals.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPage {
    /// Approvals, oldest first.
    pub items: Vec<ApprovalDoc>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use agentwerke_types::{ApprovalKind, Timestamp};
    use utoipa::PartialSchema;

    use super::*;

    /// The documented names are the names the view answers with: every
    /// row field is documented and present, and every documented request
    /// field is one a gate or an escalation records.
    #[test]
    fn the_documented_approval_is_the_view() {
        let schema = serde_json::to_value(ApprovalDoc::schema()).unwrap();
        let documented: Vec<&str> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        let row = ApprovalRow {
            id: "ap-1".into(),
            run_id: "run-1".into(),
            work_id: "w1".into(),
            node_id: "Review".to_owned(),
            kind: ApprovalKind::Gate,
            request: json!({"requestedAction": "a", "requester": "r", "agent": "x",
                "policyRationale": "p", "riskScore": 10, "riskLevel": "low",
                "riskFactors": [], "affectedSystems": [], "approverRole": null,
                "relatedOutput": {}, "artifacts": [], "budget": {}}),
            status: ApprovalStatus::Pending,
            decision: None,
            comment: None,
            decided_by: None,
            decided_at: None,
            expires_at: None,
            consumed_at: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        };
        let view = approval_view(&row);
        let answered: Vec<&str> = view
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        for name in &documented {
            assert!(
                answered.contains(name),
                "{name} is documented, not answered"
            );
        }
        for name in &answered {
            assert!(
                documented.contains(name),
                "{name} is answered, not documented"
            );
        }
    }
}
