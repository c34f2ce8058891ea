//! Runs: start, list, get, cancel, retry, and a live event stream.

use std::convert::Infallible;
use std::time::Duration;

use agentwerke_auth::Permission;
use agentwerke_engine::{Event, RunState, StepStatus};
use agentwerke_evidence::AuditRecord;
use agentwerke_runtime::command::{self, Command};
use agentwerke_store::{ApprovalRow, Page, QuestionFilter, QuestionRow, RunFilter, RunRow};
use agentwerke_types::{ApprovalStatus, QuestionStatus, RunStatus};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::code::Code;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};
use crate::routes::approvals::approval_view;
use crate::routes::audit::{AuditPage, AuditParams, page_of};
use crate::routes::node_views::NodeView;
use crate::routes::tool_calls::ToolCallView;
use crate::routes::views::{
    HaltView, QuestionView, RunEventStream, RunPage, RunStatusName, RunSummary,
};
use crate::routes::{MAX_PAGE_SIZE, PageParams, ts};
use crate::state::AppState;

/// `POST /api/runs` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRun {
    /// The workflow to run; its latest published version is used.
    pub workflow_id: String,
    /// Run inputs, visible to the process as `input.*`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Value>,
    /// A specific published version instead of the latest.
    #[serde(default)]
    pub version: Option<i64>,
}

/// A run just started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// The run's id.
    pub run_id: String,
    /// The same id, as `GET /api/runs/{id}` names it.
    pub id: String,
    /// Where it stands after its first step.
    #[schema(value_type = RunStatusName)]
    pub status: RunStatus,
    /// The workflow.
    pub workflow_id: String,
    /// The published version it runs.
    pub workflow_version: i64,
    /// Hex SHA-256 of that version's BPMN.
    pub bpmn_sha256: String,
}

/// A cancel or retry request taken: the run hears it at its next step.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The run.
    pub run_id: String,
    /// The step that runs again (a retry only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_id: Option<String>,
    /// Always true.
    pub accepted: bool,
}

/// Starts a run of the latest published version of a workflow.
#[utoipa::path(post, path = "/api/runs", tag = "runs", request_body = StartRun,
    responses((status = 201, description = "Started", body = Started),
              (status = 404, description = "No published version of the workflow (workflow.not_published)"),
              (status = 422, description = "Inputs that are not an object (run.invalid_inputs)")),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<StartRun>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(start_run(&state, &caller, body).await?),
    ))
}

/// Starts a run for `caller`: the API's `POST /api/runs` and the web UI's
/// start form, one road with one permission check.
pub(crate) async fn start_run(
    state: &AppState,
    caller: &Caller,
    body: StartRun,
) -> Result<Started, ApiError> {
    caller.require(Permission::StartRun)?;
    let run_id = uuid::Uuid::now_v7().to_string();
    let submitted = state
        .runtime
        .submit(Command::StartRun(command::StartRun {
            run_id: run_id.clone().into(),
            workflow_id: body.workflow_id,
            version: body.version,
            inputs: body.inputs.unwrap_or_else(|| json!({})),
            requested_by: caller.subject().to_owned(),
        }))
        .await?;
    let run = submitted
        .committed
        .created_run()
        .ok_or_else(|| ApiError::internal("a started run was not created"))?;
    Ok(Started {
        run_id: run_id.clone(),
        id: run_id,
        status: run.status,
        workflow_id: run.workflow_id.clone(),
        workflow_version: run.workflow_version,
        bpmn_sha256: run.bpmn_sha256.clone(),
    })
}

/// Filters and paging for the run list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// Only runs with this status.
    #[param(value_type = Option<RunStatusName>)]
    pub status: Option<String>,
    /// Only runs of this workflow.
    pub workflow_id: Option<String>,
}

