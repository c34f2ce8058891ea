//! Extractors that turn every malformed request into our problem+json.

use agentwerke_auth::{Permission, Principal, allows, bearer_token};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// JSON body whose rejections are ours: malformed JSON, wrong content type and
/// oversized bodies each get a stable code.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match <axum::Json<T> as FromRequest<AppState>>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// An optional JSON body: an empty body is `None`, anything else must parse.
impl<T: DeserializeOwned> OptionalFromRequest<AppState> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        let bytes = <Bytes as FromRequest<AppState>>::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(|v| Some(Self(v)))
            .map_err(|e| {
                if e.is_data() {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "request.invalid_body",
                        format!("the body does not have the expected shape: {e}"),
                    )
                } else {
                    ApiError::bad_request(
                        "request.malformed_json",
                        format!("the body is not valid JSON: {e}"),
                    )
                }
            })
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            "send the body as JSON with 'Content-Type: application/json'",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "request.malformed_json",
            format!("the body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.invalid_body",
            format!(
                "the body does not have the expected shape: {}",
                e.body_text()
            ),
        ),
        JsonRejection::BytesRejection(e) => bytes_rejection(e),
        other => ApiError::bad_request("request.invalid_body", other.body_text()),
    }
}

/// Maps a failed body read; an oversized body is 413 with a stable code.
pub(crate) fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
            "the request body is larger than the server accepts (see the README for the limit)",
        )
    } else {
        ApiError::bad_request("request.unreadable_body", rejection.body_text())
    }
}

/// The authenticated caller. Every route but health takes one, so no route can
/// be reached without a valid token.
pub struct Caller(pub Principal);

impl Caller {
    /// Fails with 403 unless the caller's roles grant `permission`.
    pub fn require(&self, permission: Permission) -> Result<&Principal, ApiError> {
        if allows(&self.0.roles, permission) {
            Ok(&self.0)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "auth.forbidden",
                format!(
                    "this action needs the {} permission, which none of your roles grants",
                    permission.as_str()
                ),
            ))
        }
    }

    /// The caller's subject, as recorded in audit trails.
    pub fn subject(&self) -> &str {
        &self.0.subject
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let token = bearer_token(header)?;
        let principal = state.verifier.verify(token, state.clock.now()).await?;
        Ok(Self(principal))
    }
}
