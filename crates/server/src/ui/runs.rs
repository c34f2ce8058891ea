//! The run list, the start form, the run page and its cancel button.
//!
//! Every read and write goes through the API's own functions
//! (`routes::runs`), so a page shows what the API answers (redacted) and
//! a button does what the API does, with the same permission check.

use agentwerke_auth::Permission;
use agentwerke_bpmn::{Limits, parse};
use agentwerke_engine::StepStatus;
use agentwerke_types::RunStatus;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::routes::PageParams;
use crate::routes::questions::{AnswerBody, answer_question};
use crate::routes::runs::{
    ListParams, RunDetail, StartRun, cancel_run, list_runs, retry_run, run_detail_view, start_run,
};
use crate::routes::tool_calls::ToolCallView;
use crate::state::AppState;
use crate::ui::auth::{Chrome, SignedIn, UiError, render};
use crate::ui::diagram::{Drawing, draw, node_states};
use crate::ui::{pretty, text};

/// `?status=`, `?workflow=` and `?cursor=` of the run list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    workflow: String,
    cursor: Option<String>,
}

/// One run as the list shows it.
struct RunLine {
    id: String,
    workflow: String,
    status: String,
    /// Whether the run has ended (its status no longer changes).
    ended: bool,
    requested_by: String,
    started_at: String,
    risk: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    chrome: Chrome,
    runs: Vec<RunLine>,
    /// The status filter in force ("" for all).
    status: String,
    statuses: Vec<&'static str>,
    /// The workflow filter in force ("" for all).
    workflow: String,
    /// Every workflow, for the filter.
    all_workflows: Vec<String>,
    /// The live-status stream of the listed runs that have not ended;
    /// `None` when every listed run has.
    live: Option<String>,
    /// The link to the next (older) page.
    next: Option<String>,
    /// Whether the start form is shown.
    can_start: bool,
    /// Workflows with a published version.
    workflows: Vec<String>,
}

/// `GET /runs`.
pub(crate) async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    let status = query.status.trim().to_owned();
    let workflow = query.workflow.trim().to_owned();
    let page = list_runs(
        &state,
        &signed.caller(),
        ListParams {
            status: (!status.is_empty()).then(|| status.clone()),
            workflow_id: (!workflow.is_empty()).then(|| workflow.clone()),
        },
        PageParams {
            limit: None,
            cursor: query.cursor,
        },
    )
    .await?;
    let can_start = signed.can(Permission::StartRun);
    let known = state
        .store
        .list_workflows()
        .await
        .map_err(crate::error::ApiError::from)?;
    let workflows = if can_start {
        known
            .iter()
            .filter(|w| w.published_version.is_some())
            .map(|w| w.id.clone())
            .collect()
    } else {
        Vec::new()
    };
    let next = page.next_cursor.map(|cursor| {
        format!(
            "/runs?status={}&workflow={}&cursor={}",
            encode(&status),
            encode(&workflow),
            encode(&cursor)
        )
    });
    let (ids, seen): (Vec<&str>, Vec<&str>) = page
        .items
        .iter()
        .filter(|r| !r.status.is_terminal())
        .map(|r| (r.id.as_str(), r.status.as_str()))
        .unzip();
    let live = (!ids.is_empty()).then(|| {
        format!(
            "/runs/statuses?ids={}&seen={}",
            encode(&ids.join(",")),
            encode(&seen.join(","))
        )
    });
    let page = RunsPage {
        chrome: signed.chrome("runs"),
        runs: page
            .items
            .into_iter()
            .map(|r| RunLine {
                id: r.id,
                workflow: format!("{} v{}", r.workflow_id, r.workflow_version),
                status: r.status.as_str().to_owned(),
                ended: r.status.is_terminal(),
                requested_by: r.requested_by,
                started_at: r.started_at,
                risk: r
                    .risk_level
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default(),
            })
            .collect(),
        status,
        statuses: RunStatus::ALL.iter().map(|s| s.as_str()).collect(),
        workflow,
        all_workflows: known.into_iter().map(|w| w.id).collect(),
        live,
        next,
        can_start,
        workflows,
    };
    Ok(render(&page))
}