/// Lists runs, newest first.
#[utoipa::path(get, path = "/api/runs", tag = "runs", params(ListParams, PageParams),
    responses((status = 200, description = "A page of runs, newest first", body = RunPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<ListParams>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<Json<RunPage>, ApiError> {
    Ok(Json(list_runs(&state, &caller, params, page).await?))
}

/// A page of runs `caller` may read, newest first: what `GET /api/runs`
/// answers and the web UI's run list shows.
pub(crate) async fn list_runs(
    state: &AppState,
    caller: &Caller,
    params: ListParams,
    page: PageParams,
) -> Result<RunPage, ApiError> {
    caller.require(Permission::Read)?;
    let status = match params.status.as_deref() {
        Some(status) => Some(RunStatus::parse(status).ok_or_else(|| {
            ApiError::bad_request(
                Code::RunUnknownStatus,
                format!("'{status}' is not a run status"),
            )
        })?),
        None => None,
    };
    let page = page.request()?;
    let page = state
        .store
        .list_runs(RunFilter {
            status,
            workflow_id: params.workflow_id,
            limit: page.limit,
            cursor: page.cursor,
        })
        .await?;
    Ok(RunPage {
        items: page.items.iter().map(RunSummary::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// One run: status, current steps, pending approvals, history.
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, description = "The run", body = RunDetail),
              (status = 404, description = "No such run (api.not_found)")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(run_detail(&state, &caller, &id).await?))
}

/// The run view `caller` may read, redacted and typed: what the web UI's
/// run page reads, the same document `GET /api/runs/{id}` answers.
pub(crate) async fn run_detail_view(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<RunDetail, ApiError> {
    let redacted = run_detail(state, caller, id).await?;
    serde_json::from_value(redacted).map_err(ApiError::internal)
}

/// The run view `caller` may read, redacted: what `GET /api/runs/{id}`
/// answers.
pub(crate) async fn run_detail(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Value, ApiError> {
    let id = id.to_owned();
    caller.require(Permission::Read)?;
    let (run, approvals) = state
        .store
        .get_run_with_approvals(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("run", &id))?;
    let questions = state
        .store
        .list_questions(QuestionFilter {
            status: None,
            run_id: Some(id.clone()),
        })
        .await?;
    let mut view = run_view(&run, &approvals, &questions)?;
    view.gateway_halts = affecting_halts(state, &run, &view.steps).await?;
    view.tool_calls = state
        .store
        .tool_calls_for_run(&id)
        .await?
        .iter()
        .map(ToolCallView::from)
        .collect();
    view.nodes = state
        .runtime
        .run_nodes(&run)
        .await?
        .iter()
        .map(NodeView::from)
        .collect();
    state.redacted(&view)
}

/// The kill-switch halts that block this run's tool calls: global ones, its
/// workflow's, and those of agents that work in it.
async fn affecting_halts(
    state: &AppState,
    run: &RunRow,
    steps: &[StepView],
) -> Result<Vec<HaltView>, ApiError> {
    use agentwerke_store::gateway::HaltScope;
    let agents: Vec<&str> = steps.iter().filter_map(|s| s.agent.as_deref()).collect();
    let halts: Vec<HaltView> = state
        .store
        .halts()
        .await?
        .iter()
        .filter(|h| match h.scope {
            HaltScope::Global => true,
            HaltScope::Workflow => h.target == run.workflow_id,
            HaltScope::Agent => agents.contains(&h.target.as_str()),
        })
        .map(HaltView::from)
        .collect();
    Ok(halts)
}

/// `POST /api/runs/{id}/cancel` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRun {
    /// Why; recorded in the audit trail.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Cancels a run: open work stops, open approvals and questions close.
#[utoipa::path(post, path = "/api/runs/{id}/cancel", tag = "runs", params(("id" = String, Path)),
    request_body = CancelRun,
    responses((status = 202, description = "Cancellation accepted", body = Accepted),
              (status = 404, description = "No such run (api.not_found)"),
              (status = 409, description = "The run already ended (run.finished)")),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    body: Option<AppJson<CancelRun>>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    cancel_run(&state, &caller, &id, body.and_then(|AppJson(b)| b.reason)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            run_id: id,
            work_id: None,
            accepted: true,
        }),
    ))
}

/// Cancels run `id` for `caller`: the API's cancel and the web UI's cancel
/// button, one road with one permission check.
pub(crate) async fn cancel_run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    reason: Option<String>,
) -> Result<(), ApiError> {
    caller.require(Permission::CancelRun)?;
    let command = Command::CancelRun(command::CancelRun {
        run_id: id.to_owned().into(),
        reason,
        by: caller.subject().to_owned(),
    });
    state.runtime.submit(command).await?;
    Ok(())
}

/// `POST /api/runs/{id}/retry` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryRun {
    /// The failed step; defaults to the run's last failed step.
    #[serde(default)]
    pub work_id: Option<String>,
}

/// Retries the failed step of a failed run.
#[utoipa::path(post, path = "/api/runs/{id}/retry", tag = "runs", params(("id" = String, Path)),
    request_body = RetryRun,
    responses((status = 202, description = "Retry accepted", body = Accepted),
              (status = 404, description = "No such run (api.not_found)"),
              (status = 409, description = "Not failed (run.not_failed), or no such failed step (run.no_failed_step)")),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    body: Option<AppJson<RetryRun>>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let work_id = retry_run(&state, &caller, &id, body.and_then(|AppJson(b)| b.work_id)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            run_id: id,
            work_id: Some(work_id.to_string()),
            accepted: true,
        }),
    ))
}

