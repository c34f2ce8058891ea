//! Workflows: the list, a workflow's versions and their state, the BPMN
//! upload with its findings shown at their lines, and publish.
//!
//! The upload is the API's import (`routes::workflows::import_workflow`):
//! the same redaction, the same check against the tools the server has, the
//! same permission. Its form is `multipart/form-data` (a file input), so it
//! carries the session's CSRF token as a field of its own, checked before
//! the file is looked at.

use agentwerke_auth::Permission;
use askama::Template;
use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::code::Code;
use crate::error::ApiError;
use crate::routes::PageParams;
use crate::routes::workflows::{
    ImportParams, import_workflow, list_workflows, publish_version, workflow_detail,
};
use crate::state::AppState;
use crate::ui::auth::{Chrome, SignedIn, UiError, render};
use crate::ui::listing::{Finding, Line, listing, refusal_findings, unplaced};
use crate::ui::text;

/// How many lines around each finding the upload page shows.
const CONTEXT_LINES: u32 = 2;

/// `?cursor=` of the list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    cursor: Option<String>,
}

/// One workflow in the list.
struct WorkflowLine {
    id: String,
    name: String,
    latest: i64,
    published: String,
    updated_at: String,
}

/// A refused upload: why, and the file's offending lines.
struct Refused {
    file_name: String,
    problem: String,
    lines: Vec<Line>,
    unplaced: Vec<Finding>,
}

#[derive(Template)]
#[template(path = "workflows.html")]
struct WorkflowsPage {
    chrome: Chrome,
    workflows: Vec<WorkflowLine>,
    next: Option<String>,
    /// Whether the upload form is shown.
    can_manage: bool,
    /// The last upload, when it was refused.
    refused: Option<Refused>,
}

/// `GET /workflows`.
pub(crate) async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    list_page(&state, &signed, query.cursor, None, StatusCode::OK).await
}

async fn list_page(
    state: &AppState,
    signed: &SignedIn,
    cursor: Option<String>,
    refused: Option<Refused>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let page = list_workflows(
        state,
        &signed.caller(),
        PageParams {
            limit: None,
            cursor,
        },
    )
    .await?;
    let page = WorkflowsPage {
        chrome: signed.chrome("workflows"),
        workflows: page
            .items
            .into_iter()
            .map(|w| WorkflowLine {
                published: w
                    .published_version
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                id: w.id,
                name: w.name,
                latest: w.latest_version,
                updated_at: w.updated_at,
            })
            .collect(),
        next: page
            .next_cursor
            .map(|cursor| format!("/workflows?cursor={cursor}")),
        can_manage: signed.can(Permission::ManageWorkflows),
        refused,
    };
    let mut response = render(&page);
    *response.status_mut() = status;
    Ok(response)
}

/// The upload form's fields: the token, the optional id, the file.
struct Upload {
    csrf: Option<String>,
    id: Option<String>,
    file_name: String,
    file: Bytes,
}

/// Reads every field of the upload; the body limit bounds the whole.
async fn read_upload(mut multipart: Multipart) -> Result<Upload, UiError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        UiError::page(
            StatusCode::BAD_REQUEST,
            format!("The upload is unreadable: {e}"),
        )
    };
    let mut upload = Upload {
        csrf: None,
        id: None,
        file_name: String::new(),
        file: Bytes::new(),
    };
    while let Some(field) = multipart.next_field().await.map_err(|e| unreadable(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| unreadable(&e))?;
        let as_text = || String::from_utf8_lossy(&bytes).trim().to_owned();
        match name.as_str() {
            "csrf" => upload.csrf = Some(as_text()),
            "id" => upload.id = Some(as_text()).filter(|id| !id.is_empty()),
            "bpmn" => {
                upload.file_name = file_name;
                upload.file = bytes;
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// `POST /workflows`: imports the uploaded BPMN file as a draft version,
/// or shows the file's offending lines with every finding at its line.
pub(crate) async fn upload(
    State(state): State<AppState>,
    signed: SignedIn,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, UiError> {
    let multipart = multipart.map_err(|e| {
        UiError::page(
            StatusCode::BAD_REQUEST,
            format!("Upload the file with the form on the workflows page ({e})."),
        )
    })?;
    let upload = read_upload(multipart).await?;
    signed.check_csrf(upload.csrf.as_deref())?;
    if upload.file.is_empty() {
        return Err(UiError::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a BPMN file to upload; nothing was imported.",
        ));
    }
    let imported = import_workflow(
        &state,
        &signed.caller(),
        ImportParams {
            id: upload.id,
            name: None,
        },
        upload.file.clone(),
    )
    .await;
    match imported {
        Ok(version) => {
            Ok(Redirect::to(&format!("/workflows/{}", version.workflow_id)).into_response())
        }
        Err(error) if error.code() == Code::WorkflowInvalid => {
            let redactor = state.keeper.redactor();
            let source = redactor.redact_str(&String::from_utf8_lossy(&upload.file));
            let findings = refusal_findings(&state, &error);
            let refused = Refused {
                file_name: redactor.redact_str(&upload.file_name),
                problem: redactor.redact_str(error.message()),
                lines: listing(&source, &findings, Some(CONTEXT_LINES)),
                unplaced: unplaced(&findings),
            };
            list_page(
                &state,
                &signed,
                None,
                Some(refused),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

/// One version of the workflow.
struct VersionLine {
    version: i64,
    status: String,
    sha256: String,
    created: String,
    published: String,
    /// What validation found at import (warnings: errors refuse it).
    warnings: Vec<String>,
}

#[derive(Template)]
#[template(path = "workflow.html")]
struct WorkflowPage {
    chrome: Chrome,
    id: String,
    name: String,
    published_version: String,
    versions: Vec<VersionLine>,
    /// Whether publish buttons are shown.
    can_manage: bool,
    /// Whether the signed-in person may start runs.
    can_start: bool,
}

/// `GET /workflows/{id}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let detail = workflow_detail(&state, &signed.caller(), &id).await?;
    let versions = detail
        .versions
        .iter()
        .map(|v| {
            let diagnostics = state.redacted(&v.diagnostics)?;
            Ok(VersionLine {
                version: v.version,
                status: v.status.as_str().to_owned(),
                sha256: v.bpmn_sha256.clone(),
                created: format!("{} by {}", v.created_at, v.created_by),
                published: match (&v.published_by, &v.published_at) {
                    (Some(by), Some(at)) => format!("{at} by {by}"),
                    _ => String::new(),
                },
                warnings: diagnostics
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(finding_line)
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let page = WorkflowPage {
        chrome: signed.chrome("workflows"),
        id: detail.workflow.id,
        name: detail.workflow.name,
        published_version: detail
            .workflow
            .published_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
        versions,
        can_manage: signed.can(Permission::ManageWorkflows),
        can_start: signed.can(Permission::StartRun),
    };
    Ok(render(&page))
}

/// `line 12: bpmn.code: message`.
fn finding_line(d: &Value) -> String {
    format!(
        "line {}: {}: {}",
        text(&d["line"]),
        text(&d["code"]),
        text(&d["message"])
    )
}

/// `POST /workflows/{id}/versions/{version}/publish`.
pub(crate) async fn publish(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((id, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, UiError> {
    signed.form(&body)?;
    let version: i64 = version.parse().map_err(|_| {
        UiError::from(ApiError::not_found(
            "workflow version",
            &format!("{id}@{version}"),
        ))
    })?;
    publish_version(&state, &signed.caller(), id.clone(), version).await?;
    Ok(Redirect::to(&format!("/workflows/{id}")).into_response())
}
