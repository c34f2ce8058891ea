//! Every error the API returns, as `application/problem+json` with a stable code.

use agentwerke_types::ErrorCode;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::code::Code;

/// An API error: an HTTP status, a stable [`Code`], a sentence, and optional
/// structured detail.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Code,
    message: String,
    detail: Option<Value>,
}

/// The problem document (RFC 9457) every error answers with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://agentwerke.de/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable code; clients branch on it.
    pub code: Code,
    /// A sentence for humans.
    pub detail: String,
    /// Structured detail where there is some: the fields of a body that has
    /// the wrong shape, BPMN diagnostics, policy problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub errors: Option<Value>,
}

impl ApiError {
    /// An error with `status`, `code` and a sentence for humans.
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// Adds structured detail (for example validation diagnostics).
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// 404 for a resource kind and id; one code for every missing resource.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            format!("{what} '{id}' does not exist"),
        )
    }

    /// 400 for a malformed request.
    pub fn bad_request(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 409 for a request that conflicts with the current state.
    pub fn conflict(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 for a well-formed request the server refuses.
    pub fn unprocessable(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500; the cause goes to the log, never to the caller.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            "the server failed; see its log",
        )
    }

    /// The stable code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The sentence for humans (never a secret: see the constructors).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The structured detail, if any: what a page shows of a refusal
    /// beyond its sentence (policy problems and BPMN findings with their
    /// lines).
    pub(crate) fn detail(&self) -> Option<&Value> {
        self.detail.as_ref()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("https://agentwerke.de/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            code: self.code,
            detail: self.message,
            errors: self.detail,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<agentwerke_store::Error> for ApiError {
    fn from(error: agentwerke_store::Error) -> Self {
        use agentwerke_store::Error as E;
        let (status, code) = match &error {
            E::NotFound { .. } => (StatusCode::NOT_FOUND, Code::NotFound),
            E::AlreadyDecided { .. } => (StatusCode::CONFLICT, Code::ApprovalAlreadyDecided),
            E::AlreadyAnswered { .. } => (StatusCode::CONFLICT, Code::QuestionClosed),
            E::Conflict { .. } => (StatusCode::CONFLICT, Code::Conflict),
            E::ImmutableVersion { .. } => (StatusCode::CONFLICT, Code::WorkflowImmutableVersion),
            E::InvalidCursor => (StatusCode::BAD_REQUEST, Code::InvalidCursor),
            E::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, Code::InvalidBody),
            _ => {
                tracing::error!(code = error.code(), %error, "store error");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Code::Internal,
                    "the store failed; see the server log",
                );
            }
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<agentwerke_auth::Error> for ApiError {
    fn from(error: agentwerke_auth::Error) -> Self {
        let status = if error.is_unavailable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else if error.is_forbidden() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        // Every auth code is an API code (pinned by a test in `code`).
        let code = Code::parse(error.code()).unwrap_or(Code::AuthMalformedToken);
        Self::new(status, code, error.to_string())
    }
}

/// A refused command answers with the command's own code; only the status
/// is chosen here, once per condition.
impl From<agentwerke_runtime::command::Error> for ApiError {
    fn from(error: agentwerke_runtime::command::Error) -> Self {
        use agentwerke_runtime::command::Error as E;
        let error = match error {
            E::Store(store) => return store.into(),
            other => other,
        };
        let status = match &error {
            E::NotFound { .. } => {
                return Self::new(StatusCode::NOT_FOUND, Code::NotFound, error.to_string());
            }
            // A set published twice answers as the store's compare-and-set
            // does when the second publication loses a race: one answer
            // for one condition.
            E::PolicyPublished { .. } => {
                let reason = error.to_string();
                return agentwerke_store::Error::Conflict { reason }.into();
            }
            E::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            E::NotHalted { .. } => StatusCode::NOT_FOUND,
            E::AlreadyDecided { .. }
            | E::Expired { .. }
            | E::QuestionClosed { .. }
            | E::RunFinished { .. }
            | E::RunNotFailed { .. }
            | E::NoFailedStep => StatusCode::CONFLICT,
            E::WrongRole { .. } | E::SelfApproval => StatusCode::FORBIDDEN,
            E::CommentTooLong { .. }
            | E::EmptyAnswer
            | E::AnswerTooLong { .. }
            | E::MissingTarget { .. }
            | E::MissingReason
            | E::InvalidInputs
            | E::MissingMessageName
            | E::SecretInDocument => StatusCode::UNPROCESSABLE_ENTITY,
            E::NotPublished { .. } | E::SecretNotFound { .. } => StatusCode::NOT_FOUND,
            E::NotDue { .. } | E::TimerNotDue { .. } | E::Corrupt { .. } | E::Encode(_) => {
                tracing::error!(code = error.code(), %error, "command failed");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Code::Internal,
                    "the server could not carry out this command; see the server log",
                );
            }
        };
        // Every code of a refusal above is an API code (pinned by a test).
        let code = Code::parse(error.code()).unwrap_or(Code::Conflict);
        Self::new(status, code, error.to_string())
    }
}

impl From<agentwerke_runtime::Error> for ApiError {
    fn from(error: agentwerke_runtime::Error) -> Self {
        match error {
            agentwerke_runtime::Error::Store(e) => e.into(),
            other => {
                tracing::error!(code = other.code(), error = %other, "runtime error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Code::Internal,
                    "the server could not read this run's records; see the server log",
                )
            }
        }
    }
}

/// Every problem document passes the keeper's redactor on its way out: a
/// sentence or a diagnostic may quote what the request carried (a run id
/// from the path, a line of a document that failed its check), and what a
/// caller sent may be a secret. Problem documents are small, so reading
/// one whole costs nothing worth saving.
pub(crate) async fn redact_problems(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    const PROBLEM_LIMIT: usize = 1 << 20;
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let value = match axum::body::to_bytes(body, PROBLEM_LIMIT).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).ok(),
        Err(_) => None,
    };
    let Some(mut value) = value else {
        // Not one this server wrote: nothing of it is passed on.
        return ApiError::internal("an error answer could not be read to redact it")
            .into_response();
    };
    state.keeper.redactor().redact_value(&mut value);
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&value).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}