/// Retries the failed step `work_id` (default: the last failed one) of run
/// `id` for `caller`: the API's retry and the web UI's retry button, one
/// road with one permission check. The step that runs again.
pub(crate) async fn retry_run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    work_id: Option<String>,
) -> Result<agentwerke_engine::WorkId, ApiError> {
    caller.require(Permission::RetryRun)?;
    let command = Command::RetryStep(command::RetryStep {
        run_id: id.to_owned().into(),
        work_id,
        by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    let Some(Event::RetryStep { work_id, .. }) = submitted.event else {
        return Err(ApiError::internal("a retry planned no retry_step event"));
    };
    Ok(work_id)
}

/// The run's audit log, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/runs/{id}/audit", tag = "audit",
    params(("id" = String, Path), crate::routes::audit::AuditParams),
    responses((status = 200, description = "A page of the run's hash-chained audit records, oldest first", body = AuditPage),
              (status = 400, description = "The cursor is not a record's seq (request.invalid_cursor), or the limit is not 1 to 200 (request.invalid_query)"),
              (status = 404, description = "No such run (api.not_found)")),
    security(("bearer" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppQuery(params): AppQuery<AuditParams>,
) -> Result<Json<Page<AuditRecord>>, ApiError> {
    caller.require(Permission::Read)?;
    load(&state, &id).await?;
    Ok(Json(page_of(&state, &id, &params).await?))
}

/// A live stream of the run's audit records as server-sent events; ends when
/// the run reaches a terminal status.
#[utoipa::path(get, path = "/api/runs/{id}/stream", tag = "runs", params(("id" = String, Path)),
    responses((status = 200, description = "Server-sent events: `audit` (a JSON array of records), `text` (the model's text as it arrives, not persisted), then `end`",
               content_type = "text/event-stream", body = RunEventStream),
              (status = 404, description = "No such run (api.not_found)")),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    run_stream(state, &caller, id, 0).await
}

/// The run's live stream for `caller` (see [`stream`]): the API's
/// `/api/runs/{id}/stream` and the web UI's run page follow the same
/// source, with the same permission check. Records up to `after` (a
/// `seq`) are not sent: a page that already shows them follows from there.
pub(crate) async fn run_stream(
    state: AppState,
    caller: &Caller,
    id: String,
    after: u64,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>>, ApiError> {
    caller.require(Permission::Read)?;
    load(&state, &id).await?;
    let events = async_stream(state, id, after);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn async_stream(
    state: AppState,
    id: String,
    after: u64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    // The model's text as it arrives, in memory only (the runtime redacts
    // it, holding back a tail so a secret split across pieces is whole
    // before any of it is sent).
    let text = state.runtime.live().subscribe(&id);
    futures::stream::unfold(
        (state, id, after, false, text),
        |(state, id, mut sent, done, mut text)| async move {
            if done {
                return None;
            }
            loop {
                let fresh = match state.store.audit_page(&id, sent, MAX_PAGE_SIZE).await {
                    Ok(page) => page.items,
                    Err(_) => Vec::new(),
                };
                let finished = match state.store.get_run(&id).await {
                    Ok(Some(run)) => run.status.is_terminal(),
                    _ => true,
                };
                if !fresh.is_empty() || finished {
                    sent = fresh.iter().map(|record| record.seq).fold(sent, u64::max);
                    let event = if fresh.is_empty() {
                        SseEvent::default().event("end").data("{}")
                    } else {
                        // Redacted on the way out like every answer: a record
                        // kept before a secret was known still never leaves
                        // with it, and says it was redacted after chaining.
                        let redactor = state.keeper.redactor();
                        let batch: Vec<_> = fresh
                            .iter()
                            .map(|record| record.clone().redacted(redactor))
                            .collect();
                        let data =
                            serde_json::to_string(&batch).unwrap_or_else(|_| "[]".to_owned());
                        SseEvent::default().event("audit").data(data)
                    };
                    let ended = finished && fresh.is_empty();
                    return Some((
                        Ok(event),
                        (state, id, sent, ended || finished && fresh.is_empty(), text),
                    ));
                }
                let piece = tokio::select! {
                    piece = text.recv() => piece.ok(),
                    () = tokio::time::sleep(Duration::from_millis(250)) => None,
                };
                if let Some(piece) = piece {
                    // Redacted again on the way out, for a secret learned
                    // since.
                    let data = state
                        .redacted(&piece)
                        .map(|piece| piece.to_string())
                        .unwrap_or_else(|_| "{}".to_owned());
                    let event = SseEvent::default().event("text").data(data);
                    return Some((Ok(event), (state, id, sent, false, text)));
                }
            }
        },
    )
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<RunRow, ApiError> {
    state
        .store
        .get_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found("run", id))
}

/// The full run view the API and the CLI show.
/// One step of a run, as the run view lists it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepView {
    /// The attempt's work id.
    pub work_id: String,
    /// Its BPMN node.
    pub node_id: String,
    /// The node's name.
    pub name: Option<String>,
    /// The node's BPMN type, e.g. `serviceTask`.
    #[serde(rename = "type")]
    pub node_type: String,
    /// `active`, `waiting_retry`, `completed`, `failed` ...
    #[schema(value_type = String)]
    pub status: StepStatus,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub ended_at: Option<String>,
    /// The agent, for an agent task.
    pub agent: Option<String>,
    /// What it produced (any JSON).
    #[schema(value_type = Option<Value>)]
    pub output: Option<Value>,
    /// Why it failed: `code` and `message`.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
}

impl From<&agentwerke_engine::StepRecord> for StepView {
    fn from(step: &agentwerke_engine::StepRecord) -> Self {
        Self {
            work_id: step.work_id.to_string(),
            node_id: step.node_id.clone(),
            name: step.name.clone(),
            node_type: step.node_type.clone(),
            status: step.status,
            attempt: step.attempt,
            started_at: ts(step.started_at),
            ended_at: step.ended_at.map(ts),
            agent: step.agent.clone(),
            output: step.output.clone(),
            error: step.error.as_ref().map(|e| json!(e)),
        }
    }
}

/// A run with its steps, approvals, conversation and the halts holding it.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDetail {
    /// What the run list shows.
    #[serde(flatten)]
    pub summary: RunSummary,
    /// Hex SHA-256 of the BPMN it runs.
    pub bpmn_sha256: String,
    /// Its inputs, as given (redacted).
    #[schema(value_type = Object)]
    pub inputs: Value,
    /// The steps now active or waiting to retry.
    pub current_steps: Vec<StepView>,
    /// Approvals waiting for a decision.
    #[schema(value_type = Vec<crate::routes::approvals::ApprovalDoc>)]
    pub pending_approvals: Vec<Value>,
    /// Every step, in start order.
    pub steps: Vec<StepView>,
    /// Every approval, oldest first.
    #[schema(value_type = Vec<crate::routes::approvals::ApprovalDoc>)]
    pub approvals: Vec<Value>,
    /// Questions waiting for an answer.
    pub pending_questions: Vec<QuestionView>,
    /// Every question and answer, oldest first.
    pub conversation: Vec<QuestionView>,
    /// Why the run failed: `code`, `message` and the node.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    /// `output`: each node's output by node id.
    #[schema(value_type = Object)]
    pub context: Value,
    /// The kill-switch halts that cover this run.
    pub gateway_halts: Vec<HaltView>,
    /// Every tool call a step started, oldest first, from the tool-call
    /// journal: what ran, how many times, and what came of it. Calls the
    /// gateway refused or escalated never started; the audit log
    /// (`tool.called`) has those.
    pub tool_calls: Vec<ToolCallView>,
    /// Every BPMN node the run's tokens passed, events and gateways
    /// included, in the order they were first reached, then the nodes the
    /// run can no longer reach (`skipped`), in model order. A node that is
    /// not listed is not reached yet.
    pub nodes: Vec<NodeView>,
}

pub(crate) fn run_view(
    run: &RunRow,
    approvals: &[ApprovalRow],
    questions: &[QuestionRow],
) -> Result<RunDetail, ApiError> {
    let run_state: RunState =
        serde_json::from_value(run.state.clone()).map_err(ApiError::internal)?;
    let steps: Vec<StepView> = run_state.steps().iter().map(StepView::from).collect();
    let current: Vec<StepView> = run_state
        .steps()
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Active | StepStatus::WaitingRetry))
        .map(StepView::from)
        .collect();
    Ok(RunDetail {
        summary: RunSummary::from(run),
        bpmn_sha256: run.bpmn_sha256.clone(),
        inputs: run.inputs.clone(),
        current_steps: current,
        pending_approvals: approvals
            .iter()
            .filter(|a| a.status == ApprovalStatus::Pending)
            .map(approval_view)
            .collect(),
        steps,
        approvals: approvals.iter().map(approval_view).collect(),
        pending_questions: questions
            .iter()
            .filter(|q| q.status == QuestionStatus::Open)
            .map(QuestionView::from)
            .collect(),
        conversation: questions.iter().map(QuestionView::from).collect(),
        error: run_state.error().map(|e| json!(e)),
        context: json!({"output": run_state.context().get("output")}),
        gateway_halts: Vec::new(),
        tool_calls: Vec::new(),
        nodes: Vec::new(),
    })
}