/// `POST /runs`: starts a run of the chosen workflow with the given inputs.
pub(crate) async fn start(
    State(state): State<AppState>,
    signed: SignedIn,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    let inputs = match form.filled("inputs") {
        None => None,
        Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|e| {
            UiError::page(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The inputs are not JSON ({e}); nothing was started."),
            )
        })?),
    };
    let started = start_run(
        &state,
        &signed.caller(),
        StartRun {
            workflow_id: form.get("workflow").unwrap_or_default().to_owned(),
            inputs,
            version: None,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/runs/{}", started.run_id)).into_response())
}

/// One step of the history.
struct StepLine {
    node: String,
    name: String,
    kind: String,
    status: String,
    attempt: String,
    agent: String,
    started_at: String,
    ended_at: String,
    output: String,
    error: String,
}

/// One tool call a step started, from the tool-call journal.
struct CallLine {
    at: String,
    work: String,
    tool: String,
    arguments: String,
    status: String,
    executions: u32,
    decision: String,
    rationale: String,
    approval: String,
}

/// One approval of the run.
struct ApprovalLine {
    id: String,
    node: String,
    kind: String,
    status: String,
    decided_by: String,
    comment: String,
}

/// One question of the conversation.
struct QuestionLine {
    agent: String,
    question: String,
    status: String,
    answer: String,
    answered_by: String,
}

/// A question that waits for an answer.
struct OpenQuestion {
    id: String,
    agent: String,
    question: String,
}

/// One node of the run, for the text list beside the diagram.
struct NodeLine {
    node: String,
    state: &'static str,
    visits: u32,
    entered_at: String,
    left_at: String,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    chrome: Chrome,
    id: String,
    /// The newest audit record the page shows: its live stream follows
    /// from there.
    head: u64,
    workflow: String,
    status: String,
    terminal: bool,
    requested_by: String,
    started_at: String,
    completed_at: String,
    bpmn_sha256: String,
    inputs: String,
    error: String,
    drawing: Option<Drawing>,
    /// Why there is no drawing, when there is none.
    no_drawing: String,
    nodes: Vec<NodeLine>,
    steps: Vec<StepLine>,
    calls: Vec<CallLine>,
    approvals: Vec<ApprovalLine>,
    questions: Vec<QuestionLine>,
    /// Open questions, with an answer form for those who may answer.
    open_questions: Vec<OpenQuestion>,
    can_answer: bool,
    can_cancel: bool,
    /// A failed run's retry button, for those who may retry.
    can_retry: bool,
}

/// `GET /runs/{id}`: the run view the API answers, typed and redacted.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let caller = signed.caller();
    // Read before the run: a record written in between makes the page
    // fetch itself once more, never miss a change.
    let head = state
        .store
        .audit_head(&id)
        .await
        .map_err(crate::error::ApiError::from)?;
    let run = run_detail_view(&state, &caller, &id).await?;
    let status = run.summary.status;
    let terminal = status.is_terminal();
    let (drawing, no_drawing) = diagram(&state, &run).await?;
    let page = RunPage {
        chrome: signed.chrome("runs"),
        id: id.clone(),
        head,
        workflow: format!(
            "{} v{}",
            run.summary.workflow_id, run.summary.workflow_version
        ),
        status: status.as_str().to_owned(),
        terminal,
        requested_by: run.summary.requested_by.clone(),
        started_at: run.summary.started_at.clone(),
        completed_at: run.summary.completed_at.clone().unwrap_or_default(),
        bpmn_sha256: run.bpmn_sha256.clone(),
        inputs: pretty(&run.inputs),
        error: run
            .error
            .as_ref()
            .map(|e| format!("{}: {}", text(&e["code"]), text(&e["message"])))
            .unwrap_or_default(),
        drawing,
        no_drawing,
        nodes: run
            .nodes
            .iter()
            .map(|n| NodeLine {
                node: n.node_id.clone(),
                state: n.state.as_str(),
                visits: n.visits,
                entered_at: n.entered_at.clone().unwrap_or_default(),
                left_at: n.left_at.clone().unwrap_or_default(),
            })
            .collect(),
        steps: run
            .steps
            .iter()
            .map(|s| StepLine {
                node: s.node_id.clone(),
                name: s.name.clone().unwrap_or_default(),
                kind: s.node_type.clone(),
                status: step_status(s.status).to_owned(),
                attempt: s.attempt.to_string(),
                agent: s.agent.clone().unwrap_or_default(),
                started_at: s.started_at.clone(),
                ended_at: s.ended_at.clone().unwrap_or_default(),
                output: s.output.as_ref().map(pretty).unwrap_or_default(),
                error: s.error.as_ref().map(pretty).unwrap_or_default(),
            })
            .collect(),
        calls: calls(&run),
        approvals: run
            .approvals
            .iter()
            .map(|a| ApprovalLine {
                id: text(&a["id"]),
                node: text(&a["nodeId"]),
                kind: text(&a["kind"]),
                status: text(&a["status"]),
                decided_by: text(&a["decidedBy"]),
                comment: text(&a["comment"]),
            })
            .collect(),
        questions: run
            .conversation
            .iter()
            .map(|q| QuestionLine {
                agent: q.agent.clone(),
                question: q.question.clone(),
                status: q.status.as_str().to_owned(),
                answer: q.answer.clone().unwrap_or_default(),
                answered_by: q.answered_by.clone().unwrap_or_default(),
            })
            .collect(),
        open_questions: run
            .pending_questions
            .iter()
            .map(|q| OpenQuestion {
                id: q.id.clone(),
                agent: q.agent.clone(),
                question: q.question.clone(),
            })
            .collect(),
        can_answer: signed.can(Permission::AnswerQuestion),
        can_cancel: !terminal && signed.can(Permission::CancelRun),
        can_retry: status == RunStatus::Failed && signed.can(Permission::RetryRun),
    };
    Ok(render(&page))
}

