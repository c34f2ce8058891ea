//! The run conversation: questions agents ask humans (`human.ask`) and their
//! answers. A question is not an approval: it asks for missing information,
//! and answering it resumes the asking step with the answer as its tool
//! result.

use agentwerke_auth::Permission;
use agentwerke_engine::{Event, WorkId};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_evidence::redact::redact_str;
use agentwerke_store::{Answer, QuestionFilter, QuestionRow};
use agentwerke_types::{Actor, AuditKind, QuestionStatus};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{AppJson, Caller};
use crate::routes::runs::internal;
use crate::routes::{check_status, ts};
use crate::state::AppState;

/// The longest answer, in bytes.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Filters for the question list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// `open`, `answered` or `cancelled`.
    pub status: Option<String>,
    /// Only this run's questions.
    pub run_id: Option<String>,
}

/// Lists questions agents asked humans, oldest first.
#[utoipa::path(get, path = "/api/questions", tag = "questions", params(ListParams),
    responses((status = 200, description = "Questions")), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let status = check_status(
        params.status.as_deref(),
        QuestionStatus::NAMES,
        "question.unknown_status",
        "a question",
    )?;
    let items = state
        .store
        .list_questions(QuestionFilter {
            status,
            run_id: params.run_id,
        })
        .await?;
    Ok(Json(
        json!({"items": items.iter().map(question_view).collect::<Vec<_>>()}),
    ))
}

/// One question.
#[utoipa::path(get, path = "/api/questions/{id}", tag = "questions", params(("id" = String, Path)),
    responses((status = 200, description = "The question"), (status = 404, description = "Unknown")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let question = state
        .store
        .get_question(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("question", &id))?;
    Ok(Json(question_view(&question)))
}

/// `POST /api/questions/{id}/answer` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The answer the asking agent receives (secrets in it are redacted).
    pub answer: String,
}

/// Answers an open question; the asking step resumes with the answer.
/// Exactly one answer wins.
#[utoipa::path(post, path = "/api/questions/{id}/answer", tag = "questions",
    params(("id" = String, Path)), request_body = AnswerBody,
    responses((status = 200, description = "Answered"), (status = 403, description = "Not allowed"),
              (status = 409, description = "Already answered or closed"),
              (status = 422, description = "Empty or too long")),
    security(("bearer" = [])))]
pub async fn answer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    AppJson(body): AppJson<AnswerBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::AnswerQuestion)?;
    let text = body.answer.trim();
    if text.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "question.empty_answer",
            "an answer must not be empty",
        ));
    }
    if text.len() > MAX_ANSWER_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "question.answer_too_long",
            "an answer is at most 16 KiB",
        ));
    }
    let question = state
        .store
        .get_question(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("question", &id))?;
    if question.status != QuestionStatus::Open {
        return Err(closed(&question));
    }
    let secrets: Vec<&str> = state.secrets.iter().map(String::as_str).collect();
    let text = redact_str(text, &secrets);
    let now = state.clock.now();
    let work_id: WorkId = serde_json::from_value(json!(question.work_id)).map_err(internal)?;
    let event = Event::TaskResumed { work_id, at: now };
    let answered = state
        .store
        .answer_question(Answer {
            id: id.clone().into(),
            answer: text.clone(),
            answered_by: caller.subject().to_owned(),
            at: now,
            event: serde_json::to_value(&event).map_err(internal)?,
            audit: AuditDraft {
                run_id: question.run_id.to_string(),
                at: ts(now),
                actor: Actor::user(caller.subject()),
                kind: AuditKind::QuestionAnswered,
                data: json!({"questionId": id, "workId": question.work_id,
                             "nodeId": question.node_id, "answer": text}),
            },
        })
        .await;
    let answered = match answered {
        Err(agentwerke_store::Error::AlreadyAnswered { .. }) => {
            let now = state.store.get_question(&id).await?;
            return Err(closed(now.as_ref().unwrap_or(&question)));
        }
        other => other?,
    };
    state.runtime.notify();
    Ok(Json(question_view(&answered)))
}

fn closed(question: &QuestionRow) -> ApiError {
    ApiError::conflict(
        "question.closed",
        format!("question '{}' is already {}", question.id, question.status),
    )
}

/// A question as the API shows it.
pub(crate) fn question_view(q: &QuestionRow) -> Value {
    json!({
        "id": q.id,
        "runId": q.run_id,
        "workId": q.work_id,
        "nodeId": q.node_id,
        "agent": q.agent,
        "question": q.question,
        "status": q.status,
        "askedAt": ts(q.asked_at),
        "answer": q.answer,
        "answeredBy": q.answered_by,
        "answeredAt": q.answered_at.map(ts),
    })
}
