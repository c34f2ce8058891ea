//! Evidence: the signed pack of a run, the key that verifies it, its schema.

use agentwerke_auth::Permission;
use agentwerke_evidence::keys::{encode_public_key, key_id};
use agentwerke_evidence::{EvidencePack, PACK_SCHEMA, sign};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::routes::views::{EvidencePack as EvidencePackDoc, EvidencePackJsonSchema};

use crate::error::ApiError;
use crate::extract::{AppPath, Caller};
use crate::state::AppState;

/// The run's evidence pack, signed by the server's evidence key.
#[utoipa::path(get, path = "/api/runs/{id}/evidence-pack", tag = "evidence",
    params(("id" = String, Path)),
    responses((status = 200, description = "Signed evidence pack (agentwerke.evidence-pack.v1)", body = EvidencePackDoc),
              (status = 404, description = "No such run (api.not_found)")),
    security(("bearer" = [])))]
pub async fn pack(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<EvidencePack>, ApiError> {
    readable_pack(&state, &caller, &id).await.map(Json)
}

/// The same pack as a file download (`evidence-pack-<run>.json`).
#[utoipa::path(get, path = "/api/runs/{id}/evidence-pack/download", tag = "evidence",
    params(("id" = String, Path)),
    responses((status = 200, description = "Signed evidence pack as an attachment", body = EvidencePackDoc),
              (status = 404, description = "No such run (api.not_found)")),
    security(("bearer" = [])))]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Response, ApiError> {
    let pack = readable_pack(&state, &caller, &id).await?;
    attachment(&id, &pack)
}

/// The run's signed pack for `caller`, who must be allowed to read: the
/// one permission check of the JSON answer, the download and the UI's
/// evidence page.
pub(crate) async fn readable_pack(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<EvidencePack, ApiError> {
    caller.require(Permission::Read)?;
    signed_pack(state, id).await
}

/// `pack` as the file the download serves: pretty JSON, as an attachment
/// named after the run. The API's download and the UI's serve it alike.
pub(crate) fn attachment(id: &str, pack: &EvidencePack) -> Result<Response, ApiError> {
    let body = pack_bytes(pack)?;
    let disposition = format!(
        "attachment; filename=\"evidence-pack-{}.json\"",
        file_safe(id)
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// The bytes of a pack as the download writes them, so what is verified
/// on the UI's evidence page is what a download holds.
pub(crate) fn pack_bytes(pack: &EvidencePack) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec_pretty(pack).map_err(ApiError::internal)
}

/// The public half of the evidence signing key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// Always `Ed25519`.
    #[schema(pattern = "^Ed25519$")]
    pub algorithm: &'static str,
    /// The key, as `agentwerke evidence verify --public-key` takes it.
    pub public_key: String,
    /// First 16 hex digits of SHA-256 of the key; packs name it.
    pub key_id: String,
}

/// The public half of the evidence signing key, for offline verification.
#[utoipa::path(get, path = "/api/evidence/public-key", tag = "evidence",
    responses((status = 200, description = "Ed25519 public key and its key id", body = PublicKey)),
    security(("bearer" = [])))]
pub async fn public_key(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PublicKey>, ApiError> {
    caller.require(Permission::Read)?;
    let key = state.evidence_key.verifying_key();
    Ok(Json(PublicKey {
        algorithm: "Ed25519",
        public_key: encode_public_key(&key),
        key_id: key_id(&key),
    }))
}

/// The JSON Schema every pack validates against.
#[utoipa::path(get, path = "/api/evidence/schema", tag = "evidence",
    responses((status = 200, description = "JSON Schema of agentwerke.evidence-pack.v1",
               content_type = "application/schema+json", body = EvidencePackJsonSchema)),
    security(("bearer" = [])))]
pub async fn schema(caller: Caller) -> Result<Response, ApiError> {
    caller.require(Permission::Read)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/schema+json"),
        )],
        PACK_SCHEMA,
    )
        .into_response())
}

async fn signed_pack(state: &AppState, id: &str) -> Result<EvidencePack, ApiError> {
    let mut pack = agentwerke_runtime::gather_pack(
        state.store.as_ref(),
        id,
        state.clock.now(),
        state.keeper.redactor(),
    )
    .await
    .map_err(ApiError::from)?
    .ok_or_else(|| ApiError::not_found("run", id))?;
    sign(&mut pack, &state.evidence_key);
    Ok(pack)
}

/// Run ids are UUIDs, but a header value must never carry what a path smuggled in.
fn file_safe(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}