/// A step's status by its wire name.
fn step_status(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Active => "active",
        StepStatus::Completed => "completed",
        StepStatus::Failed => "failed",
        StepStatus::Cancelled => "cancelled",
        StepStatus::WaitingRetry => "waiting_retry",
    }
}

/// The run's tool calls: every call a step started, from the tool-call
/// journal, then every escalated call no step has run (yet), from its
/// approval request (which names the tool and the arguments its hash binds).
/// Nothing here reads the audit log.
fn calls(run: &RunDetail) -> Vec<CallLine> {
    let mut lines: Vec<CallLine> = run.tool_calls.iter().map(call_line).collect();
    let ran: Vec<&str> = run
        .tool_calls
        .iter()
        .filter_map(|c| c.approval_id.as_deref())
        .collect();
    for approval in &run.approvals {
        let id = text(&approval["id"]);
        if approval["kind"] != "tool_escalation" || ran.contains(&id.as_str()) {
            continue;
        }
        lines.push(CallLine {
            at: text(&approval["requestedAt"]),
            work: text(&approval["workId"]),
            tool: text(&approval["tool"]),
            arguments: pretty(&approval["arguments"]),
            status: text(&approval["status"]),
            executions: 0,
            decision: "escalate".to_owned(),
            rationale: text(&approval["policyRationale"]),
            approval: id,
        });
    }
    lines
}

fn call_line(call: &ToolCallView) -> CallLine {
    let outcome = call.outcome.as_ref();
    CallLine {
        at: call.started_at.clone(),
        work: call.work_id.clone(),
        tool: call.tool.clone(),
        arguments: pretty(&call.arguments),
        status: call.status.as_str().to_owned(),
        executions: call.executions,
        decision: outcome.map(|o| o.decision.clone()).unwrap_or_default(),
        rationale: outcome.map(|o| o.rationale.clone()).unwrap_or_default(),
        approval: call.approval_id.clone().unwrap_or_default(),
    }
}

/// `POST /runs/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    let reason = form.filled("reason").map(str::to_owned);
    cancel_run(&state, &signed.caller(), &id, reason).await?;
    Ok(Redirect::to(&format!("/runs/{id}")).into_response())
}

/// `POST /runs/{id}/retry`: runs the failed step again.
pub(crate) async fn retry(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    signed.form(&body)?;
    retry_run(&state, &signed.caller(), &id, None).await?;
    Ok(Redirect::to(&format!("/runs/{id}")).into_response())
}

/// `POST /questions/{id}/answer`: answers an agent's question; back to its
/// run.
pub(crate) async fn answer(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = signed.form(&body)?;
    let answered = answer_question(
        &state,
        &signed.caller(),
        &id,
        AnswerBody {
            answer: form.get("answer").unwrap_or_default().to_owned(),
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/runs/{}", answered.run_id)).into_response())
}

/// The run's diagram from its workflow version's BPMNDI, or why there is
/// none.
async fn diagram(state: &AppState, run: &RunDetail) -> Result<(Option<Drawing>, String), UiError> {
    let summary = &run.summary;
    let Some(found) = state
        .store
        .get_version(&summary.workflow_id, summary.workflow_version)
        .await
        .map_err(crate::error::ApiError::from)?
    else {
        return Ok((None, "The run's workflow version is gone.".to_owned()));
    };
    let defs = match parse(found.bpmn_xml.as_bytes(), &Limits::default()) {
        Ok(parsed) => parsed.definitions,
        Err(error) => return Ok((None, format!("The workflow cannot be read: {error}"))),
    };
    Ok(match draw(&defs, &node_states(&run.nodes)) {
        Some(drawing) => (Some(drawing), String::new()),
        None => (
            None,
            "This workflow has no diagram (its BPMN carries no BPMNDI shapes).".to_owned(),
        ),
    })
}

/// A query value, percent-encoded.
fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}
