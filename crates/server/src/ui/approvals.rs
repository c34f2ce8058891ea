//! The approvals inbox, the approval page and its decision form.
//!
//! Whether the signed-in person may decide is asked of the same rules the
//! decision command applies (`decide_approval::may_decide` and the
//! `decide_approval` permission), so the page explains a refusal before
//! anyone submits, in the words the API would refuse with.

use agentwerke_auth::Permission;
use agentwerke_runtime::command::decide_approval::may_decide;
use agentwerke_store::{ApprovalFilter, ApprovalRow, PageRequest};
use agentwerke_types::ApprovalStatus;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use crate::error::ApiError;
use crate::routes::approvals::{Decision, DecisionBody, approval_view, decide_approval};
use crate::state::AppState;
use crate::ui::auth::{Chrome, SignedIn, UiError, render, roles_of};
use crate::ui::{pretty, text};

/// One pending approval in the inbox.
struct InboxLine {
    id: String,
    run_id: String,
    node: String,
    kind: String,
    action: String,
    risk: String,
    requested_at: String,
    /// Why the signed-in person cannot decide it ("" when they can).
    why_not: String,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct InboxPage {
    chrome: Chrome,
    /// Pending approvals the signed-in person may decide.
    mine: Vec<InboxLine>,
    /// Pending approvals someone else must decide, with the reason.
    others: Vec<InboxLine>,
    /// Whether more are pending than one page shows.
    more: bool,
}

/// The most pending approvals the inbox reads at once.
const INBOX_SIZE: u32 = 200;

/// `GET /approvals`: what is pending, split into mine and others'.
pub(crate) async fn inbox(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Response, UiError> {
    signed.caller().require(Permission::Read)?;
    let page = state
        .store
        .page_approvals(
            ApprovalFilter {
                status: Some(ApprovalStatus::Pending),
                run_id: None,
            },
            PageRequest {
                limit: INBOX_SIZE,
                cursor: None,
            },
        )
        .await
        .map_err(ApiError::from)?;
    let (mut mine, mut others) = (Vec::new(), Vec::new());
    for row in &page.items {
        let view = state.redacted(&approval_view(row))?;
        let why_not = refusal(&state, &signed, row).await?.unwrap_or_default();
        let line = InboxLine {
            id: row.id.to_string(),
            run_id: row.run_id.to_string(),
            node: row.node_id.clone(),
            kind: row.kind.as_str().to_owned(),
            action: text(&view["requestedAction"]),
            risk: risk(&view),
            requested_at: text(&view["requestedAt"]),
            why_not,
        };
        if line.why_not.is_empty() {
            mine.push(line);
        } else {
            others.push(line);
        }
    }
    let page = InboxPage {
        chrome: signed.chrome("approvals"),
        mine,
        others,
        more: page.next_cursor.is_some(),
    };
    Ok(render(&page))
}

/// Why `signed` may not decide `row` now, in the API's words; `None` when
/// they may.
async fn refusal(
    state: &AppState,
    signed: &SignedIn,
    row: &ApprovalRow,
) -> Result<Option<String>, UiError> {
    let principal = &signed.session.principal;
    if !principal.can(Permission::DecideApproval) {
        return Ok(Some(format!(
            "Deciding approvals needs the Approver or Admin role; you are signed in as {}.",
            roles_of(principal)
        )));
    }
    if row.status != ApprovalStatus::Pending {
        return Ok(Some(format!(
            "This approval is {}; it can no longer be decided.",
            row.status.as_str()
        )));
    }
    let requested_by = state
        .store
        .get_run(row.run_id.as_str())
        .await
        .map_err(ApiError::from)?
        .map(|run| run.requested_by);
    Ok(may_decide(row, requested_by.as_deref(), principal)
        .err()
        .map(|e| e.to_string()))
}

/// One risk factor.
struct Factor {
    name: String,
    weight: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "approval.html")]
struct ApprovalPage {
    chrome: Chrome,
    id: String,
    run_id: String,
    node: String,
    kind: String,
    status: String,
    requested_action: String,
    requester: String,
    agent: String,
    rationale: String,
    risk: String,
    factors: Vec<Factor>,
    affected_systems: String,
    approver_role: String,
    /// For a tool escalation: the tool, the arguments' hash and the
    /// arguments the approval is bound to.
    tool: String,
    args_hash: String,
    arguments: String,
    related_output: String,
    artifacts: String,
    budget: String,
    decision: String,
    decided_by: String,
    comment: String,
    expires_at: String,
    /// Why the signed-in person cannot decide ("" when they can).
    why_not: String,
}

/// `GET /approvals/{id}`: everything an approver must review.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    signed.caller().require(Permission::Read)?;
    let row = state
        .store
        .get_approval(&id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found("approval", &id))?;
    let v = state.redacted(&approval_view(&row))?;
    let why_not = refusal(&state, &signed, &row).await?.unwrap_or_default();
    let shown = |value: &Value| {
        if value.is_null() {
            String::new()
        } else {
            pretty(value)
        }
    };
    let page = ApprovalPage {
        chrome: signed.chrome("approvals"),
        id: id.clone(),
        run_id: text(&v["runId"]),
        node: text(&v["nodeId"]),
        kind: text(&v["kind"]),
        status: text(&v["status"]),
        requested_action: text(&v["requestedAction"]),
        requester: text(&v["requester"]),
        agent: text(&v["agent"]),
        rationale: text(&v["policyRationale"]),
        risk: risk(&v),
        factors: v["riskFactors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| Factor {
                name: text(&f["name"]),
                weight: f["weight"].to_string(),
                detail: text(&f["detail"]),
            })
            .collect(),
        affected_systems: v["affectedSystems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect::<Vec<_>>()
            .join(", "),
        approver_role: text(&v["approverRole"]),
        tool: text(&v["tool"]),
        args_hash: text(&v["argsHash"]),
        arguments: shown(&v["arguments"]),
        related_output: shown(&v["relatedOutput"]),
        artifacts: shown(&v["artifacts"]),
        budget: shown(&v["budget"]),
        decision: text(&v["decision"]),
        decided_by: text(&v["decidedBy"]),
        comment: text(&v["comment"]),
        expires_at: text(&v["expiresAt"]),
        why_not,
    };
    Ok(render(&page))
}

/// `POST /approvals/{id}/decision`: approve, reject or request changes,
/// with a comment.
pub(crate) async fn decide(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    let named = form.get("decision").unwrap_or_default();
    let decision: Decision =
        serde_json::from_value(Value::String(named.to_owned())).map_err(|_| {
            UiError::page(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("'{named}' is not a decision; choose approve, reject or request changes."),
            )
        })?;
    let comment = form.filled("comment").map(str::to_owned);
    decide_approval(
        &state,
        &signed.caller(),
        &id,
        DecisionBody { decision, comment },
    )
    .await?;
    Ok(Redirect::to(&format!("/approvals/{id}")).into_response())
}

/// `40 (medium)`, or nothing.
fn risk(view: &Value) -> String {
    match (view["riskScore"].as_u64(), view["riskLevel"].as_str()) {
        (Some(score), Some(level)) => format!("{score} ({level})"),
        (Some(score), None) => score.to_string(),
        (None, Some(level)) => level.to_owned(),
        (None, None) => String::new(),
    }
}
