//! What the workflow endpoints answer, as typed views: the OpenAPI document
//! is derived from the very structs the handlers serialize, so the two
//! cannot drift apart.

use agentwerke_bpmn::{Diagnostic, Severity};
use agentwerke_store::{Page, WorkflowSummary, WorkflowVersion};
use agentwerke_types::WorkflowStatus;
use serde::Serialize;

use crate::routes::ts;

/// One finding about a BPMN document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticView {
    /// `error` refuses the workflow; `warning` will run but is probably a
    /// mistake.
    #[schema(value_type = String, pattern = "^(error|warning)$")]
    pub severity: Severity,
    /// Stable code, e.g. `bpmn.unreachable_node`.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
    /// The BPMN id of the element concerned, if it has one.
    pub element_id: Option<String>,
    /// 1-based line of the element.
    pub line: u32,
    /// 1-based column of the element.
    pub column: u32,
}

impl From<&Diagnostic> for DiagnosticView {
    fn from(d: &Diagnostic) -> Self {
        Self {
            severity: d.severity,
            code: d.code.to_owned(),
            message: d.message.clone(),
            element_id: d.element_id.clone(),
            line: d.line,
            column: d.column,
        }
    }
}

/// The verdict on a BPMN document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Whether it can be imported and run: no finding is an error.
    pub valid: bool,
    /// Every finding, in document order.
    pub diagnostics: Vec<DiagnosticView>,
}

/// One version of a workflow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    /// The workflow.
    pub workflow_id: String,
    /// Display name at import.
    pub name: String,
    /// 1, 2, 3 ... per workflow.
    pub version: i64,
    /// `draft` or `published`; a published version never changes again.
    #[schema(value_type = String, pattern = "^(draft|published)$")]
    pub status: WorkflowStatus,
    /// Hex SHA-256 of the document.
    pub bpmn_sha256: String,
    /// What validation found at import (warnings only: errors refuse it).
    #[schema(value_type = Vec<DiagnosticView>)]
    pub diagnostics: serde_json::Value,
    /// Who imported it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Who published it.
    pub published_by: Option<String>,
    /// When (RFC 3339).
    pub published_at: Option<String>,
    /// The document, when one version is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bpmn_xml: Option<String>,
}

impl VersionView {
    /// The view of `v`, with its BPMN document or without.
    pub(crate) fn new(v: &WorkflowVersion, with_xml: bool) -> Self {
        Self {
            workflow_id: v.workflow_id.clone(),
            name: v.name.clone(),
            version: v.version,
            status: v.status,
            bpmn_sha256: v.bpmn_sha256.clone(),
            diagnostics: v.diagnostics.clone(),
            created_by: v.created_by.clone(),
            created_at: ts(v.created_at),
            published_by: v.published_by.clone(),
            published_at: v.published_at.map(ts),
            bpmn_xml: with_xml.then(|| v.bpmn_xml.clone()),
        }
    }
}

/// A page of a workflow's versions, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionPage {
    /// Versions, newest first.
    pub items: Vec<VersionView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<WorkflowVersion>> for VersionPage {
    fn from(page: Page<WorkflowVersion>) -> Self {
        Self {
            items: page
                .items
                .iter()
                .map(|v| VersionView::new(v, false))
                .collect(),
            next_cursor: page.next_cursor,
        }
    }
}

/// A workflow as lists show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowView {
    /// The workflow id.
    pub id: String,
    /// Name of its newest version.
    pub name: String,
    /// Its newest version number.
    pub latest_version: i64,
    /// Its newest published version, if any.
    pub published_version: Option<i64>,
    /// First import (RFC 3339).
    pub created_at: String,
    /// Last import or publication (RFC 3339).
    pub updated_at: String,
}

impl From<&WorkflowSummary> for WorkflowView {
    fn from(w: &WorkflowSummary) -> Self {
        Self {
            id: w.id.clone(),
            name: w.name.clone(),
            latest_version: w.latest_version,
            published_version: w.published_version,
            created_at: ts(w.created_at),
            updated_at: ts(w.updated_at),
        }
    }
}

/// A page of workflows, by id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowPage {
    /// Workflows, by id.
    pub items: Vec<WorkflowView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One workflow with the first page of its versions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowDetail {
    /// The workflow.
    #[serde(flatten)]
    pub workflow: WorkflowView,
    /// Its versions, newest first (the first page).
    pub versions: Vec<VersionView>,
    /// Pass as `cursor` to `GET /api/workflows/{id}/versions` for more;
    /// null when every version is listed.
    pub versions_next_cursor: Option<String>,
}
