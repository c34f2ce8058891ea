//! Liveness and readiness. No token needed: probes run before anyone logs in.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::code::Code;
use crate::error::ApiError;
use crate::routes::ts;
use crate::state::AppState;

/// The process answers.
#[utoipa::path(get, path = "/api/health/live", tag = "health",
    responses((status = 200, description = "The process is alive", body = Object)))]
pub async fn live() -> Json<Value> {
    Json(json!({"status": "live"}))
}

/// The process answers and its database does too; the kill-switch halts in
/// force (scope, target and since when, no reasons: probes carry no token)
/// are listed, so a halted deployment is visible where it is watched. A
/// halted deployment is ready: it holds agent steps, not requests.
#[utoipa::path(get, path = "/api/health/ready", tag = "health",
    responses((status = 200, description = "Ready, with the halts in force", body = Object),
              (status = 503, description = "The database does not answer (health.database_unavailable)")))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.health().await.map_err(|error| {
        tracing::warn!(%error, "readiness check failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::DatabaseUnavailable,
            "the database does not answer",
        )
    })?;
    let halts = state.store.halts().await.map_err(|error| {
        tracing::warn!(%error, "readiness check cannot read the halts");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::DatabaseUnavailable,
            "the database does not answer",
        )
    })?;
    let halts: Vec<Value> = halts
        .iter()
        .map(|h| json!({"scope": h.scope, "target": h.target, "haltedAt": ts(h.halted_at)}))
        .collect();
    Ok(Json(
        json!({"status": "ready", "database": "ok", "halts": halts}),
    ))
}
