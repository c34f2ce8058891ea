//! Approvals: list, get, decide.

use agentwerke_auth::Permission;
use agentwerke_engine::{ApprovalDecision, Event, WorkId};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_evidence::redact::redact_str;
use agentwerke_store::{ApprovalFilter, ApprovalRow, Decide};
use agentwerke_types::{Actor, ApprovalKind, ApprovalStatus, AuditKind};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::code::Code;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};
use crate::routes::runs::load;
use crate::routes::views::{ApprovalStatusName, Page};
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
    responses((status = 200, description = "A page of approval requests, oldest first", body = Page)),
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
    Ok(Json(json!({
        "items": page.items.iter().map(approval_view).collect::<Vec<_>>(),
        "nextCursor": page.next_cursor,
    })))
}

/// One approval request with everything an approver must review.
#[utoipa::path(get, path = "/api/approvals/{id}", tag = "approvals", params(("id" = String, Path)),
    responses((status = 200, description = "The approval request", body = Object),
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
    Ok(Json(approval_view(&approval)))
}

/// The longest decision comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 16 * 1024;

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
    /// The human judgment; part of the audit trail. At most 16,384
    /// characters.
    #[serde(default)]
    #[schema(max_length = 16384)]
    pub comment: Option<String>,
}

/// Decides an approval. Exactly one decision wins; the run's requester cannot
/// approve their own gate; an approval that names an approver role is
/// decided by a holder of that role or group, or an Admin.
#[utoipa::path(post, path = "/api/approvals/{id}/decision", tag = "approvals",
    params(("id" = String, Path)), request_body = DecisionBody,
    responses((status = 200, description = "Decided; the approval as it now is", body = Object),
              (status = 403, description = "The requester's own run (approval.self_approval), or a role \
                the caller lacks (approval.wrong_role, auth.forbidden)"),
              (status = 404, description = "No such approval (api.not_found)"),
              (status = 409, description = "No longer pending (approval.already_decided)"),
              (status = 422, description = "A comment over 16,384 characters (approval.comment_too_long)")),
    security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
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
            Code::ApprovalAlreadyDecided,
            format!("approval '{id}' is already {}", approval.status),
        ));
    }
    let approver_role = approval.request["approverRole"].as_str();
    if !caller.0.may_decide_as(approver_role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Code::ApprovalWrongRole,
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
            Code::ApprovalSelfApproval,
            "you requested this run, so you cannot decide its approvals; ask another approver",
        ));
    }
    if body
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(ApiError::unprocessable(
            Code::ApprovalCommentTooLong,
            format!("a decision comment is at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    let comment = body.comment.filter(|c| !c.trim().is_empty());
    // The comment becomes part of the audit trail and the process context:
    // a credential pasted into it is redacted before anything keeps it.
    let secrets: Vec<&str> = state.secrets.iter().map(String::as_str).collect();
    let comment = comment.map(|c| redact_str(&c, &secrets));
    let now = state.clock.now();
    let work_id: WorkId =
        serde_json::from_value(json!(approval.work_id)).map_err(ApiError::internal)?;
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
                event: serde_json::to_value(&event).map_err(ApiError::internal)?,
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
