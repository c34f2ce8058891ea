//! Every error the API returns, as `application/problem+json` with a stable code.

use agentwerke_types::ErrorCode;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API error: an HTTP status, a stable code, a sentence, and optional detail.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<Value>,
}

impl ApiError {
    /// An error with `status`, `code` and a sentence for humans.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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

    /// 404 for a resource kind and id.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "api.not_found",
            format!("{what} '{id}' does not exist"),
        )
    }

    /// 400 for a malformed request.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 409 for a request that conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("https://agentwerke.de/problems/{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.message,
        });
        if let Some(detail) = self.detail {
            body["errors"] = detail;
        }
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
        let status = match &error {
            E::NotFound { .. } => StatusCode::NOT_FOUND,
            E::AlreadyDecided { .. }
            | E::AlreadyAnswered { .. }
            | E::Conflict { .. }
            | E::ImmutableVersion { .. } => StatusCode::CONFLICT,
            E::Invalid { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(code = error.code(), %error, "store error");
            return Self::new(status, error.code(), "the store failed; see the server log");
        }
        Self::new(status, error.code(), error.to_string())
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
        Self::new(status, error.code(), error.to_string())
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
                    other.code(),
                    "the server could not read this run's records; see the server log",
                )
            }
        }
    }
}
