//! The run conversation: questions agents ask humans (`human.ask`) and their
//! answers. A question is not an approval: it asks for missing information,
//! and answering it resumes the asking step with the answer as its tool
//! result.

use agentwerke_auth::Permission;
use agentwerke_runtime::command::{AnswerQuestion, Command};
use agentwerke_store::QuestionFilter;
use agentwerke_types::QuestionStatus;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use crate::code::Code;
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Caller};
use crate::routes::views::{QuestionPage, QuestionStatusName, QuestionView};
use crate::routes::{PageParams, check_status};
use crate::state::AppState;

/// Filters for the question list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// `open`, `answered` or `cancelled`.
    #[param(value_type = Option<QuestionStatusName>)]
    pub status: Option<String>,
    /// Only this run's questions.
    pub run_id: Option<String>,
}

/// Lists questions agents asked humans, oldest first.
#[utoipa::path(get, path = "/api/questions", tag = "questions", params(ListParams, PageParams),
    responses((status = 200, description = "A page of questions, oldest first", body = QuestionPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<ListParams>,
    AppQuery(page): AppQuery<PageParams>,
) -> Result<Json<QuestionPage>, ApiError> {
    caller.require(Permission::Read)?;
    let status = check_status(
        params.status.as_deref(),
        QuestionStatus::NAMES,
        Code::QuestionUnknownStatus,
        "a question",
    )?;
    let page = state
        .store
        .page_questions(
            QuestionFilter {
                status,
                run_id: params.run_id,
            },
            page.request()?,
        )
        .await?;
    Ok(Json(QuestionPage {
        items: page.items.iter().map(QuestionView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One question.
#[utoipa::path(get, path = "/api/questions/{id}", tag = "questions", params(("id" = String, Path)),
    responses((status = 200, description = "The question", body = QuestionView),
              (status = 404, description = "No such question (api.not_found)")),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> Result<Json<QuestionView>, ApiError> {
    caller.require(Permission::Read)?;
    let question = state
        .store
        .get_question(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("question", &id))?;
    Ok(Json(QuestionView::from(&question)))
}

/// `POST /api/questions/{id}/answer` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The answer the asking agent receives (secrets in it are redacted);
    /// not blank, at most 16,384 characters.
    #[schema(min_length = 1, max_length = 16384, pattern = "\\S")]
    pub answer: String,
}

/// Answers an open question; the asking step resumes with the answer.
/// Exactly one answer wins. The rules live in the runtime's
/// `answer_question` command.
#[utoipa::path(post, path = "/api/questions/{id}/answer", tag = "questions",
    params(("id" = String, Path)), request_body = AnswerBody,
    responses((status = 200, description = "Answered; the question as it now is", body = QuestionView),
              (status = 404, description = "No such question (api.not_found)"),
              (status = 409, description = "No longer open (question.closed)"),
              (status = 422, description = "Blank (question.empty_answer) or over 16,384 characters \
                (question.answer_too_long)")),
    security(("bearer" = [])))]
pub async fn answer(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<AnswerBody>,
) -> Result<Json<QuestionView>, ApiError> {
    Ok(Json(answer_question(&state, &caller, &id, body).await?))
}

/// Answers question `id` for `caller`: the API's answer and the web UI's
/// answer form, one road with one permission check.
pub(crate) async fn answer_question(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: AnswerBody,
) -> Result<QuestionView, ApiError> {
    caller.require(Permission::AnswerQuestion)?;
    let command = Command::AnswerQuestion(AnswerQuestion {
        question_id: id.to_owned().into(),
        answer: body.answer,
        answered_by: caller.subject().to_owned(),
    });
    let submitted = state.runtime.submit(command).await?;
    let question = submitted
        .committed
        .question()
        .ok_or_else(|| ApiError::internal("an answer wrote no question"))?;
    Ok(QuestionView::from(question))
}
