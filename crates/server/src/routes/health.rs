//! Liveness and readiness. No token needed: probes run before anyone logs in.

use agentwerke_store::gateway::HaltScope;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use crate::code::Code;
use crate::error::ApiError;
use crate::routes::ts;
use crate::state::AppState;

/// The answer to a liveness probe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Live {
    /// Always `live`.
    #[schema(pattern = "^live$")]
    pub status: &'static str,
}

/// The answer to a readiness probe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// Always `ready`.
    #[schema(pattern = "^ready$")]
    pub status: &'static str,
    /// Always `ok`: a database that does not answer makes the probe fail.
    #[schema(pattern = "^ok$")]
    pub database: &'static str,
    /// The kill-switch halts in force, oldest first.
    pub halts: Vec<ReadyHalt>,
}

/// A halt in force, as a probe sees it: no reason, no name of who halted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadyHalt {
    /// `global`, `agent` or `workflow`.
    #[schema(value_type = String, pattern = "^(global|agent|workflow)$")]
    pub scope: HaltScope,
    /// The agent or workflow; empty for a global halt.
    pub target: String,
    /// Since when (RFC 3339).
    pub halted_at: String,
}

/// The process answers.
#[utoipa::path(get, path = "/api/health/live", tag = "health",
    responses((status = 200, description = "The process is alive", body = Live)))]
pub async fn live() -> Json<Live> {
    Json(Live { status: "live" })
}

/// The process answers and its database does too; the kill-switch halts in
/// force (scope, target and since when, no reasons: probes carry no token)
/// are listed, so a halted deployment is visible where it is watched. A
/// halted deployment is ready: it holds agent steps, not requests.
#[utoipa::path(get, path = "/api/health/ready", tag = "health",
    responses((status = 200, description = "Ready, with the halts in force", body = Ready),
              (status = 503, description = "The database does not answer (health.database_unavailable)")))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
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
    Ok(Json(Ready {
        status: "ready",
        database: "ok",
        halts: halts
            .into_iter()
            .map(|h| ReadyHalt {
                scope: h.scope,
                target: h.target,
                halted_at: ts(h.halted_at),
            })
            .collect(),
    }))
}
