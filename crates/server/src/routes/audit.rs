//! The global audit stream: the records that belong to no run (workflow
//! imports and publications, policy drafts and publications, gateway halts
//! and resumes), read page by page or exported signed for offline checks.
//!
//! Reading it takes [`Permission::Read`], like a run's audit log: auditors
//! hold the Viewer role, and nothing in the stream is more secret than the
//! runs' own audit records.

use agentwerke_auth::Permission;
use agentwerke_evidence::{AuditExport, signed_export};
use agentwerke_store::{GLOBAL_STREAM, Page};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::code::Code;
use crate::error::ApiError;
use crate::extract::{AppQuery, Caller};
use crate::routes::{page_limit, ts};
use crate::state::AppState;

/// Paging through an audit stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AuditParams {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page: the `seq` of the last record
    /// read, so `cursor=N` also resumes after a record an auditor noted.
    #[param(pattern = "^[0-9]{1,19}$")]
    pub cursor: Option<String>,
}

/// The global stream's records, oldest first.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "A page of the global stream's hash-chained records, oldest first", body = AuditPage),
              (status = 400, description = "The cursor is not a record's seq (request.invalid_cursor), or the limit is not 1 to 200 (request.invalid_query)")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<AuditParams>,
) -> Result<Json<Page<agentwerke_evidence::AuditRecord>>, ApiError> {
    caller.require(Permission::Read)?;
    Ok(Json(page_of(&state, GLOBAL_STREAM, &params).await?))
}

/// One page of `stream` (the global stream or a run's log) as `params` ask.
pub(crate) async fn page_of(
    state: &AppState,
    stream: &str,
    params: &AuditParams,
) -> Result<Page<agentwerke_evidence::AuditRecord>, ApiError> {
    let after = match params.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor.parse::<u64>().map_err(|_| {
            ApiError::bad_request(
                Code::InvalidCursor,
                format!("cursor '{cursor}' is not the seq of an audit record"),
            )
        })?,
    };
    let limit = page_limit(params.limit)?;
    let mut page = state.store.audit_page(stream, after, limit).await?;
    // Redacted before it was hashed; redacted again on the way out, so a
    // value that became known after the record was kept never leaves (and
    // such a record is marked `redactedAfterChaining`).
    let redactor = state.keeper.redactor();
    page.items = std::mem::take(&mut page.items)
        .into_iter()
        .map(|record| record.redacted(redactor))
        .collect();
    Ok(page)
}

/// The whole global stream, signed by the server's evidence key, as a file
/// (`audit-export.json`) that `agentwerke audit verify` checks offline.
#[utoipa::path(get, path = "/api/audit/export", tag = "audit",
    responses((status = 200, description = "Signed export of the global stream (agentwerke.audit-export.v1), as an attachment", body = AuditExportDoc)),
    security(("bearer" = [])))]
pub async fn export(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Permission::Read)?;
    // Redacted on the way out like the pages; a record redacted after it
    // was chained is signed as shown (see `signed_payload`).
    let redactor = state.keeper.redactor();
    let records = state
        .store
        .audit_log(GLOBAL_STREAM)
        .await?
        .into_iter()
        .map(|record| record.redacted(redactor))
        .collect();
    let export: AuditExport = signed_export(records, ts(state.clock.now()), &state.evidence_key);
    let mut response = Json(export).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit-export.json\""),
    );
    Ok(response)
}

/// One audit record, as every audit endpoint shows it (the API description
/// of `agentwerke_evidence::AuditRecord`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditRecord)]
pub struct AuditRecordDoc {
    /// Position in its stream, from 1 with no gaps.
    pub seq: u64,
    /// The run; empty for the global stream.
    pub run_id: String,
    /// When: RFC 3339, UTC, milliseconds.
    pub at: String,
    /// Who: `system`, `user:<sub>` or `agent:<name>`.
    pub actor: String,
    /// What, e.g. `workflow.version_published`, `gateway.halted`.
    pub kind: String,
    /// Details.
    #[schema(value_type = Object)]
    pub data: Value,
    /// The previous record's `hash`; 64 zeros for the first.
    pub prev_hash: String,
    /// SHA-256 (hex) of the canonical JSON of the record without `hash`.
    pub hash: String,
    /// Present (`true`) only when `data` was redacted on the way out
    /// because a value in it became a known secret after the record was
    /// chained: its hash cannot be recomputed from what is shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted_after_chaining: Option<bool>,
}

/// A page of an audit stream (the global one or a run's).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// Records, oldest first.
    pub items: Vec<AuditRecordDoc>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The last record of a chain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ChainHead)]
pub struct ChainHeadDoc {
    /// `seq` of the last record; 0 for an empty stream.
    pub seq: u64,
    /// `hash` of the last record; 64 zeros for an empty stream.
    pub hash: String,
}

/// The signature block of an export.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditExportIntegrity)]
pub struct ExportIntegrityDoc {
    /// Always `ed25519`.
    pub algorithm: String,
    /// First 16 hex digits of SHA-256 of the public key.
    pub key_id: String,
    /// The signing key's public half, base64.
    pub public_key: String,
    /// The last record of `auditLog`.
    pub chain_head: ChainHeadDoc,
    /// Base64 Ed25519 signature over the canonical JSON of
    /// `{schemaVersion, stream, generatedAt, chainHead, keyId}`.
    pub signature: String,
}

/// A signed export of the global stream (`agentwerke.audit-export.v1`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditExport)]
pub struct AuditExportDoc {
    /// Always `agentwerke.audit-export.v1`.
    pub schema_version: String,
    /// Always `global`.
    pub stream: String,
    /// When the export was made.
    pub generated_at: String,
    /// The whole stream, oldest first, from seq 1.
    pub audit_log: Vec<AuditRecordDoc>,
    /// The signed chain head.
    pub integrity: ExportIntegrityDoc,
}
