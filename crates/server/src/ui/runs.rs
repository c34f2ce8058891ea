//! The run list, the start form, the run page and its cancel button.
//!
//! Every read and write goes through the API's own functions
//! (`routes::runs`), so a page shows what the API answers (redacted) and
//! a button does what the API does, with the same permission check.

use agentwerke_auth::Permission;
use agentwerke_bpmn::{Limits, parse};
use agentwerke_types::RunStatus;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::routes::PageParams;
use crate::routes::audit::{AuditParams, page_of};
use crate::routes::questions::{AnswerBody, answer_question};
use crate::routes::runs::{
    ListParams, StartRun, cancel_run, list_runs, retry_run, run_detail, start_run,
};
use crate::state::AppState;
use crate::ui::auth::{Chrome, Form, SignedIn, UiError, render};
use crate::ui::diagram::{Drawing, draw, node_states};
use crate::ui::{pretty, text};

/// `?status=` and `?cursor=` of the run list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    status: String,
    cursor: Option<String>,
}

/// One run as the list shows it.
struct RunLine {
    id: String,
    workflow: String,
    status: String,
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
    let page = list_runs(
        &state,
        &signed.caller(),
        ListParams {
            status: (!status.is_empty()).then(|| status.clone()),
            workflow_id: None,
        },
        PageParams {
            limit: None,
            cursor: query.cursor,
        },
    )
    .await?;
    let can_start = signed.can(Permission::StartRun);
    let workflows = if can_start {
        state
            .store
            .list_workflows()
            .await
            .map_err(crate::error::ApiError::from)?
            .into_iter()
            .filter(|w| w.published_version.is_some())
            .map(|w| w.id)
            .collect()
    } else {
        Vec::new()
    };
    let next = page.next_cursor.map(|cursor| {
        format!(
            "/runs?status={}&cursor={}",
            encode(&status),
            encode(&cursor)
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
    let form = Form::parse(&body)?;
    signed.check_csrf(&form)?;
    let inputs = match form.get("inputs").map(str::trim).filter(|i| !i.is_empty()) {
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

/// One tool call as the gateway decided it (`tool.called`).
struct CallLine {
    at: String,
    node: String,
    tool: String,
    arguments: String,
    decision: String,
    status: String,
    rationale: String,
    risk_score: String,
    risk_factors: String,
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

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    chrome: Chrome,
    id: String,
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

/// `GET /runs/{id}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let caller = signed.caller();
    let run = run_detail(&state, &caller, &id).await?;
    let status = text(&run["status"]);
    let terminal = RunStatus::parse(&status).is_none_or(RunStatus::is_terminal);
    let status_is_failed = RunStatus::parse(&status) == Some(RunStatus::Failed);
    let (drawing, no_drawing) = diagram(&state, &run).await?;
    let page = RunPage {
        chrome: signed.chrome("runs"),
        id: id.clone(),
        workflow: format!("{} v{}", text(&run["workflowId"]), run["workflowVersion"]),
        status,
        terminal,
        requested_by: text(&run["requestedBy"]),
        started_at: text(&run["startedAt"]),
        completed_at: text(&run["completedAt"]),
        bpmn_sha256: text(&run["bpmnSha256"]),
        inputs: pretty(&run["inputs"]),
        error: if run["error"].is_null() {
            String::new()
        } else {
            format!(
                "{}: {}",
                text(&run["error"]["code"]),
                text(&run["error"]["message"])
            )
        },
        drawing,
        no_drawing,
        steps: items(&run["steps"])
            .map(|s| StepLine {
                node: text(&s["nodeId"]),
                name: text(&s["name"]),
                kind: text(&s["type"]),
                status: text(&s["status"]),
                attempt: s["attempt"].to_string(),
                agent: text(&s["agent"]),
                started_at: text(&s["startedAt"]),
                ended_at: text(&s["endedAt"]),
                output: optional_pretty(&s["output"]),
                error: optional_pretty(&s["error"]),
            })
            .collect(),
        calls: tool_calls(&state, &id).await?,
        approvals: items(&run["approvals"])
            .map(|a| ApprovalLine {
                id: text(&a["id"]),
                node: text(&a["nodeId"]),
                kind: text(&a["kind"]),
                status: text(&a["status"]),
                decided_by: text(&a["decidedBy"]),
                comment: text(&a["comment"]),
            })
            .collect(),
        questions: items(&run["conversation"])
            .map(|q| QuestionLine {
                agent: text(&q["agent"]),
                question: text(&q["question"]),
                status: text(&q["status"]),
                answer: text(&q["answer"]),
                answered_by: text(&q["answeredBy"]),
            })
            .collect(),
        open_questions: items(&run["pendingQuestions"])
            .map(|q| OpenQuestion {
                id: text(&q["id"]),
                agent: text(&q["agent"]),
                question: text(&q["question"]),
            })
            .collect(),
        can_answer: signed.can(Permission::AnswerQuestion),
        can_cancel: !terminal && signed.can(Permission::CancelRun),
        can_retry: status_is_failed && signed.can(Permission::RetryRun),
    };
    Ok(render(&page))
}

/// `POST /runs/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let form = Form::parse(&body)?;
    signed.check_csrf(&form)?;
    let reason = form
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
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
    signed.check_csrf(&Form::parse(&body)?)?;
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
    let form = Form::parse(&body)?;
    signed.check_csrf(&form)?;
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
async fn diagram(state: &AppState, run: &Value) -> Result<(Option<Drawing>, String), UiError> {
    let workflow = text(&run["workflowId"]);
    let Some(version) = run["workflowVersion"].as_i64() else {
        return Ok((None, "The run names no workflow version.".to_owned()));
    };
    let Some(found) = state
        .store
        .get_version(&workflow, version)
        .await
        .map_err(crate::error::ApiError::from)?
    else {
        return Ok((None, "The run's workflow version is gone.".to_owned()));
    };
    let defs = match parse(found.bpmn_xml.as_bytes(), &Limits::default()) {
        Ok(parsed) => parsed.definitions,
        Err(error) => return Ok((None, format!("The workflow cannot be read: {error}"))),
    };
    Ok(match draw(&defs, &node_states(run)) {
        Some(drawing) => (Some(drawing), String::new()),
        None => (
            None,
            "This workflow has no diagram (its BPMN carries no BPMNDI shapes).".to_owned(),
        ),
    })
}

/// The most audit records read for one run page (a page of 200 at a time).
const MAX_AUDIT_PAGES: usize = 50;

/// Every `tool.called` record of the run, oldest first, as the audit API
/// answers them (redacted again on the way out).
async fn tool_calls(state: &AppState, run_id: &str) -> Result<Vec<CallLine>, UiError> {
    let mut calls = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_AUDIT_PAGES {
        let page = page_of(
            state,
            run_id,
            &AuditParams {
                limit: Some(crate::routes::MAX_PAGE_SIZE),
                cursor,
            },
        )
        .await?;
        for record in page.items.iter().filter(|r| r.kind == "tool.called") {
            let d = &record.data;
            calls.push(CallLine {
                at: record.at.clone(),
                node: text(&d["nodeId"]),
                tool: text(&d["tool"]),
                arguments: pretty(&d["arguments"]),
                decision: text(&d["decision"]),
                status: text(&d["status"]),
                rationale: text(&d["rationale"]),
                risk_score: d["riskScore"].to_string(),
                risk_factors: items(&d["riskFactors"])
                    .map(|f| format!("{} (+{})", text(&f["name"]), f["weight"]))
                    .collect::<Vec<_>>()
                    .join(", "),
                approval: text(&d["approvalId"]),
            });
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(calls)
}

fn items(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// Pretty JSON, or nothing for null.
fn optional_pretty(value: &Value) -> String {
    if value.is_null() {
        String::new()
    } else {
        pretty(value)
    }
}

/// A query value, percent-encoded.
fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}
