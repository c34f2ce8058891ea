//! External events: a correlated message resumes the runs waiting for it.

use agentwerke_auth::Permission;
use agentwerke_runtime::command::{Command, DeliverMessage};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{AppJson, Caller};
use crate::state::AppState;

/// `POST /api/events` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliverEvent {
    /// The `messageName` a wait declares; not blank.
    #[schema(min_length = 1, pattern = "\\S")]
    pub message_name: String,
    /// Matched against each wait's rendered `correlationKeyTemplate`.
    #[serde(default)]
    pub correlation_key: String,
    /// Visible to the process as `event.*` and `output.<NodeId>`.
    #[serde(default)]
    pub payload: Option<Value>,
    /// Idempotency key: a repeated delivery returns the first outcome and
    /// resumes nothing twice. Defaults to a fresh id.
    #[serde(default)]
    pub delivery_id: Option<String>,
}

/// What a delivery did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    /// The delivery's idempotency key (the one given, or a fresh one).
    pub delivery_id: String,
    /// The runs the message resumes (those of the first delivery, for a
    /// duplicate).
    #[schema(value_type = Vec<String>)]
    pub matched_runs: Vec<agentwerke_types::RunId>,
    /// Whether this `deliveryId` was delivered before.
    pub duplicate: bool,
}

/// Delivers a correlated message.
#[utoipa::path(post, path = "/api/events", tag = "events", request_body = DeliverEvent,
    responses((status = 202, description = "Delivered; lists the runs it resumes", body = Delivered),
              (status = 409, description = "The deliveryId was used for a different message (api.conflict)")),
    security(("bearer" = [])))]
pub async fn deliver(
    State(state): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<DeliverEvent>,
) -> Result<(StatusCode, Json<Delivered>), ApiError> {
    caller.require(Permission::DeliverEvent)?;
    let delivery_id = body
        .delivery_id
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let submitted = state
        .runtime
        .submit(Command::DeliverMessage(DeliverMessage {
            delivery_id: delivery_id.clone(),
            message_name: body.message_name,
            correlation_key: body.correlation_key,
            payload: body.payload.unwrap_or_else(|| json!({})),
        }))
        .await?;
    let outcome = submitted
        .committed
        .delivery()
        .ok_or_else(|| ApiError::internal("a delivery was not recorded"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Delivered {
            delivery_id,
            matched_runs: outcome.matched_runs.clone(),
            duplicate: outcome.duplicate,
        }),
    ))
}
