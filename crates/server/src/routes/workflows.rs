//! Workflows: import, validate, publish, list, get, versions.

use agentwerke_auth::Permission;
use agentwerke_bpmn::Limits;
use agentwerke_runtime::command::{Command, ImportWorkflow, PublishWorkflow};
use agentwerke_runtime::definitions::{Checked, check, redact_document};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::code::Code;
use crate::error::ApiError;
use crate::extract::{AppPath, AppQuery, Caller, XmlBody};
use crate::routes::PageParams;
use crate::routes::workflow_views::{
    DiagnosticView, Verdict, VersionPage, VersionView, WorkflowDetail, WorkflowPage, WorkflowView,
};
use crate::state::AppState;

/// Optional naming for an import.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Workflow id; defaults to the executable process id.
    #[param(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub id: Option<String>,
    /// Display name; defaults to the process or definitions name.
    pub name: Option<String>,
}

/// Validates BPMN without storing anything: the verdict on the document as
/// an import would keep it, redacted.
#[utoipa::path(post, path = "/api/workflows/validate", tag = "workflows",
    request_body(content = String, content_type = "application/xml"),
    responses((status = 200, description = "The verdict with every diagnostic", body = Verdict),
              (status = 422, description = "`workflow.too_complex`: not checked within the time limit; \
                `workflow.secret_unredactable`: redaction would break the document"),
              (status = 503, description = "Every slot for checking BPMN stayed taken (workflow.checks_busy); try again")),
    security(("bearer" = [])))]
pub async fn validate(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<XmlBody, ApiError>,
) -> Result<Json<Verdict>, ApiError> {
    caller.require(Permission::Read)?;
    let XmlBody(body) = body?;
    let (_, checked) = check_redacted(&state, body).await?;
    Ok(Json(Verdict {
        valid: checked.is_executable(),
        diagnostics: checked
            .diagnostics
            .iter()
            .map(DiagnosticView::from)
            .collect(),
    }))
}

