//! Approvals: list, get, decide.

use agentwerke_auth::Permission;
use agentwerke_engine::{ApprovalDecision, Event, WorkId};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_evidence::redact::redact_str;
use agentwerke_store::{ApprovalFilter, ApprovalRow, Decide};
use agentwerke_types::{Actor, ApprovalKind, ApprovalStatus, AuditKind};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{AppJson, Caller};
use crate::routes::runs::{internal, load};
use crate::routes::{check_status, ts};
use crate::state::AppState;

/// Filters for the approval list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// `pending`, `approved`, `rejected`, `changes_requested`, `cancelled` or `expired`.
    pub status: Option<String>,
    /// Only this run's approvals.
    pub run_id: Option<String>,
}

/// Lists approval requests.
#[utoipa::path(get, path = "/api/approvals", tag = "approvals", params(ListParams),
    responses((status = 200, description = "Approval requests")), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let status = check_status(
        params.status.as_deref(),
        ApprovalStatus::NAMES,
        "approval.unknown_status",
        "an approval",
    )?;
    let items = state
        .store
        .list_approvals(ApprovalFilter {
            status,
            run_id: params.run_id,
        })
        .await?;
    Ok(Json(
        json!({"items": items.iter().map(approval_view).collect::<Vec<_>>()}),
    ))
}

/// One approval request with everything an approver must review.
#[utoipa::path(get, path = "/api/approvals/{id}", tag = "approvals", params(("id" = String, Path)),
    responses((status = 200, description = "The approval request"), (status = 404, description = "Unknown")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let approval = state
        .store
        .get_approval(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("approval", &id))?;
    Ok(Json(approval_view(&approval)))
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

impl Decision {
    fn engine(self) -> ApprovalDecision {
        match self {
            Decision::Approve => ApprovalDecision::Approve,
            Decision::Reject => ApprovalDecision::Reject,
            Decision::RequestChanges => ApprovalDecision::RequestChanges,
        }
    }

    fn stored(self) -> agentwerke_types::ApprovalDecision {
        match self {
            Decision::Approve => agentwerke_types::ApprovalDecision::Approved,
            Decision::Reject => agentwerke_types::ApprovalDecision::Rejected,
            Decision::RequestChanges => agentwerke_types::ApprovalDecision::ChangesRequested,
        }
    }
}

/// `POST /api/approvals/{id}/decision` body, exactly as the manual shows it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve`, `reject` or `request_changes`.
    pub decision: Decision,
    /// The human judgment; part of the audit trail.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Decides an approval. Exactly one decision wins; the run's requester cannot
/// approve their own gate; an approval that names an approver role is
/// decided by a holder of that role or group, or an Admin.
#[utoipa::path(post, path = "/api/approvals/{id}/decision", tag = "approvals",
    params(("id" = String, Path)), request_body = DecisionBody,
    responses((status = 200, description = "Decided"), (status = 403, description = "Not allowed"),
              (status = 409, description = "Already decided or closed")),
    security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<DecisionBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::DecideApproval)?;
    let approval = state
        .store
        .get_approval(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("approval", &id))?;
    if approval.status != ApprovalStatus::Pending {
        return Err(ApiError::conflict(
            "approval.closed",
            format!("approval '{id}' is already {}", approval.status),
        ));
    }
    let approver_role = approval.request["approverRole"].as_str();
    if !caller.0.may_decide_as(approver_role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "approval.wrong_role",
            format!(
                "this approval is for the '{}' role, which your token does not carry \
                 (nor Admin); ask someone who holds it",
                approver_role.unwrap_or_default().trim()
            ),
        ));
    }
    let run = load(&state, &approval.run_id).await?;
    if run.requested_by == caller.subject() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "approval.self_approval",
            "you requested this run, so you cannot decide its approvals; ask another approver",
        ));
    }
    let comment = body.comment.filter(|c| !c.trim().is_empty());
    if comment.as_ref().is_some_and(|c| c.len() > 16 * 1024) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "approval.comment_too_long",
            "a decision comment is at most 16 KiB",
        ));
    }
    // The comment becomes part of the audit trail and the process context:
    // a credential pasted into it is redacted before anything keeps it.
    let secrets: Vec<&str> = state.secrets.iter().map(String::as_str).collect();
    let comment = comment.map(|c| redact_str(&c, &secrets));
    let now = state.clock.now();
    let work_id: WorkId = serde_json::from_value(json!(approval.work_id)).map_err(internal)?;
    // A gate's decision goes to the process; an escalated tool call's
    // decision goes to the gateway when the paused step runs again.
    let event = match approval.kind {
        ApprovalKind::ToolEscalation => Event::TaskResumed { work_id, at: now },
        ApprovalKind::Gate => Event::ApprovalDecided {
            work_id,
            decision: body.decision.engine(),
            comment: comment.clone(),
            decided_by: caller.subject().to_owned(),
            at: now,
        },
    };
    let stored_status = body.decision.stored();
    // The step the decision causes goes with it unless the run moves first.
    let decided = state
        .runtime
        .decide_approval(
            &approval.run_id,
            Decide {
                id: id.clone().into(),
                decision: stored_status,
                comment: comment.clone(),
                decided_by: caller.subject().to_owned(),
                at: now,
                event: serde_json::to_value(&event).map_err(internal)?,
                audit: AuditDraft {
                    run_id: approval.run_id.to_string(),
                    at: ts(now),
                    actor: Actor::user(caller.subject()),
                    kind: AuditKind::ApprovalDecided,
                    data: json!({"approvalId": id, "nodeId": approval.node_id,
                                 "decision": stored_status, "comment": comment}),
                },
                step: None,
            },
            event,
        )
        .await?;
    Ok(Json(approval_view(&decided.approval)))
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
        "requestedAt": ts(a.created_at),
    });
    if let (Some(target), Some(request)) = (view.as_object_mut(), a.request.as_object()) {
        for (key, value) in request {
            target.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    view
}