/// Imports BPMN as a new draft version, redacted: known secret values and
/// credential shapes (in prompts, metadata, names) are replaced before the
/// document is checked, and the redacted document is what is checked, kept,
/// hashed and run. Refused with every diagnostic when the document is not
/// executable, and with `workflow.secret_unredactable` when redaction would
/// break it; nothing is stored then.
#[utoipa::path(post, path = "/api/workflows", tag = "workflows",
    params(ImportParams),
    request_body(content = String, content_type = "application/xml"),
    responses((status = 201, description = "Imported as a draft version", body = VersionView),
              (status = 400, description = "An id that is not plain (workflow.invalid_id), or a body that \
                is not UTF-8 (workflow.not_utf8)"),
              (status = 422, description = "Not executable; every diagnostic is listed (workflow.invalid), or not checked within the time limit (workflow.too_complex), \
                or holding a secret or credential where redaction would break it (workflow.secret_unredactable)"),
              (status = 503, description = "Every slot for checking BPMN stayed taken (workflow.checks_busy); try again")),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<ImportParams>,
    body: Result<XmlBody, ApiError>,
) -> Result<(StatusCode, Json<VersionView>), ApiError> {
    caller.require(Permission::ManageWorkflows)?;
    let XmlBody(body) = body?;
    let view = import_workflow(&state, &caller, params, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Imports `body` as a draft version for `caller`: the API's
/// `POST /api/workflows` and the web UI's upload form. A document that is
/// not executable is refused with `workflow.invalid` and every diagnostic
/// (with its line) as the error's detail.
pub(crate) async fn import_workflow(
    state: &AppState,
    caller: &Caller,
    params: ImportParams,
    body: axum::body::Bytes,
) -> Result<VersionView, ApiError> {
    caller.require(Permission::ManageWorkflows)?;
    let (body, checked) = check_redacted(state, body).await?;
    let (workflow_id, name) = naming(&checked, &params)?;
    refuse_unless_executable(&checked)?;
    let xml = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request(Code::WorkflowNotUtf8, "store BPMN as UTF-8 text"))?;
    let command = Command::ImportWorkflow(ImportWorkflow {
        workflow_id,
        name,
        bpmn_xml: xml,
        diagnostics: json!(checked.diagnostics),
        by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    let version = submitted
        .committed
        .workflow_version()
        .ok_or_else(|| ApiError::internal("an import wrote no version"))?;
    Ok(VersionView::new(version, false))
}

/// Publishes a version; published versions are immutable and runs start on
/// the latest one. The version is checked again first, against the tools
/// the server has now: a draft that names a tool removed since its import is
/// refused with every diagnostic.
#[utoipa::path(post, path = "/api/workflows/{id}/versions/{version}/publish", tag = "workflows",
    params(("id" = String, Path), ("version" = i64, Path)),
    responses((status = 200, description = "Published", body = VersionView),
              (status = 404, description = "No such version (api.not_found)"),
              (status = 422, description = "No longer executable; every diagnostic is listed"),
              (status = 503, description = "Every slot for checking BPMN stayed taken (workflow.checks_busy); try again")),
    security(("bearer" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((id, version)): AppPath<(String, i64)>,
) -> Result<Json<VersionView>, ApiError> {
    publish_version(&state, &caller, id, version)
        .await
        .map(Json)
}

/// Publishes version `version` of workflow `id` for `caller`: the API's
/// publish and the web UI's publish button.
pub(crate) async fn publish_version(
    state: &AppState,
    caller: &Caller,
    id: String,
    version: i64,
) -> Result<VersionView, ApiError> {
    caller.require(Permission::ManageWorkflows)?;
    if let Some(stored) = state.store.get_version(&id, version).await? {
        let checked = check_bounded(state, axum::body::Bytes::from(stored.bpmn_xml)).await?;
        refuse_unless_executable(&checked)?;
    }
    let command = Command::PublishWorkflow(PublishWorkflow {
        workflow_id: id,
        version,
        by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    let published = submitted
        .committed
        .workflow_version()
        .ok_or_else(|| ApiError::internal("a publication wrote no version"))?;
    Ok(VersionView::new(published, false))
}

/// Lists workflows.
#[utoipa::path(get, path = "/api/workflows", tag = "workflows", params(PageParams),
    responses((status = 200, description = "A page of workflows, by id", body = WorkflowPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<Json<WorkflowPage>, ApiError> {
    list_workflows(&state, &caller, page).await.map(Json)
}

/// A page of workflows for `caller`: the API's list and the web UI's.
pub(crate) async fn list_workflows(
    state: &AppState,
    caller: &Caller,
    page: PageParams,
) -> Result<WorkflowPage, ApiError> {
    caller.require(Permission::Read)?;
    let page = state.store.page_workflows(page.request()?).await?;
    Ok(WorkflowPage {
        items: page.items.iter().map(WorkflowView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// One workflow with its versions.
#[utoipa::path(get, path = "/api/workflows/{id}", tag = "workflows",
    params(("id" = String, Path)),
    responses((status = 200, description = "The workflow with the first page of its versions", body = WorkflowDetail),
              (status = 404, description = "No such workflow (api.not_found)")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<WorkflowDetail>, ApiError> {
    workflow_detail(&state, &caller, &id).await.map(Json)
}

/// One workflow with its versions, for `caller`: the API's
/// `GET /api/workflows/{id}` and the web UI's workflow page.
pub(crate) async fn workflow_detail(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<WorkflowDetail, ApiError> {
    caller.require(Permission::Read)?;
    let workflow = state
        .store
        .get_workflow(id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow", id))?;
    let versions = state
        .store
        .page_versions(id, PageParams::default().request()?)
        .await?;
    let versions = VersionPage::from(versions);
    Ok(WorkflowDetail {
        workflow: WorkflowView::from(&workflow),
        versions: versions.items,
        versions_next_cursor: versions.next_cursor,
    })
}

/// The versions of a workflow, newest first, a page at a time.
#[utoipa::path(get, path = "/api/workflows/{id}/versions", tag = "workflows",
    params(("id" = String, Path), PageParams),
    responses((status = 200, description = "A page of versions, newest first", body = VersionPage),
              (status = 400, description = "The limit is not 1 to 200 (request.invalid_query) or the cursor is not one this list gave (request.invalid_cursor)"),
              (status = 404, description = "No such workflow (api.not_found)")),
    security(("bearer" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<Json<VersionPage>, ApiError> {
    caller.require(Permission::Read)?;
    state
        .store
        .get_workflow(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow", &id))?;
    let versions = state.store.page_versions(&id, page.request()?).await?;
    Ok(Json(VersionPage::from(versions)))
}

/// One version, with its BPMN; redacted on the way out too, so a value that
/// became known after the import never leaves with it (the document is
/// kept, hashed and run as it was imported).
#[utoipa::path(get, path = "/api/workflows/{id}/versions/{version}", tag = "workflows",
    params(("id" = String, Path), ("version" = i64, Path)),
    responses((status = 200, description = "The version and its BPMN", body = VersionView),
              (status = 404, description = "No such version (api.not_found)")),
    security(("bearer" = [])))]
pub async fn version(
    State(state): State<AppState>,
    caller: Caller,
    AppPath((id, version)): AppPath<(String, i64)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Permission::Read)?;
    let found = state
        .store
        .get_version(&id, version)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow version", &format!("{id}@{version}")))?;
    Ok(Json(state.redacted(&VersionView::new(&found, true))?))
}

/// The document as it would be kept, redacted (see
/// [`redact_document`]), and the check of that document. A document that
/// is only not executable once redacted (a credential shape taken out of a
/// tool name, say) is refused with `workflow.secret_unredactable`, not
/// with findings about text its author never wrote. A body that is not
/// UTF-8 is checked as given: it is never kept.
async fn check_redacted(
    state: &AppState,
    body: axum::body::Bytes,
) -> Result<(axum::body::Bytes, Checked), ApiError> {
    let Ok(text) = std::str::from_utf8(&body).map(str::to_owned) else {
        let checked = check_bounded(state, body.clone()).await?;
        return Ok((body, checked));
    };
    let redactor = state.keeper.redactor().clone();
    let redacted = tokio::task::spawn_blocking(move || {
        redact_document(&text, &redactor).map(|redacted| (redacted != text, redacted))
    })
    .await
    .map_err(|_| ApiError::internal("redacting the BPMN document failed unexpectedly"))?;
    let (changed, redacted) = redacted?;
    let redacted = axum::body::Bytes::from(redacted);
    let checked = check_bounded(state, redacted.clone()).await?;
    if changed && !checked.is_executable() && check_bounded(state, body).await?.is_executable() {
        return Err(agentwerke_runtime::command::Error::SecretInDocument.into());
    }
    Ok((redacted, checked))
}

/// Checks BPMN against the tools the gateway has now, on a blocking thread
/// so that a large document never stalls the request loop, and within
/// [`crate::ApiLimits::check_timeout`]: a document that takes longer is
/// refused with `workflow.too_complex`. A check cannot be interrupted, so
/// one that overruns still finishes on its thread; it is linear in the
/// document's size, which the body limit bounds.
async fn check_bounded(state: &AppState, body: axum::body::Bytes) -> Result<Checked, ApiError> {
    let limits = bpmn_limits(state);
    let tools = state.gateway.known_tools();
    let timeout = state.limits.check_timeout;
    let Some(slot) = state.limits.check_slots.take(timeout).await else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::WorkflowChecksBusy,
            "every slot for checking BPMN documents is taken; try again shortly",
        ));
    };
    let task = tokio::task::spawn_blocking(move || {
        let checked = check(&body, &limits, &tools);
        drop(slot);
        checked
    });
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(checked)) => Ok(checked),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::WorkflowCheckFailed,
            "checking the BPMN document failed unexpectedly",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::WorkflowTooComplex,
            format!(
                "the BPMN document could not be checked within {} ms; split it into smaller workflows",
                timeout.as_millis()
            ),
        )),
    }
}

/// 422 `workflow.invalid` with every diagnostic, unless `checked` can run.
fn refuse_unless_executable(checked: &Checked) -> Result<(), ApiError> {
    if checked.is_executable() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        Code::WorkflowInvalid,
        "the BPMN document is not an executable Agentwerke workflow; every problem is listed",
    )
    .with_detail(json!(checked.diagnostics)))
}

fn bpmn_limits(state: &AppState) -> Limits {
    Limits {
        max_bytes: state.limits.max_body_bytes,
        ..Limits::default()
    }
}

/// Workflow ids are path segments and CLI arguments: keep them plain.
fn naming(checked: &Checked, params: &ImportParams) -> Result<(String, String), ApiError> {
    let process = checked
        .definitions
        .as_ref()
        .and_then(|d| d.executable_process());
    let id = params
        .id
        .clone()
        .or_else(|| process.map(|p| p.id.clone()))
        .unwrap_or_default();
    let plain = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain && (checked.is_executable() || params.id.is_some()) {
        return Err(ApiError::bad_request(
            Code::WorkflowInvalidId,
            "a workflow id is 1 to 128 characters of letters, digits, '-', '_' or '.'; pass ?id= to choose one",
        ));
    }
    let name = params
        .name
        .clone()
        .or_else(|| process.and_then(|p| p.name.clone()))
        .or_else(|| checked.definitions.as_ref().and_then(|d| d.name.clone()))
        .unwrap_or_else(|| id.clone());
    Ok((id, name))
}
